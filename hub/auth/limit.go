package auth

import (
	"slices"
	"sync"
	"time"
)

// The sign-in limit: after PerLogin failed sign-ins to one login, or
// PerAddress from one address, within LimitWindow, further tries of that
// login or from that address are refused without checking the password
// until the window has passed. With passwords of MinPassword characters
// that leaves a guesser a handful of tries an hour; the office's people,
// who mistype, are refused for a quarter of an hour at worst.
const (
	PerLogin    = 5
	PerAddress  = 20
	LimitWindow = 15 * time.Minute
	// limitKeys bounds the limiter's memory: at most this many logins and
	// addresses are remembered; when full, the oldest is forgotten.
	limitKeys = 4096
)

// Limiter counts failed sign-ins by login and by address. It is safe for
// concurrent use.
type Limiter struct {
	now func() time.Time

	mu    sync.Mutex
	tries map[string]*window
	order []queued // the windows in the order they started, oldest first
}

type queued struct {
	key string
	w   *window
}

type window struct {
	start    time.Time
	failures int
}

// NewLimiter returns a limiter on the clock now (nil: time.Now).
func NewLimiter(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, tries: map[string]*window{}}
}

func loginKey(login string) string { return "l:" + login }
func addrKey(addr string) string   { return "a:" + addr }

// Allowed reports whether a sign-in of login from addr may be tried.
func (l *Limiter) Allowed(login, addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	return l.count(loginKey(login), now) < PerLogin && l.count(addrKey(addr), now) < PerAddress
}

func (l *Limiter) count(key string, now time.Time) int {
	w, ok := l.tries[key]
	if !ok || now.Sub(w.start) >= LimitWindow {
		return 0
	}
	return w.failures
}

// AllowedAddr reports whether addr may try a sign-in that names no
// login (a one-time code).
func (l *Limiter) AllowedAddr(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count(addrKey(addr), l.now()) < PerAddress
}

// Failed counts a failed sign-in of login from addr.
func (l *Limiter) Failed(login, addr string) { l.failed(loginKey(login), addrKey(addr)) }

// FailedAddr counts a failed sign-in from addr that named no login.
func (l *Limiter) FailedAddr(addr string) { l.failed(addrKey(addr)) }

func (l *Limiter) failed(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		w, ok := l.tries[k]
		if !ok || now.Sub(w.start) >= LimitWindow {
			l.room()
			w = &window{start: now}
			l.tries[k] = w
			l.order = append(l.order, queued{k, w})
		}
		w.failures++
	}
}

// Succeeded forgets the login's failures (not the address's: one good
// password does not license guessing others' from there).
func (l *Limiter) Succeeded(login string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.tries, loginKey(login))
}

// room makes room for one more key by forgetting the oldest window, in
// constant time on average. The queue's entries whose window has since
// been replaced are dropped on the way; windows that have passed go
// first, as they are the oldest.
func (l *Limiter) room() {
	for len(l.tries) >= limitKeys && len(l.order) > 0 {
		q := l.order[0]
		l.order = l.order[1:]
		if l.tries[q.key] == q.w {
			delete(l.tries, q.key)
		}
	}
	if len(l.order) > 2*limitKeys { // replaced windows pile up in a quiet limiter
		l.order = slices.DeleteFunc(l.order, func(q queued) bool { return l.tries[q.key] != q.w })
	}
}

// Len returns how many logins and addresses the limiter remembers.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tries)
}
