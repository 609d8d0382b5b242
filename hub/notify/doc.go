// Package notify tells people about the hub's alarms and the permit
// workflow's steps: it routes a Message by its topic, door, day and hour
// to the recipients of hub.yaml's notify rules, and delivers it by
// webhook (a signed JSON POST), email (SMTP with STARTTLS, through
// github.com/wneessen/go-mail) or Telegram (the Bot API's sendMessage),
// escalating to the next step of recipients while nobody acknowledges it.
//
// The contract for callers (the alarm records, the workflow):
//   - Notify only writes the queue, in the hub's store (hub/kv), and wakes
//     Run; it never waits for a peer. A Message whose Key was notified
//     before is a no-op, so a caller may call Notify again after a crash
//     or a restart without sending twice.
//   - Every delivery (one message, one recipient, one escalation step) is
//     written before it is tried, retried with exponential backoff and
//     jitter until it is sent or older than Config.MaxAge (then it goes to
//     the dead letters, counted), and it survives a restart: at least
//     once. A delivery that succeeded is recorded in the same transaction
//     that removes it from the queue, so it is never tried again while
//     that record is kept (Config.KeepSent). A peer sees the message's key
//     (the webhook's Idempotency-Key header, the email's Message-ID) and
//     may drop a repeat, which a crash between its answer and the commit
//     can cause.
//   - A burst of one topic at one door is coalesced: the first message goes
//     at once, the ones within Config.Coalesce after it are counted, and
//     at the window's end one summary names the latest and how many more
//     ("…dan 999 lainnya" / "…and 999 more"); a burst that goes on sends
//     one summary per window. The counts are in the store: they survive a
//     restart.
//   - A step after the first (Step.After) is sent only if the caller's
//     Acked(key) says no one acknowledged the message by then. A summary
//     asks about the key of the latest occurrence it stands for.
//
// Topics are dotted names: the alarms' are "alarm." and the alarm's kind
// (AlarmTopic("door.forced") is "alarm.door.forced"), the workflow's are
// the Topic constants of this package. A rule names topics exactly, by a
// prefix ("alarm.*", "request.*") or all ("*").
//
// What it must never do:
//   - carry personal data. No NIK, card UID, phone number or guest's name
//     beyond what the console's role rules show: the caller writes the
//     subject and text, masked, in Bahasa Indonesia first and English
//     second. Notify refuses (ErrPersonalData, counted) text with a run of
//     ten or more digits (a NIK has 16, a phone 10 to 13) or of eight or
//     more hex digits mixing letters and digits (a card UID), and the
//     webhook's JSON is a fixed struct (webhookBody), never a free-form
//     map, so no field a caller adds can leak out.
//   - log a secret: the Telegram bot token is in its URL path, which is
//     never logged nor kept in an error; the webhook secrets and the SMTP
//     password are read from files and only used.
//   - block its caller on a peer, or lose a delivery it accepted.
package notify
