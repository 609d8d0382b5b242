package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// Relay is the lock's driver. Lock and Unlock move it; Halt puts it in its
// safe (locked) state and is called on every exit path. The agent never
// asks the relay for its state: it keeps it in software.
type Relay interface {
	Lock() error
	Unlock() error
	Halt() error
	String() string
}

// Config is what the door needs to know of itself.
type Config struct {
	Site, Door string
	Rules      Rules
	Readers    []string // "entry", optionally "exit"
	Racks      []string
	SiteKey    permit.SiteKey
	Keys       permit.Keyring // hub keys trusted to sign records
	Boot       string         // names this boot of the machine, for the events
	Version    string
}

type request struct {
	in   Input
	done chan error
}

// Door runs one door: it takes inputs one at a time, asks the machine what
// they mean, stores the resulting events durably, and only then moves the
// relay.
type Door struct {
	cfg   Config
	store *Store
	relay Relay
	clock Clock
	log   *slog.Logger
	reg   *metrics.Registry
	ctr   *Metrics

	reqs    chan request
	stopped chan struct{}
	// inputs counts the inputs submitted and not yet processed: Yield
	// waits for it
	inputs doorFirst

	// loop state, owned by Run's goroutine
	m          *Machine
	saved      Snapshot // the snapshot last stored
	trust      trust
	trustSaved time.Time // wall time of the last trusted time stored
	// the store's room and failures (see holdUnstored)
	spaceLevel  SpaceLevel // the level last acted on
	unstored    []Event    // events the store could not take yet, oldest first
	failedSince time.Time  // the first write that failed; zero while writes work
	lost        uint64     // events dropped from unstored since failedSince

	mu        sync.Mutex
	status    wire.Status
	watchers  []chan struct{}
	listeners []chan Event
}

// NewDoor drives the relay to its safe state first, then restores the
// door's saved state from the store, compacting it first if it keeps many
// free pages (compact.go). Run starts it. The door's metrics
// go on reg, which its Handler serves at /metrics; nil: a registry of its
// own.
func NewDoor(cfg Config, st *Store, relay Relay, clk Clock, log *slog.Logger, reg *metrics.Registry) (*Door, error) {
	if err := relay.Lock(); err != nil {
		return nil, fmt.Errorf("door: relay %s to safe state: %w", relay, err)
	}
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	snap, last, err := st.State()
	if err != nil {
		return nil, fmt.Errorf("door: %w", err)
	}
	d := &Door{cfg: cfg, store: st, relay: relay, clock: clk, log: log, reg: reg, ctr: newMetrics(reg),
		reqs: make(chan request), stopped: make(chan struct{})}
	registerStore(reg, st)
	st.SetLog(log)
	// the relay is locked and the door's loop not running: a store left
	// with many free pages (a drain before a restart) is compacted now,
	// its copy unbounded
	if err := st.compactIfDue(false); err != nil {
		log.Warn("door: store not compacted at start", "err", err)
	}
	d.m = NewMachine(cfg.Site, cfg.Door, cfg.Rules, cfg.Readers, cfg.Racks, snap)
	d.saved = snap
	if !last.IsZero() {
		// judge time from the last trusted time until the clock syncs
		d.trust = trust{wall: last, mono: clk.Mono(), ok: true}
	}
	seq, err := st.LastSeq()
	if err != nil {
		return nil, fmt.Errorf("door: %w", err)
	}
	d.status.Seq = seq
	d.setStatus(0, clk.Synced())
	return d, nil
}

// Metrics returns the door's counters.
func (d *Door) Metrics() *Metrics { return d.ctr }

// Store returns the door's store.
func (d *Door) Store() *Store { return d.store }

// Run processes inputs until ctx ends. Whatever way it returns, the relay
// is halted (locked) first.
func (d *Door) Run(ctx context.Context) (err error) {
	defer close(d.stopped)
	defer func() {
		if herr := d.relay.Halt(); herr != nil {
			err = errors.Join(err, fmt.Errorf("door: halt relay %s: %w", d.relay, herr))
		}
		if r := recover(); r != nil {
			err = fmt.Errorf("door: panic: %v", r)
		}
	}()
	if err := d.process(Started{Version: d.cfg.Version}); err != nil {
		return err
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// a select picks at random among ready cases: under a stream of
		// inputs the loop would go on for a while after ctx ended, and the
		// relay could still move
		if ctx.Err() != nil {
			return nil
		}
		// the store's room is looked at every spaceWake, and the events
		// held in memory are written again
		wait := spaceWake
		if dl := d.m.Deadline(); !dl.IsZero() {
			j := d.trust.judge(d.clock.Now(), d.clock.Mono(), d.clock.Synced())
			wait = min(max(dl.Sub(j.Now), time.Millisecond), spaceWake)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case r := <-d.reqs:
			if ctx.Err() != nil {
				r.done <- ErrStopped
				return nil
			}
			r.done <- d.process(r.in)
		case <-timer.C:
			if dl := d.m.Deadline(); dl.IsZero() && len(d.unstored) == 0 && d.store.Space().Level == d.spaceLevel {
				continue // nothing due
			}
			if err := d.process(Tick{}); err != nil {
				d.log.Error("door: timers", "err", err)
			}
		}
	}
}

// process runs one input through a copy of the machine, stores the
// outcome, adopts the copy and moves the relay: in that order, so that a
// failed write changes nothing at the door.
func (d *Door) process(in Input) error {
	wall, mono, synced := d.clock.Now(), d.clock.Mono(), d.clock.Synced()
	lost := d.trust.observe(wall, mono, synced)
	judge := d.trust.judge(wall, mono, synced)
	if c, ok := in.(signedCommand); ok {
		var err error
		if in, err = d.vetCommand(c, judge); err != nil {
			return err
		}
		if in == nil {
			// refused, its refusal the caller's to record; what else is
			// due (a clock just lost) still is
			in = Tick{}
		}
	}
	if t, ok := in.(Tap); ok {
		var waiting permit.Fingerprint
		if fp, ok := d.m.WaitingCard(); ok && t.Reader == ReaderEntry {
			waiting = fp
		}
		info, w, err := d.store.Cards(t.Card, waiting)
		if err != nil {
			d.ctr.StoreErrors.Inc()
			return err
		}
		t.Info = info
		if waiting != "" {
			t.Waiting = &w
		}
		in = t
	}
	next := d.m.Clone()
	out := next.Handle(in, judge)
	if lost {
		detail := "no synchronised time known: guest permits are refused"
		if judge.Trusted {
			detail = "judging time from the last trusted time " + d.trust.wall.UTC().Format(time.RFC3339) + " plus monotonic time"
		}
		out.Events = append([]Event{{Type: wire.EvClockUnsynced, Detail: detail}}, out.Events...)
	}
	level := d.spaceLevel
	out.Events = d.roomFor(out.Events)
	if len(out.Events) == 0 && len(d.unstored) == 0 {
		d.m = next
		if d.spaceLevel != level { // the low_space alarm cleared: nothing else changed
			d.setStatus(0, synced)
		}
		return nil
	}
	for i := range out.Events {
		e := &out.Events[i]
		e.At, e.ClockSynced, e.Boot, e.MonoNS = wall.UTC(), synced, d.cfg.Boot, int64(mono)
	}
	evs := out.Events
	if len(d.unstored) > 0 {
		// what the store could not take comes first, in order, with the
		// note of the failure
		note := Event{Type: wire.EvStoreFailed, At: wall.UTC(), ClockSynced: synced, Boot: d.cfg.Boot, MonoNS: int64(mono),
			Count: uint64(len(d.unstored)), Detail: fmt.Sprintf("the store failed to write from %s: %d events held in memory meanwhile, %d lost",
				d.failedSince.UTC().Format(time.RFC3339), len(d.unstored), d.lost)}
		evs = slices.Concat(d.unstored, []Event{note}, out.Events)
	}
	b := &Batch{Events: evs, Used: out.Used}
	snap := next.Snapshot()
	if !snap.equal(d.saved) {
		b.State = &snap
	}
	// the last trusted time is a lower bound: a minute old costs nothing,
	// and skipping it keeps most taps to the events alone
	if synced && wall.Sub(d.trustSaved) >= time.Minute {
		b.LastTrusted = wall
	}
	if err := d.store.Append(b); err != nil {
		d.ctr.StoreErrors.Inc()
		if slices.ContainsFunc(out.Events, func(e Event) bool { return e.Type == wire.EvUnlocked }) {
			// no unlock without its stored event: the door stays as it was
			d.log.Error("door: event not stored, door unchanged", "err", err)
			d.storeFailed(wall, nil)
			d.setStatus(0, synced)
			return err
		}
		// the door's state follows its inputs all the same, and locking
		// is always safe; the events wait in memory for the store
		d.log.Error("door: event not stored, held in memory", "err", err, "held", len(d.unstored)+len(out.Events))
		d.storeFailed(wall, out.Events)
		d.m = next
		if out.Relay != RelayNone { // as below: a start's door.locked moved nothing
			if _, err := d.moveRelay(out); err != nil {
				d.log.Error("door: relay", "err", err)
			}
		}
		d.setStatus(0, synced)
		return nil
	}
	if len(d.unstored) > 0 {
		d.log.Info("door: the store writes again", "held", len(d.unstored), "lost", d.lost, "since", d.failedSince)
	}
	d.unstored, d.failedSince, d.lost = nil, time.Time{}, 0
	d.ctr.EventsHeld.Set(0)
	out.Events = evs[len(evs)-len(out.Events):] // with their seq: the relay moves for these alone
	d.m, d.saved = next, snap
	if !b.LastTrusted.IsZero() {
		d.trustSaved = wall
	}
	// the events are stored: the relay moves now, before anything else
	var failed RelayAction
	var relayErr error
	if out.Relay != RelayNone { // the door.locked of a start moved nothing: NewDoor locked first
		failed, relayErr = d.moveRelay(out)
	}
	for _, e := range evs {
		d.log.Info("event", eventAttrs(&e)...)
	}
	d.setStatus(evs[len(evs)-1].Seq, synced)
	d.mu.Lock()
	listeners := d.listeners
	d.mu.Unlock()
	for _, l := range listeners {
		for _, e := range evs {
			select {
			case l <- e:
			default:
				d.ctr.ListenerDropped.Inc()
			}
		}
	}
	if relayErr != nil {
		// the machine believes the relay moved: record the fault, which
		// locks again if it had asked for unlock
		if err := d.process(RelayFault{Err: failed.String() + ": " + relayErr.Error()}); err != nil {
			d.log.Error("door: relay fault not stored", "err", err)
		}
	}
	return nil
}

// moveRelay moves the relay once for each door.unlocked and door.locked
// of the outcome, in order: a relock that fell due in the same step as a
// new grant is a real lock then unlock, as the log says. It returns the
// failed action's error, with the action, after trying Halt for a failed
// lock.
func (d *Door) moveRelay(out Outcome) (RelayAction, error) {
	for _, e := range out.Events {
		if !e.MovesRelay() {
			continue
		}
		act, move := RelayLock, d.relay.Lock
		if e.Type == wire.EvUnlocked {
			act, move = RelayUnlock, d.relay.Unlock
		}
		if err := move(); err != nil {
			d.ctr.RelayErrors.Inc()
			d.log.Error("door: relay", "relay", d.relay.String(), "action", act.String(), "err", err)
			if act == RelayLock {
				// the last resort to reach the safe state
				if herr := d.relay.Halt(); herr != nil {
					d.log.Error("door: relay halt", "relay", d.relay.String(), "err", herr)
				}
			}
			return act, err
		}
		// tests read this line: a movement is reported only after it
		// happened, and its justifying event (seq) was stored before
		d.log.Info("relay", "action", act.String(), "seq", e.Seq)
	}
	return RelayNone, nil
}

func (d *Door) setStatus(seq uint64, synced bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if seq == 0 {
		seq = d.status.Seq
	}
	st := d.m.Status()
	st.Seq, st.ClockSynced, st.Version = seq, synced, d.cfg.Version
	if d.spaceLevel >= SpaceLow {
		st.Alarms = append(st.Alarms, wire.AlarmLowSpace)
	}
	if !d.failedSince.IsZero() {
		st.Alarms = append(st.Alarms, wire.AlarmStoreFailed)
	}
	d.status = st
	for _, w := range d.watchers {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// Status returns the door's current status: the status JSON of design.md.
func (d *Door) Status() wire.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status
}

// Watch returns a channel that receives a value after status changes.
// It never blocks the door; several changes may fold into one value.
func (d *Door) Watch() <-chan struct{} {
	c := make(chan struct{}, 1)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.watchers = append(d.watchers, c)
	return c
}

// Listen returns a channel that receives every event after it is stored
// and the relay has moved, for best-effort views: the indicator's LEDs,
// the Home Assistant feed. It never blocks the door: an event that finds
// the channel (of depth events) full is dropped and counted in
// kunci_agent_listener_dropped_total. The uplink reads the store instead, and loses nothing.
func (d *Door) Listen(depth int) <-chan Event {
	c := make(chan Event, max(depth, 1))
	d.mu.Lock()
	defer d.mu.Unlock()
	d.listeners = append(d.listeners, c)
	return c
}

// Submit hands an input to the door and waits until it is processed and
// its events are stored.
func (d *Door) Submit(ctx context.Context, in Input) error {
	r := request{in: in, done: make(chan error, 1)}
	d.inputs.enter()
	defer d.inputs.leave()
	select {
	case d.reqs <- r:
	case <-d.stopped:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Yield returns once the door has no input in hand, or after max at most.
// The sync calls it between steps of its own (each message taken from the
// broker, each event published) so that the door's work comes first: a
// tap's write waits for the disk, and on a Pi's few cores a flood of
// messages or a backlog being published would otherwise take the CPU it
// needs the moment the disk answers. max bounds the wait, so that a stream
// of inputs slows the sync and never stops it.
func (d *Door) Yield(max time.Duration) {
	if d.inputs.waiting.Load() == 0 {
		return
	}
	d.inputs.waitFor(max)
}

// Tap reports a card on reader. The UID is fingerprinted here and dropped.
func (d *Door) Tap(ctx context.Context, reader string, uid []byte) error {
	if !slices.Contains(d.cfg.Readers, reader) {
		d.ctr.UnknownReaders.Inc()
		return fmt.Errorf("%w %q: this door has %v", ErrUnknownReader, reader, d.cfg.Readers)
	}
	if err := permit.CheckUIDLength(len(uid)); err != nil {
		d.ctr.BadUIDs.Inc()
		return err
	}
	return d.Submit(ctx, Tap{Reader: reader, Card: d.cfg.SiteKey.Fingerprint(uid)})
}

// SetDoor reports the door's reed switch.
func (d *Door) SetDoor(ctx context.Context, open bool) error {
	return d.Submit(ctx, DoorInput{Open: open})
}

// SetRack reports a rack lock's reed switch.
func (d *Door) SetRack(ctx context.Context, rack string, open bool) error {
	if !slices.Contains(d.cfg.Racks, rack) {
		d.ctr.UnknownRacks.Inc()
		return fmt.Errorf("%w %q: this door has %v", ErrUnknownRack, rack, d.cfg.Racks)
	}
	return d.Submit(ctx, RackInput{Rack: rack, Open: open})
}

// ExitButton reports a press of the exit button.
func (d *Door) ExitButton(ctx context.Context) error { return d.Submit(ctx, ExitButton{}) }

// ReaderFault records a reader's fault; the door's state does not change.
func (d *Door) ReaderFault(ctx context.Context, reader string, fault error) error {
	d.ctr.ReaderFaults.Inc()
	return d.Submit(ctx, Note{Event: Event{Type: wire.EvReaderFault, Reader: reader, Detail: fault.Error()}})
}

// Record stores events made outside the machine, such as permit.rejected,
// in one transaction.
func (d *Door) Record(ctx context.Context, e ...Event) error {
	switch len(e) {
	case 0:
		return nil
	case 1:
		return d.Submit(ctx, Note{Event: e[0]})
	}
	return d.Submit(ctx, Notes{Events: e})
}
