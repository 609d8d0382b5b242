package downlink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/topic"
	"github.com/kunci-project/kunci/wire"
)

// Door is what the downlink needs of the door. *agent.Door implements it:
// ApplyUnrecorded verifies and stores a permit, revocation or staff
// record, CommandUnrecorded judges and runs a verified command, and both
// return their refusals (a rollback, a replayed or expired command)
// without recording them; Record stores the refusals, the door's and the
// downlink's own, coalesced, several in one transaction.
type Door interface {
	ApplyUnrecorded(ctx context.Context, source string, data []byte) error
	CommandUnrecorded(ctx context.Context, source string, c permit.Command) error
	Record(ctx context.Context, e ...agent.Event) error
}

var _ Door = (*agent.Door)(nil)

// Metrics are the downlink's counters (kunci_agent_downlink_*, listed in
// README.md).
type Metrics struct {
	Cleared    *metrics.Counter                 // empty payloads ignored
	DoorErrors *metrics.Counter                 // the door could not take a message (stopped, store failed)
	Taken      *metrics.Counter                 // signed records and commands the door took
	Rejected   *metrics.CounterVec[wire.Reason] // messages refused, by reason, by the downlink or the door
}

func newMetrics(r *metrics.Registry) *Metrics {
	return &Metrics{
		Cleared: r.Counter("kunci_agent_downlink_cleared_total",
			"Empty downlink messages ignored (a retained topic cleared by the hub)."),
		DoorErrors: r.Counter("kunci_agent_downlink_door_errors_total",
			"Downlink messages the door could not take (stopped, store failed)."),
		Taken: r.Counter("kunci_agent_downlink_taken_total", "Signed records and commands the door took from the downlink."),
		Rejected: metrics.NewCounterVec[wire.Reason](r, "kunci_agent_downlink_rejected_total",
			"Downlink messages refused, by the downlink or the door, by reason (each recorded as permit.rejected or command.rejected).",
			"reason"),
	}
}

// Bounds of what a message may put into an event or a log line.
const (
	maxTopicEcho = 160
	maxDetail    = 512
)

// Rejection is the error of a refused message. The refusal has been
// counted, and recorded at the door (by the downlink or by the door
// itself), or is held to be recorded within Config.RefusalInterval.
type Rejection struct {
	Topic  string // clipped
	Reason wire.Reason
	Err    error
}

func (r *Rejection) Error() string {
	return fmt.Sprintf("downlink: %s: %s: %v", r.Topic, r.Reason, r.Err)
}

func (r *Rejection) Unwrap() error { return r.Err }

// Config is what a Handler needs.
type Config struct {
	Topics  topic.Door     // the door's topics (topic.New)
	Keys    permit.Keyring // hub keys trusted to sign, as the door's own
	Door    Door
	Metrics *metrics.Registry // the door's, for /metrics; nil: a registry of its own
	Log     *slog.Logger      // nil: discarded
	// The first RefusalBurst refusals of a topic and reason in each
	// RefusalWindow are recorded as events of their own; the rest are
	// counted and recorded as one summary event (Count) when the window
	// ends. Zero takes DefaultRefusalBurst and DefaultRefusalWindow.
	RefusalBurst  int
	RefusalWindow time.Duration
	// RefusalInterval is the shortest time between two of the
	// downlink's writes to the door (DefaultRefusalInterval; negative:
	// every refusal at once). A refusal that comes sooner after the last
	// write is held and written with the others of the interval, in one
	// transaction, when it ends; should the door stop first, it is only
	// counted, as the summary of a window that has not ended.
	RefusalInterval time.Duration
}

// Handler judges the messages of the door's downlink topics and hands the
// good ones to the door. It may be called from several goroutines.
type Handler struct {
	topics   topic.Door
	keys     permit.Keyring
	door     Door
	ctr      *Metrics
	log      *slog.Logger
	refusals *coalescer
}

// New returns a handler for one door.
func New(c Config) (*Handler, error) {
	var errs []error
	if c.Topics.Site == "" || c.Topics.Door == "" || c.Topics.Prefix == "" {
		errs = append(errs, errors.New("downlink: topics: prefix, site and door are required (topic.New)"))
	}
	if len(c.Keys) == 0 {
		errs = append(errs, errors.New("downlink: keys: no trusted hub key, every message would be refused"))
	}
	if c.Door == nil {
		errs = append(errs, errors.New("downlink: door is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if c.Metrics == nil {
		c.Metrics = metrics.NewRegistry()
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.RefusalBurst <= 0 {
		c.RefusalBurst = DefaultRefusalBurst
	}
	if c.RefusalWindow <= 0 {
		c.RefusalWindow = DefaultRefusalWindow
	}
	if c.RefusalInterval == 0 {
		c.RefusalInterval = DefaultRefusalInterval
	}
	h := &Handler{topics: c.Topics, keys: c.Keys, door: c.Door, ctr: newMetrics(c.Metrics), log: c.Log}
	h.refusals = &coalescer{burst: c.RefusalBurst, window: c.RefusalWindow, interval: c.RefusalInterval,
		record: c.Door.Record, failed: h.heldFailed, keys: map[refusalKey]*refusalWindow{}}
	return h, nil
}

// heldFailed counts and logs a write of held refusals the door could not
// take.
func (h *Handler) heldFailed(err error) {
	h.ctr.DoorErrors.Inc()
	h.log.Error("downlink: refusals not recorded", "err", clip(err.Error(), maxDetail))
}

// Metrics returns the handler's counters.
func (h *Handler) Metrics() *Metrics { return h.ctr }

// Subscriptions returns the topic filters the link must subscribe, at QoS 1
// (mqttlink.Options.Subscriptions).
func (h *Handler) Subscriptions() map[string]byte {
	return map[string]byte{h.topics.Permits(): 1, h.topics.StaffAll(): 1, h.topics.Cmd(): 1}
}

// Matches reports whether t is a downlink topic of this door, for a link
// whose messages are shared between several handlers: Handle refuses, and
// records, any other topic.
func (h *Handler) Matches(t string) bool {
	_, _, ok := h.route(t)
	return ok
}

// Func returns Handle as an mqttlink handler (mqttlink.New) whose door
// calls end with ctx. Refusals are recorded, counted and logged by Handle.
func (h *Handler) Func(ctx context.Context) func(mqttlink.Message) {
	return func(m mqttlink.Message) { _ = h.Handle(ctx, m) }
}

// route returns the kind and the record id of a downlink topic of this door.
func (h *Handler) route(t string) (topic.Kind, string, bool) {
	site, door, kind, id := topic.Parse(h.topics.Prefix, t)
	if site != h.topics.Site || door != h.topics.Door {
		return kind, "", false
	}
	switch kind {
	case topic.KindPermit, topic.KindStaff, topic.KindCmd:
		return kind, id, true
	}
	return kind, "", false
}

// Handle judges one message and hands it to the door if it passes. It
// returns nil when the door took the message (or it was an empty payload,
// ignored), a *Rejection when it was refused, and any other error when the
// door could not take it.
func (h *Handler) Handle(ctx context.Context, m mqttlink.Message) error {
	kind, id, ok := h.route(m.Topic)
	if !ok {
		return h.refuse(ctx, m.Topic, kind, id, wire.ReasonWrongTopic,
			fmt.Errorf("not a permits, staff or cmd topic of %s/%s", h.topics.Site, h.topics.Door))
	}
	if size := max(m.Size, len(m.Payload)); size > permit.MaxSigned {
		return h.refuse(ctx, m.Topic, kind, id, wire.ReasonTooLarge,
			fmt.Errorf("%w: %d bytes, at most %d", permit.ErrTooLarge, size, permit.MaxSigned))
	}
	if len(m.Payload) == 0 {
		// the hub cleared a retained topic: a broker forwards the clear to
		// subscribers as an empty message, retained or not. It revokes
		// nothing: a revocation is a signed record.
		h.ctr.Cleared.Inc()
		h.log.Debug("downlink: empty payload ignored", "topic", clip(m.Topic, maxTopicEcho), "retained", m.Retained)
		return nil
	}
	if kind == topic.KindCmd && m.Retained {
		return h.refuse(ctx, m.Topic, kind, id, wire.ReasonRetained,
			errors.New("a command is never obeyed from a retained message"))
	}
	rec, err := h.keys.Decode(m.Payload)
	if err != nil {
		return h.refuse(ctx, m.Topic, kind, id, decodeReason(err), err)
	}
	switch kind {
	case topic.KindCmd:
		if rec.Command == nil {
			return h.refuse(ctx, m.Topic, kind, id, wire.ReasonWrongKind, fmt.Errorf("%s on a command topic", recordKind(rec)))
		}
		return h.answer(ctx, m.Topic, kind, string(rec.Command.Name), h.door.CommandUnrecorded(ctx, m.Topic, *rec.Command))
	case topic.KindPermit:
		var got string
		switch {
		case rec.Permit != nil:
			got = rec.Permit.ID
		case rec.Revocation != nil:
			got = rec.Revocation.Permit
		default:
			return h.refuse(ctx, m.Topic, kind, id, wire.ReasonWrongKind, fmt.Errorf("%s on a permit topic", recordKind(rec)))
		}
		if got != id {
			return h.refuse(ctx, m.Topic, kind, id, wire.ReasonIDMismatch, fmt.Errorf("%s on the topic of %s", recordKind(rec), id))
		}
	default: // topic.KindStaff
		if rec.Staff == nil {
			return h.refuse(ctx, m.Topic, kind, id, wire.ReasonWrongKind, fmt.Errorf("%s on a staff topic", recordKind(rec)))
		}
		if rec.Staff.ID != id {
			return h.refuse(ctx, m.Topic, kind, id, wire.ReasonIDMismatch, fmt.Errorf("%s on the topic of %s", recordKind(rec), id))
		}
	}
	return h.answer(ctx, m.Topic, kind, id, h.door.ApplyUnrecorded(ctx, m.Topic, m.Payload))
}

// refuse records, counts and logs a refusal the downlink made itself. id is
// the record's id as its topic names it.
func (h *Handler) refuse(ctx context.Context, t string, kind topic.Kind, id string, reason wire.Reason, err error) error {
	return h.record(ctx, t, kind, id, "", reason, err)
}

// record records (coalesced), counts and logs a refusal, the downlink's or
// the door's. id is the record's id as its topic names it; cmd the name
// of a refused command, when known.
func (h *Handler) record(ctx context.Context, t string, kind topic.Kind, id string, cmd wire.CommandName, reason wire.Reason, err error) error {
	rej := &Rejection{Topic: clip(t, maxTopicEcho), Reason: reason, Err: err}
	h.ctr.Rejected.With(reason).Inc()
	e := agent.Event{Type: wire.EvPermitRejected, Reason: reason, Detail: clip(rej.Topic+": "+err.Error(), maxDetail)}
	switch {
	case kind == topic.KindPermit && permit.CheckID("permit", id) == nil:
		e.Permit = id // the permit its topic names
	case kind == topic.KindStaff && permit.CheckID("staff", id) == nil:
		e.Staff = id
	case kind == topic.KindCmd:
		e = agent.Event{Type: wire.EvCmdRejected, Reason: reason, Command: cmd, Detail: clip(rej.Topic+": "+err.Error(), maxDetail)}
	}
	if !h.refusals.admit(ctx, refusalKey{typ: e.Type, reason: reason, topic: rej.Topic}, e) {
		return rej // counted, and summed up in the window's summary
	}
	h.log.Warn("downlink: refused", "topic", rej.Topic, "reason", reason, "err", clip(err.Error(), maxDetail))
	if rerr := h.refusals.write(ctx, e); rerr != nil {
		if ctx.Err() == nil {
			h.ctr.DoorErrors.Inc()
			h.log.Error("downlink: refusal not recorded", "topic", rej.Topic, "err", rerr)
		}
		return errors.Join(rej, rerr)
	}
	return rej
}

// answer turns the door's answer into Handle's: the door has recorded its
// own refusals, the downlink counts them.
func (h *Handler) answer(ctx context.Context, t string, kind topic.Kind, id string, err error) error {
	if err == nil {
		h.ctr.Taken.Inc()
		return nil
	}
	if reason := agent.RefusalReason(err); reason != "" {
		// the door's refusal, recorded as the downlink's own are:
		// coalesced, so that a flood of replayed records or commands,
		// validly signed, costs the door a few writes, not one each
		var cmd wire.CommandName
		if kind == topic.KindCmd {
			cmd, id = wire.CommandName(id), ""
		}
		return h.record(ctx, t, kind, id, cmd, reason, err)
	}
	if ctx.Err() == nil {
		h.ctr.DoorErrors.Inc()
		h.log.Error("downlink: door did not take the message", "topic", clip(t, maxTopicEcho), "err", err)
	}
	return fmt.Errorf("downlink: %s: %w", clip(t, maxTopicEcho), err)
}

// decodeReason names a refusal of the downlink's own verification.
func decodeReason(err error) wire.Reason {
	if r := agent.RefusalReason(err); r != "" {
		return r
	}
	return wire.ReasonMalformed
}

func recordKind(r permit.Record) string {
	switch {
	case r.Permit != nil:
		return "permit " + r.Permit.ID
	case r.Revocation != nil:
		return "revocation of " + r.Revocation.Permit
	case r.Staff != nil:
		return "staff record " + r.Staff.ID
	case r.Command != nil:
		return "command " + r.Command.ID
	}
	return "empty record"
}

// clip bounds s to n bytes of valid UTF-8, marking a cut with "…".
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
