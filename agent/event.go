package agent

import "github.com/kunci-project/kunci/wire"

// Event is one record of the door's log, in the JSON form of design.md
// (wire.Event, the contract the hub reads too). The machine fills the
// fields that say what happened; the store fills the identity (id, seq,
// epoch) and the clock fields when it appends.
type Event = wire.Event

// eventAttrs returns the event's set fields as slog key-value pairs.
func eventAttrs(e *Event) []any {
	a := []any{"seq", e.Seq, "type", e.Type}
	for _, f := range [...]struct{ k, v string }{{"reader", e.Reader}, {"permit", e.Permit}, {"escort", e.Escort},
		{"staff", e.Staff}, {"reason", string(e.Reason)}, {"rack", e.Rack}, {"card", e.Card}, {"detail", e.Detail}} {
		if f.v != "" {
			a = append(a, f.k, f.v)
		}
	}
	return a
}
