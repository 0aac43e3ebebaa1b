package oidc_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/keys"
	"github.com/valetauth/valet/internal/oidc"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/store/sqlstore"

	"github.com/valetauth/valet/internal/testclock"
)

const issuer = "https://auth.example.com"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newRing is a keyring with its first keys, on a real SQLite store.
func newRing(t *testing.T, c *testclock.Clock) (*keys.Ring, valet.Store) {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "valet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	sealer, err := secret.NewSealer(secret.Bytes(32))
	if err != nil {
		t.Fatal(err)
	}
	r := &keys.Ring{Store: db.Store().Keys, Sealer: sealer, Now: c.Now}
	if err := r.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	return r, db.Store()
}

func serve(t *testing.T, h *oidc.Handler) string {
	t.Helper()
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func get(t *testing.T, url string) response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

// wantPublic checks the status and the headers of catalogue §3.1 for
// /.well-known/* and /jwks.
func (r response) wantPublic(t *testing.T) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	for name, want := range map[string]string{
		"Content-Type":                "application/json",
		"Cache-Control":               "public, max-age=900",
		"Access-Control-Allow-Origin": "*",
		"X-Content-Type-Options":      "nosniff",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if c := r.header.Values("Set-Cookie"); len(c) > 0 {
		t.Errorf("sets cookies: %q", c)
	}
	if !json.Valid(r.body) {
		t.Errorf("body is not JSON: %s", r.body)
	}
}

// privateMembers are the JWK members that carry private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// jwksKeys decodes a JWKS body and checks every key against JW-01.
func jwksKeys(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS %s: %v", body, err)
	}
	seen := map[string]bool{}
	for _, k := range set.Keys {
		kid, _ := k["kid"].(string)
		for _, m := range []string{"kid", "kty", "use", "alg"} {
			if s, _ := k[m].(string); s == "" {
				t.Errorf("key %q lacks %q", kid, m)
			}
		}
		for _, m := range privateMembers {
			if _, ok := k[m]; ok {
				t.Errorf("key %q has the private member %q", kid, m)
			}
		}
		if k["kty"] == "oct" {
			t.Errorf("key %q is symmetric", kid)
		}
		if seen[kid] {
			t.Errorf("kid %q appears twice", kid)
		}
		seen[kid] = true
	}
	return set.Keys
}

func kids(ks []map[string]any) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k["kid"].(string))
	}
	sort.Strings(out)
	return out
}

func TestJWKS(t *testing.T) {
	c := testclock.New(t0)
	ring, _ := newRing(t, c)
	url := serve(t, &oidc.Handler{Issuer: issuer, Keys: ring})
	r := get(t, url+"/jwks")
	r.wantPublic(t)
	ks := jwksKeys(t, r.body)
	algs := map[string]string{}
	for _, k := range ks {
		algs[k["alg"].(string)] = k["kty"].(string)
		if k["use"] != "sig" {
			t.Errorf("key %v: use %v, want sig", k["kid"], k["use"])
		}
	}
	if len(ks) != 2 || algs["ES256"] != "EC" || algs["RS256"] != "RSA" {
		t.Errorf("JWKS %s: want one EC ES256 and one RSA RS256 key", r.body)
	}
	// The served keys are what verifies the ring's signatures.
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.body, &set); err != nil {
		t.Fatal(err)
	}
	for _, alg := range keys.Algorithms {
		raw, err := ring.Sign(alg, "at+jwt", []byte(`{"sub":"ana"}`))
		if err != nil {
			t.Fatal(err)
		}
		verifyWith(t, set, raw)
	}

	if resp, err := http.Post(url+"/jwks", "application/json", strings.NewReader("{}")); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /jwks: %v %v, want 405", resp.StatusCode, err)
	}
}

// verifyWith verifies raw as a resource server would: the kid from the
// header, the key from the JWKS it fetched.
func verifyWith(t *testing.T, set jose.JSONWebKeySet, raw string) string {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	kid := jws.Signatures[0].Header.KeyID
	found := set.Key(kid)
	if len(found) != 1 {
		t.Fatalf("kid %s is not in the JWKS (%d matches)", kid, len(found))
	}
	if _, err := jws.Verify(found[0]); err != nil {
		t.Errorf("a token signed by %s does not verify with the published key: %v", kid, err)
	}
	return kid
}

// leakyKeys is a key source with a bug: it hands out private and
// symmetric keys and keys without kid, use or alg.
type leakyKeys struct{ set jose.JSONWebKeySet }

func (l leakyKeys) JWKS() jose.JSONWebKeySet { return l.set }

// TestJWKSNeverSendsPrivateKeys injects a broken key source: the handler
// still sends only complete public signing keys.
func TestJWKSNeverSendsPrivateKeys(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := jose.JSONWebKey{Key: priv.Public(), KeyID: "good", Algorithm: "ES256", Use: "sig"}
	url := serve(t, &oidc.Handler{Issuer: issuer, Keys: leakyKeys{jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: priv, KeyID: "private", Algorithm: "ES256", Use: "sig"},
		{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "symmetric", Algorithm: "HS256", Use: "sig"},
		{Key: priv.Public(), Algorithm: "ES256", Use: "sig"},
		{Key: priv.Public(), KeyID: "no-alg", Use: "sig"},
		{Key: priv.Public(), KeyID: "no-use", Algorithm: "ES256"},
		{Key: priv.Public(), KeyID: "enc", Algorithm: "ES256", Use: "enc"},
		good,
	}}}})
	r := get(t, url+"/jwks")
	r.wantPublic(t)
	if got := kids(jwksKeys(t, r.body)); !slices.Equal(got, []string{"good"}) {
		t.Errorf("JWKS kids %v, want only [good]: %s", got, r.body)
	}
	// An empty set is still a set.
	url = serve(t, &oidc.Handler{Issuer: issuer, Keys: leakyKeys{}})
	if r := get(t, url+"/jwks"); strings.TrimSpace(string(r.body)) != `{"keys":[]}` {
		t.Errorf("empty JWKS: %s", r.body)
	}
}
