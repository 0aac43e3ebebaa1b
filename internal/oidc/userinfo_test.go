package oidc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oidc"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/token"

	"github.com/valetauth/valet/internal/testclock"
)

// The assembled server's tests (internal/server/oidc_test.go) drive
// UserInfo with go-oidc through real sign-ins; these pin what a client
// library would not send: odd headers, other token kinds and formats,
// records that vanished, a database that fails.

// uiEnv is UserInfo over a real store and key ring.
type uiEnv struct {
	url    string
	st     valet.Store
	d      *secret.Digester
	issuer *token.Issuer
	ids    token.Subjects
	clock  *testclock.Clock
	users  *flakyUsers
	logs   *bytes.Buffer
}

// flakyUsers fails every Get while down is set: the database went away.
type flakyUsers struct {
	valet.UserStore
	down atomic.Bool
}

func (u *flakyUsers) Get(ctx context.Context, id string) (*valet.User, error) {
	if u.down.Load() {
		return nil, errors.New("database is down")
	}
	return u.UserStore.Get(ctx, id)
}

var uiCreated = time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)

func newUIEnv(t *testing.T) *uiEnv {
	t.Helper()
	c := testclock.New(time.Now())
	ring, st := newRing(t, c)
	ctx := context.Background()
	e := &uiEnv{st: st, d: secret.NewDigester(secret.Bytes(32)), clock: c, users: &flakyUsers{UserStore: st.Users},
		logs: &bytes.Buffer{}}
	e.issuer = &token.Issuer{URL: issuer, Keys: ring, AccessTTL: 10 * time.Minute, Now: c.Now}
	e.ids = token.Subjects{PairwiseKey: e.d.Key(token.PairwisePurpose)}
	if err := st.Users.Create(ctx, &valet.User{ID: "usr_ana", Username: "ana", Name: "Ana Lima", Email: "ana@example.com",
		EmailVerified: true, Claims: map[string]any{"department": "Sales"}, CreatedAt: uiCreated}); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*valet.Client{
		{ID: "app", RedirectURIs: []string{"https://app.example/cb"}},
		{ID: "pairwise", SubjectType: "pairwise", RedirectURIs: []string{"https://pw.example/cb"}},
		{ID: "gone", RedirectURIs: []string{"https://gone.example/cb"}},
	} {
		cl.ApplyDefaults()
		cl.CreatedAt = time.Now()
		if err := st.Clients.Create(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	e.url = serve(t, &oidc.Handler{Issuer: issuer, Keys: ring,
		Supported:    oidc.Supported{AuthorizationCode: true, OpenID: true},
		Introspector: &token.Introspector{Issuer: e.issuer, Access: st.Access, Refresh: st.Refresh, Revocations: st.Revocations, Digester: e.d, Now: c.Now},
		Users:        e.users, Clients: st.Clients, Subjects: e.ids,
		Claims: token.ClaimRules{Custom: map[string][]string{"org": {"department"}}},
		Log:    slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return e
}

// mint issues an access token for usr_ana to client in format, in the
// grant family grantID ("" as for client credentials).
func (e *uiEnv) mint(t *testing.T, client, format, grantID string, scopes ...string) string {
	t.Helper()
	m := &token.Minter{Issuer: e.issuer, Access: e.st.Access, Digester: e.d}
	raw, _, err := m.Mint(context.Background(), &valet.Client{ID: client, AccessTokenFormat: format},
		token.AccessRequest{Subject: "usr_ana", ClientID: client, Audience: []string{issuer}, Scopes: scopes, GrantID: grantID})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// call sends method to /userinfo with the Authorization header values
// given and, when form is not nil, a form body.
func (e *uiEnv) call(t *testing.T, method string, form url.Values, authorization ...string) uiResult {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, e.url+"/userinfo", body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, a := range authorization {
		req.Header.Add("Authorization", a)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := uiResult{status: resp.StatusCode, header: resp.Header, raw: b}
	json.Unmarshal(b, &r.body)
	return r
}

type uiResult struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// want asserts the status and the RFC 6750 §3 challenge's error code ("" for
// the bare challenge), and the headers every answer carries.
func (r uiResult) want(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d %s, want %d %s", r.status, r.raw, status, code)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q", got)
	}
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "*" || r.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("CORS: origin %q, credentials %q", got, r.header.Get("Access-Control-Allow-Credentials"))
	}
	challenge := r.header.Get("WWW-Authenticate")
	switch {
	case status == http.StatusOK:
		if challenge != "" {
			t.Errorf("a 200 with a challenge %q", challenge)
		}
	case code == "":
		if challenge != `Bearer realm="auth.example.com"` || len(r.raw) != 0 {
			t.Errorf("challenge %q, body %q; want the bare challenge and no error information (RFC 6750 §3.1)", challenge, r.raw)
		}
	default:
		if !strings.HasPrefix(challenge, `Bearer realm="auth.example.com", error="`+code+`", error_description="`) || r.body["error"] != code {
			t.Errorf("challenge %q, body %s; want error %s", challenge, r.raw, code)
		}
	}
}

func TestUserInfoFormatsAndSubjects(t *testing.T) {
	e := newUIEnv(t)
	want := map[string]any{"sub": "usr_ana", "name": "Ana Lima", "preferred_username": "ana",
		"updated_at": float64(uiCreated.Unix()), "email": "ana@example.com", "email_verified": true, "department": "Sales"}
	for _, format := range []string{valet.TokenFormatJWT, valet.TokenFormatOpaque} {
		at := e.mint(t, "app", format, "fam_1", "openid", "profile", "email", "org")
		r := e.call(t, http.MethodGet, nil, "Bearer "+at)
		r.want(t, http.StatusOK, "")
		if !reflect.DeepEqual(r.body, want) {
			t.Errorf("%s: claims\n got %v\nwant %v", format, r.body, want)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json;charset=UTF-8" || r.header.Get("Pragma") != "no-cache" {
			t.Errorf("headers %v", r.header)
		}
	}
	// Scheme names are case-insensitive; openid alone releases sub alone.
	r := e.call(t, http.MethodGet, nil, "bearer "+e.mint(t, "app", valet.TokenFormatJWT, "fam_1", "openid"))
	r.want(t, http.StatusOK, "")
	if !reflect.DeepEqual(r.body, map[string]any{"sub": "usr_ana"}) {
		t.Errorf("openid alone: %v", r.body)
	}
	// A pairwise client is told its pairwise sub.
	r = e.call(t, http.MethodGet, nil, "Bearer "+e.mint(t, "pairwise", valet.TokenFormatJWT, "fam_2", "openid"))
	r.want(t, http.StatusOK, "")
	pc, _ := e.st.Clients.Get(context.Background(), "pairwise")
	if sub, _ := e.ids.For(pc, "usr_ana"); r.body["sub"] != sub || sub == "usr_ana" {
		t.Errorf("pairwise client: sub %v, want %q", r.body["sub"], sub)
	}
}

func TestUserInfoWhereTheTokenComesFrom(t *testing.T) {
	e := newUIEnv(t)
	at := e.mint(t, "app", valet.TokenFormatJWT, "fam_1", "openid")
	// RFC 6750 §2.2: POST with the token in the form body.
	e.call(t, http.MethodPost, url.Values{"access_token": {at}}).want(t, http.StatusOK, "")
	e.call(t, http.MethodPost, url.Values{"other": {"x"}}, "Bearer "+at).want(t, http.StatusOK, "")
	e.call(t, http.MethodPost, nil, "Bearer "+at).want(t, http.StatusOK, "")
	// §2: never two methods at once.
	e.call(t, http.MethodPost, url.Values{"access_token": {at}}, "Bearer "+at).want(t, http.StatusBadRequest, "invalid_request")
	e.call(t, http.MethodPost, url.Values{"access_token": {at, at}}).want(t, http.StatusBadRequest, "invalid_request")
	e.call(t, http.MethodGet, nil, "Bearer "+at, "Bearer "+at).want(t, http.StatusBadRequest, "invalid_request")
	e.call(t, http.MethodGet, nil, "Bearer ").want(t, http.StatusBadRequest, "invalid_request")
	// A query-string token (§2.3) is not looked at; another scheme is as no
	// token at all (§3.1); neither is a GET's body.
	req, _ := http.NewRequest(http.MethodGet, e.url+"/userinfo?access_token="+url.QueryEscape(at), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a token in the query string: %d, want 401", resp.StatusCode)
	}
	e.call(t, http.MethodGet, nil).want(t, http.StatusUnauthorized, "")
	e.call(t, http.MethodGet, nil, "Basic "+at).want(t, http.StatusUnauthorized, "")
	e.call(t, http.MethodGet, url.Values{"access_token": {at}}).want(t, http.StatusUnauthorized, "")
	if r := e.call(t, http.MethodPut, nil, "Bearer "+at); r.status != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d, want 405", r.status)
	}
	if strings.Contains(e.logs.String(), at) {
		t.Error("the logs contain the access token")
	}
}

func TestUserInfoRefusesTokens(t *testing.T) {
	e := newUIEnv(t)
	ctx := context.Background()
	rt := secret.Token(token.RefreshPrefix)
	if err := e.st.Refresh.Create(ctx, &valet.RefreshToken{Digest: e.d.Digest(secret.PurposeRefresh, rt), FamilyID: "fam_r",
		ClientID: "app", UserID: "usr_ana", Scopes: []string{"openid"}, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	idt, err := e.issuer.ID(token.IDRequest{Subject: "usr_ana", ClientID: "app"})
	if err != nil {
		t.Fatal(err)
	}
	denied := e.mint(t, "app", valet.TokenFormatOpaque, "fam_denied", "openid")
	if err := e.st.Revocations.Add(ctx, "fam_denied", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	forGone := e.mint(t, "gone", valet.TokenFormatJWT, "fam_g", "openid")
	if err := e.st.Clients.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for name, raw := range map[string]string{
		"garbage":       "not-a-token",
		"refresh token": rt,     // catalogue JW-02b
		"ID token":      idt,    // catalogue JW-02a
		"revoked grant": denied, // the deny-list
		// A client-credentials token's sub is its client's ID; here one
		// that happens to be a user's ID. It still names no person.
		"client credentials":   e.mint(t, "app", valet.TokenFormatJWT, "", "openid"),
		"client gone":          forGone,
		"characters of a JSON": `{"sub":"usr_ana"}`,
	} {
		t.Run(name, func(t *testing.T) {
			e.call(t, http.MethodGet, nil, "Bearer "+raw).want(t, http.StatusUnauthorized, "invalid_token")
		})
	}
	// Core §5.3: the token must carry openid.
	r := e.call(t, http.MethodGet, nil, "Bearer "+e.mint(t, "app", valet.TokenFormatJWT, "fam_1", "profile", "email"))
	r.want(t, http.StatusForbidden, "insufficient_scope")
	if !strings.HasSuffix(r.header.Get("WWW-Authenticate"), `, scope="openid"`) {
		t.Errorf("challenge %q does not name the scope needed", r.header.Get("WWW-Authenticate"))
	}
	// Expired, by the issuer's clock.
	at := e.mint(t, "app", valet.TokenFormatJWT, "fam_1", "openid")
	e.clock.Set(time.Now().Add(11 * time.Minute))
	e.call(t, http.MethodGet, nil, "Bearer "+at).want(t, http.StatusUnauthorized, "invalid_token")
	e.clock.Set(time.Now())

	// The person's account is gone.
	at = e.mint(t, "app", valet.TokenFormatJWT, "fam_1", "openid")
	if err := e.st.Users.Delete(ctx, "usr_ana"); err != nil {
		t.Fatal(err)
	}
	e.call(t, http.MethodGet, nil, "Bearer "+at).want(t, http.StatusUnauthorized, "invalid_token")
}

// TestUserInfoStoreOutage: a token that cannot be checked is 503 with
// Retry-After, never a 401 that would make the client drop a good token.
func TestUserInfoStoreOutage(t *testing.T) {
	e := newUIEnv(t)
	at := e.mint(t, "app", valet.TokenFormatJWT, "fam_1", "openid")
	e.users.down.Store(true)
	r := e.call(t, http.MethodGet, nil, "Bearer "+at)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || r.header.Get("WWW-Authenticate") != "" ||
		strings.Contains(string(r.raw), "is down") {
		t.Errorf("outage: %d %v %s", r.status, r.header, r.raw)
	}
}

func TestUserInfoPreflight(t *testing.T) {
	e := newUIEnv(t)
	req, _ := http.NewRequest(http.MethodOptions, e.url+"/userinfo", nil)
	req.Header.Set("Origin", "https://spa.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "GET") || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight: %d %v", resp.StatusCode, h)
	}
}
