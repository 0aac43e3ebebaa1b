package bearer_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/valetauth/valet/bearer"
)

const (
	audience     = "https://mail.example"
	rsClientID   = "mail api" // a space, to check the RFC 6749 §2.3.1 encoding
	rsSecret     = "s3cret:with/odd+chars"
	resourceMeta = "https://mail.example/.well-known/oauth-protected-resource"
)

// clock is a settable clock shared by the fake AS and the verifier.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// signingKey is one key of the fake AS.
type signingKey struct {
	kid  string
	priv crypto.Signer
	alg  jose.SignatureAlgorithm
}

func newECKey(t testing.TB, kid string) *signingKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &signingKey{kid: kid, priv: k, alg: jose.ES256}
}

// fakeAS is an authorization server reduced to what a resource server sees:
// RFC 8414 metadata, a JWKS and RFC 7662 introspection, each counting its
// requests and each able to fail on demand.
type fakeAS struct {
	t     testing.TB
	srv   *httptest.Server
	clock *clock

	mu         sync.Mutex
	published  []*signingKey
	signWith   *signingKey
	introspect map[string]map[string]any // opaque token → active answer

	metadataHits, jwksHits, introspectHits atomic.Int32
	jwksDown, introspectDown               atomic.Bool
	metadataIssuer                         string // "" means the real one
}

func newFakeAS(t testing.TB) *fakeAS {
	t.Helper()
	as := &fakeAS{t: t, clock: newClock(), introspect: map[string]map[string]any{}}
	k := newECKey(t, "k1")
	as.published, as.signWith = []*signingKey{k}, k
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", as.metadata)
	mux.HandleFunc("GET /jwks", as.jwks)
	mux.HandleFunc("POST /introspect", as.introspection)
	as.srv = httptest.NewServer(mux)
	t.Cleanup(as.srv.Close)
	return as
}

func (as *fakeAS) issuer() string { return as.srv.URL }

func (as *fakeAS) metadata(w http.ResponseWriter, r *http.Request) {
	as.metadataHits.Add(1)
	iss := as.metadataIssuer
	if iss == "" {
		iss = as.issuer()
	}
	writeJSON(w, map[string]any{
		"issuer": iss, "jwks_uri": as.issuer() + "/jwks", "introspection_endpoint": as.issuer() + "/introspect",
	})
}

func (as *fakeAS) jwks(w http.ResponseWriter, r *http.Request) {
	as.jwksHits.Add(1)
	if as.jwksDown.Load() {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	as.mu.Lock()
	set := jose.JSONWebKeySet{}
	for _, k := range as.published {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	as.mu.Unlock()
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, set)
}

func (as *fakeAS) introspection(w http.ResponseWriter, r *http.Request) {
	as.introspectHits.Add(1)
	if as.introspectDown.Load() {
		http.Error(w, "down", http.StatusBadGateway)
		return
	}
	// RFC 6749 §2.3.1: Basic over form-encoded id and secret.
	id, secret, ok := r.BasicAuth()
	id, _ = url.QueryUnescape(id)
	secret, _ = url.QueryUnescape(secret)
	if !ok || id != rsClientID || secret != rsSecret {
		w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
		w.WriteHeader(http.StatusUnauthorized)
		writeJSON(w, map[string]string{"error": "invalid_client"})
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token_type_hint") != "access_token" {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	as.mu.Lock()
	answer, ok := as.introspect[r.PostForm.Get("token")]
	as.mu.Unlock()
	if !ok {
		answer = map[string]any{"active": false}
	}
	writeJSON(w, answer)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// rotate publishes a new key and signs with it from now on.
func (as *fakeAS) rotate(kid string) *signingKey {
	k := newECKey(as.t, kid)
	as.mu.Lock()
	as.published = append(as.published, k)
	as.signWith = k
	as.mu.Unlock()
	return k
}

// unpublish removes a key from the JWKS (an emergency rotation).
func (as *fakeAS) unpublish(kid string) {
	as.mu.Lock()
	defer as.mu.Unlock()
	for i, k := range as.published {
		if k.kid == kid {
			as.published = append(as.published[:i], as.published[i+1:]...)
			return
		}
	}
}

// setActive makes the introspection endpoint answer answer for token.
func (as *fakeAS) setActive(token string, answer map[string]any) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.introspect[token] = answer
}

func (as *fakeAS) revoke(token string) {
	as.mu.Lock()
	defer as.mu.Unlock()
	delete(as.introspect, token)
}

// claims are the claims of a valid access token for the Mail API at now.
func (as *fakeAS) claims() map[string]any {
	now := as.clock.Now().Unix()
	return map[string]any{
		"iss": as.issuer(), "sub": "user-ana", "aud": audience, "client_id": "friendfinder",
		"scope": "contacts.read openid", "iat": now, "exp": now + 600, "jti": "jti-1",
	}
}

// introspectionAnswer is an active RFC 7662 answer for a valid token.
func (as *fakeAS) introspectionAnswer() map[string]any {
	c := as.claims()
	c["active"] = true
	c["token_type"] = "Bearer"
	return c
}

// token signs claims with the AS's current key as an at+jwt.
func (as *fakeAS) token(claims map[string]any) string {
	as.mu.Lock()
	k := as.signWith
	as.mu.Unlock()
	return signJWT(as.t, k, map[jose.HeaderKey]any{"typ": "at+jwt"}, mustJSON(as.t, claims))
}

// valid is a valid token.
func (as *fakeAS) valid() string { return as.token(as.claims()) }

// signJWT signs payload with k, setting kid and the extra headers; a nil
// header value leaves the header out.
func signJWT(t testing.TB, k *signingKey, headers map[jose.HeaderKey]any, payload []byte) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	opts.WithHeader("kid", k.kid)
	for name, v := range headers {
		if v != nil {
			opts.WithHeader(name, v)
		}
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// rawJWT assembles a compact JWS from a header and payload given as JSON
// text and a signature, for tokens no library would make.
func rawJWT(header, payload string, sig []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(sig)
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var quietLog = slog.New(slog.DiscardHandler)

// verifier makes a Verifier for the fake AS with the Mail API's settings;
// edit changes the configuration first.
func (as *fakeAS) verifier(edit ...func(*bearer.Config)) *bearer.Verifier {
	as.t.Helper()
	cfg := bearer.Config{
		Issuer: as.issuer(), Audience: audience,
		ClientID: rsClientID, ClientSecret: rsSecret,
		ResourceMetadataURL: resourceMeta,
		Log:                 quietLog, Now: as.clock.Now,
	}
	for _, e := range edit {
		e(&cfg)
	}
	v, err := bearer.NewVerifier(cfg)
	if err != nil {
		as.t.Fatal(err)
	}
	return v
}

// call sends GET /contacts with the Authorization header auth ("" for none)
// through v.Require(scopes...) and returns the recorded answer and the token
// the handler saw.
func call(v *bearer.Verifier, auth string, scopes ...string) (*httptest.ResponseRecorder, *bearer.Token) {
	var seen *bearer.Token
	h := v.Require(scopes...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = bearer.FromContext(r.Context())
		w.Write([]byte("contacts"))
	}))
	req := httptest.NewRequest("GET", "https://mail.example/contacts", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec, seen
}

// wantInvalidToken checks a 401 invalid_token answer.
func wantInvalidToken(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401; body %s", rec.Code, rec.Body)
	}
	ch := rec.Header().Get("WWW-Authenticate")
	if !strings.HasPrefix(ch, `Bearer realm="https://mail.example", error="invalid_token", error_description="`) {
		t.Fatalf("WWW-Authenticate = %s", ch)
	}
	var body struct{ Error string }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error != "invalid_token" {
		t.Fatalf("body %s", rec.Body)
	}
}
