package console

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/metrics"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options are what a Console is made with.
type Options struct {
	Hub   *hub.Hub
	Users *auth.Users
	// Tokens are the API's tokens, which admins issue and revoke on the
	// users' page (nil: that part is left out).
	Tokens *auth.Tokens
	// Publisher is the hub's link to the broker, for door commands (nil:
	// commands are refused).
	Publisher hub.Publisher
	// Location is the site's zone, in which every time is shown (nil:
	// Asia/Jakarta, WIB).
	Location *time.Location
	Log      *slog.Logger
	// Office is the heading of printed pages, a line each, as on the
	// office's letterhead (hub.yaml console.office).
	Office []string
}

// Console is the hub's web console, an http.Handler for every path the
// API does not take.
type Console struct {
	o      Options
	mux    *http.ServeMux
	pages  map[string]*template.Template
	static http.Handler

	requests, refused, failed *metrics.Counter
	dropped                   *metrics.Counter // streams that did not read
	streams                   atomic.Int64

	staffMu sync.Mutex
	staff   map[string]string // staff names by id, read at staffAt
	staffAt time.Time
}

// jakarta is Asia/Jakarta, or a fixed UTC+7 named WIB where the zone
// database is missing (a minimal container).
func jakarta() *time.Location {
	if loc, err := time.LoadLocation("Asia/Jakarta"); err == nil {
		return loc
	}
	return time.FixedZone("WIB", 7*3600)
}

// New returns the console of o.Hub, its people known by o.Users. Its
// metrics go on the hub's registry.
func New(o Options) (*Console, error) {
	if o.Hub == nil || o.Users == nil {
		return nil, errors.New("console: a hub and its users are required")
	}
	if o.Location == nil {
		o.Location = jakarta()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	reg := o.Hub.Metrics()
	c := &Console{o: o, mux: http.NewServeMux(), pages: pages,
		static:   http.StripPrefix("/static/", http.FileServerFS(static)),
		requests: reg.Counter("kunci_hub_console_requests_total", "Requests of the web console."),
		refused: reg.Counter("kunci_hub_console_refused_total",
			"Console requests refused: no or ended session, a role that may not, or a failed CSRF or origin check."),
		failed: reg.Counter("kunci_hub_console_errors_total", "Console requests that failed with a server error."),
		dropped: reg.Counter("kunci_hub_console_streams_dropped_total",
			"Dashboard streams ended because the browser did not take a write within 10 s."),
	}
	reg.GaugeFunc("kunci_hub_console_streams", "Live dashboard streams open.", func() float64 { return float64(c.streams.Load()) })
	c.routes()
	return c, nil
}

func (c *Console) routes() {
	c.mux.Handle("GET /static/", cacheStatic(c.static))
	c.mux.HandleFunc("GET /masuk", c.signInPage)
	c.mux.HandleFunc("POST /masuk", c.signIn)
	c.mux.HandleFunc("GET /masuk/kode/{code}", c.signInWithCode)
	c.mux.Handle("POST /keluar", c.action(nil, c.signOut))
	c.mux.Handle("POST /bahasa", c.action(nil, c.setLang))
	c.mux.Handle("GET /{$}", c.page(nil, c.dashboard))
	c.mux.Handle("GET /beranda/aliran", c.page(nil, c.dashboardStream))
	c.permitRoutes()
	c.bookRoutes()
	c.slaRoutes()
	c.staffRoutes()
	c.userRoutes()
	c.doorRoutes()
	c.alarmRoutes()
	c.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, "error.notfound", nil)
	})
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.requests.Inc()
	secure(c.mux).ServeHTTP(w, r)
}

// cacheStatic lets browsers keep the embedded files a day: they change
// only with the binary.
func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		next.ServeHTTP(w, r)
	})
}

// fail answers with an error page (or, to htmx, the message alone) in
// the caller's language, and logs server errors.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, key string, err error) {
	if status >= 500 {
		c.failed.Inc()
		c.o.Log.Error("console: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else if status == http.StatusForbidden || status == http.StatusUnauthorized {
		c.refused.Inc()
	}
	p, _ := auth.FromContext(r.Context())
	pg := c.newPage(r, p, "")
	pg.Title = pg.L.T("error.title")
	pg.Data = key
	c.render(w, r, status, "error", pg)
}

// found reports whether err, of looking up what the request names, is
// nil; else it answers 404 (not found) or 500.
func (c *Console) found(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, workflow.ErrNotFound):
		c.fail(w, r, http.StatusNotFound, "error.notfound", nil)
	default:
		c.fail(w, r, http.StatusInternalServerError, "error.internal", err)
	}
	return false
}

func (c *Console) logRender(name string, err error) {
	c.failed.Inc()
	c.o.Log.Error("console: rendering failed", "template", name, "err", fmt.Sprint(err))
}
