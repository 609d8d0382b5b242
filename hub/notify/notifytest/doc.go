// Package notifytest is the notify package's real local peers, for its
// tests and for the hub's end-to-end tests: an SMTP server (go-smtp's,
// in-process) that requires STARTTLS with a certificate made for the
// test, a webhook receiver that checks every signature and keeps every
// idempotency key, and a fake of Telegram's Bot API that checks the
// token's path and the chat.
//
// It is for tests only and must never be imported by the hub's code. Its
// peers listen on loopback, on ports of the kernel's choosing, and close
// in t.Cleanup.
package notifytest
