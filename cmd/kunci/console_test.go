package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kunci-project/kunci/hub/demo"
	"github.com/kunci-project/kunci/internal/browsertest"
	"github.com/kunci-project/kunci/internal/waitfor"
)

// consoleDev is a `kunci dev` process, as a newcomer starts it.
type consoleDev struct {
	base, dir, code string
	passwords       map[string]string
}

var signInLink = regexp.MustCompile(`(http://\S+)/masuk/kode/(\S+)`)

// startConsoleDev builds kunci and runs `kunci dev` on free ports until the test
// ends; it returns once the printed help names the console.
func startConsoleDev(t testing.TB) *consoleDev {
	t.Helper()
	dir := t.TempDir()
	bin := buildKunci(t, dir)
	d := &consoleDev{dir: filepath.Join(dir, "data"), passwords: map[string]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "dev", "--data", d.dir, "--listen", freeAddr(t), "--mqtt", "127.0.0.1:0")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := cmd.Wait(); err != nil && ctx.Err() == nil {
			t.Errorf("kunci dev: %v\n%s", err, tail(stderr.String(), 2000))
		}
	})
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := signInLink.FindStringSubmatch(sc.Text()); m != nil {
				found <- m
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case m := <-found:
		d.base, d.code = m[1], m[2]
	case <-time.After(60 * time.Second):
		t.Fatalf("kunci dev printed no sign-in link within 60 s\n%s", tail(stderr.String(), 2000))
	}
	raw, err := os.ReadFile(filepath.Join(d.dir, "demo-users.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(raw)) {
		if login, pw, ok := strings.Cut(strings.TrimSpace(line), " "); ok && !strings.HasPrefix(login, "#") {
			d.passwords[login] = pw
		}
	}
	return d
}

func (d *consoleDev) post(t testing.TB, path, body string) {
	t.Helper()
	resp, err := http.Post(d.base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("POST %s: %s", path, resp.Status)
	}
}

// taken is how many signed records and commands the door took.
func (d *consoleDev) taken(t testing.TB) int {
	t.Helper()
	resp, err := http.Get(d.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	n := 0
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "kunci_agent_downlink_taken_total "); ok {
			fmt.Sscan(v, &n)
		}
	}
	return n
}

func (d *consoleDev) signIn(t testing.TB, tab *browsertest.Tab, login string) {
	t.Helper()
	tab.Do(
		chromedp.Navigate(d.base+"/masuk"),
		chromedp.SendKeys(chromedp.CSS("#login"), login),
		chromedp.SendKeys(chromedp.CSS("#password"), d.passwords[login]),
		chromedp.Click(chromedp.CSS(".signin button")),
		chromedp.WaitVisible(chromedp.CSS("header .who")),
	)
}

// TestConsoleSOPInBrowsers clicks the whole SOP through the console of
// `kunci dev`: the desk files the request, the network administrator
// classifies it, the head approves and appoints the escort on a phone;
// the simulated door takes the guest's and the escort's taps; an admin's
// dashboard, open all along, shows the guest inside without a reload; the
// guest book has the visit and its print view renders.
func TestConsoleSOPInBrowsers(t *testing.T) {
	br := browsertest.New(t)
	d := startConsoleDev(t)
	const guestUID, guest = "04C0FFEE123456", "Joko Santoso"

	watch := br.Tab(browsertest.Desk)
	watch.Do(chromedp.Navigate(d.base+"/masuk/kode/"+d.code), chromedp.WaitVisible(chromedp.CSS(".door")))
	desk, netadmin, head := br.Tab(browsertest.Desk), br.Tab(browsertest.Desk), br.Tab(browsertest.Phone)
	d.signIn(t, desk, "meja")
	d.signIn(t, netadmin, "jaringan")
	d.signIn(t, head, "kasi")

	// step 1: the desk; the card's UID typed by the desk reader
	loc, _ := time.LoadLocation("Asia/Jakarta")
	if loc == nil {
		loc = time.FixedZone("WIB", 7*3600)
	}
	now := time.Now().In(loc)
	desk.Do(
		chromedp.Navigate(d.base+"/permohonan/baru"),
		chromedp.SetValue(chromedp.CSS("#f-door"), "demo/server-room"),
		chromedp.SendKeys(chromedp.CSS("#f-guest"), guest),
		chromedp.SendKeys(chromedp.CSS("#f-nik"), "3201010101010199"),
		chromedp.SendKeys(chromedp.CSS("#f-organisation"), "PT Jaringan Nusantara"),
		chromedp.SendKeys(chromedp.CSS("#f-purpose"), "Ganti switch inti"),
		chromedp.SetValue(chromedp.CSS("#f-from"), now.Add(-10*time.Minute).Format("2006-01-02T15:04")),
		chromedp.SetValue(chromedp.CSS("#f-until"), now.Add(2*time.Hour).Format("2006-01-02T15:04")),
		chromedp.SendKeys(chromedp.CSS("#f-card_uid"), guestUID),
		chromedp.Submit(chromedp.CSS(".form form")),
		chromedp.WaitVisible(chromedp.CSS(".permit")),
	)
	url := browsertest.Get(desk, chromedp.Location())
	id := url[strings.LastIndex(url, "/")+1:]
	if !strings.HasPrefix(id, "P-") {
		t.Fatalf("after filing, the desk is at %s", url)
	}
	// step 2: the network administrator
	netadmin.Do(
		chromedp.Navigate(d.base+"/permohonan"),
		chromedp.Click(chromedp.CSS(`a[href="/permohonan/`+id+`"]`)),
		chromedp.Click(chromedp.CSS(`input[name=category][value=network]`)),
		chromedp.Submit(chromedp.CSS(`form[action$="/klasifikasi"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.state.coordinated`)),
	)
	// steps 3 and 4: the head, on a phone
	before := d.taken(t)
	head.Do(
		chromedp.Navigate(d.base+"/permohonan/"+id),
		chromedp.Click(chromedp.CSS(`form[action$="/setujui"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/pendamping"]`)),
		chromedp.SetValue(chromedp.CSS("#staff"), "S-004"),
		chromedp.Click(chromedp.CSS(`form[action$="/pendamping"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`.state.issued`)),
	)
	waitfor.NoError(t, 20*time.Second, func() error {
		if d.taken(t) <= before {
			return fmt.Errorf("the door has not taken permit %s", id)
		}
		return nil
	})

	// the door: the guest taps, then the escort; the admin's dashboard
	// notes, in the page, when the guest shows as inside
	browsertest.Get(watch, chromedp.Evaluate[bool](`(() => {
		window.loadedAt = performance.timeOrigin; window.insideAt = 0;
		new MutationObserver(() => {
			if (!window.insideAt && document.querySelector('.door .inside').textContent.includes(`+"`"+guest+"`"+`)) window.insideAt = Date.now();
		}).observe(document.getElementById('doors'), {subtree: true, childList: true, characterData: true});
		return true; })()`))
	d.post(t, "/sim/tap", `{"reader":"entry","uid":"`+guestUID+`"}`)
	tapped := time.Now()
	d.post(t, "/sim/tap", `{"reader":"entry","uid":"`+demo.EscortUID+`"}`)
	d.post(t, "/sim/door", `{"open":true}`)
	d.post(t, "/sim/door", `{"open":false}`)
	watch.Until(`window.insideAt > 0`)
	insideAt := browsertest.Get(watch, chromedp.Evaluate[float64](`window.insideAt`))
	took := time.UnixMilli(int64(insideAt)).Sub(tapped)
	t.Logf("the dashboard showed %s inside %v after the escort's tap (measured in the page)", guest, took.Round(time.Millisecond))
	if took > time.Second { // the bound; it takes tens of milliseconds
		t.Errorf("the dashboard showed the guest inside %v after the escort's tap; want within 1 s", took)
	}
	if reloaded := browsertest.Get(watch, chromedp.Evaluate[bool](`window.loadedAt !== performance.timeOrigin`)); reloaded {
		t.Error("the dashboard reloaded to show the guest")
	}
	text := watch.Text(".door")
	if !strings.Contains(text, guest) || !strings.Contains(text, "Budi") && !strings.Contains(text, "S-004") {
		t.Errorf("the dashboard's card:\n%s", text)
	}

	// the guest leaves by the exit button; the room is secured
	d.post(t, "/sim/exit-button", `{}`)
	d.post(t, "/sim/door", `{"open":true}`)
	d.post(t, "/sim/door", `{"open":false}`)
	aud := br.Tab(browsertest.Desk)
	d.signIn(t, aud, "auditor")
	aud.Do(chromedp.Navigate(d.base+"/buku-tamu?izin="+id), chromedp.WaitVisible(chromedp.CSS("table.book")))
	if row := aud.Text("table.book tbody"); !strings.Contains(row, guest) || !strings.Contains(row, "PT Jaringan Nusantara") {
		t.Errorf("the guest book's row:\n%s", row)
	}
	aud.Do(chromedp.Navigate(d.base+"/buku-tamu/cetak?izin="+id), chromedp.WaitVisible(chromedp.CSS("table.paper")))
	if !strings.Contains(aud.Text("table.paper"), guest) {
		t.Error("the print view lacks the visit")
	}
	pdf := browsertest.Get(aud, chromedp.PrintToPDF())
	if len(pdf) < 1000 || string(pdf[:4]) != "%PDF" {
		t.Errorf("the print view does not print: %d bytes", len(pdf))
	}
}

// BenchmarkTapToBrowser times a tap at `kunci dev`'s simulated door until
// an admin's dashboard in a real browser has swapped the door's card:
// the door stores the events, publishes them and its status through the
// embedded broker, the hub stores them and streams the card, htmx swaps
// it. The card's swaps are noted in the page (Date.now() in a
// MutationObserver); each tap (an unknown card: access.denied) waits for
// the first swap after it. It reports p50-ns and p99-ns (bench/README.md,
// the console's section; the target is 1 s at p99).
//
//	go test ./cmd/kunci -run '^$' -bench TapToBrowser -benchtime 200x
func BenchmarkTapToBrowser(b *testing.B) {
	br := browsertest.New(b)
	d := startConsoleDev(b)
	watch := br.Tab(browsertest.Desk)
	watch.Do(chromedp.Navigate(d.base+"/masuk/kode/"+d.code), chromedp.WaitVisible(chromedp.CSS(".door")))
	browsertest.Get(watch, chromedp.Evaluate[bool](`(() => {
		window.swaps = [];
		new MutationObserver(() => window.swaps.push(Date.now()))
			.observe(document.getElementById('doors'), {subtree: true, childList: true});
		return true; })()`))
	var took []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		n := browsertest.Get(watch, chromedp.Evaluate[float64](`window.swaps.length`))
		at := time.Now()
		d.post(b, "/sim/tap", `{"reader":"entry","uid":"`+demo.OtherUID+`"}`)
		watch.Until(fmt.Sprintf(`window.swaps.length > %d`, int(n)))
		first := browsertest.Get(watch, chromedp.Evaluate[float64](fmt.Sprintf(`window.swaps[%d]`, int(n))))
		took = append(took, max(time.UnixMilli(int64(first)).Sub(at), 0))
		// the door's card settles (status after the events) before the next tap
		time.Sleep(50 * time.Millisecond)
	}
	b.StopTimer()
	slices.Sort(took)
	if len(took) > 0 {
		b.ReportMetric(float64(took[len(took)/2]), "p50-ns")
		b.ReportMetric(float64(took[(len(took)*99+99)/100-1]), "p99-ns")
		b.ReportMetric(float64(took[len(took)-1]), "max-ns")
	}
}
