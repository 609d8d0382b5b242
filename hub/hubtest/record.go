package hubtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
)

// Request is one request the hub's API got.
type Request struct{ Method, URI, Body string }

// Is reports whether r is method uri (path and query) with body, compared
// as JSON; body "" wants none.
func (r Request) Is(method, uri, body string) bool {
	return r.Method == method && r.URI == uri && ((body == "" && r.Body == "") || (body != "" && JSONEqual(r.Body, body)))
}

// Recorder is a server in front of the hub's API that keeps every request
// it passes on, for tests of what a client sends.
type Recorder struct {
	URL  string // the server's
	h    http.Handler
	mu   sync.Mutex
	reqs []Request
}

// Record starts a Recorder in front of e's API; t.Cleanup closes it
// before the hub stops.
func (e *Env) Record(t testing.TB) *Recorder {
	t.Helper()
	r := &Recorder{h: e.API}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// ServeHTTP keeps the request and passes it to the API.
func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(b))
	r.mu.Lock()
	r.reqs = append(r.reqs, Request{req.Method, req.URL.RequestURI(), string(b)})
	r.mu.Unlock()
	r.h.ServeHTTP(w, req)
}

// Last returns the last request, zero before the first.
func (r *Recorder) Last() Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		return Request{}
	}
	return r.reqs[len(r.reqs)-1]
}

// Take returns the requests since the last Take.
func (r *Recorder) Take() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	reqs := r.reqs
	r.reqs = nil
	return reqs
}

// JSONEqual reports whether a and b are the same JSON value.
func JSONEqual(a, b string) bool {
	var va, vb any
	return json.Unmarshal([]byte(a), &va) == nil && json.Unmarshal([]byte(b), &vb) == nil && reflect.DeepEqual(va, vb)
}
