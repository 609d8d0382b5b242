package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/internal/httpjson"
	"github.com/kunci-project/kunci/permit"
)

// alarmKinds are the kinds ?kind= takes.
var alarmKinds = []alarm.Kind{alarm.DoorForced, alarm.DoorHeldOpen, alarm.RoomNotSecured, alarm.RackTampered,
	alarm.Unescorted, alarm.RelayFault, alarm.ReaderFault, alarm.ClockUnsynced, alarm.LowSpace, alarm.StoreFailed,
	alarm.DoorOffline, alarm.RequestWaiting}

func (a *API) listAlarms(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	q := r.URL.Query()
	f := alarm.Filter{Site: q.Get("site"), Door: q.Get("door"), Kind: alarm.Kind(q.Get("kind"))}
	switch v := q.Get("open"); v {
	case "", "0", "false":
	case "1", "true":
		f.Open = true
	default:
		return withStatus(http.StatusBadRequest, "open %q: want 1 or 0", v)
	}
	if f.Kind != "" && !containsKind(f.Kind) {
		names := make([]string, len(alarmKinds))
		for i, k := range alarmKinds {
			names[i] = string(k)
		}
		return withStatus(http.StatusBadRequest, "kind %q: want one of %s", f.Kind, strings.Join(names, ", "))
	}
	for _, c := range [][2]string{{"site", f.Site}, {"door", f.Door}} {
		if c[1] != "" {
			if err := permit.CheckID(c[0], c[1]); err != nil {
				return withStatus(http.StatusBadRequest, "%v", err)
			}
		}
	}
	pq, err := readPage(r)
	if err != nil {
		return err
	}
	out, next, err := a.h.Alarms().List(f, pq.after, pq.limit)
	if errors.Is(err, alarm.ErrInvalid) {
		return withStatus(http.StatusBadRequest, "after: not a cursor of this list (give the one in the Link header)")
	}
	if err != nil {
		return err
	}
	if out == nil {
		out = []AlarmRecord{}
	}
	setNext(w, r, next)
	httpjson.Write(w, http.StatusOK, out)
	return nil
}

func containsKind(k alarm.Kind) bool {
	for _, c := range alarmKinds {
		if c == k {
			return true
		}
	}
	return false
}

func (a *API) showAlarm(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	al, err := a.h.Alarms().Get(r.PathValue("id"))
	if err != nil {
		return alarmError(err)
	}
	httpjson.Write(w, http.StatusOK, al)
	return nil
}

func (a *API) ackAlarm(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req AckRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := permit.CheckLines("note", req.Note, permit.MaxNote); err != nil {
		return err
	}
	if strings.TrimSpace(req.Note) == "" {
		return withStatus(http.StatusBadRequest, "note: say what you saw or did; it is kept with your name")
	}
	al, err := a.h.AckAlarm(r.PathValue("id"), p.Name, req.Note)
	if err != nil {
		return alarmError(err)
	}
	httpjson.Write(w, http.StatusOK, al)
	return nil
}

// alarmError gives the alarm book's errors their status.
func alarmError(err error) error {
	switch {
	case errors.Is(err, alarm.ErrNotFound):
		return withStatus(http.StatusNotFound, "%v", err)
	case errors.Is(err, alarm.ErrAcked):
		return withStatus(http.StatusConflict, "%v", err)
	case errors.Is(err, alarm.ErrInvalid):
		return withStatus(http.StatusBadRequest, "%v", err)
	}
	return err
}
