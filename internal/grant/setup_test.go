package grant_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/grant"
	"github.com/valetauth/valet/internal/keys"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/store/sqlstore"
	"github.com/valetauth/valet/internal/store/sqltest"
	"github.com/valetauth/valet/internal/throttle"
	"github.com/valetauth/valet/internal/token"
)

const (
	issuer     = "https://as.example"
	accessTTL  = 10 * time.Minute
	refreshTTL = 24 * time.Hour
	userID     = "usr_ana"
)

// defaultAudience is the access tokens' "aud" when a code names no resource.
var defaultAudience = []string{"https://mail.example"}

// fixtureClients are the catalogue's §0 clients that the token endpoint
// sees, plus post1 (client_secret_post).
var fixtureClients = []*valet.Client{
	{ID: "conf1", TokenEndpointAuthMethod: valet.AuthSecretBasic,
		RedirectURIs: []string{"https://client.example/cb", "https://client.example/cb2"},
		GrantTypes:   []string{valet.GrantAuthorizationCode, valet.GrantRefreshToken}},
	{ID: "conf2", TokenEndpointAuthMethod: valet.AuthSecretBasic,
		RedirectURIs: []string{"https://client2.example/cb"},
		GrantTypes:   []string{valet.GrantAuthorizationCode, valet.GrantRefreshToken}},
	{ID: "post1", TokenEndpointAuthMethod: valet.AuthSecretPost,
		RedirectURIs: []string{"https://post.example/cb"},
		GrantTypes:   []string{valet.GrantAuthorizationCode, valet.GrantRefreshToken}},
	{ID: "pub1", TokenEndpointAuthMethod: valet.AuthNone,
		RedirectURIs: []string{"https://spa.example/cb"},
		GrantTypes:   []string{valet.GrantAuthorizationCode, valet.GrantRefreshToken}},
	{ID: "pub2", TokenEndpointAuthMethod: valet.AuthNone,
		RedirectURIs: []string{"https://spa2.example/cb"},
		GrantTypes:   []string{valet.GrantAuthorizationCode}},
	{ID: "cc1", TokenEndpointAuthMethod: valet.AuthSecretBasic,
		GrantTypes: []string{valet.GrantClientCredentials}, Scopes: []string{"api.read"}},
	// The clients of issue 4: opaque tokens, resources, the password grant,
	// a resource server that introspects, and two public clients stored
	// with grants that registration refuses them (as an old row might be).
	{ID: "cc2", TokenEndpointAuthMethod: valet.AuthSecretPost, AccessTokenFormat: valet.TokenFormatOpaque,
		GrantTypes: []string{valet.GrantClientCredentials}, Scopes: []string{"api.write", "api.read"},
		Resources: []string{"https://api.example", "https://billing.example"}},
	{ID: "op1", TokenEndpointAuthMethod: valet.AuthSecretBasic, AccessTokenFormat: valet.TokenFormatOpaque,
		RedirectURIs: []string{"https://op.example/cb"},
		GrantTypes:   []string{valet.GrantAuthorizationCode, valet.GrantRefreshToken}},
	{ID: "pw1", TokenEndpointAuthMethod: valet.AuthSecretBasic,
		GrantTypes: []string{valet.GrantPassword, valet.GrantRefreshToken}, Scopes: []string{"contacts.read", "profile"},
		Resources: []string{"https://contacts.example"}},
	{ID: "pw2", TokenEndpointAuthMethod: valet.AuthSecretPost, AccessTokenFormat: valet.TokenFormatOpaque,
		GrantTypes: []string{valet.GrantPassword}, Scopes: []string{"profile"}},
	{ID: "rs1", TokenEndpointAuthMethod: valet.AuthSecretBasic,
		GrantTypes: []string{valet.GrantClientCredentials}},
	{ID: "pubcc", TokenEndpointAuthMethod: valet.AuthNone,
		GrantTypes: []string{valet.GrantClientCredentials}, Scopes: []string{"api.read"}},
	{ID: "pubpw", TokenEndpointAuthMethod: valet.AuthNone,
		GrantTypes: []string{valet.GrantPassword}, Scopes: []string{"profile"}},
	// The clients of issue 5: ES256 ID tokens, pairwise subjects (two
	// clients of one sector, one of another), and the password and
	// client-credentials grants with scope openid.
	{ID: "es1", TokenEndpointAuthMethod: valet.AuthSecretBasic, IDTokenSignedResponseAlg: "ES256",
		RedirectURIs: []string{"https://es.example/cb"},
		GrantTypes:   []string{valet.GrantAuthorizationCode, valet.GrantRefreshToken}},
	{ID: "pair1", TokenEndpointAuthMethod: valet.AuthSecretBasic, SubjectType: "pairwise",
		RedirectURIs: []string{"https://pair.example/cb"},
		GrantTypes:   []string{valet.GrantAuthorizationCode, valet.GrantRefreshToken}},
	{ID: "pair2", TokenEndpointAuthMethod: valet.AuthSecretBasic, SubjectType: "pairwise",
		RedirectURIs: []string{"https://pair.example/other"},
		GrantTypes:   []string{valet.GrantAuthorizationCode}},
	{ID: "pair3", TokenEndpointAuthMethod: valet.AuthSecretBasic, SubjectType: "pairwise",
		RedirectURIs: []string{"https://elsewhere.example/cb"},
		GrantTypes:   []string{valet.GrantAuthorizationCode}},
	{ID: "pwoidc", TokenEndpointAuthMethod: valet.AuthSecretBasic,
		GrantTypes: []string{valet.GrantPassword, valet.GrantRefreshToken}, Scopes: []string{"openid", "email", "contacts.read"}},
	{ID: "ccoidc", TokenEndpointAuthMethod: valet.AuthSecretBasic,
		GrantTypes: []string{valet.GrantClientCredentials}, Scopes: []string{"openid", "profile"}},
}

// idTokenTTL is the ID tokens' lifetime, not the default, so that a test
// can tell it was applied.
const idTokenTTL = 20 * time.Minute

// The fixture user's password, for the password grant.
const (
	username = "ana"
	password = "correct horse battery staple"
)

// passwordHash is the argon2id hash of password, computed once.
var passwordHash = sync.OnceValue(func() string {
	h, err := secret.HashPassword(password)
	if err != nil {
		panic(err)
	}
	return h
})

// grantedScopes is what the fixture user consented to for every client.
var grantedScopes = []string{"email", "openid", "profile"}

// env is one token endpoint, with /introspect and /revoke, over a real store.
type env struct {
	t      testing.TB
	st     valet.Store
	d      *secret.Digester
	tokens *token.Issuer
	keys   *switchKeys // fail it to make signing fail
	// subjects computes the sub each client is told, as the grants do.
	subjects token.Subjects
	h        *grant.Handler
	mux      *http.ServeMux
	srv      *httptest.Server
	secrets  map[string]string // client ID -> secret
	logs     *syncBuffer
	// accounts is the password grant's per-username limiter: 10 failures
	// per minute, as the sign-in page's.
	accounts *throttle.Limiter
}

type envOption func(*valet.Store)

// handlerOption changes the Handler before it is registered.
type handlerOption func(*grant.Handler)

// newEnv opens a SQLite store in a temporary directory.
func newEnv(t testing.TB, opts ...envOption) *env {
	return newEnvOn(t, sqltest.Backends()[0], opts...)
}

// newEnvOn opens a store on backend (see sqltest.Backends), fills it with
// the fixture clients, user and consents, and serves the token endpoint.
// opts may wrap store fields to inject failures.
func newEnvOn(t testing.TB, backend sqltest.Backend, opts ...envOption) *env {
	t.Helper()
	return newEnvWith(t, backend, nil, opts...)
}

// newEnvWith is newEnvOn with a hook that changes the Handler.
func newEnvWith(t testing.TB, backend sqltest.Backend, hopt handlerOption, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	st := openStore(t, backend)

	sealer, err := secret.NewSealer(secret.Bytes(32))
	if err != nil {
		t.Fatal(err)
	}
	ring := &keys.Ring{Store: st.Keys, Sealer: sealer, Now: time.Now}
	if err := ring.Init(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{
		t:       t,
		d:       secret.NewDigester(secret.Bytes(32)),
		keys:    &switchKeys{Keys: ring},
		secrets: map[string]string{},
		logs:    &syncBuffer{},
	}
	e.tokens = &token.Issuer{URL: issuer, Keys: e.keys, AccessTTL: accessTTL, Now: time.Now}
	now := time.Now()
	if err := st.Users.Create(ctx, &valet.User{ID: userID, Username: username, PasswordHash: passwordHash(), CreatedAt: now,
		Name: "Ana Lima", Email: "ana@example.com", EmailVerified: true, Claims: map[string]any{"department": "Sales"}}); err != nil {
		t.Fatal(err)
	}
	for _, fc := range fixtureClients {
		c := *fc
		c.ApplyDefaults()
		c.CreatedAt = now
		if !c.Public() {
			e.secrets[c.ID] = secret.Token("vcs_")
			c.SecretDigest = e.d.Digest(secret.PurposeClientSecret, e.secrets[c.ID])
		}
		if err := st.Clients.Create(ctx, &c); err != nil {
			t.Fatal(err)
		}
		if err := st.Consents.Put(ctx, &valet.Consent{UserID: userID, ClientID: c.ID, Scopes: grantedScopes, GrantedAt: now}); err != nil {
			t.Fatal(err)
		}
	}

	for _, o := range opts {
		o(&st)
	}
	e.st = st
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.accounts = &throttle.Limiter{Failures: 10, Per: time.Minute}
	e.subjects = token.Subjects{PairwiseKey: e.d.Key(token.PairwisePurpose)}
	ids := &grant.IDTokens{Subjects: e.subjects, Claims: token.ClaimRules{Custom: map[string][]string{"org": {"department"}}},
		TTL: idTokenTTL}
	e.h = &grant.Handler{
		Clients:  st.Clients,
		Digester: e.d,
		Log:      log,
		Grants: []grant.Grant{
			&grant.AuthorizationCode{Codes: st.Codes, Refresh: st.Refresh, Revocations: st.Revocations, Access: st.Access,
				Digester: e.d, Tokens: e.tokens, IDTokens: ids, Users: st.Users, Consents: st.Consents, Audience: defaultAudience,
				RefreshTTL: refreshTTL, Now: time.Now, Log: log},
			&grant.RefreshToken{Refresh: st.Refresh, Revocations: st.Revocations, Users: st.Users, Consents: st.Consents,
				Access: st.Access, Digester: e.d, Tokens: e.tokens, IDTokens: ids, Audience: defaultAudience,
				RefreshTTL: refreshTTL, Now: time.Now, Log: log},
			&grant.ClientCredentials{Tokens: e.tokens, Access: st.Access, Digester: e.d, Audience: defaultAudience},
			&grant.Password{Users: st.Users, Consents: st.Consents, Refresh: st.Refresh, Access: st.Access,
				Digester: e.d, Tokens: e.tokens, IDTokens: ids, Limiter: e.accounts, Audience: defaultAudience,
				RefreshTTL: refreshTTL, Log: log},
		},
		Introspector: &token.Introspector{Issuer: e.tokens, Access: st.Access, Refresh: st.Refresh,
			Revocations: st.Revocations, Digester: e.d},
		Refresh:     st.Refresh,
		Revocations: st.Revocations,
	}
	if hopt != nil {
		hopt(e.h)
	}
	e.mux = http.NewServeMux()
	e.h.Register(e.mux)
	e.srv = httptest.NewServer(e.mux)
	t.Cleanup(e.srv.Close)
	return e
}

// with returns e reporting to t, for use inside a subtest.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// openStore returns a migrated store on a fresh database of backend.
func openStore(t testing.TB, backend sqltest.Backend) valet.Store {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, backend.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db.Store()
}

// verifier returns a fresh PKCE code_verifier (RFC 7636 §4.1).
func verifier() string { return secret.Token("")[:43] + "-._~" }

// issued is a code created in the store, as /authorize would.
type issued struct {
	value, verifier string
	code            *valet.AuthCode
}

// newCode stores a code for clientID with a PKCE S256 challenge, the
// client's first redirect URI and the scopes "openid profile"; edit changes
// it before it is stored.
func (e *env) newCode(clientID string, edit ...func(*valet.AuthCode)) issued {
	e.t.Helper()
	var redirect string
	for _, c := range fixtureClients {
		if c.ID == clientID && len(c.RedirectURIs) > 0 {
			redirect = c.RedirectURIs[0]
		}
	}
	v := verifier()
	value := secret.Token("ac_")
	now := time.Now()
	c := &valet.AuthCode{
		Digest:              e.d.Digest(secret.PurposeCode, value),
		FamilyID:            secret.ID("fam_"),
		ClientID:            clientID,
		UserID:              userID,
		RedirectURI:         redirect,
		Scopes:              []string{"openid", "profile"},
		CodeChallenge:       oauth.ChallengeS256(v),
		CodeChallengeMethod: oauth.MethodS256,
		AuthTime:            now.Add(-time.Minute),
		CreatedAt:           now,
		ExpiresAt:           now.Add(60 * time.Second),
	}
	for _, f := range edit {
		f(c)
	}
	if err := e.st.Codes.Create(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	return issued{value: value, verifier: v, code: c}
}

// result is one response of the token endpoint.
type result struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r *result) str(k string) string { s, _ := r.body[k].(string); return s }

// auth adds client authentication to a request.
type auth func(*http.Request, url.Values)

// basic authenticates with client_secret_basic, encoding as RFC 6749 §2.3.1 says.
func basic(id, secret string) auth {
	return func(r *http.Request, _ url.Values) {
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))))
	}
}

// rawAuthorization sends an Authorization header as given.
func rawAuthorization(v string) auth {
	return func(r *http.Request, _ url.Values) { r.Header.Set("Authorization", v) }
}

// post authenticates with client_secret_post.
func post(id, secret string) auth {
	return func(_ *http.Request, f url.Values) { f.Set("client_id", id); f.Set("client_secret", secret) }
}

// public identifies a public client by client_id alone.
func public(id string) auth {
	return func(_ *http.Request, f url.Values) { f.Set("client_id", id) }
}

// noAuth sends no client credentials at all.
func noAuth(*http.Request, url.Values) {}

// as authenticates as the fixture client id the way it registered.
func (e *env) as(id string) auth {
	for _, c := range fixtureClients {
		if c.ID != id {
			continue
		}
		switch c.TokenEndpointAuthMethod {
		case valet.AuthSecretPost:
			return post(id, e.secrets[id])
		case valet.AuthNone:
			return public(id)
		}
		return basic(id, e.secrets[id])
	}
	e.t.Fatalf("no fixture client %q", id)
	return nil
}

// token POSTs form to /token with a, and checks the headers every token
// endpoint response carries (catalogue HD-01).
func (e *env) token(form url.Values, a auth) *result {
	e.t.Helper()
	return e.call("/token", form, a)
}

// call POSTs form to path (/token, /introspect or /revoke) with a, and
// checks the headers every response of these endpoints carries (HD-01).
func (e *env) call(path string, form url.Values, a auth) *result {
	e.t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = append([]string(nil), v...)
	}
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	a(req, f)
	return e.do(req, "application/x-www-form-urlencoded", f.Encode())
}

// do sends req with body and returns the checked result.
func (e *env) do(req *http.Request, contentType, body string) *result {
	e.t.Helper()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	res := &result{status: resp.StatusCode, header: resp.Header}
	if res.raw, err = io.ReadAll(resp.Body); err != nil {
		e.t.Fatal(err)
	}
	if len(res.raw) == 0 && res.status == http.StatusOK && req.URL.Path == "/revoke" {
		// RFC 7009 §2.2: revocation succeeds with an empty body.
		checkSensitiveHeaders(e.t, res)
		return res
	}
	if err := json.Unmarshal(res.raw, &res.body); err != nil {
		e.t.Fatalf("status %d: body is not JSON: %q", res.status, res.raw)
	}
	checkSensitiveHeaders(e.t, res)
	return res
}

// checkSensitiveHeaders asserts catalogue §3.1 for /token.
func checkSensitiveHeaders(t testing.TB, r *result) {
	t.Helper()
	want := map[string]string{
		"Cache-Control":          "no-store",
		"Pragma":                 "no-cache",
		"Content-Type":           "application/json;charset=UTF-8",
		"X-Content-Type-Options": "nosniff",
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("status %d: %s = %q, want %q", r.status, k, got, v)
		}
	}
}

// codeForm is the token request redeeming c.
func codeForm(c issued) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {c.value},
		"redirect_uri":  {c.code.RedirectURI},
		"code_verifier": {c.verifier},
	}
}

// refreshForm is the token request refreshing rt, with scope when given.
func refreshForm(rt string, scope ...string) url.Values {
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	if len(scope) > 0 {
		f.Set("scope", scope[0])
	}
	return f
}

// redeem exchanges c as its client and requires success.
func (e *env) redeem(c issued) *result {
	e.t.Helper()
	r := e.token(codeForm(c), e.as(c.code.ClientID))
	e.wantOK(r)
	return r
}

func (e *env) wantOK(r *result) {
	e.t.Helper()
	if r.status != http.StatusOK || r.str("access_token") == "" {
		e.t.Fatalf("got %d %s, want 200 with tokens", r.status, r.raw)
	}
}

// wantError asserts an error response with status and code.
func wantError(t testing.TB, r *result, status int, code string) {
	t.Helper()
	if r.status != status || r.str("error") != code {
		t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, code)
	}
	if _, ok := r.body["access_token"]; ok {
		t.Fatalf("an error response carries an access token: %s", r.raw)
	}
}

// refreshDead asserts that rt no longer works and is revoked in the store.
func (e *env) refreshDead(clientID, rt string) {
	e.t.Helper()
	wantError(e.t, e.token(refreshForm(rt), e.as(clientID)), http.StatusBadRequest, oauth.InvalidGrant)
	stored, err := e.st.Refresh.Get(context.Background(), e.d.Digest(secret.PurposeRefresh, rt))
	if err != nil {
		e.t.Fatal(err)
	}
	if stored.RevokedAt.IsZero() {
		e.t.Fatalf("refresh token of family %s is not revoked", stored.FamilyID)
	}
}

// denyListed asserts that the family is on the shared deny-list, so that
// access tokens carrying it as grant_id stop working at introspection.
func (e *env) denyListed(familyID string) {
	e.t.Helper()
	revoked, err := e.st.Revocations.AnyRevoked(context.Background(), familyID)
	if err != nil {
		e.t.Fatal(err)
	}
	if !revoked {
		e.t.Fatalf("family %s is not on the deny-list", familyID)
	}
}

// claims verifies an access token and returns its claims.
func (e *env) claims(at string) *token.AccessClaims {
	e.t.Helper()
	c, err := e.tokens.ParseAccess(at)
	if err != nil {
		e.t.Fatalf("access token does not verify: %v", err)
	}
	return c
}

// syncBuffer collects log output from concurrent requests.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
