package hub

import (
	"errors"
	"iter"

	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/wire"
)

// ServiceTimes times the SOP steps of the permits f selects (by door and
// permit, requested in [f.From, f.To)), from their histories and their
// doors' events. The API's report and the console's Waktu Layanan both
// come from it.
func (h *Hub) ServiceTimes(f workflow.Filter) ([]workflow.Record, []workflow.ServiceTime, error) {
	recs, err := h.wf.List()
	if err != nil {
		return nil, nil, err
	}
	var sel []workflow.Record
	doors := map[DoorName]bool{}
	for _, rec := range recs {
		at, _ := rec.At(workflow.Requested)
		if (f.Site != "" && rec.Site != f.Site) || (f.Door != "" && rec.Door != f.Door) || (f.Permit != "" && rec.ID != f.Permit) ||
			(!f.From.IsZero() && at.Before(f.From)) || (!f.To.IsZero() && !at.Before(f.To)) {
			continue
		}
		sel = append(sel, rec)
		doors[DoorName{Site: rec.Site, Door: rec.Door}] = true
	}
	var walkErr error
	stop := errors.New("stop")
	events := func(yield func(wire.Event) bool) {
		for d := range doors {
			err := h.ev.WalkTypes(d.Site, d.Door, workflow.ServiceTimeTypes, func(e wire.Event) error {
				if !yield(e) {
					return stop
				}
				return nil
			})
			if err == stop {
				return
			}
			if err != nil {
				walkErr = err
				return
			}
		}
	}
	sts := workflow.ServiceTimes(sel, iter.Seq[wire.Event](events))
	return sel, sts, walkErr
}
