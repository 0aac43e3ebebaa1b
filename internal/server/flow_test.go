package server_test

import (
	"context"
	"crypto/rand"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/keys"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/server"
	"github.com/valetauth/valet/internal/store/sqlstore"
	"github.com/valetauth/valet/internal/store/sqltest"
	"github.com/valetauth/valet/internal/token"
	"golang.org/x/oauth2"
)

// env is an assembled Valet on a real store, served by httptest, with one
// user and one confidential client registered.
type env struct {
	srv      *httptest.Server
	store    valet.Store
	digester *secret.Digester
	issuer   *token.Issuer
	client   *valet.Client
	secret   string
	logs     *strings.Builder
	logMu    *sync.Mutex
}

const (
	username = "ana"
	password = "correct horse battery staple"
	redirect = "https://friendfinder.example/callback"
)

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func newEnv(t *testing.T, dbURL string) *env {
	t.Helper()
	ctx := context.Background()
	if dbURL == "" {
		dbURL = "sqlite://" + filepath.Join(t.TempDir(), "valet.db")
	}
	db, err := sqlstore.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st := db.Store()
	key := make([]byte, 32)
	rand.Read(key)
	sealer, _ := secret.NewSealer(key)
	ring := &keys.Ring{Store: st.Keys, Sealer: sealer, Now: time.Now}
	if err := ring.Init(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{store: st, digester: secret.NewDigester(key), logs: &strings.Builder{}, logMu: &sync.Mutex{}}
	log := slog.New(slog.NewTextHandler(lockedWriter{e.logMu, e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))

	var public http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { public.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	public, _ = server.New(server.Options{
		Issuer: e.srv.URL, Store: st, Keys: ring, Digester: e.digester,
		AdminToken: "test-admin-token-test-admin-token", Log: log, Now: time.Now,
	})
	e.issuer = &token.Issuer{URL: e.srv.URL, Keys: ring, Now: time.Now}

	hash, _ := secret.HashPassword(password)
	if err := st.Users.Create(ctx, &valet.User{ID: "user-ana", Username: username, PasswordHash: hash, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.secret = secret.Token("vcs_")
	e.client = &valet.Client{
		ID: "friendfinder", SecretDigest: e.digester.Digest(secret.PurposeClientSecret, e.secret),
		Name: "FriendFinder", RedirectURIs: []string{redirect},
		GrantTypes: []string{valet.GrantAuthorizationCode, valet.GrantRefreshToken}, ResponseTypes: []string{"code"},
		Scopes: []string{"contacts.read", "mail.read"}, TokenEndpointAuthMethod: valet.AuthSecretBasic, CreatedAt: time.Now(),
	}
	if err := st.Clients.Create(ctx, e.client); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) oauth2Config(scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: e.client.ID, ClientSecret: e.secret, RedirectURL: redirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: e.srv.URL + "/authorize", TokenURL: e.srv.URL + "/token",
			AuthStyle: oauth2.AuthStyleInHeader},
	}
}

// person is a browser: a cookie jar that does not follow redirects, so each
// step of the flow can be checked.
type person struct {
	t    *testing.T
	http *http.Client
	base string
}

func newPerson(t *testing.T, base string) *person {
	jar, _ := cookiejar.New(nil)
	return &person{t: t, base: base, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (p *person) do(req *http.Request) (*http.Response, string) {
	p.t.Helper()
	resp, err := p.http.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (p *person) get(u string) (*http.Response, string) {
	req, _ := http.NewRequest("GET", u, nil)
	return p.do(req)
}

func (p *person) post(path string, form url.Values) (*http.Response, string) {
	req, _ := http.NewRequest("POST", p.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", p.base)
	return p.do(req)
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

func hiddenFields(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// authorize plays the person from the authorization URL to the redirect back
// to the client, signing in and consenting as needed, and returns that
// redirect's query.
func (p *person) authorize(authURL string) url.Values {
	p.t.Helper()
	resp, body := p.get(authURL)
	for step := 0; step < 5; step++ {
		switch {
		case resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther:
			loc, _ := resp.Location()
			if strings.HasPrefix(loc.String(), redirect) {
				return loc.Query()
			}
			if !strings.HasPrefix(loc.String(), p.base) {
				p.t.Fatalf("redirected to %s", loc)
			}
			resp, body = p.get(loc.String())
		case resp.StatusCode == http.StatusOK && strings.Contains(body, `action="/login"`):
			f := hiddenFields(body)
			f.Set("username", username)
			f.Set("password", password)
			resp, body = p.post("/login", f)
			if resp.StatusCode != http.StatusSeeOther {
				p.t.Fatalf("sign-in answered %d, want 303:\n%s", resp.StatusCode, body)
			}
		case resp.StatusCode == http.StatusOK && strings.Contains(body, `action="/consent"`):
			f := hiddenFields(body)
			f.Set("decision", "allow")
			resp, body = p.post("/consent", f)
			if resp.StatusCode != http.StatusSeeOther {
				p.t.Fatalf("consent answered %d, want 303:\n%s", resp.StatusCode, body)
			}
		default:
			p.t.Fatalf("unexpected page %d:\n%s", resp.StatusCode, body)
		}
	}
	p.t.Fatal("the flow did not end at the client")
	return nil
}

// TestAuthorizationCodeFlowWithOAuth2Client runs the note's story with
// golang.org/x/oauth2 as the third-party app and a cookie-jar browser as the
// person: sign in at Valet, consent, code, token, refresh, and a replayed
// refresh token that kills the whole family.
func TestAuthorizationCodeFlowWithOAuth2Client(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	conf := e.oauth2Config("contacts.read")
	verifier := oauth2.GenerateVerifier()
	state := "st-" + secret.ID("")
	p := newPerson(t, e.srv.URL)

	q := p.authorize(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	if q.Get("state") != state || q.Get("iss") != e.srv.URL || q.Get("code") == "" {
		t.Fatalf("authorization response = %v", q)
	}
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Extra("scope") != "contacts.read" {
		t.Fatalf("token response: type %q, refresh %q, scope %v", tok.TokenType, tok.RefreshToken, tok.Extra("scope"))
	}
	claims, err := e.issuer.ParseAccess(tok.AccessToken)
	if err != nil {
		t.Fatalf("the access token does not verify: %v", err)
	}
	if claims.Subject != "user-ana" || claims.ClientID != "friendfinder" || claims.Scope != "contacts.read" || claims.Issuer != e.srv.URL {
		t.Errorf("access token claims = %+v", claims)
	}

	// The same code again is refused (single use).
	if _, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
		t.Errorf("second redemption: %v, want invalid_grant", err)
	}

	// Refresh rotates.
	p2 := newPerson(t, e.srv.URL)
	q2 := p2.authorize(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	tok2, err := conf.Exchange(ctx, q2.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	r0 := tok2.RefreshToken
	refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: r0}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	r1 := refreshed.RefreshToken
	if r1 == "" || r1 == r0 || refreshed.AccessToken == tok2.AccessToken {
		t.Fatalf("refresh did not rotate: r0=%q r1=%q", r0[:6], r1)
	}
	// Replaying r0 is refused and revokes the family: r1 dies too.
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: r0}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("replayed refresh token: %v, want invalid_grant", err)
	}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: r1}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("newest refresh token after a replay: %v, want invalid_grant (the family is revoked)", err)
	}
	ac, err := e.issuer.ParseAccess(refreshed.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := e.store.Revocations.AnyRevoked(ctx, ac.GrantID)
	if err != nil || !revoked {
		t.Errorf("the family's access tokens are not on the deny-list: %v %v", revoked, err)
	}

	// Nothing secret reached the logs.
	e.logMu.Lock()
	logs := e.logs.String()
	e.logMu.Unlock()
	for name, v := range map[string]string{"code": q.Get("code"), "access token": tok.AccessToken, "refresh token": r0,
		"client secret": e.secret, "password": password, "state": state, "verifier": verifier} {
		if strings.Contains(logs, v) || strings.Contains(logs, url.QueryEscape(v)) {
			t.Errorf("the logs contain the %s", name)
		}
	}
}

func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}

// TestConsentIsRememberedAndDenyEndsAtClient checks that a second
// authorization for the same scopes skips the consent page, and that a person
// who denies sends the client access_denied.
func TestConsentIsRememberedAndDenyEndsAtClient(t *testing.T) {
	e := newEnv(t, "")
	conf := e.oauth2Config("contacts.read")
	v := oauth2.GenerateVerifier()
	p := newPerson(t, e.srv.URL)
	p.authorize(conf.AuthCodeURL("s1", oauth2.S256ChallengeOption(v)))

	resp, _ := p.get(conf.AuthCodeURL("s2", oauth2.S256ChallengeOption(v)))
	loc, _ := resp.Location()
	if resp.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), redirect) || loc.Query().Get("code") == "" {
		t.Fatalf("remembered consent: %d %v, want a code at once", resp.StatusCode, loc)
	}

	more := e.oauth2Config("contacts.read", "mail.read")
	resp, body := p.get(more.AuthCodeURL("s3", oauth2.S256ChallengeOption(v)))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/consent"`) {
		t.Fatalf("more scopes must ask again: %d", resp.StatusCode)
	}
	f := hiddenFields(body)
	f.Set("decision", "deny")
	resp, _ = p.post("/consent", f)
	loc, _ = resp.Location()
	if resp.StatusCode != http.StatusSeeOther || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "s3" || loc.Query().Get("iss") != e.srv.URL {
		t.Fatalf("deny: %d %v", resp.StatusCode, loc)
	}
}

// TestConcurrentCodeRedemption sends 50 redemptions of one code at once
// through the assembled server: exactly one succeeds, the rest get
// invalid_grant, none a 5xx (catalogue CO-02, R1). It runs on SQLite and,
// when VALET_TEST_POSTGRES is set, on PostgreSQL.
func TestConcurrentCodeRedemption(t *testing.T) {
	for _, backend := range sqltest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			e := newEnv(t, backend.URL(t))
			conf := e.oauth2Config("contacts.read")
			v := oauth2.GenerateVerifier()
			p := newPerson(t, e.srv.URL)
			code := p.authorize(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v))).Get("code")

			const n = 50
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {v}}.Encode()
			statuses := make([]int, n)
			bodies := make([]string, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest("POST", e.srv.URL+"/token", strings.NewReader(form))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(e.client.ID, e.secret)
					<-start
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						bodies[i] = err.Error()
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					statuses[i], bodies[i] = resp.StatusCode, string(b)
				}()
			}
			close(start)
			wg.Wait()
			count := map[int]int{}
			for i, s := range statuses {
				count[s]++
				if s == 400 && !strings.Contains(bodies[i], `"invalid_grant"`) {
					t.Errorf("a loser got %s", bodies[i])
				}
			}
			if count[200] != 1 || count[400] != n-1 {
				t.Fatalf("statuses = %v, want one 200 and %d × 400", count, n-1)
			}
		})
	}
}
