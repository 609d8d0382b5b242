package notifytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/notify"
)

// Webhook is a webhook receiver that checks every request's signature
// (notify.VerifyWebhook, within five minutes of Now) and keeps what came.
type Webhook struct {
	URL        string
	Secret     []byte
	SecretFile string // holds Secret, for secret_file
	// Now is the receiver's clock for the timestamp's check (time.Now);
	// set it to the notifier's fake clock.
	Now func() time.Time
	// OnTaken, when set, is called with every request answered 2xx, for a
	// benchmark's clock; it must not block.
	OnTaken func(Received)

	mu     sync.Mutex
	got    []Received
	errs   []string
	status func(n int) int // the answer to the n-th request (from 0)
	n      int
}

// Received is one webhook request that carried a good signature.
type Received struct {
	Key    string // Idempotency-Key
	Body   notify.WebhookBody
	Status int // what the receiver answered
}

// NewWebhook starts a receiver; it stops in t.Cleanup.
func NewWebhook(t testing.TB) *Webhook {
	t.Helper()
	w := &Webhook{Secret: []byte("rahasia-webhook-uji"), Now: time.Now}
	w.SecretFile = secretFile(t, "webhook.secret", string(w.Secret))
	srv := httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(srv.Close)
	w.URL = srv.URL + "/hooks/kunci"
	return w
}

// Answer makes the receiver answer status(n) to its n-th request (from 0)
// that carries a good signature: 503 to fail, 200 to take it.
func (w *Webhook) Answer(status func(n int) int) {
	w.mu.Lock()
	w.status = status
	w.mu.Unlock()
}

func (w *Webhook) serve(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	w.mu.Lock()
	defer w.mu.Unlock()
	fail := func(code int, format string, a ...any) {
		w.errs = append(w.errs, fmt.Sprintf(format, a...))
		http.Error(rw, fmt.Sprintf(format, a...), code)
	}
	if err != nil || r.Method != http.MethodPost || r.URL.Path != "/hooks/kunci" {
		fail(http.StatusBadRequest, "%s %s: %v", r.Method, r.URL.Path, err)
		return
	}
	if err := notify.VerifyWebhook(w.Secret, r.Header, body, w.Now(), 5*time.Minute); err != nil {
		fail(http.StatusUnauthorized, "%v", err)
		return
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	var b notify.WebhookBody
	if err := dec.Decode(&b); err != nil {
		fail(http.StatusBadRequest, "body: %v", err)
		return
	}
	key := r.Header.Get(notify.HeaderIdempotencyKey)
	if key == "" || key != b.Key || r.Header.Get("Content-Type") != "application/json" {
		fail(http.StatusBadRequest, "Idempotency-Key %q for key %q, Content-Type %q", key, b.Key, r.Header.Get("Content-Type"))
		return
	}
	status := http.StatusOK
	if w.status != nil {
		status = w.status(w.n)
	}
	w.n++
	got := Received{Key: key, Body: b, Status: status}
	w.got = append(w.got, got)
	if w.OnTaken != nil && status >= 200 && status < 300 {
		w.OnTaken(got)
	}
	rw.WriteHeader(status)
}

// Received returns the requests with a good signature so far, with what
// each was answered.
func (w *Webhook) Received() []Received {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Received(nil), w.got...)
}

// Taken returns how many times each key was answered with a 2xx.
func (w *Webhook) Taken() map[string]int {
	m := map[string]int{}
	for _, r := range w.Received() {
		if r.Status >= 200 && r.Status < 300 {
			m[r.Key]++
		}
	}
	return m
}

// Errors returns what the receiver refused: a bad signature, path or
// body. A test that expects none fails on any.
func (w *Webhook) Errors() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.errs...)
}

// Telegram is a fake of the Bot API's sendMessage: it takes only
// /bot<Token>/sendMessage with a JSON chat_id and text.
type Telegram struct {
	URL       string // the base_url
	Token     string
	TokenFile string // holds Token, for token_file

	mu     sync.Mutex
	got    []TelegramMessage
	errs   []string
	status int // answered instead of 200 while non-zero
}

// TelegramMessage is one sendMessage taken.
type TelegramMessage struct {
	ChatID string `json:"chat_id"`
	Text   string `json:"text"`
}

// NewTelegram starts the fake; it stops in t.Cleanup.
func NewTelegram(t testing.TB) *Telegram {
	t.Helper()
	tg := &Telegram{Token: "123456:ABC-uji_token"}
	tg.TokenFile = secretFile(t, "telegram.token", tg.Token)
	srv := httptest.NewServer(http.HandlerFunc(tg.serve))
	t.Cleanup(srv.Close)
	tg.URL = srv.URL
	return tg
}

// Fail makes the API answer status (429, 502) until Fail(0).
func (tg *Telegram) Fail(status int) {
	tg.mu.Lock()
	tg.status = status
	tg.mu.Unlock()
}

func (tg *Telegram) serve(rw http.ResponseWriter, r *http.Request) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	answer := func(code int, ok bool, desc string) {
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(code)
		json.NewEncoder(rw).Encode(map[string]any{"ok": ok, "error_code": code, "description": desc})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/bot"+tg.Token+"/sendMessage" {
		tg.errs = append(tg.errs, fmt.Sprintf("%s %s", r.Method, r.URL.Path))
		answer(http.StatusNotFound, false, "Not Found")
		return
	}
	var m TelegramMessage
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&m); err != nil || m.ChatID == "" || m.Text == "" {
		tg.errs = append(tg.errs, fmt.Sprintf("body %+v: %v", m, err))
		answer(http.StatusBadRequest, false, "Bad Request: message text is empty")
		return
	}
	if len([]rune(m.Text)) > 4096 {
		tg.errs = append(tg.errs, fmt.Sprintf("text of %d characters", len([]rune(m.Text))))
		answer(http.StatusBadRequest, false, "Bad Request: message is too long")
		return
	}
	if tg.status != 0 {
		answer(tg.status, false, "told to fail")
		return
	}
	tg.got = append(tg.got, m)
	answer(http.StatusOK, true, "")
}

// Messages returns the messages taken so far.
func (tg *Telegram) Messages() []TelegramMessage {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]TelegramMessage(nil), tg.got...)
}

// Errors returns the requests refused for a wrong path (token) or body.
func (tg *Telegram) Errors() []string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]string(nil), tg.errs...)
}
