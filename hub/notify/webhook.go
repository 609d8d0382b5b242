package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The webhook's headers. The signature is
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)), so a
// replayed body with a new timestamp fails; a receiver checks it with
// VerifyWebhook and drops a repeat of an Idempotency-Key it has seen.
const (
	HeaderSignature      = "X-Kunci-Signature"
	HeaderTimestamp      = "X-Kunci-Timestamp" // Unix seconds
	HeaderIdempotencyKey = "Idempotency-Key"   // the message's key
)

// WebhookBody is the webhook's JSON: a fixed set of fields, so that no
// field a caller adds reaches a peer (doc.go).
type WebhookBody struct {
	Key       string    `json:"key"`
	Topic     Topic     `json:"topic"`
	Site      string    `json:"site,omitempty"`
	Door      string    `json:"door,omitempty"`
	Subject   Text      `json:"subject"`
	Body      Text      `json:"body"`
	At        time.Time `json:"at"`
	Count     int       `json:"count"`
	Step      int       `json:"step"`      // 0, or the escalation step
	Recipient string    `json:"recipient"` // the recipient's name in hub.yaml
}

type webhook struct {
	client  *http.Client
	now     func() time.Time
	secrets map[string][]byte // by recipient
}

func (w *webhook) send(ctx context.Context, d *delivery, r *Recipient) error {
	m := &d.Message
	body, err := json.Marshal(WebhookBody{Key: m.Key, Topic: m.Topic, Site: m.Site, Door: m.Door, Subject: m.Subject,
		Body: m.Body, At: m.At, Count: m.count(), Step: d.Step, Recipient: r.Name})
	if err != nil {
		return fmt.Errorf("%w: webhook: %v", ErrPermanent, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.Webhook, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: webhook: %v", ErrPermanent, err)
	}
	ts := strconv.FormatInt(w.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kunci-notify")
	req.Header.Set(HeaderIdempotencyKey, m.Key)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.secrets[r.Name], ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	return httpStatus("webhook", resp)
}

// Sign returns the webhook's signature header of body sent at timestamp
// ts (Unix seconds, as in HeaderTimestamp) with secret.
func Sign(secret []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of VerifyWebhook.
var (
	ErrSignature = errors.New("notify: webhook signature does not match")
	ErrStale     = errors.New("notify: webhook timestamp too far from now")
)

// VerifyWebhook checks a webhook's signature and that its timestamp is
// within skew of now (5 minutes is usual), for a receiver written in Go
// and for the tests.
func VerifyWebhook(secret []byte, h http.Header, body []byte, now time.Time, skew time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q", ErrStale, HeaderTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > skew || d < -skew {
		return fmt.Errorf("%w: %s off by %v", ErrStale, HeaderTimestamp, d)
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return ErrSignature
	}
	return nil
}
