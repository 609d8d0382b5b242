package notifytest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/mail"
	"strconv"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/kunci-project/kunci/hub/notify"
)

// Mail is one message the SMTP server took.
type Mail struct {
	From   string
	To     []string
	Header mail.Header
	Body   string // as sent, in its transfer encoding
	TLS    bool   // the session had STARTTLS before MAIL
}

// SMTPServer is an in-process SMTP server on loopback that offers
// STARTTLS, refuses MAIL before it (530) and asks for AUTH PLAIN with
// User and Password.
type SMTPServer struct {
	Host     string // 127.0.0.1
	Port     int
	CAFile   string // the PEM of its certificate, for ca_file
	User     string
	Password string
	// PasswordFile holds Password, for password_file.
	PasswordFile string

	srv *smtp.Server

	mu    sync.Mutex
	mails []Mail
	fail  int // the SMTP code DATA answers with; 0 takes the mail
}

// NewSMTPServer starts a server; it stops in t.Cleanup.
func NewSMTPServer(t testing.TB) *SMTPServer {
	t.Helper()
	cert, caFile := Cert(t)
	s := &SMTPServer{Host: "127.0.0.1", CAFile: caFile, User: "kunci", Password: "sandi-smtp-uji"}
	s.PasswordFile = secretFile(t, "smtp.pass", s.Password)
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, c: c}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Port = l.Addr().(*net.TCPAddr).Port
	done := make(chan error, 1)
	go func() { done <- s.srv.Serve(l) }()
	t.Cleanup(func() {
		s.srv.Close()
		if err := <-done; err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("notifytest: smtp: %v", err)
		}
	})
	return s
}

// Addr is host:port.
func (s *SMTPServer) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Config is the notify.email section that reaches s, sending as from.
func (s *SMTPServer) Config(from string) *notify.EmailConfig {
	return &notify.EmailConfig{Host: s.Host, Port: s.Port, Username: s.User, PasswordFile: s.PasswordFile, From: from, CAFile: s.CAFile}
}

// Fail makes DATA answer code (451: try later, 550: refused) until Fail(0).
func (s *SMTPServer) Fail(code int) {
	s.mu.Lock()
	s.fail = code
	s.mu.Unlock()
}

// Mails returns the mails taken so far.
func (s *SMTPServer) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

type session struct {
	s      *SMTPServer
	c      *smtp.Conn
	authed bool
	m      Mail
}

func (se *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (se *session) Auth(mech string) (sasl.Server, error) {
	if _, ok := se.c.TLSConnectionState(); !ok {
		return nil, &smtp.SMTPError{Code: 538, Message: "encryption required for AUTH"}
	}
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != se.s.User || pass != se.s.Password {
			return errors.New("invalid user or password")
		}
		se.authed = true
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	_, tlsOn := se.c.TLSConnectionState()
	switch {
	case !tlsOn:
		return &smtp.SMTPError{Code: 530, Message: "must issue STARTTLS first"}
	case !se.authed:
		return smtp.ErrAuthRequired
	}
	se.m = Mail{From: from, TLS: tlsOn}
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.m.To = append(se.m.To, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	se.s.mu.Lock()
	defer se.s.mu.Unlock()
	if se.s.fail != 0 {
		return &smtp.SMTPError{Code: se.s.fail, Message: "notifytest: told to fail"}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "not a message: " + err.Error()}
	}
	body, _ := io.ReadAll(msg.Body)
	se.m.Header, se.m.Body = msg.Header, string(body)
	se.s.mails = append(se.s.mails, se.m)
	return nil
}

func (se *session) Reset()        { se.m = Mail{} }
func (se *session) Logout() error { return nil }
