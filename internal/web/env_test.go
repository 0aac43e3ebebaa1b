package web_test

import (
	"bytes"
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/keys"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/store/sqlstore"
	"github.com/valetauth/valet/internal/throttle"
	"github.com/valetauth/valet/internal/token"
	"github.com/valetauth/valet/internal/web"
)

const (
	issuer   = "https://as.example"
	password = "correct horse battery staple"
	// verifier and its S256 challenge (RFC 7636 appendix B).
	verifier  = "dBjftJeZ4CVP-mJ0kWDuGbZvPVFQ51vTV0I2n6s0QZ"
	challenge = "E9Melhoe2OwvFKQEjMMuIyyrgRrs5qYTGTfMRRVRq3M"
	// accessTTL is the lifetime of implicit access tokens.
	accessTTL = 10 * time.Minute
	// idTokenTTL is the lifetime of ID tokens issued at /authorize.
	idTokenTTL = 5 * time.Minute
)

// defaultAudience is the "aud" of implicit access tokens that name no
// resource; the resources are those fixture clients may ask for.
var (
	defaultAudience = []string{"https://api.example"}
	contactsAPI     = "https://contacts.example/api"
	calendarAPI     = "https://calendar.example"
)

// env is a Handler on an httptest server over a real SQLite store.
type env struct {
	t      *testing.T
	h      *web.Handler
	srv    *httptest.Server
	st     valet.Store
	dig    *secret.Digester
	tokens *token.Issuer // verifies implicit access tokens
	logs   *syncBuffer
	offset time.Duration // added to the Handler's clock
	mu     sync.Mutex
	user   *valet.User
}

// memReplays is a test-only valet.ReplayStore, used while sqlstore has none.
type memReplays struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (m *memReplays) Use(_ context.Context, key string, exp time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.seen[key]; ok {
		return false, nil
	}
	if m.seen == nil {
		m.seen = map[string]time.Time{}
	}
	m.seen[key] = exp
	return true, nil
}

func (m *memReplays) DeleteExpired(context.Context, time.Time) (int, error) { return 0, nil }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// ring holds the signing keys every env shares, in a SQLite database of its
// own that TestMain makes: a fresh RSA key per env would add a quarter of a
// second to each of some forty tests.
var ring *keys.Ring

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "valet-web-keys-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(dir, "keys.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		panic(err)
	}
	sealer, err := secret.NewSealer(secret.Bytes(32))
	if err != nil {
		panic(err)
	}
	ring = &keys.Ring{Store: db.Store().Keys, Sealer: sealer, Now: time.Now}
	if err := ring.Init(ctx); err != nil {
		panic(err)
	}
	return m.Run()
}

type envOption func(*web.Handler)

func secure(h *web.Handler) { h.Secure = true }

// implicitOff is the server-wide switch of pin P16. Tokens is dropped too:
// a server without implicit needs no minter.
func implicitOff(h *web.Handler) { h.ImplicitDisabled, h.Tokens, h.Audience = true, nil, nil }

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "valet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st := db.Store()
	if st.Replays == nil {
		st.Replays = &memReplays{}
	}
	e := &env{t: t, st: st, dig: secret.NewDigester(bytes.Repeat([]byte{7}, 32)), logs: &syncBuffer{}}
	e.tokens = &token.Issuer{URL: issuer, Keys: ring, AccessTTL: accessTTL, Now: time.Now}
	e.h = &web.Handler{
		Issuer: issuer, Clients: st.Clients, Users: st.Users, Sessions: st.Sessions, Consents: st.Consents,
		Codes: st.Codes, Replays: st.Replays, Digester: e.dig,
		Refresh: st.Refresh, Revocations: st.Revocations, AccessTTL: accessTTL,
		Tokens:   &token.Minter{Issuer: e.tokens, Access: st.Access, Digester: e.dig},
		Audience: defaultAudience,
		IDTokens: e.tokens, IDTokenTTL: idTokenTTL,
		Subjects: token.Subjects{PairwiseKey: e.dig.Key(token.PairwisePurpose)},
		Claims:   token.ClaimRules{Custom: map[string][]string{"org": {"department"}}},
		Log:      slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:      func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return time.Now().Add(e.offset) },
	}
	for _, o := range opts {
		o(e.h)
	}
	mux := http.NewServeMux()
	e.h.Register(mux)
	if e.h.Secure {
		e.srv = httptest.NewTLSServer(mux)
	} else {
		e.srv = httptest.NewServer(mux)
	}
	t.Cleanup(e.srv.Close)
	e.fixtures()
	return e
}

func (e *env) advance(d time.Duration) { e.mu.Lock(); e.offset += d; e.mu.Unlock() }

var (
	fixtureScopes    = []string{"openid", "profile", "email", "offline_access", "contacts.read"}
	oidcScopes       = []string{"openid", "profile", "email", "org", "offline_access"}
	allResponseTypes = []string{"code", "token", "id_token", "id_token token", "code id_token", "code token", "code id_token token"}
)

// fixtures creates the catalogue's clients (§0) and one user, ana.
func (e *env) fixtures() {
	e.t.Helper()
	ctx := context.Background()
	clients := []*valet.Client{
		{ID: "conf1", Name: "Conf One", RedirectURIs: []string{"https://client.example/cb", "https://client.example/cb2"},
			GrantTypes: []string{"authorization_code", "refresh_token"}, SecretDigest: "x", Resources: []string{contactsAPI, calendarAPI}},
		{ID: "conf2", Name: "Conf Two", RedirectURIs: []string{"https://client2.example/cb"},
			GrantTypes: []string{"authorization_code", "refresh_token"}, SecretDigest: "x"},
		{ID: "pub1", Name: "SPA", RedirectURIs: []string{"https://spa.example/cb"},
			GrantTypes: []string{"authorization_code", "refresh_token"}, TokenEndpointAuthMethod: valet.AuthNone},
		{ID: "native1", Name: "Native", RedirectURIs: []string{"http://127.0.0.1/callback", "com.example.app:/oauth2redirect"},
			GrantTypes: []string{"authorization_code"}, TokenEndpointAuthMethod: valet.AuthNone},
		{ID: "native6", Name: "Native v6", RedirectURIs: []string{"http://[::1]/cb"},
			GrantTypes: []string{"authorization_code"}, TokenEndpointAuthMethod: valet.AuthNone},
		{ID: "conf-q", Name: "Tenant", RedirectURIs: []string{"https://client.example/cb?tenant=a"},
			GrantTypes: []string{"authorization_code"}, SecretDigest: "x"},
		{ID: "impl1", Name: "Implicit only", RedirectURIs: []string{"https://impl.example/cb"},
			GrantTypes: []string{"implicit"}, TokenEndpointAuthMethod: valet.AuthNone, Resources: []string{contactsAPI, calendarAPI}},
		{ID: "impl-opaque", Name: "Implicit, opaque tokens", RedirectURIs: []string{"https://opaque.example/cb"},
			GrantTypes: []string{"implicit"}, TokenEndpointAuthMethod: valet.AuthNone, AccessTokenFormat: valet.TokenFormatOpaque},
		{ID: "impl-rt", Name: "Implicit and code", RedirectURIs: []string{"https://both.example/cb"},
			GrantTypes: []string{"implicit", "authorization_code", "refresh_token"}, TokenEndpointAuthMethod: valet.AuthNone},
		{ID: "cc1", Name: "Machine", GrantTypes: []string{"client_credentials"}, SecretDigest: "x", Scopes: []string{"api.read"}},
		// hyb1 registered every OpenID Connect response type.
		{ID: "hyb1", Name: "Hybrid", RedirectURIs: []string{"https://hyb.example/cb", "https://hyb.example/cb?tenant=a"},
			GrantTypes: []string{"authorization_code", "implicit", "refresh_token"}, TokenEndpointAuthMethod: valet.AuthNone,
			ResponseTypes: allResponseTypes, Scopes: oidcScopes},
		// pair1 gets pairwise subjects and ES256 ID tokens.
		{ID: "pair1", Name: "Pairwise", RedirectURIs: []string{"https://pair.example/cb"},
			GrantTypes: []string{"authorization_code", "implicit"}, TokenEndpointAuthMethod: valet.AuthNone,
			ResponseTypes: allResponseTypes, SubjectType: "pairwise", IDTokenSignedResponseAlg: "ES256", Scopes: oidcScopes},
	}
	for _, c := range clients {
		if c.Scopes == nil {
			c.Scopes = fixtureScopes
		}
		c.ApplyDefaults()
		if err := c.Validate(); err != nil {
			e.t.Fatalf("fixture %s: %v", c.ID, err)
		}
		c.CreatedAt = time.Now()
		if err := e.st.Clients.Create(ctx, c); err != nil {
			e.t.Fatal(err)
		}
	}
	e.user = e.addUser("ana", password)
	if err := e.st.Users.Update(ctx, e.user.ID, func(u *valet.User) error {
		u.Name, u.Email, u.EmailVerified = "Ana Lima", "ana@example.com", true
		u.Claims = map[string]any{"department": "R&D"}
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	u, err := e.st.Users.Get(ctx, e.user.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	e.user = u
}

var hashOnce = sync.OnceValues(func() (string, error) { return secret.HashPassword(password) })

func (e *env) addUser(name, pw string) *valet.User {
	e.t.Helper()
	var hash string
	var err error
	if pw == password {
		hash, err = hashOnce()
	} else {
		hash, err = secret.HashPassword(pw)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	u := &valet.User{ID: secret.ID("u_"), Username: name, PasswordHash: hash, CreatedAt: time.Now()}
	if err := e.st.Users.Create(context.Background(), u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// addClient stores c as given, without Validate: for values registration
// would refuse, to show the pages do not rely on it.
func (e *env) addClient(c *valet.Client) {
	e.t.Helper()
	c.ApplyDefaults()
	c.CreatedAt = time.Now()
	if err := e.st.Clients.Create(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) consentTo(u *valet.User, clientID string, scopes ...string) {
	e.t.Helper()
	if err := e.st.Consents.Put(context.Background(), &valet.Consent{UserID: u.ID, ClientID: clientID, Scopes: scopes, GrantedAt: time.Now()}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) consentOf(u *valet.User, clientID string) *valet.Consent {
	e.t.Helper()
	c, err := e.st.Consents.Get(context.Background(), u.ID, clientID)
	if errors.Is(err, valet.ErrNotFound) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// browser is a user agent: a cookie jar, and redirects not followed.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := *e.srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{e: e, c: &c}
}

// signedIn returns a browser with a session for u, made directly in the
// store (the sign-in page has its own tests).
func (e *env) signedIn(u *valet.User) *browser {
	e.t.Helper()
	b := e.browser()
	value := secret.Token("vs_")
	now := time.Now()
	if err := e.st.Sessions.Create(context.Background(), &valet.Session{
		ID: e.dig.Digest(secret.PurposeSession, value), SID: secret.ID(""), UserID: u.ID,
		AuthTime: now.Add(-time.Minute), CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}); err != nil {
		e.t.Fatal(err)
	}
	b.setCookie(e.sessionCookieName(), value)
	return b
}

func (e *env) sessionCookieName() string {
	if e.h.Secure {
		return "__Host-valet_session"
	}
	return "valet_session"
}

func (b *browser) setCookie(name, value string) {
	u, _ := url.Parse(b.e.srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// response is a finished response with its body read.
type response struct {
	*http.Response
	body string
}

func (r *response) location(t *testing.T) *url.URL {
	t.Helper()
	loc := r.Header.Get("Location")
	if loc == "" {
		t.Fatalf("status %d without Location; body:\n%s", r.StatusCode, r.body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("Location %q: %v", loc, err)
	}
	return u
}

func (b *browser) do(req *http.Request) *response {
	b.e.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &response{Response: resp, body: string(body)}
}

func (b *browser) get(pathAndQuery string, header ...string) *response {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+pathAndQuery, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

func (b *browser) post(path string, form string, header ...string) *response {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

// authorize sends GET /authorize with the query q.
func (b *browser) authorize(q url.Values) *response {
	b.e.t.Helper()
	return b.get("/authorize?" + q.Encode())
}

const del = "\x00delete"

// authz is the catalogue's AUTHZ_OK request; kv pairs override parameters
// (the value del removes one).
func authz(client, redirect string, kv ...string) url.Values {
	v := url.Values{
		"response_type": {"code"}, "client_id": {client}, "scope": {"openid profile"}, "state": {"st-1"},
		"nonce": {"n-1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	if redirect != "" {
		v.Set("redirect_uri", redirect)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == del {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v
}

// hidden returns the value of the named hidden input on a page.
func hidden(t *testing.T, page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no hidden field %q on the page:\n%s", name, page)
	}
	return html.UnescapeString(m[1])
}

// consentForm is the form of a rendered consent page.
type consentForm struct{ request, expires, csrf string }

func (f consentForm) encode(decision string) string {
	return url.Values{"request": {f.request}, "expires": {f.expires}, "csrf": {f.csrf}, "decision": {decision}}.Encode()
}

// consentPage asks for q with b and expects the consent page.
func (b *browser) consentPage(q url.Values) consentForm {
	b.e.t.Helper()
	r := b.authorize(q)
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `value="allow"`) {
		b.e.t.Fatalf("want the consent page, got %d %s\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	return consentForm{hidden(b.e.t, r.body, "request"), hidden(b.e.t, r.body, "expires"), hidden(b.e.t, r.body, "csrf")}
}

// login signs in through the real form, starting from the sign-in page for q.
func (b *browser) login(q url.Values, username, pw string) *response {
	b.e.t.Helper()
	r := b.get("/login?return_to=" + url.QueryEscape("/authorize?"+q.Encode()))
	if r.StatusCode != http.StatusOK {
		b.e.t.Fatalf("GET /login: %d\n%s", r.StatusCode, r.body)
	}
	form := url.Values{"username": {username}, "password": {pw}, "csrf": {hidden(b.e.t, r.body, "csrf")},
		"return_to": {hidden(b.e.t, r.body, "return_to")}}
	return b.post("/login", form.Encode())
}

// useThrottle gives the handler small limiters.
func useThrottle(account, address int) envOption {
	return func(h *web.Handler) {
		h.AccountLimiter = &throttle.Limiter{Failures: account, Per: 5 * time.Minute}
		h.AddressLimiter = &throttle.Limiter{Failures: address, Per: 5 * time.Minute}
	}
}

type (
	webHandler = web.Handler
	webClient  = valet.Client
)
