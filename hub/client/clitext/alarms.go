package clitext

import (
	"fmt"
	"io"
	"time"

	"github.com/kunci-project/kunci/hub/api"
)

// Alarms shows alarms, newest first: whether someone must still look
// (OPEN), whether the condition lasts (ACTIVE, or when it cleared), and
// who acknowledged it with what note.
func Alarms(w io.Writer, as []api.AlarmRecord, now time.Time) error {
	if len(as) == 0 {
		_, err := fmt.Fprintln(w, "no alarms")
		return err
	}
	t := NewTable(w, "ID", "OPENED", "DOOR", "KIND", "ON", "STATE", "ACKNOWLEDGED", "DETAIL")
	for _, a := range as {
		on := a.Rack
		if a.Permit != "" {
			on = a.Permit
		}
		state := "active (" + Span(now.Sub(a.Opened)) + ")"
		if !a.Active() {
			state = "cleared " + Clock(a.Cleared)
		}
		acked := "OPEN"
		if a.Acked != nil {
			acked = a.Acked.By + " " + Clock(a.Acked.At)
			if a.Acked.Note != "" {
				acked += ": " + clip(a.Acked.Note, 40)
			}
		}
		door := a.Site + "/" + a.Door
		if a.Site == "" {
			door = "-"
		}
		t.Row(a.ID, Clock(a.Opened), door, string(a.Kind), on, state, acked, clip(a.Detail, 60))
	}
	return t.Flush()
}

// AlarmAcked says who acknowledged the alarm.
func AlarmAcked(w io.Writer, a *api.AlarmRecord) error {
	if a.Acked == nil {
		return printLine(w, "alarm %s (%s at %s/%s) is not acknowledged\n", a.ID, a.Kind, a.Site, a.Door)
	}
	return printLine(w, "alarm %s (%s at %s/%s) acknowledged by %s at %s\n", a.ID, a.Kind, a.Site, a.Door,
		a.Acked.By, Clock(a.Acked.At))
}
