package notify

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// email sends through the office's SMTP server with STARTTLS required
// (go-mail's TLSMandatory: a server that does not offer it is never sent
// the message in clear).
type email struct {
	cfg      *EmailConfig
	from     string // the bare address
	domain   string // of the Message-ID
	password string
	tls      *tls.Config
	now      func() time.Time
}

func newEmail(c *EmailConfig, now func() time.Time) (*email, error) {
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return nil, fmt.Errorf("notify: email.from: %w", err)
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	e := &email{cfg: c, from: c.From, domain: domain, now: now,
		tls: &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12}}
	if c.PasswordFile != "" {
		p, err := readSecret(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("notify: email: %w", err)
		}
		e.password = string(p)
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("notify: email: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("notify: email: %s: no PEM certificate", c.CAFile)
		}
		e.tls.RootCAs = pool
	}
	return e, nil
}

// MessageID returns the email's Message-ID (without <>) of the delivery
// of key to recipient at step: the same on every try, so that a mail
// system that saw it drops a repeat.
func MessageID(key, recipient string, step int, domain string) string {
	d := delivery{Message: Message{Key: key}, Recipient: recipient, Step: step}
	sum := sha256.Sum256([]byte(deliveryID(&d)))
	return "kunci." + hex.EncodeToString(sum[:16]) + "@" + domain
}

func (e *email) send(ctx context.Context, d *delivery, r *Recipient) error {
	m := &d.Message
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(e.from); err != nil {
		return fmt.Errorf("%w: email: from: %v", ErrPermanent, err)
	}
	if err := msg.To(r.Email); err != nil {
		return fmt.Errorf("%w: email: to: %v", ErrPermanent, err)
	}
	msg.Subject("[Kunci] " + m.Subject.ID + " / " + m.Subject.EN)
	msg.SetMessageIDWithValue(MessageID(m.Key, d.Recipient, d.Step, e.domain))
	msg.SetDateWithValue(e.now())
	msg.SetGenHeader("X-Kunci-Idempotency-Key", m.Key)
	msg.SetGenHeader("X-Kunci-Topic", string(m.Topic))
	msg.SetUserAgent("kunci-notify")
	msg.SetBodyString(gomail.TypeTextPlain, plainText(m))
	opts := []gomail.Option{gomail.WithPort(e.cfg.Port), gomail.WithTLSPolicy(gomail.TLSMandatory),
		gomail.WithTLSConfig(e.tls), gomail.WithTimeout(sendTimeout)}
	if e.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(e.cfg.Username), gomail.WithPassword(e.password))
	}
	c, err := gomail.NewClient(e.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 {
			return fmt.Errorf("%w: email: %v", ErrPermanent, err)
		}
		return fmt.Errorf("email: %w", err)
	}
	return nil
}
