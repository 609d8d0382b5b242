package agent

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/kunci-project/kunci/internal/httpjson"
)

// maxEventsPage bounds one answer of GET /events.
const maxEventsPage = 1000

// Handler serves the agent's local HTTP: GET /status, GET /events?after=SEQ
// (a JSON array, at most 1000 events; ask again after the last seq) and
// GET /metrics (every metric of the door's registry, in the Prometheus
// text format).
func (d *Door) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusOK, d.Status())
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		after, limit := uint64(0), maxEventsPage
		if s := r.URL.Query().Get("after"); s != "" {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				d.ctr.BadRequests.Inc()
				httpjson.Error(w, http.StatusBadRequest, fmt.Errorf("after: %q is not a sequence number", s))
				return
			}
			after = n
		}
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > maxEventsPage {
				d.ctr.BadRequests.Inc()
				httpjson.Error(w, http.StatusBadRequest, fmt.Errorf("limit: %q, want 1 to %d", s, maxEventsPage))
				return
			}
			limit = n
		}
		evs, err := d.store.Events(after, limit)
		if err != nil {
			httpjson.Error(w, http.StatusInternalServerError, err)
			return
		}
		if evs == nil {
			evs = []Event{}
		}
		httpjson.Write(w, http.StatusOK, evs)
	})
	mux.Handle("GET /metrics", d.reg)
	return mux
}
