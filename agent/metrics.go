package agent

import "github.com/kunci-project/kunci/internal/metrics"

// Metrics are the door's counters (kunci_agent_*, listed in README.md),
// registered on the registry NewDoor was given. Every rejected input has
// a counter, so noise is visible without logs.
type Metrics struct {
	StoreErrors      *metrics.Counter // reads and writes of the store that failed
	RelayErrors      *metrics.Counter // relay moves that failed
	ReaderFaults     *metrics.Counter // faults the readers reported
	RecordsRejected  *metrics.Counter // signed records refused, from files or the downlink
	CommandsRejected *metrics.Counter // signed commands refused
	BadRequests      *metrics.Counter // requests of the local API refused
	ListenerDropped  *metrics.Counter // events a best-effort listener missed, its channel full
	EventsRefused    *metrics.Counter // events not stored because the store was full (not safety events)
	EventsHeld       *metrics.Gauge   // events held in memory while the store fails
	EventsLost       *metrics.Counter // of them, dropped for the memory bound

	// inputs the door refused, by reason (kunci_agent_inputs_refused_total)
	UnknownReaders *metrics.Counter // a tap on a reader the door does not have
	BadUIDs        *metrics.Counter // a UID of a length no card has
	UnknownRacks   *metrics.Counter // a rack the door does not have
}

// inputRefusal is the reason label of kunci_agent_inputs_refused_total.
type inputRefusal string

func newMetrics(r *metrics.Registry) *Metrics {
	in := metrics.NewCounterVec[inputRefusal](r, "kunci_agent_inputs_refused_total",
		"Inputs the door refused before its state machine saw them, by reason.", "reason")
	return &Metrics{
		StoreErrors: r.Counter("kunci_agent_store_errors_total", "Reads and writes of the door's store that failed."),
		RelayErrors: r.Counter("kunci_agent_relay_errors_total", "Relay moves that failed (each raises relay_fault)."),
		ReaderFaults: r.Counter("kunci_agent_reader_faults_total",
			"Faults the card readers reported (each recorded as reader.fault)."),
		RecordsRejected: r.Counter("kunci_agent_records_rejected_total",
			"Signed permits, revocations and staff records the door refused, from files or the downlink."),
		CommandsRejected: r.Counter("kunci_agent_commands_rejected_total",
			"Signed commands the door refused: expired, not yet valid, replayed, not for this door."),
		BadRequests: r.Counter("kunci_agent_http_bad_requests_total", "Requests of the local HTTP API refused as malformed."),
		ListenerDropped: r.Counter("kunci_agent_listener_dropped_total",
			"Events a best-effort listener (LEDs, Home Assistant) missed because it was behind; the uplink loses none."),
		EventsRefused: r.Counter("kunci_agent_events_refused_total",
			"Events not stored because the store was full: refusals of downlink messages and reader faults; the door's own events are always stored."),
		EventsHeld: r.Gauge("kunci_agent_events_held", "Events held in memory because the store failed to write them."),
		EventsLost: r.Counter("kunci_agent_events_lost_total",
			"Events held in memory that were dropped because the store failed for too long."),
		UnknownReaders: in.With("unknown_reader"),
		BadUIDs:        in.With("bad_uid"),
		UnknownRacks:   in.With("unknown_rack"),
	}
}

// registerStore registers the store's own counters on r: its compactions
// (compact.go), and the free pages that decide them.
func registerStore(r *metrics.Registry, st *Store) {
	c := &st.compact
	r.CounterFunc("kunci_agent_store_compactions_total",
		"Compactions of the door's store: the live data copied into a new file, which replaced the old one.", c.done.Value)
	r.CounterFunc("kunci_agent_store_compactions_skipped_total",
		"Compactions of the door's store skipped because its disk had too little room for the copy.", c.skipped.Value)
	r.CounterFunc("kunci_agent_store_compactions_failed_total",
		"Compactions of the door's store that failed or ran past their bound; the store went on in its file.", c.failed.Value)
	r.GaugeFunc("kunci_agent_store_compaction_seconds",
		"How long the last compaction of the door's store took, its copy and swap: the door's writes waited for it.", c.seconds.Value)
	r.GaugeFunc("kunci_agent_store_free_pages",
		"Pages of the door's store file that bbolt keeps free; it writes their list in every commit.", func() float64 {
			u, err := st.use()
			if err != nil {
				return 0
			}
			return float64(u.free)
		})
}
