package notify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// sender delivers one delivery to one recipient of its channel. An error
// wrapping ErrPermanent gives the delivery up; any other is retried.
type sender interface {
	send(ctx context.Context, d *delivery, r *Recipient) error
}

// newSenders builds the channels c configures, reading their secrets.
func newSenders(c *Config, hc *http.Client, now func() time.Time) (map[Channel]sender, error) {
	s := map[Channel]sender{}
	w := &webhook{client: hc, now: now, secrets: map[string][]byte{}}
	for _, r := range c.Recipients {
		if r.Channel() != ChannelWebhook {
			continue
		}
		k, err := readSecret(r.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("notify: recipient %s: %w", r.Name, err)
		}
		w.secrets[r.Name] = k
	}
	s[ChannelWebhook] = w
	if c.Telegram != nil {
		tok, err := readSecret(c.Telegram.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("notify: telegram: %w", err)
		}
		s[ChannelTelegram] = &telegram{client: hc, base: strings.TrimSuffix(c.Telegram.BaseURL, "/"), token: string(tok)}
	}
	if c.Email != nil {
		e, err := newEmail(c.Email, now)
		if err != nil {
			return nil, err
		}
		s[ChannelEmail] = e
	}
	return s, nil
}

// readSecret reads a secret file: its content less the line's end. An
// empty file is refused.
func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return b, nil
}

// plainText is a message as text for a person: Bahasa Indonesia first,
// then English.
func plainText(m *Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%s\n\n", m.Subject.ID, m.Body.ID)
	fmt.Fprintf(&b, "— English —\n%s\n\n%s\n", m.Subject.EN, m.Body.EN)
	return b.String()
}

// httpStatus turns an HTTP answer's status into a delivery's result: 2xx
// is sent; 408, 425, 429 and 5xx are worth a retry; any other 4xx is
// refused for good.
func httpStatus(what string, resp *http.Response) error {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusRequestTimeout || c == http.StatusTooEarly || c == http.StatusTooManyRequests || c >= 500:
		return fmt.Errorf("%s: %s", what, resp.Status)
	case c >= 400:
		return fmt.Errorf("%w: %s: %s", ErrPermanent, what, resp.Status)
	default:
		return fmt.Errorf("%s: unexpected %s", what, resp.Status)
	}
}
