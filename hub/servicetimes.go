package hub

import (
	"strings"
	"time"

	"github.com/kunci-project/kunci/hub/workflow"
)

// ServiceTimes times the SOP steps of the permits f selects (by door and
// permit, requested in [f.From, f.To)), from their histories and their
// doors' events, as the guest book keeps them (workflow.Book.ServiceTimes:
// no event is read again), with "notified → acted" of steps 2-4 from the
// times their notifications were handed to a channel (Handed). The API's
// report and the console's Waktu Layanan both come from it.
func (h *Hub) ServiceTimes(f workflow.Filter) []workflow.ServiceTime {
	return h.book.ServiceTimes(f)
}

// ServiceSummaries summarises the service times of the permits f selects
// by door and permit requested in each period between the ascending
// bounds, and in the whole window (workflow.Book.Summaries: the same as
// workflow.Summarise of ServiceTimes, from the summaries the guest book
// keeps per period). The console's Waktu Layanan comes from it.
func (h *Hub) ServiceSummaries(f workflow.Filter, bounds []time.Time) (all workflow.Period, parts []workflow.Period) {
	return h.book.Summaries(f, bounds)
}

// handedLister is the notifier's optional list of when its messages were
// first handed to a channel (hub/notify's Handed), read at start.
type handedLister interface {
	Handed(fn func(key string, at time.Time)) error
}

// notifiedSteps are the SOP steps of the workflow's notification keys.
var notifiedSteps = map[string]int{keyFiled: stepCoordinate, keyClassified: stepApprove, keyWaitingEscort: stepAssignEscort}

// Handed takes the time a notification was first handed to a channel
// (notify.Options.OnHanded): a workflow step's goes to the guest book,
// for the step's "notified → acted"; the others are not kept.
func (h *Hub) Handed(key string, at time.Time) {
	rest, ok := strings.CutPrefix(key, keyPermitPrefix)
	i := strings.LastIndexByte(rest, '/')
	if !ok || i < 0 {
		return
	}
	if step, ok := notifiedSteps[rest[i:]]; ok {
		h.book.Notified(rest[:i], step, at)
	}
}

// loadHanded gives the guest book the hand-off times the notifier kept.
func (h *Hub) loadHanded() error {
	if l, ok := h.o.Notifier.(handedLister); ok {
		return l.Handed(h.Handed)
	}
	return nil
}
