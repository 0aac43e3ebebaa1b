package throttle

import (
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxKeys is how many keys a Limiter remembers when MaxKeys is zero.
const DefaultMaxKeys = 10_000

// Limiter allows each key Failures failures per Per, as a token bucket
// (golang.org/x/time/rate): a key may fail Failures times in a row, then once
// every Per/Failures. Successes cost nothing, but an attempt in progress holds
// one failure in reserve, so that a burst of parallel guesses cannot all
// start before the first of them has failed.
//
// Set the exported fields with a struct literal before first use and do not
// change them afterwards. A Limiter is safe for concurrent use.
type Limiter struct {
	Failures int           // failures allowed in a row; must be positive
	Per      time.Duration // the window in which Failures failures are allowed; must be positive
	// MaxKeys bounds memory: beyond it the keys whose budget is back to full
	// are forgotten first (forgetting them loses nothing), then the least
	// recently used. Zero means DefaultMaxKeys.
	MaxKeys int
	Now     func() time.Time // nil means time.Now

	mu   sync.Mutex
	keys map[string]*bucket
}

type bucket struct {
	lim      *rate.Limiter
	inflight int       // attempts begun and not yet ended
	last     time.Time // last Begin, for eviction
}

// Attempt is one attempt in progress. End it with exactly one call to Fail or
// Succeed; until then it holds one failure of its key's budget in reserve.
type Attempt struct {
	l     *Limiter
	b     *bucket
	ended bool
}

// Begin starts an attempt for key. When the key has no failure left in its
// budget it returns nil and how long until the next attempt may begin.
func (l *Limiter) Begin(key string) (*Attempt, time.Duration) {
	if l.Failures <= 0 || l.Per <= 0 {
		panic("throttle: Limiter needs positive Failures and Per")
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.keys[key]
	if b == nil {
		l.makeRoom(now)
		b = &bucket{lim: rate.NewLimiter(rate.Every(l.Per/time.Duration(l.Failures)), l.Failures)}
		if l.keys == nil {
			l.keys = make(map[string]*bucket)
		}
		l.keys[key] = b
	}
	b.last = now
	// Every attempt in flight may still fail, so it counts as spent.
	left := b.lim.TokensAt(now) - float64(b.inflight)
	if left < 1 {
		secs := (1 - left) / float64(b.lim.Limit())
		return nil, time.Duration(math.Ceil(secs * float64(time.Second)))
	}
	b.inflight++
	return &Attempt{l: l, b: b}, 0
}

// Fail ends the attempt and counts it against its key.
func (a *Attempt) Fail() { a.end(true) }

// Succeed ends the attempt without counting it.
func (a *Attempt) Succeed() { a.end(false) }

func (a *Attempt) end(failed bool) {
	now := a.l.now()
	a.l.mu.Lock()
	defer a.l.mu.Unlock()
	if a.ended {
		return
	}
	a.ended = true
	a.b.inflight--
	if failed {
		// Begin kept a token free for this attempt, so the reservation is
		// immediate; it can only go negative if Fail is called without Begin.
		a.b.lim.ReserveN(now, 1)
	}
}

// Len reports how many keys the Limiter remembers.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// makeRoom keeps the map under MaxKeys before a new key is added. It runs
// only when the map is full: it drops every key whose budget is full again,
// then, if that was not enough, the least recently used tenth of the idle
// keys, so that the cost of the scan is shared by many inserts. Keys with an
// attempt in flight are never dropped. l.mu is held.
func (l *Limiter) makeRoom(now time.Time) {
	limit := l.MaxKeys
	if limit <= 0 {
		limit = DefaultMaxKeys
	}
	if len(l.keys) < limit {
		return
	}
	type aged struct {
		key  string
		last time.Time
	}
	var idle []aged
	for k, b := range l.keys {
		if b.inflight > 0 {
			continue
		}
		if b.lim.TokensAt(now) >= float64(b.lim.Burst()) {
			delete(l.keys, k)
			continue
		}
		idle = append(idle, aged{k, b.last})
	}
	target := limit - max(limit/10, 1)
	if len(l.keys) <= target {
		return
	}
	slices.SortFunc(idle, func(a, b aged) int { return a.last.Compare(b.last) })
	for _, a := range idle {
		if len(l.keys) <= target {
			break
		}
		delete(l.keys, a.key)
	}
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// AccountKey is the key of a username's budget of failed password checks,
// shared by the sign-in page and the password grant so that both count
// against one budget per account: case-folded, so that "Ana" and "ana"
// count together, and bounded, since usernames are at most 64 characters
// (valet.User.Validate).
func AccountKey(username string) string {
	if len(username) > 128 {
		username = username[:128]
	}
	return "user:" + strings.ToLower(username)
}

// AddressKey is the rate-limit key of a request's source: the peer address
// of the connection, never X-Forwarded-For, which the client writes. IPv6
// addresses count per /64, the block one host usually holds.
func AddressKey(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}

// NewAccountLimiter is the default budget of failed password checks per
// account (AccountKey), which the sign-in page and the password grant
// share: 10 in a row, then one every 30 seconds.
func NewAccountLimiter(now func() time.Time) *Limiter {
	return &Limiter{Failures: 10, Per: 5 * time.Minute, Now: now}
}
