package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/outbound"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/token"
	"github.com/valetauth/valet/internal/web"
)

// Post-logout redirect URIs of rp1, the relying party of these tests.
const (
	rpLogout      = "https://client.example/logout"
	rpLogoutQuery = "https://client.example/bye?from=valet"
)

// logoutEnv is an env whose server serves /logout too, with a back-channel
// notifier running, and a bcReceiver for the logout tokens.
type logoutEnv struct {
	*env
	lh       *web.LogoutHandler
	notifier *web.BackchannelNotifier
	rx       *bcReceiver
}

// bcReceiver is an app's back-channel logout endpoint: it records each POST
// by path. While hold is open, it waits before answering.
type bcReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  map[string][]url.Values
	ct   map[string]string
	hold chan struct{} // nil: answer at once
	in   chan string   // the path of every request, as it arrives
	// finished counts the requests answered or abandoned.
	finished int
}

func newBCReceiver(t *testing.T, hold chan struct{}) *bcReceiver {
	rx := &bcReceiver{got: map[string][]url.Values{}, ct: map[string]string{}, hold: hold, in: make(chan string, 100)}
	rx.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { rx.mu.Lock(); rx.finished++; rx.mu.Unlock() }()
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		rx.mu.Lock()
		rx.got[r.URL.Path] = append(rx.got[r.URL.Path], form)
		rx.ct[r.URL.Path] = r.Header.Get("Content-Type")
		rx.mu.Unlock()
		rx.in <- r.URL.Path
		if rx.hold != nil {
			select {
			case <-rx.hold:
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rx.srv.Close)
	return rx
}

func (rx *bcReceiver) port() uint16 {
	return netip.MustParseAddrPort(rx.srv.Listener.Addr().String()).Port()
}

func (rx *bcReceiver) requests(path string) []url.Values {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return rx.got[path]
}

func (rx *bcReceiver) finishedCount() int {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return rx.finished
}

func (rx *bcReceiver) contentType(path string) string {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return rx.ct[path]
}

// wait returns once a request to path arrived; it fails the test after a
// generous minute, so that a broken feature fails rather than hangs.
func (rx *bcReceiver) wait(t *testing.T, path string) {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case p := <-rx.in:
			if p == path {
				return
			}
		case <-deadline:
			t.Fatalf("no back-channel request to %s", path)
		}
	}
}

type logoutOptions struct {
	// policy is the outbound client for a bcReceiver on port; nil allows
	// loopback, where the receiver is.
	policy  func(port uint16) *outbound.Client
	hold    chan struct{}
	timeout time.Duration
	secure  bool // https, __Host- cookies
}

func newLogoutEnv(t *testing.T, o logoutOptions) *logoutEnv {
	t.Helper()
	var opts []envOption
	if o.secure {
		opts = append(opts, secure)
	}
	e := newEnv(t, opts...)
	rx := newBCReceiver(t, o.hold)
	oc := &outbound.Client{AllowHTTP: true, AllowInternal: true, AllowedPorts: []uint16{rx.port()}}
	if o.policy != nil {
		oc = o.policy(rx.port())
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// One worker: deliveries happen in queue order, so a sentinel queued
	// last arrives after every earlier one was attempted.
	n := &web.BackchannelNotifier{Client: oc, Log: log, Workers: 1, Timeout: o.timeout}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	lh := &web.LogoutHandler{
		Issuer: issuer, Clients: e.st.Clients, Sessions: e.st.Sessions, Consents: e.st.Consents, Users: e.st.Users,
		Digester: e.dig, Tokens: e.tokens, Notifier: n,
		Subjects: token.Subjects{PairwiseKey: e.dig.Key(token.PairwisePurpose)},
		Secure:   o.secure,
		Log:      log,
	}
	// newEnv's server has no /logout: serve the sign-in pages and the
	// logout endpoint together on a new one, with one cookie jar.
	mux := http.NewServeMux()
	e.h.Register(mux)
	lh.Register(mux)
	if o.secure {
		e.srv = httptest.NewTLSServer(mux)
	} else {
		e.srv = httptest.NewServer(mux)
	}
	t.Cleanup(e.srv.Close)

	le := &logoutEnv{env: e, lh: lh, notifier: n, rx: rx}
	le.addClient(&valet.Client{ID: "rp1", Name: "RP One", RedirectURIs: []string{"https://client.example/cb"},
		GrantTypes: []string{"authorization_code"}, SecretDigest: "x", Scopes: []string{"openid"},
		PostLogoutRedirectURIs: []string{rpLogout, rpLogoutQuery},
		BackchannelLogoutURI:   rx.srv.URL + "/rp1"})
	le.addClient(&valet.Client{ID: "rp2", Name: "RP Two", RedirectURIs: []string{"https://rp2.example/cb"},
		GrantTypes: []string{"authorization_code"}, SecretDigest: "x", Scopes: []string{"openid"},
		PostLogoutRedirectURIs: []string{"https://rp2.example/logout"}})
	return le
}

// session returns the session b's cookie stands for.
func (e *logoutEnv) session(b *browser) *valet.Session {
	e.t.Helper()
	s, err := e.st.Sessions.Get(context.Background(), e.dig.Digest(secret.PurposeSession, b.cookie(e.sessionCookieName())))
	if err != nil {
		e.t.Fatalf("session: %v", err)
	}
	return s
}

// alive reports whether session s is still in the store.
func (e *logoutEnv) alive(s *valet.Session) bool {
	e.t.Helper()
	_, err := e.st.Sessions.Get(context.Background(), s.ID)
	if err != nil && !errors.Is(err, valet.ErrNotFound) {
		e.t.Fatal(err)
	}
	return err == nil
}

// idToken is an ID token of this issuer for clientID, as /authorize or the
// token endpoint would issue it in session sid.
func (e *logoutEnv) idToken(clientID, sub, sid string) string {
	e.t.Helper()
	raw, err := e.tokens.ID(token.IDRequest{Subject: sub, ClientID: clientID, SessionID: sid, TTL: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

func logoutQuery(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return "/logout?" + v.Encode()
}

// RP-Initiated Logout with a hint of this session: signed out at once, the
// session gone (CS-04c), and back to the registered URI with state.
func TestLogout_CS04c_HintAndRegisteredURI(t *testing.T) {
	e := newLogoutEnv(t, logoutOptions{})
	for _, tc := range []struct{ uri, want string }{
		{rpLogout, rpLogout + "?state=s-1%26x"},
		// A registered query is kept; state joins it with "&".
		{rpLogoutQuery, rpLogoutQuery + "&state=s-1%26x"},
	} {
		b := e.signedIn(e.user)
		s := e.session(b)
		old := b.cookie(e.sessionCookieName())
		r := b.get(logoutQuery("id_token_hint", e.idToken("rp1", e.user.ID, s.SID),
			"post_logout_redirect_uri", tc.uri, "state", "s-1&x"))
		if r.StatusCode != http.StatusFound || r.Header.Get("Location") != tc.want {
			t.Fatalf("status %d Location %q, want 302 to %s\n%s", r.StatusCode, r.Header.Get("Location"), tc.want, r.body)
		}
		if e.alive(s) {
			t.Error("the session is still in the store")
		}
		if b.cookie(e.sessionCookieName()) != "" {
			t.Error("the session cookie was not cleared")
		}
		// CS-04c: the old cookie, replayed, signs no one in.
		replay := e.browser()
		replay.setCookie(e.sessionCookieName(), old)
		a := replay.authorize(authz("conf1", "https://client.example/cb"))
		if a.StatusCode != http.StatusFound || !strings.HasPrefix(a.Header.Get("Location"), "/login?") {
			t.Errorf("replayed cookie at /authorize: %d %q, want the sign-in page", a.StatusCode, a.Header.Get("Location"))
		}
		if p := replay.get("/logout"); p.StatusCode != http.StatusOK || !strings.Contains(p.body, "You are signed out") {
			t.Errorf("replayed cookie at /logout: %d, want the signed-out page\n%s", p.StatusCode, p.body)
		}
	}
}

// RU-01d/e and the rule that only an identified client's URI counts: the
// person is signed out, sees Valet's own page, and the URI is nowhere on it.
func TestLogout_RU01_UnregisteredURINeverRedirects(t *testing.T) {
	e := newLogoutEnv(t, logoutOptions{})
	for name, tc := range map[string]struct {
		uri    string
		client string // the hint's audience
	}{
		"RU-01d evil":          {"https://evil.example/", "rp1"},
		"RU-01e query added":   {rpLogout + "?x=1", "rp1"},
		"case differs":         {"https://client.example/Logout", "rp1"},
		"trailing slash":       {rpLogout + "/", "rp1"},
		"another client's URI": {"https://rp2.example/logout", "rp1"},
	} {
		t.Run(name, func(t *testing.T) {
			b := e.signedIn(e.user)
			s := e.session(b)
			r := b.get(logoutQuery("id_token_hint", e.idToken(tc.client, e.user.ID, s.SID),
				"post_logout_redirect_uri", tc.uri, "state", "s"))
			assertPage(t, r, http.StatusOK)
			if !strings.Contains(r.body, "You are signed out") {
				t.Errorf("not the signed-out page:\n%s", r.body)
			}
			host := strings.SplitN(strings.TrimPrefix(tc.uri, "https://"), "/", 2)[0]
			if strings.Contains(r.body, host) || strings.Contains(r.body, "http-equiv") || strings.Contains(r.body, "<script") {
				t.Errorf("the page shows the URI or navigates:\n%s", r.body)
			}
			if e.alive(s) {
				t.Error("logout did not complete")
			}
		})
	}

	t.Run("client not identified", func(t *testing.T) {
		// A registered URI without hint or client_id: nothing says whose it is.
		r := e.browser().get(logoutQuery("post_logout_redirect_uri", rpLogout))
		assertPage(t, r, http.StatusOK)
	})
	t.Run("client_id identifies", func(t *testing.T) {
		r := e.browser().get(logoutQuery("client_id", "rp1", "post_logout_redirect_uri", rpLogout, "state", "s"))
		if r.StatusCode != http.StatusFound || r.Header.Get("Location") != rpLogout+"?state=s" {
			t.Errorf("status %d Location %q", r.StatusCode, r.Header.Get("Location"))
		}
	})
}

func TestLogout_BadHintIsErrorPage(t *testing.T) {
	e := newLogoutEnv(t, logoutOptions{})
	b := e.signedIn(e.user)
	s := e.session(b)

	otherIssuer := &token.Issuer{URL: "https://other.example", Keys: ring, Now: time.Now}
	foreignIss, err := otherIssuer.ID(token.IDRequest{Subject: e.user.ID, ClientID: "rp1", SessionID: s.SID, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	at, _, err := e.tokens.Access(token.AccessRequest{Subject: e.user.ID, ClientID: "rp1", Audience: []string{"https://api.example"}})
	if err != nil {
		t.Fatal(err)
	}
	lt, err := e.tokens.Logout(token.LogoutRequest{ClientID: "rp1", Subject: e.user.ID, SessionID: s.SID})
	if err != nil {
		t.Fatal(err)
	}
	hints := map[string]string{
		"another issuer":  foreignIss,
		"another key":     foreignKeyIDToken(t, e.user.ID, s.SID),
		"at+jwt (JW-02c)": at,
		"logout token":    lt,
		"garbage":         "not-a-token",
		"three dots":      "a.b.c",
	}
	for name, hint := range hints {
		t.Run(name, func(t *testing.T) {
			r := b.get(logoutQuery("id_token_hint", hint, "post_logout_redirect_uri", rpLogout, "state", "s"))
			assertErrorPage(t, r)
			if !e.alive(s) {
				t.Fatal("a bad hint signed the person out")
			}
		})
	}
}

// foreignKeyIDToken is an ID token in every way but the key: one Valet
// never had.
func foreignKeyIDToken(t *testing.T, sub, sid string) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	kid := "" // an RS256 kid Valet knows, with the wrong key
	for _, k := range ring.JWKS().Keys {
		if k.Algorithm == "RS256" {
			kid = k.KeyID
		}
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"iss": issuer, "sub": sub, "aud": "rp1", "sid": sid,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	j, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := j.CompactSerialize()
	return raw
}

func TestLogout_ClientIDMustMatchHint(t *testing.T) {
	e := newLogoutEnv(t, logoutOptions{})
	b := e.signedIn(e.user)
	s := e.session(b)
	hint := e.idToken("rp1", e.user.ID, s.SID)
	for name, q := range map[string]string{
		"mismatch":       logoutQuery("id_token_hint", hint, "client_id", "rp2", "post_logout_redirect_uri", "https://rp2.example/logout"),
		"unknown client": logoutQuery("client_id", "nobody", "post_logout_redirect_uri", rpLogout),
		"repeated param": "/logout?client_id=rp1&client_id=rp2",
	} {
		r := b.get(q)
		assertErrorPage(t, r)
		if !e.alive(s) {
			t.Fatalf("%s: signed out", name)
		}
	}
	// The matching client_id is fine.
	r := b.get(logoutQuery("id_token_hint", hint, "client_id", "rp1", "post_logout_redirect_uri", rpLogout))
	if r.StatusCode != http.StatusFound || e.alive(s) {
		t.Errorf("matching client_id: %d, session alive %v", r.StatusCode, e.alive(s))
	}
}

// Logout CSRF: without an ID token of this very session, Valet asks.
func TestLogout_ConfirmationPage(t *testing.T) {
	e := newLogoutEnv(t, logoutOptions{})
	other := e.addUser("bob", password)
	b := e.signedIn(e.user)
	s := e.session(b)
	for name, q := range map[string]string{
		"no hint":                   "/logout",
		"client_id only":            logoutQuery("client_id", "rp1", "post_logout_redirect_uri", rpLogout, "state", "s"),
		"hint of another session":   logoutQuery("id_token_hint", e.idToken("rp1", e.user.ID, "sid-of-another-session")),
		"hint without sid, other":   logoutQuery("id_token_hint", e.idToken("rp1", other.ID, "")),
		"hint of another's session": logoutQuery("id_token_hint", e.idToken("rp1", other.ID, s.SID+"x")),
	} {
		r := b.get(q)
		assertPage(t, r, http.StatusOK)
		if !strings.Contains(r.body, `action="/logout"`) || !strings.Contains(r.body, `name="sessions" value="this"`) ||
			hidden(t, r.body, "csrf") == "" {
			t.Errorf("%s: no confirmation form:\n%s", name, r.body)
		}
		if !e.alive(s) {
			t.Fatalf("%s: signed out without asking", name)
		}
	}
	// The form carries only validated values.
	r := b.get(logoutQuery("client_id", "rp1", "post_logout_redirect_uri", rpLogout, "state", "st"))
	if hidden(t, r.body, "client_id") != "rp1" || hidden(t, r.body, "post_logout_redirect_uri") != rpLogout || hidden(t, r.body, "state") != "st" {
		t.Errorf("form fields:\n%s", r.body)
	}
	r = b.get(logoutQuery("client_id", "rp1", "post_logout_redirect_uri", "https://evil.example/", "state", "st"))
	if strings.Contains(r.body, "evil.example") || strings.Contains(r.body, `name="post_logout_redirect_uri"`) {
		t.Errorf("an unregistered URI went into the form:\n%s", r.body)
	}
	// An ID token without sid that names the signed-in person matches.
	r = b.get(logoutQuery("id_token_hint", e.idToken("rp1", e.user.ID, "")))
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, "You are signed out") || e.alive(s) {
		t.Errorf("hint naming the person: %d, session alive %v\n%s", r.StatusCode, e.alive(s), r.body)
	}
}

func TestLogout_ConfirmationFormCSRF(t *testing.T) {
	e := newLogoutEnv(t, logoutOptions{})
	b := e.signedIn(e.user)
	s := e.session(b)
	page := b.get(logoutQuery("client_id", "rp1", "post_logout_redirect_uri", rpLogout, "state", "st"))
	csrf := hidden(t, page.body, "csrf")
	form := func(kv ...string) string {
		v := url.Values{"client_id": {"rp1"}, "post_logout_redirect_uri": {rpLogout}, "state": {"st"}, "sessions": {"this"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	otherBrowser := e.signedIn(e.user)
	otherCSRF := hidden(t, otherBrowser.get("/logout").body, "csrf")

	for name, tc := range map[string]struct {
		form   string
		header []string
	}{
		"no csrf":               {form: form()},
		"wrong csrf":            {form: form("csrf", "x"+csrf[1:])},
		"another session's":     {form: form("csrf", otherCSRF)},
		"cross-site, real csrf": {form: form("csrf", csrf), header: []string{"Sec-Fetch-Site", "cross-site"}},
	} {
		r := b.post("/logout", tc.form, tc.header...)
		if r.StatusCode != http.StatusForbidden || r.Header.Get("Location") != "" {
			t.Errorf("%s: status %d Location %q, want 403", name, r.StatusCode, r.Header.Get("Location"))
		}
		if !e.alive(s) {
			t.Fatalf("%s: signed out", name)
		}
	}
	// A link cannot stand in for the form.
	if r := b.get("/logout?sessions=this&csrf=" + url.QueryEscape(csrf)); r.StatusCode != http.StatusBadRequest || !e.alive(s) {
		t.Errorf("GET with the form's fields: %d, alive %v", r.StatusCode, e.alive(s))
	}

	r := b.post("/logout", form("csrf", csrf))
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != rpLogout+"?state=st" {
		t.Fatalf("status %d Location %q, want 303 to %s?state=st", r.StatusCode, r.Header.Get("Location"), rpLogout)
	}
	if e.alive(s) {
		t.Error("the session survived the confirmed logout")
	}
	if !e.alive(e.session(otherBrowser)) {
		t.Error("sessions=this ended another session too")
	}
}

func TestLogout_AllSessions(t *testing.T) {
	e := newLogoutEnv(t, logoutOptions{})
	bob := e.addUser("bob", password)
	b1, b2, b3 := e.signedIn(e.user), e.signedIn(e.user), e.signedIn(bob)
	s1, s2, s3 := e.session(b1), e.session(b2), e.session(b3)
	csrf := hidden(t, b1.get("/logout").body, "csrf")
	r := b1.post("/logout", url.Values{"csrf": {csrf}, "sessions": {"all"}}.Encode())
	assertPage(t, r, http.StatusOK)
	if !strings.Contains(r.body, "every device") {
		t.Errorf("page:\n%s", r.body)
	}
	if e.alive(s1) || e.alive(s2) {
		t.Error("a session of the person survived sign out everywhere")
	}
	if !e.alive(s3) {
		t.Error("another person's session ended")
	}
	if r := b1.post("/logout", url.Values{"csrf": {csrf}, "sessions": {"several"}}.Encode()); r.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown sessions value: %d", r.StatusCode)
	}
}

// RP-Initiated Logout §2: an app may POST its request. The browser would
// leave out the SameSite=Lax cookie, so Valet turns it into a GET.
func TestLogout_PostFromApp(t *testing.T) {
	e := newLogoutEnv(t, logoutOptions{})
	b := e.signedIn(e.user)
	s := e.session(b)
	form := url.Values{"id_token_hint": {e.idToken("rp1", e.user.ID, s.SID)}, "post_logout_redirect_uri": {rpLogout}, "state": {"st"}, "ui_locales": {"fr"}}
	r := b.post("/logout", form.Encode(), "Sec-Fetch-Site", "cross-site")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/logout?") {
		t.Fatalf("status %d Location %q, want 303 to /logout?…", r.StatusCode, r.Header.Get("Location"))
	}
	if !e.alive(s) {
		t.Fatal("signed out by a POST the cookie did not come with")
	}
	r = b.get(r.Header.Get("Location"))
	if r.StatusCode != http.StatusFound || r.Header.Get("Location") != rpLogout+"?state=st" || e.alive(s) {
		t.Errorf("after the 303: %d %q, alive %v", r.StatusCode, r.Header.Get("Location"), e.alive(s))
	}
	form.Set("id_token_hint", "garbage")
	assertErrorPage(t, b.post("/logout", form.Encode()))
}

// HD-02, HD-03: the pages carry the headers and escape what they show.
func TestLogout_PagesEscape(t *testing.T) {
	e := newLogoutEnv(t, logoutOptions{})
	e.addClient(&valet.Client{ID: "xss", Name: `<script>alert(1)</script>"'`, RedirectURIs: []string{"https://x.example/cb"},
		GrantTypes: []string{"authorization_code"}, PostLogoutRedirectURIs: []string{"https://x.example/logout"}})
	b := e.signedIn(e.user)
	r := b.get(logoutQuery("client_id", "xss", "post_logout_redirect_uri", "https://x.example/logout", "state", `"><script>alert(2)</script>`))
	assertPage(t, r, http.StatusOK)
	if strings.Contains(r.body, "<script") || !strings.Contains(r.body, "&lt;script&gt;alert(1)") {
		t.Errorf("not escaped:\n%s", r.body)
	}
	if got := hidden(t, r.body, "state"); got != `"><script>alert(2)</script>` {
		t.Errorf("state round trip = %q", got)
	}
	done := e.browser().get(logoutQuery("client_id", "xss"))
	assertPage(t, done, http.StatusOK)
	if strings.Contains(done.body, "<script") || !strings.Contains(done.body, "&lt;script&gt;") {
		t.Errorf("signed-out page not escaped:\n%s", done.body)
	}
}

// verifyLogoutToken verifies raw against the ring's JWKS, as a relying party
// would, and returns its header and claims.
func verifyLogoutToken(t *testing.T, raw string) (map[string]any, map[string]json.RawMessage) {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	jwks := ring.JWKS()
	keys := jwks.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q is not in the JWKS", jws.Signatures[0].Header.KeyID)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	var h map[string]any
	b, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	json.Unmarshal(b, &h)
	var c map[string]json.RawMessage
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return h, c
}

func claimString(m json.RawMessage) string {
	var s string
	json.Unmarshal(m, &s)
	return s
}

func TestBackchannelLogout_Delivers(t *testing.T) {
	e := newLogoutEnv(t, logoutOptions{})
	rx := e.rx
	e.addClient(&valet.Client{ID: "rp-pair", Name: "Pairwise RP", RedirectURIs: []string{"https://pair.example/cb"},
		GrantTypes: []string{"authorization_code"}, SubjectType: "pairwise", IDTokenSignedResponseAlg: "ES256",
		BackchannelLogoutURI: rx.srv.URL + "/pair"})
	e.addClient(&valet.Client{ID: "rp-stranger", Name: "Never used", RedirectURIs: []string{"https://stranger.example/cb"},
		GrantTypes: []string{"authorization_code"}, BackchannelLogoutURI: rx.srv.URL + "/stranger"})
	e.consentTo(e.user, "rp1", "openid")
	e.consentTo(e.user, "rp-pair", "openid")
	e.consentTo(e.user, "rp2", "openid") // no back-channel URI

	b := e.signedIn(e.user)
	s := e.session(b)
	r := b.get(logoutQuery("id_token_hint", e.idToken("rp1", e.user.ID, s.SID)))
	assertPage(t, r, http.StatusOK)
	rx.wait(t, "/rp1")
	rx.wait(t, "/pair")
	e.notifier.Notify("sentinel", rx.srv.URL+"/sentinel", "x")
	rx.wait(t, "/sentinel")
	if got := rx.requests("/stranger"); len(got) != 0 {
		t.Errorf("an app the person never allowed was notified: %v", got)
	}

	reqs := rx.requests("/rp1")
	if ct := rx.contentType("/rp1"); len(reqs) != 1 || ct != "application/x-www-form-urlencoded" {
		t.Fatalf("requests %v, Content-Type %q", reqs, ct)
	}
	raw := reqs[0].Get("logout_token")
	h, c := verifyLogoutToken(t, raw)
	if h["typ"] != "logout+jwt" || h["alg"] != "RS256" {
		t.Errorf("header = %v", h)
	}
	if claimString(c["iss"]) != issuer || claimString(c["aud"]) != "rp1" || claimString(c["sub"]) != e.user.ID ||
		claimString(c["sid"]) != s.SID || claimString(c["jti"]) == "" {
		t.Errorf("claims = %s", claimsJSON(c))
	}
	if string(c["events"]) != `{"http://schemas.openid.net/event/backchannel-logout":{}}` {
		t.Errorf("events = %s", c["events"])
	}
	if _, ok := c["nonce"]; ok {
		t.Error("a logout token carries nonce")
	}
	var iat, exp int64
	json.Unmarshal(c["iat"], &iat)
	json.Unmarshal(c["exp"], &exp)
	if iat == 0 || exp-iat != 120 {
		t.Errorf("iat %d exp %d, want a two-minute token", iat, exp)
	}

	// The pairwise app learns its own sub for the person, never the user ID.
	raw = rx.requests("/pair")[0].Get("logout_token")
	h, c = verifyLogoutToken(t, raw)
	pair, _ := e.st.Clients.Get(context.Background(), "rp-pair")
	want, err := e.lh.Subjects.For(pair, e.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if h["alg"] != "ES256" || claimString(c["sub"]) != want || claimString(c["aud"]) != "rp-pair" || claimString(c["sid"]) != s.SID {
		t.Errorf("pairwise token: header %v claims %s", h, claimsJSON(c))
	}
	if strings.Contains(claimsJSON(c), e.user.ID) {
		t.Error("the pairwise app's logout token holds the user ID")
	}

	logs := e.logs.String()
	if !strings.Contains(logs, "backchannel logout: delivered") {
		t.Errorf("no delivery logged:\n%s", logs)
	}
	for _, p := range []string{"/rp1", "/pair"} {
		if tok := rx.requests(p)[0].Get("logout_token"); strings.Contains(logs, tok) || strings.Contains(logs, strings.Split(tok, ".")[1]) {
			t.Errorf("a logout token is in the logs")
		}
	}
}

func claimsJSON(c map[string]json.RawMessage) string {
	b, _ := json.Marshal(c)
	return string(b)
}

// Sign out everywhere: a token without sid ends every session at the app
// (Back-Channel Logout §2.4), unless the app requires sid.
func TestBackchannelLogout_AllSessions(t *testing.T) {
	e := newLogoutEnv(t, logoutOptions{})
	e.addClient(&valet.Client{ID: "rp-sid", Name: "Needs sid", RedirectURIs: []string{"https://sid.example/cb"},
		GrantTypes: []string{"authorization_code"}, BackchannelLogoutURI: e.rx.srv.URL + "/sid", BackchannelLogoutSessionRequired: true})
	e.consentTo(e.user, "rp1", "openid")
	e.consentTo(e.user, "rp-sid", "openid")
	b := e.signedIn(e.user)
	s := e.session(b)
	csrf := hidden(t, b.get("/logout").body, "csrf")
	b.post("/logout", url.Values{"csrf": {csrf}, "sessions": {"all"}}.Encode())
	e.rx.wait(t, "/rp1")
	e.rx.wait(t, "/sid")
	_, c := verifyLogoutToken(t, e.rx.requests("/rp1")[0].Get("logout_token"))
	if _, ok := c["sid"]; ok || claimString(c["sub"]) != e.user.ID {
		t.Errorf("sign out everywhere to rp1: %s, want sub and no sid", claimsJSON(c))
	}
	_, c = verifyLogoutToken(t, e.rx.requests("/sid")[0].Get("logout_token"))
	if claimString(c["sid"]) != s.SID {
		t.Errorf("an app that requires sid got %s", claimsJSON(c))
	}
}

// SS-02: the outbound policy decides; the default refuses loopback, and the
// refusal is logged as a security event naming the client only.
func TestBackchannelLogout_BlockedAddressNotContacted(t *testing.T) {
	// Plain http and the bcReceiver's port are allowed, so that the address
	// rule alone is left to refuse it.
	e := newLogoutEnv(t, logoutOptions{policy: func(port uint16) *outbound.Client {
		return &outbound.Client{AllowHTTP: true, AllowedPorts: []uint16{port}}
	}})
	e.consentTo(e.user, "rp1", "openid")
	b := e.signedIn(e.user)
	s := e.session(b)
	b.get(logoutQuery("id_token_hint", e.idToken("rp1", e.user.ID, s.SID)))

	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(e.logs.String(), "destination blocked") {
		if time.Now().After(deadline) {
			t.Fatalf("no block logged:\n%s", e.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := e.rx.requests("/rp1"); len(got) != 0 {
		t.Errorf("the blocked bcReceiver was contacted: %v", got)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "client_id=rp1") || !strings.Contains(logs, "reason=loopback") || strings.Contains(logs, e.rx.srv.URL) {
		t.Errorf("log line:\n%s", logs)
	}
}

// A bcReceiver that does not answer does not hold up the person's logout.
func TestBackchannelLogout_SlowReceiverDoesNotDelay(t *testing.T) {
	hold := make(chan struct{})
	// Long timeouts everywhere: a logout that waited for the bcReceiver would
	// wait for these.
	e := newLogoutEnv(t, logoutOptions{hold: hold, timeout: 10 * time.Minute, policy: func(port uint16) *outbound.Client {
		return &outbound.Client{AllowHTTP: true, AllowInternal: true, AllowedPorts: []uint16{port},
			ResponseHeaderTimeout: 10 * time.Minute, Timeout: 10 * time.Minute}
	}})
	e.consentTo(e.user, "rp1", "openid")
	b := e.signedIn(e.user)
	s := e.session(b)

	answered := make(chan *response, 1)
	go func() { answered <- b.get(logoutQuery("id_token_hint", e.idToken("rp1", e.user.ID, s.SID))) }()
	select {
	case r := <-answered:
		if r.StatusCode != http.StatusOK || e.alive(s) {
			t.Errorf("logout: %d, alive %v", r.StatusCode, e.alive(s))
		}
		// The receiver is still holding the request, or has not had it yet.
		if n := e.rx.finishedCount(); n != 0 {
			t.Errorf("the logout response came after %d back-channel request(s) ended", n)
		}
	case <-time.After(time.Minute):
		close(hold)
		t.Fatal("the logout response waited for the back-channel bcReceiver")
	}
	e.rx.wait(t, "/rp1") // it was notified all the same
	close(hold)
}

func TestBackchannelNotifier_QueueIsBounded(t *testing.T) {
	logs := &syncBuffer{}
	n := &web.BackchannelNotifier{Client: &outbound.Client{}, QueueSize: 1,
		Log: slog.New(slog.NewTextHandler(logs, nil))} // not running: nothing drains the queue
	if !n.Notify("a", "https://a.example/bc", "t1") {
		t.Fatal("the first notification was refused")
	}
	took := make(chan bool, 1)
	go func() { took <- n.Notify("b", "https://b.example/bc", "secret-token") }()
	select {
	case ok := <-took:
		if ok {
			t.Error("a full queue took another notification")
		}
	case <-time.After(time.Minute):
		t.Fatal("Notify blocked on a full queue")
	}
	if !strings.Contains(logs.String(), "queue full") || !strings.Contains(logs.String(), "client_id=b") || strings.Contains(logs.String(), "secret-token") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// With https the cookie is __Host-valet_session: logout finds and clears it,
// and the signed-out page sends HSTS.
func TestLogout_SecureCookie(t *testing.T) {
	e := newLogoutEnv(t, logoutOptions{secure: true})
	b := e.signedIn(e.user)
	s := e.session(b)
	r := b.get(logoutQuery("id_token_hint", e.idToken("rp1", e.user.ID, s.SID)))
	if r.StatusCode != http.StatusOK || e.alive(s) {
		t.Fatalf("status %d, session alive %v\n%s", r.StatusCode, e.alive(s), r.body)
	}
	assertHTMLHeaders(t, r.Header, true)
	cleared := false
	for _, c := range r.Cookies() {
		if c.Name == "__Host-valet_session" && c.MaxAge < 0 && c.Secure && c.HttpOnly && c.Path == "/" {
			cleared = true
		}
	}
	if !cleared {
		t.Errorf("the __Host- session cookie was not cleared: %v", r.Header["Set-Cookie"])
	}
}
