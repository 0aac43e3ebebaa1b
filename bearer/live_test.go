package bearer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/valetauth/valet"
	"github.com/valetauth/valet/bearer"
	"github.com/valetauth/valet/internal/keys"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/server"
	"github.com/valetauth/valet/internal/store/sqlstore"
	"github.com/valetauth/valet/internal/token"
	"golang.org/x/oauth2/clientcredentials"
)

// liveValet is the real Valet, assembled as cmd/valet does (server.New over
// SQLite in a temp dir), with one clock shared by Valet and the resource
// server so that expiry can be reached without sleeping.
type liveValet struct {
	srv   *httptest.Server
	ring  *keys.Ring
	clock *clock
	// hits counts requests by path, to see what the resource server fetched.
	mu   sync.Mutex
	hits map[string]int
	// Three confidential clients: FriendFinder (JWT access tokens),
	// FriendFinder's opaque twin, and the Mail API itself, which
	// authenticates at /introspect.
	secrets map[string]string
}

const (
	ffJWT    = "friendfinder"
	ffOpaque = "friendfinder-opaque"
	mailAPI  = "mail-api"
)

func newLiveValet(t *testing.T, opts ...func(*server.Options)) *liveValet {
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
	key := make([]byte, 32)
	rand.Read(key)
	sealer, _ := secret.NewSealer(key)
	digester := secret.NewDigester(key)
	clk := &clock{}
	clk.ns.Store(time.Now().UnixNano())
	ring := &keys.Ring{Store: st.Keys, Sealer: sealer, Now: clk.Now}
	if err := ring.Init(ctx); err != nil {
		t.Fatal(err)
	}

	lv := &liveValet{ring: ring, clock: clk, secrets: map[string]string{}, hits: map[string]int{}}
	var public http.Handler
	lv.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lv.mu.Lock()
		lv.hits[r.URL.Path]++
		lv.mu.Unlock()
		public.ServeHTTP(w, r)
	}))
	t.Cleanup(lv.srv.Close)
	o := server.Options{
		Issuer: lv.srv.URL, Store: st, Keys: ring, Digester: digester,
		AdminToken: "test-admin-token-test-admin-token", Log: slog.New(slog.DiscardHandler), Now: clk.Now,
	}
	for _, edit := range opts {
		edit(&o)
	}
	public, _ = server.New(o)

	for _, c := range []*valet.Client{
		{ID: ffJWT, Name: "FriendFinder", GrantTypes: []string{valet.GrantClientCredentials},
			Scopes: []string{"contacts.read", "contacts.write"}, Resources: []string{audience}},
		{ID: ffOpaque, Name: "FriendFinder (opaque)", GrantTypes: []string{valet.GrantClientCredentials},
			Scopes: []string{"contacts.read"}, Resources: []string{audience}, AccessTokenFormat: valet.TokenFormatOpaque},
		{ID: mailAPI, Name: "Mail API", GrantTypes: []string{valet.GrantClientCredentials}},
	} {
		sec := secret.Token("vcs_")
		c.SecretDigest = digester.Digest(secret.PurposeClientSecret, sec)
		c.CreatedAt = clk.Now()
		c.ApplyDefaults()
		c.ResponseTypes = []string{}
		if err := st.Clients.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		lv.secrets[c.ID] = sec
	}
	return lv
}

// token gets an access token with golang.org/x/oauth2/clientcredentials;
// resource "" asks for none (RFC 8707), so the token gets Valet's default
// audience, not Mail's.
func (lv *liveValet) hitsOf(path string) int {
	lv.mu.Lock()
	defer lv.mu.Unlock()
	return lv.hits[path]
}

func (lv *liveValet) token(t *testing.T, client, resource string, scopes ...string) string {
	t.Helper()
	conf := clientcredentials.Config{ClientID: client, ClientSecret: lv.secrets[client], TokenURL: lv.srv.URL + "/token", Scopes: scopes}
	if resource != "" {
		conf.EndpointParams = url.Values{"resource": {resource}}
	}
	tok, err := conf.Token(context.Background())
	if err != nil {
		t.Fatalf("client credentials for %s: %v", client, err)
	}
	return tok.AccessToken
}

// revoke revokes a token at POST /revoke (RFC 7009) as its client.
func (lv *liveValet) revoke(t *testing.T, client, tok string) {
	t.Helper()
	req, _ := http.NewRequest("POST", lv.srv.URL+"/revoke", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, lv.secrets[client])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
}

// mail is the Mail API: GET /contacts behind bearer, answering the subject.
func (lv *liveValet) mail(t *testing.T, edit ...func(*bearer.Config)) (*httptest.Server, *bearer.Verifier) {
	t.Helper()
	cfg := bearer.Config{
		Issuer: lv.srv.URL, Audience: audience, // everything else from Valet's metadata
		ClientID: mailAPI, ClientSecret: lv.secrets[mailAPI],
		Log: slog.New(slog.DiscardHandler), Now: lv.clock.Now,
	}
	for _, e := range edit {
		e(&cfg)
	}
	v, err := bearer.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /contacts", v.Require("contacts.read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := bearer.FromContext(r.Context())
		json.NewEncoder(w).Encode(map[string]string{"sub": tok.Subject, "client_id": tok.ClientID})
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, v
}

// get calls the Mail API with tok and returns the status, the challenge and
// the body.
func get(t *testing.T, mail *httptest.Server, tok string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", mail.URL+"/contacts", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b)
}

// wantRefused checks that the Mail API answers tok with 401 invalid_token,
// for the reason why.
func wantRefused(t *testing.T, why string, mail *httptest.Server, tok string) {
	t.Helper()
	status, challenge, body := get(t, mail, tok)
	if status != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token", error_description="`+why+`"`) {
		t.Errorf("%d %s %s; want 401 invalid_token: %s", status, challenge, body, why)
	}
}

// TestLiveValet runs the bearer middleware against tokens from the real
// Valet, obtained with golang.org/x/oauth2/clientcredentials: the keys and
// the introspection endpoint come from Valet's RFC 8414 metadata.
func TestLiveValet(t *testing.T) {
	lv := newLiveValet(t)
	mail, _ := lv.mail(t)

	jwt := lv.token(t, ffJWT, audience, "contacts.read")
	if status, ch, body := get(t, mail, jwt); status != 200 || !strings.Contains(body, `"sub":"friendfinder"`) {
		t.Fatalf("a real token: %d %s %s", status, ch, body)
	}
	get(t, mail, jwt)
	if m, k, i := lv.hitsOf("/.well-known/oauth-authorization-server"), lv.hitsOf("/jwks"), lv.hitsOf("/introspect"); m != 1 || k != 1 || i != 0 {
		t.Fatalf("metadata %d, JWKS %d, introspection %d requests for two JWT checks; want 1, 1, 0", m, k, i)
	}

	t.Run("insufficient scope", func(t *testing.T) {
		write := lv.token(t, ffJWT, audience, "contacts.write")
		status, ch, _ := get(t, mail, write)
		if status != 403 || !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, `scope="contacts.read"`) {
			t.Fatalf("%d %s", status, ch)
		}
	})

	t.Run("wrong audience", func(t *testing.T) {
		// No resource parameter: the token is for Valet's default audience.
		wantRefused(t, "the token is not meant for this resource server", mail, lv.token(t, ffJWT, "", "contacts.read"))
	})

	t.Run("wrong issuer", func(t *testing.T) {
		// Signed by Valet's real key, but for another issuer name.
		other := &token.Issuer{URL: "https://evil.example", Keys: lv.ring, AccessTTL: 10 * time.Minute, Now: lv.clock.Now}
		raw, _, err := other.Access(token.AccessRequest{Subject: ffJWT, ClientID: ffJWT, Audience: []string{audience}, Scopes: []string{"contacts.read"}})
		if err != nil {
			t.Fatal(err)
		}
		wantRefused(t, "the token was issued by another issuer", mail, raw)
	})

	t.Run("alg none and a foreign key", func(t *testing.T) {
		parts := strings.Split(jwt, ".")
		hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
		var h map[string]any
		json.Unmarshal(hb, &h)
		h["alg"] = "none"
		none := base64.RawURLEncoding.EncodeToString(mustJSON(t, h)) + "." + parts[1] + "."
		wantRefused(t, "the token's signing algorithm is not accepted", mail, none)

		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		foreign, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		forged := signJWT(t, &signingKey{kid: h["kid"].(string), priv: foreign, alg: jose.ES256},
			map[jose.HeaderKey]any{"typ": "at+jwt"}, payload)
		wantRefused(t, "the token's signature is invalid", mail, forged)
	})

	t.Run("opaque, then revoked", func(t *testing.T) {
		opaque := lv.token(t, ffOpaque, audience, "contacts.read")
		if !strings.HasPrefix(opaque, "at_") || strings.Contains(opaque, ".") {
			t.Fatalf("not an opaque token: %q", opaque)
		}
		if status, ch, body := get(t, mail, opaque); status != 200 || !strings.Contains(body, `"client_id":"friendfinder-opaque"`) {
			t.Fatalf("opaque token via introspection: %d %s %s", status, ch, body)
		}
		lv.revoke(t, ffOpaque, opaque)
		// The answer is cached for IntrospectionCacheTTL: the revocation
		// shows once it passes.
		if status, _, _ := get(t, mail, opaque); status != 200 {
			t.Fatalf("revoked opaque token within the cache TTL: %d; want the cached 200", status)
		}
		lv.clock.Advance(bearer.DefaultIntrospectionCacheTTL)
		wantRefused(t, "the token is not active", mail, opaque)
	})

	t.Run("revoked JWT with IntrospectJWTs", func(t *testing.T) {
		strict, _ := lv.mail(t, func(c *bearer.Config) { c.IntrospectJWTs = true })
		raw := lv.token(t, ffJWT, audience, "contacts.read")
		if status, _, body := get(t, strict, raw); status != 200 {
			t.Fatalf("before revocation: %d %s", status, body)
		}
		lv.revoke(t, ffJWT, raw)
		lv.clock.Advance(bearer.DefaultIntrospectionCacheTTL)
		wantRefused(t, "the token is not active", strict, raw)
		// Without introspection a JWT is checked locally and lives to its exp.
		if status, _, _ := get(t, mail, raw); status != 200 {
			t.Errorf("revoked JWT checked locally: %d; want 200 until it expires", status)
		}
	})

	t.Run("expired", func(t *testing.T) {
		raw := lv.token(t, ffJWT, audience, "contacts.read")
		lv.clock.Advance(10*time.Minute + bearer.DefaultLeeway + time.Second) // Valet's access tokens live 10 minutes
		wantRefused(t, "the token has expired", mail, raw)
	})
}

// TestLiveKeyRotation: after Valet replaces its key at once (an emergency
// rotation), the Mail API accepts the new key's tokens after one refetch and
// refuses the old key's, which left the JWKS.
func TestLiveKeyRotation(t *testing.T) {
	lv := newLiveValet(t)
	mail, _ := lv.mail(t)
	old := lv.token(t, ffJWT, audience, "contacts.read")
	if status, _, body := get(t, mail, old); status != 200 {
		t.Fatalf("before rotation: %d %s", status, body)
	}
	if err := lv.ring.RotateNow(context.Background(), keys.ES256); err != nil {
		t.Fatal(err)
	}
	fresh := lv.token(t, ffJWT, audience, "contacts.read")
	if status, _, body := get(t, mail, fresh); status != 200 {
		t.Fatalf("token of the new key: %d %s", status, body)
	}
	if n := lv.hitsOf("/jwks"); n != 2 {
		t.Fatalf("%d JWKS fetches; want the first and one refetch for the new kid", n)
	}
	wantRefused(t, "the token is signed by an unknown key", mail, old)
}

// TestLiveScheduledRotation follows catalogue R6 from the resource server's
// side: Valet publishes the next key an hour before it signs, so the Mail
// API, refreshing its cached JWKS when the max-age passes, already knows the
// new kid when the first token carries it; no request is refused.
func TestLiveScheduledRotation(t *testing.T) {
	lv := newLiveValet(t)
	mail, _ := lv.mail(t)
	if status, _, body := get(t, mail, lv.token(t, ffJWT, audience, "contacts.read")); status != 200 {
		t.Fatalf("before rotation: %d %s", status, body)
	}
	lv.clock.Advance(7 * time.Minute) // so that the key switch falls inside a cache lifetime
	if _, err := lv.ring.Rotate(context.Background(), keys.ES256, true); err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for range 24 { // two hours in steps of 5 minutes, a new token at each
		lv.clock.Advance(5 * time.Minute)
		raw := lv.token(t, ffJWT, audience, "contacts.read")
		kids[kidOf(t, raw)] = true
		if status, _, body := get(t, mail, raw); status != 200 {
			t.Fatalf("at %v: %d %s", lv.clock.Now(), status, body)
		}
	}
	if len(kids) != 2 {
		t.Fatalf("tokens carried %d kids; want the old and the new", len(kids))
	}
	// The set was fetched at 0, then at 17, 32, …, 122 minutes as each
	// max-age (15 min) passed: 9 fetches. An unknown kid would have cost
	// a tenth.
	if n := lv.hitsOf("/jwks"); n != 9 {
		t.Errorf("%d JWKS fetches; want 9", n)
	}
}

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	hb, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	json.Unmarshal(hb, &h)
	return h.Kid
}

// TestLiveRS256 runs Valet with RS256 access tokens, which RFC 9068 §4
// requires servers to support: a resource server that accepts RS256 takes
// them, one left at the ES256 default refuses them, and introspection
// vouches for them too.
func TestLiveRS256(t *testing.T) {
	lv := newLiveValet(t, func(o *server.Options) { o.AccessAlg = "RS256" })
	tok := lv.token(t, ffJWT, audience, "contacts.read")
	header, _, _ := strings.Cut(tok, ".")
	if b, _ := base64.RawURLEncoding.DecodeString(header); !strings.Contains(string(b), `"alg":"RS256"`) {
		t.Fatalf("access token header %s, want alg RS256", b)
	}
	rs256, _ := lv.mail(t, func(c *bearer.Config) { c.Algorithms = []string{"RS256"} })
	if status, _, body := get(t, rs256, tok); status != http.StatusOK || !strings.Contains(body, ffJWT) {
		t.Fatalf("RS256 resource server: %d %s", status, body)
	}
	es256, _ := lv.mail(t)
	if status, _, _ := get(t, es256, tok); status != http.StatusUnauthorized {
		t.Fatalf("a resource server accepting only ES256 answered %d to an RS256 token", status)
	}
	byIntrospection, _ := lv.mail(t, func(c *bearer.Config) { c.Algorithms, c.IntrospectJWTs = []string{"RS256"}, true })
	before := lv.hitsOf("/introspect")
	if status, _, body := get(t, byIntrospection, tok); status != http.StatusOK || lv.hitsOf("/introspect") == before {
		t.Fatalf("introspection of an RS256 token: %d %s (introspect calls %d -> %d)", status, body, before, lv.hitsOf("/introspect"))
	}
}
