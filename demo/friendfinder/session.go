package friendfinder

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/valetauth/valet/demo/explorer"
)

const (
	sessionCookie = "friendfinder_session"
	maxSessions   = 1000
	sessionTTL    = time.Hour
	// maxPending bounds the authorization requests one browser may have
	// started and not finished; pendingTTL is how long one stays usable.
	maxPending = 8
	pendingTTL = 10 * time.Minute
)

// session is what FriendFinder remembers about one browser: the
// authorization requests it started, and the last run of each flow. It is
// kept in memory, behind a random cookie.
type session struct {
	created time.Time

	mu      sync.Mutex
	pending map[string]*pending // by state
	story   *storyRun
	lab     map[string]*labRun // by grant type
	// implicitArrival is the request the implicit grant's redirect made,
	// kept until the page's script posts the fragment.
	implicitArrival *explorer.Message
}

// pending is an authorization request on its way through the browser:
// what the callback needs to finish it.
type pending struct {
	grant    string // "authorization_code" or "implicit"
	verifier string // PKCE code verifier; "" for implicit
	started  time.Time
	// sent is step 1: the redirect FriendFinder sent the browser.
	sent explorer.Message
}

// addPending remembers an authorization request under its state.
func (s *session) addPending(state string, p *pending) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for k, old := range s.pending {
		if now.Sub(old.started) > pendingTTL {
			delete(s.pending, k)
		}
	}
	for len(s.pending) >= maxPending {
		var oldest string
		for k, old := range s.pending {
			if oldest == "" || old.started.Before(s.pending[oldest].started) {
				oldest = k
			}
		}
		delete(s.pending, oldest)
	}
	s.pending[state] = p
}

// takePending returns and forgets the request of state and grant type, so
// that a state works once (RFC 6749 §10.12).
func (s *session) takePending(state, grant string) *pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending[state]
	if p == nil || p.grant != grant || time.Since(p.started) > pendingTTL {
		return nil
	}
	delete(s.pending, state)
	return p
}

func (s *session) setStory(run *storyRun) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.story = run
}

func (s *session) lastStory() *storyRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.story
}

func (s *session) setLab(run *labRun) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lab[run.Grant] = run
}

func (s *session) labRun(grant string) *labRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lab[grant]
}

// sessions holds the sessions of every browser, at most max of them.
type sessions struct {
	max int
	ttl time.Duration

	mu sync.Mutex
	m  map[string]*session
}

func newSessions(max int, ttl time.Duration) *sessions {
	return &sessions{max: max, ttl: ttl, m: map[string]*session{}}
}

// get returns the request's session, or nil.
func (s *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.m[c.Value]
	if sess == nil || time.Since(sess.created) > s.ttl {
		return nil
	}
	return sess
}

// getOrCreate returns the request's session, starting one (and setting its
// cookie) when there is none.
func (s *sessions) getOrCreate(w http.ResponseWriter, r *http.Request, secure bool) *session {
	if sess := s.get(r); sess != nil {
		return sess
	}
	id := randomString()
	sess := &session{created: time.Now(), pending: map[string]*pending{}, lab: map[string]*labRun{}}
	s.mu.Lock()
	for k, old := range s.m {
		if time.Since(old.created) > s.ttl {
			delete(s.m, k)
		}
	}
	for len(s.m) >= s.max {
		var oldest string
		for k, old := range s.m {
			if oldest == "" || old.created.Before(s.m[oldest].created) {
				oldest = k
			}
		}
		delete(s.m, oldest)
	}
	s.m[id] = sess
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/", MaxAge: int(s.ttl / time.Second),
		// Lax: the cookie comes along when Valet sends the browser back to
		// the callback (a top-level GET), never on another site's posts.
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure,
	})
	return sess
}

// session returns the browser's session, starting one if needed. The
// cookie is Secure when FriendFinder runs on https.
func (a *App) session(w http.ResponseWriter, r *http.Request) *session {
	return a.sessions.getOrCreate(w, r, strings.HasPrefix(a.cfg.URL, "https://"))
}

// randomString returns 256 random bits, base64url: session IDs and states.
func randomString() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
