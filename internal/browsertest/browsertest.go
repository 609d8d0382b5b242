// Package browsertest drives a real browser, Debian's chromium, through
// chromedp for the console's tests: one headless browser per test, a
// fresh context (its own cookies, as another person's browser) per
// person, a viewport per context (a desk's screen, a phone). Where
// chromium is absent the test is skipped with a message, outside CI only;
// in CI (CI=true) it fails. It must never be imported outside tests.
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Viewports of the office's screens.
var (
	Desk  = Viewport{1280, 900, 1, false}
	Phone = Viewport{390, 844, 3, true} // the head of ICT infrastructure approves from one
)

// Viewport is a screen's size in CSS pixels.
type Viewport struct {
	W, H   int64
	Scale  float64
	Mobile bool
}

// Browser is one headless chromium.
type Browser struct {
	t    testing.TB
	root context.Context // the browser's first tab, which keeps it running
}

// path returns chromium's path, or "" where it is not installed.
func path() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// New starts a headless chromium for t; t.Cleanup stops it.
func New(t testing.TB) *Browser {
	t.Helper()
	p := path()
	if p == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("browsertest: chromium is not installed; .ci/run installs Debian's chromium")
		}
		t.Skip("browsertest: chromium is not installed (apt-get install chromium); skipping the real-browser test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(p),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox, // CI runs as root, where chromium's sandbox cannot start
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	root, cancelRoot := chromedp.NewContext(alloc)
	t.Cleanup(cancelRoot)
	if _, err := chromedp.Run(root, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("browsertest: start chromium: %v", err)
	}
	return &Browser{t: t, root: root}
}

// Tab is one person's browser window: its own cookies and storage.
type Tab struct {
	Ctx context.Context
	t   testing.TB
}

// Tab opens a tab in a new browser context (its own cookies, as another
// person's browser) at viewport v.
func (b *Browser) Tab(v Viewport) *Tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(v.Scale)}
	if v.Mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	// the first Run starts the tab, on the tab's own context: a deadline
	// on it would close the tab when it passed
	if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(v.W, v.H, opts...)); err != nil {
		b.t.Fatalf("browsertest: start a tab: %v", err)
	}
	return &Tab{Ctx: ctx, t: b.t}
}

// Timeout bounds each Run of a tab.
const Timeout = 20 * time.Second

// Do runs steps in the tab, failing the test on an error. Every step is
// bounded (Timeout): a page that never shows what the test waits for
// fails it, instead of hanging the run.
func (tb *Tab) Do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	Get(tb, chromedp.Steps(steps...))
}

// Get runs a in the tab and returns its result, failing the test on an
// error.
func Get[T any](tb *Tab, a chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.Ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			tb.t.Fatalf("browsertest: not done within %v: %v", Timeout, err)
		}
		tb.t.Fatalf("browsertest: %v", err)
	}
	return v
}

// Text returns the text content of the first element sel (CSS) matches,
// once one does. It is read in the page in one step: a live page (htmx
// swapping the card in) may replace the element between the protocol's
// query of a node and its read of the node's text, and the node is gone.
func (tb *Tab) Text(sel string) string {
	tb.t.Helper()
	q, err := json.Marshal(sel)
	if err != nil {
		tb.t.Fatal(err)
	}
	tb.Until("document.querySelector(" + string(q) + ") !== null")
	return Get(tb, chromedp.Evaluate[string]("(() => { const e = document.querySelector("+string(q)+"); return e ? e.textContent : ''; })()"))
}

// Screenshot saves the whole page as a PNG at path (quality 100: PNG,
// not JPEG).
func (tb *Tab) Screenshot(path string) {
	tb.t.Helper()
	png := Get(tb, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// Until waits until the JavaScript expression is true in the tab's page,
// polling every 50 ms (not on animation frames, which a tab in the
// background may not get), and fails the test with the page's text if
// it never is within Timeout.
func (tb *Tab) Until(expr string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.Ctx, Timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		text, _ := chromedp.Run(tb.Ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 3000) : ""`))
		tb.t.Fatalf("browsertest: %s is not true within %v (%v); the page says:\n%s", expr, Timeout, err, text)
	}
}
