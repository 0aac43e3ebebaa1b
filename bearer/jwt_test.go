package bearer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/valetauth/valet/bearer"
)

// TestJWTAccepted checks that a valid token passes, with what it says in the
// request's context, and the forms RFC 9068 allows.
func TestJWTAccepted(t *testing.T) {
	as := newFakeAS(t)
	v := as.verifier()
	k := as.signWith
	now := as.clock.Now().Unix()

	rec, tok := call(v, "Bearer "+as.valid(), "contacts.read")
	if rec.Code != http.StatusOK || rec.Body.String() != "contacts" {
		t.Fatalf("valid token: %d %s", rec.Code, rec.Body)
	}
	if tok == nil || tok.Subject != "user-ana" || tok.ClientID != "friendfinder" || tok.ID != "jti-1" ||
		!tok.HasScope("contacts.read") || !tok.HasScope("openid") || len(tok.Scopes) != 2 ||
		len(tok.Audience) != 1 || tok.Audience[0] != audience ||
		tok.Expiry.Unix() != now+600 || tok.IssuedAt.Unix() != now || tok.Claims["iss"] != as.issuer() {
		t.Fatalf("token in context = %+v", tok)
	}

	with := func(edit func(map[string]any)) string {
		c := as.claims()
		edit(c)
		return as.token(c)
	}
	for name, raw := range map[string]string{
		"aud array containing ours": with(func(c map[string]any) { c["aud"] = []string{"https://other.example", audience} }),
		"expired within the leeway": with(func(c map[string]any) { c["exp"] = now - 20 }),
		"nbf within the leeway":     with(func(c map[string]any) { c["nbf"] = now + 20 }),
		"iat within the leeway":     with(func(c map[string]any) { c["iat"] = now + 20 }),
		"fractional dates":          with(func(c map[string]any) { c["exp"] = float64(now) + 600.5 }),
		"typ application/at+jwt":    signJWT(t, k, map[jose.HeaderKey]any{"typ": "application/at+jwt"}, mustJSON(t, as.claims())),
		"typ in upper case":         signJWT(t, k, map[jose.HeaderKey]any{"typ": "AT+JWT"}, mustJSON(t, as.claims())),
		"unknown extra claim":       with(func(c map[string]any) { c["auth_time"] = now - 100; c["grant_id"] = "g" }),
	} {
		t.Run(name, func(t *testing.T) {
			if rec, _ := call(v, "Bearer "+raw, "contacts.read"); rec.Code != http.StatusOK {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
		})
	}
}

// TestJWTRefused runs the tokens a resource server must refuse (catalogue
// JW-02, JW-03, DS-01) through the middleware: each is 401 invalid_token.
func TestJWTRefused(t *testing.T) {
	as := newFakeAS(t)
	v := as.verifier(func(c *bearer.Config) { c.ClientID, c.ClientSecret = "", "" })
	k := as.signWith
	now := as.clock.Now().Unix()
	at := map[jose.HeaderKey]any{"typ": "at+jwt"}

	with := func(edit func(map[string]any)) string {
		c := as.claims()
		edit(c)
		return as.token(c)
	}
	header := func(h map[string]any) string {
		h["kid"] = k.kid
		return string(mustJSON(t, h))
	}
	// A foreign key that reuses the published kid.
	foreign := newECKey(t, k.kid)
	// HS256 keyed with the public key's bytes, in the forms an attacker
	// would try (RFC 8725 §2.1, the classic algorithm confusion).
	pubDER, _ := x509.MarshalPKIXPublicKey(k.priv.Public())
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	pubJWK, _ := json.Marshal(jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: "ES256", Use: "sig"})
	hs256 := func(key []byte) string {
		h := base64.RawURLEncoding.EncodeToString([]byte(header(map[string]any{"alg": "HS256", "typ": "at+jwt"})))
		p := base64.RawURLEncoding.EncodeToString(mustJSON(t, as.claims()))
		m := hmac.New(sha256.New, key)
		m.Write([]byte(h + "." + p))
		return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	// An attacker's own key, offered through the headers that name keys.
	attacker := newECKey(t, "attacker")
	var jkuHits atomic.Int32
	jku := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jkuHits.Add(1)
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: attacker.priv.Public(), KeyID: "attacker", Algorithm: "ES256"}}})
	}))
	defer jku.Close()
	attackerJWK := jose.JSONWebKey{Key: attacker.priv.Public(), KeyID: "attacker", Algorithm: "ES256"}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	valid := as.valid()
	parts := strings.Split(valid, ".")
	big := as.token(func() map[string]any { c := as.claims(); c["pad"] = strings.Repeat("a", 20<<10); return c }())

	tests := []struct{ name, raw, why string }{
		{"expired", with(func(c map[string]any) { c["exp"] = now - 31 }), "the token has expired"},
		{"not yet valid", with(func(c map[string]any) { c["nbf"] = now + 31 }), "the token is not valid yet"},
		{"issued in the future", with(func(c map[string]any) { c["iat"] = now + 31 }), "the token was issued in the future"},
		{"no exp", with(func(c map[string]any) { delete(c, "exp") }), "the token has no expiry"},
		{"no iat", with(func(c map[string]any) { delete(c, "iat") }), "the token has no issue time"},
		{"exp a string", with(func(c map[string]any) { c["exp"] = "2099-01-01" }), "the token's expiry is malformed"},
		{"wrong issuer", with(func(c map[string]any) { c["iss"] = "https://evil.example" }), "the token was issued by another issuer"},
		{"issuer with a trailing slash", with(func(c map[string]any) { c["iss"] = as.issuer() + "/" }), "the token was issued by another issuer"},
		{"no issuer", with(func(c map[string]any) { delete(c, "iss") }), "the token has no issuer"},
		{"wrong audience", with(func(c map[string]any) { c["aud"] = "https://other.example" }), "the token is not meant for this resource server"},
		{"aud array without ours", with(func(c map[string]any) { c["aud"] = []string{"https://a.example", "https://b.example"} }), "the token is not meant for this resource server"},
		{"no audience", with(func(c map[string]any) { delete(c, "aud") }), "the token is not meant for this resource server"},
		{"aud a number", with(func(c map[string]any) { c["aud"] = 7 }), "the token's audience is malformed"},
		{"no sub", with(func(c map[string]any) { delete(c, "sub") }), "the token lacks sub, client_id or jti"},
		{"no client_id", with(func(c map[string]any) { delete(c, "client_id") }), "the token lacks sub, client_id or jti"},
		{"no jti", with(func(c map[string]any) { delete(c, "jti") }), "the token lacks sub, client_id or jti"},
		{"scope not a string", with(func(c map[string]any) { c["scope"] = []string{"contacts.read"} }), "the token's scope is malformed"},
		{"bound to a DPoP key (cnf)", with(func(c map[string]any) { c["cnf"] = map[string]any{"jkt": "x"} }), "the token is bound to a key and cannot be used as a bearer token"},
		{"alg none", rawJWT(header(map[string]any{"alg": "none", "typ": "at+jwt"}), string(mustJSON(t, as.claims())), nil), "the token's signing algorithm is not accepted"},
		{"alg none with a signature", rawJWT(header(map[string]any{"alg": "none", "typ": "at+jwt"}), string(mustJSON(t, as.claims())), []byte("x")), "the token's signing algorithm is not accepted"},
		{"alg NONE", rawJWT(header(map[string]any{"alg": "NONE", "typ": "at+jwt"}), string(mustJSON(t, as.claims())), nil), "the token's signing algorithm is not accepted"},
		{"HS256 keyed with the public DER", hs256(pubDER), "the token's signing algorithm is not accepted"},
		{"HS256 keyed with the public PEM", hs256(pubPEM), "the token's signing algorithm is not accepted"},
		{"HS256 keyed with the public JWK", hs256(pubJWK), "the token's signing algorithm is not accepted"},
		{"RS256, not on the allow-list", signJWT(t, &signingKey{kid: k.kid, priv: rsaKey, alg: jose.RS256}, at, mustJSON(t, as.claims())), "the token's signing algorithm is not accepted"},
		{"ES384 under the ES256 kid", signJWT(t, &signingKey{kid: k.kid, priv: p384, alg: jose.ES384}, at, mustJSON(t, as.claims())), "the token's signing algorithm is not accepted"},
		{"foreign key, known kid", signJWT(t, foreign, at, mustJSON(t, as.claims())), "the token's signature is invalid"},
		{"signature of another token", parts[0] + "." + strings.Split(with(func(c map[string]any) { c["sub"] = "admin" }), ".")[1] + "." + parts[2], "the token's signature is invalid"},
		{"no typ", signJWT(t, k, nil, mustJSON(t, as.claims())), "the token is not a JWT access token (typ must be at+jwt)"},
		{"typ JWT (an ID token)", signJWT(t, k, map[jose.HeaderKey]any{"typ": "JWT"}, mustJSON(t, as.claims())), "the token is not a JWT access token (typ must be at+jwt)"},
		{"typ dpop+jwt", signJWT(t, k, map[jose.HeaderKey]any{"typ": "dpop+jwt"}, mustJSON(t, as.claims())), "the token is not a JWT access token (typ must be at+jwt)"},
		{"typ at+jwtx", signJWT(t, k, map[jose.HeaderKey]any{"typ": "at+jwtx"}, mustJSON(t, as.claims())), "the token is not a JWT access token (typ must be at+jwt)"},
		{"crit", signJWT(t, k, map[jose.HeaderKey]any{"typ": "at+jwt", "crit": []string{"exp"}, "exp": now + 60}, mustJSON(t, as.claims())), "the token uses an unsupported header"},
		{"crit b64 false", signJWT(t, k, map[jose.HeaderKey]any{"typ": "at+jwt", "crit": []string{"b64"}, "b64": false}, mustJSON(t, as.claims())), "the token uses an unsupported header"},
		{"b64 without crit", signJWT(t, k, map[jose.HeaderKey]any{"typ": "at+jwt", "b64": true}, mustJSON(t, as.claims())), "the token uses an unsupported header"},
		{"no kid", rawJWT(`{"alg":"ES256","typ":"at+jwt"}`, string(mustJSON(t, as.claims())), []byte("sig")), "the token has no key ID"},
		{"jku to the attacker's keys", signJWT(t, attacker, map[jose.HeaderKey]any{"typ": "at+jwt", "jku": jku.URL}, mustJSON(t, as.claims())), "the token is signed by an unknown key"},
		{"x5u to the attacker's keys", signJWT(t, attacker, map[jose.HeaderKey]any{"typ": "at+jwt", "x5u": jku.URL}, mustJSON(t, as.claims())), "the token is signed by an unknown key"},
		{"jwk header, the attacker's key", signJWT(t, attacker, map[jose.HeaderKey]any{"typ": "at+jwt", "jwk": attackerJWK}, mustJSON(t, as.claims())), "the token is signed by an unknown key"},
		{"jwk header under the known kid", signJWT(t, foreign, map[jose.HeaderKey]any{"typ": "at+jwt", "jwk": jose.JSONWebKey{Key: foreign.priv.Public(), Algorithm: "ES256"}}, mustJSON(t, as.claims())), "the token's signature is invalid"},
		{"duplicate claim (aud)", signJWT(t, k, at, []byte(strings.Replace(string(mustJSON(t, as.claims())), `"aud":"https://mail.example"`, `"aud":"https://other.example","aud":"https://mail.example"`, 1))), "the token's claims are malformed"},
		{"duplicate header (alg)", rawJWT(`{"alg":"none","alg":"ES256","typ":"at+jwt","kid":"k1"}`, string(mustJSON(t, as.claims())), []byte("sig")), "the token is malformed"},
		{"claims not an object", signJWT(t, k, at, []byte(`["iss"]`)), "the token's claims are malformed"},
		{"claims with trailing data", signJWT(t, k, at, append(mustJSON(t, as.claims()), []byte(`{}`)...)), "the token's claims are malformed"},
		{"three dots", valid + ".", "the token is malformed"},
		{"one dot", parts[0] + "." + parts[1], "the token is malformed"},
		{"many dots", strings.Repeat(".", 10000), "the token is malformed"},
		{"20 KiB", big, "the token is too large"},
		{"20 KiB of dots", strings.Repeat(".", 20<<10), "the token is too large"},
		{"garbage", "not-a-token", "opaque tokens are not accepted here"},
		{"garbage with two dots", "a.b.c", "the token is malformed"},
		{"bad base64 header", "!!!." + parts[1] + "." + parts[2], "the token is malformed"},
		{"padded base64 header", parts[0] + "==." + parts[1] + "." + parts[2], "the token is malformed"},
		{"JWS JSON serialization", `{"payload":"` + parts[1] + `"}`, "the token is malformed"},
		{"characters outside b64token", parts[0] + "." + parts[1] + "." + parts[2][:10] + "%" + parts[2][11:], "the token is malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, tok := call(v, "Bearer "+tt.raw)
			if tok != nil {
				t.Fatalf("the handler ran with %+v", tok)
			}
			// Characters a header cannot carry are refused by the header
			// parser; both must be 401 invalid_token.
			wantInvalidToken(t, rec)
			// Each is refused for its own reason, not by an earlier check.
			_, err := v.Verify(context.Background(), tt.raw)
			var e *bearer.Error
			if !errors.Is(err, bearer.ErrInvalidToken) || !errors.As(err, &e) || e.Description != tt.why {
				t.Fatalf("Verify: %v, want ErrInvalidToken: %s", err, tt.why)
			}
			if !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error_description="`+strings.ReplaceAll(tt.why, `"`, "")+`"`) {
				t.Errorf("WWW-Authenticate = %s", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
	if n := jkuHits.Load(); n != 0 {
		t.Errorf("the verifier fetched the token's jku/x5u %d times", n)
	}
	if n := as.jwksHits.Load(); n > 2 {
		t.Errorf("%d JWKS fetches for %d refused tokens; want the first and one refetch", n, len(tests))
	}
}

// TestUnknownKidRefetchIsRateLimited checks catalogue R6 from the resource
// server's side: an unknown kid makes one refetch, the next ones within
// UnknownKeyRefetchInterval none, however many arrive at once.
func TestUnknownKidRefetchIsRateLimited(t *testing.T) {
	as := newFakeAS(t)
	v := as.verifier()
	ctx := context.Background()
	if _, err := v.Verify(ctx, as.valid()); err != nil {
		t.Fatal(err)
	}
	if as.jwksHits.Load() != 1 || as.metadataHits.Load() != 1 {
		t.Fatalf("jwks %d, metadata %d fetches; want 1 and 1", as.jwksHits.Load(), as.metadataHits.Load())
	}
	forged := func(kid string) string {
		return signJWT(t, newECKey(t, kid), map[jose.HeaderKey]any{"typ": "at+jwt"}, mustJSON(t, as.claims()))
	}
	if _, err := v.Verify(ctx, forged("unknown-1")); !errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("unknown kid: %v", err)
	}
	if n := as.jwksHits.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches after an unknown kid; want 2", n)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(ctx, forged("unknown-burst-"+string(rune('a'+i%26)))); !errors.Is(err, bearer.ErrInvalidToken) {
				t.Errorf("unknown kid: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := as.jwksHits.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches after 50 more unknown kids within a minute; want still 2", n)
	}
	as.clock.Advance(bearer.UnknownKeyRefetchInterval - time.Second)
	v.Verify(ctx, forged("unknown-2"))
	if n := as.jwksHits.Load(); n != 2 {
		t.Fatalf("refetched %d times before the interval passed", n-1)
	}
	as.clock.Advance(time.Second)
	v.Verify(ctx, forged("unknown-3"))
	if n := as.jwksHits.Load(); n != 3 {
		t.Fatalf("%d JWKS fetches once the interval passed; want 3", n)
	}
	if n := as.metadataHits.Load(); n != 1 {
		t.Errorf("metadata fetched %d times; want once", n)
	}
}

// TestKeyRotation: the AS publishes a new key and signs with it; the first
// token under the new kid is accepted after one refetch, and the old key's
// tokens keep working while it is published. After an emergency removal,
// the old key's tokens are refused once the cached set expires.
func TestKeyRotation(t *testing.T) {
	as := newFakeAS(t)
	v := as.verifier()
	ctx := context.Background()
	old := as.valid()
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}
	as.rotate("k2")
	newer := as.valid()
	tok, err := v.Verify(ctx, newer)
	if err != nil {
		t.Fatalf("token under the new key: %v", err)
	}
	if tok.Subject != "user-ana" || as.jwksHits.Load() != 2 {
		t.Fatalf("subject %q, %d JWKS fetches; want 2", tok.Subject, as.jwksHits.Load())
	}
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("token under the old, still published key: %v", err)
	}

	as.unpublish("k1")
	as.clock.Advance(299 * time.Second) // the JWKS said max-age=300
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("within max-age the cached key still verifies: %v", err)
	}
	as.clock.Advance(2 * time.Second)
	if _, err := v.Verify(ctx, old); !errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("token of a removed key after max-age: %v, want ErrInvalidToken", err)
	}
	if _, err := v.Verify(ctx, as.token(as.claims())); err != nil {
		t.Fatalf("new key after the refresh: %v", err)
	}
	if n := as.jwksHits.Load(); n != 3 {
		t.Errorf("%d JWKS fetches; want 3", n)
	}
}

// TestKeysUnreachable: without keys the request fails closed with 503 and no
// challenge; fetched keys outlive a JWKS outage; fetches after a failure are
// spaced out.
func TestKeysUnreachable(t *testing.T) {
	as := newFakeAS(t)
	v := as.verifier()
	ctx := context.Background()
	as.jwksDown.Store(true)
	raw := as.valid()

	rec, tok := call(v, "Bearer "+raw)
	if rec.Code != http.StatusServiceUnavailable || tok != nil || rec.Header().Get("Retry-After") == "" ||
		rec.Header().Get("WWW-Authenticate") != "" || !strings.Contains(rec.Body.String(), `"temporarily_unavailable"`) {
		t.Fatalf("JWKS down: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if _, err := v.Verify(ctx, raw); !errors.Is(err, bearer.ErrUnavailable) || errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("Verify with the JWKS down: %v", err)
	}
	if n := as.jwksHits.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches within the retry delay; want 1", n)
	}

	as.jwksDown.Store(false)
	as.clock.Advance(5 * time.Second)
	if _, err := v.Verify(ctx, raw); err != nil {
		t.Fatalf("after the JWKS came back: %v", err)
	}
	as.jwksDown.Store(true)
	as.clock.Advance(400 * time.Second) // past max-age: a refresh is due and fails
	if _, err := v.Verify(ctx, as.valid()); err != nil {
		t.Fatalf("stale keys must be used while the JWKS is down: %v", err)
	}
	// A new kid while the JWKS is down cannot be told from a forgery: 503.
	as.clock.Advance(10 * time.Second)
	as.rotate("k2")
	if _, err := v.Verify(ctx, as.valid()); !errors.Is(err, bearer.ErrUnavailable) {
		t.Fatalf("unknown kid with the JWKS down: %v, want ErrUnavailable", err)
	}
}

// TestMetadata covers RFC 8414 discovery: the metadata's issuer must match,
// an issuer with a path has its well-known URL per §3.1, and configured URLs
// skip discovery.
func TestMetadata(t *testing.T) {
	t.Run("issuer mismatch", func(t *testing.T) {
		as := newFakeAS(t)
		as.metadataIssuer = "https://evil.example"
		v := as.verifier()
		if _, err := v.Verify(context.Background(), as.valid()); !errors.Is(err, bearer.ErrUnavailable) || !strings.Contains(err.Error(), "evil.example") {
			t.Fatalf("Verify: %v", err)
		}
		if as.jwksHits.Load() != 0 {
			t.Fatal("the JWKS of a mismatched metadata document was fetched")
		}
	})
	t.Run("configured URLs", func(t *testing.T) {
		as := newFakeAS(t)
		v := as.verifier(func(c *bearer.Config) {
			c.JWKSURL, c.IntrospectionURL = as.issuer()+"/jwks", as.issuer()+"/introspect"
		})
		if _, err := v.Verify(context.Background(), as.valid()); err != nil {
			t.Fatal(err)
		}
		as.setActive("at_opaque", as.introspectionAnswer())
		if _, err := v.Verify(context.Background(), "at_opaque"); err != nil {
			t.Fatal(err)
		}
		if as.metadataHits.Load() != 0 {
			t.Fatal("metadata fetched although every URL was configured")
		}
	})
	t.Run("issuer with a path", func(t *testing.T) {
		var path atomic.Value
		as := newFakeAS(t)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			path.Store(r.URL.Path)
			http.NotFound(w, r)
		}))
		defer srv.Close()
		v, err := bearer.NewVerifier(bearer.Config{Issuer: srv.URL + "/tenants/a/", Audience: audience, Log: quietLog})
		if err != nil {
			t.Fatal(err)
		}
		v.Verify(context.Background(), as.valid())
		if got := path.Load(); got != "/.well-known/oauth-authorization-server/tenants/a" {
			t.Fatalf("metadata fetched at %v", got)
		}
	})
}

// TestNewVerifierRefusesBadConfig: the algorithm allow-list can never hold
// "none" or HS*, and required fields are required.
func TestNewVerifierRefusesBadConfig(t *testing.T) {
	ok := bearer.Config{Issuer: "https://valet.example", Audience: audience}
	for name, edit := range map[string]func(*bearer.Config){
		"no issuer":                       func(c *bearer.Config) { c.Issuer = "" },
		"relative issuer":                 func(c *bearer.Config) { c.Issuer = "valet.example" },
		"no audience":                     func(c *bearer.Config) { c.Audience = "" },
		"alg none":                        func(c *bearer.Config) { c.Algorithms = []string{"ES256", "none"} },
		"HS256":                           func(c *bearer.Config) { c.Algorithms = []string{"HS256"} },
		"HS512":                           func(c *bearer.Config) { c.Algorithms = []string{"HS512"} },
		"lower-case es256":                func(c *bearer.Config) { c.Algorithms = []string{"es256"} },
		"negative leeway":                 func(c *bearer.Config) { c.Leeway = -time.Second },
		"client ID without a secret":      func(c *bearer.Config) { c.ClientID = "mail" },
		"IntrospectJWTs without a client": func(c *bearer.Config) { c.IntrospectJWTs = true },
		"relative JWKS URL":               func(c *bearer.Config) { c.JWKSURL = "/jwks" },
	} {
		t.Run(name, func(t *testing.T) {
			c := ok
			edit(&c)
			if _, err := bearer.NewVerifier(c); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := bearer.NewVerifier(ok); err != nil {
		t.Fatalf("a good config: %v", err)
	}
	if _, err := bearer.NewVerifier(bearer.Config{Issuer: ok.Issuer, Audience: audience, Algorithms: []string{"ES256", "RS256", "EdDSA", "PS256"}}); err != nil {
		t.Fatalf("asymmetric algorithms: %v", err)
	}
}

// TestAlgorithmsAllowList: an RS256 token verifies only when RS256 is listed.
func TestAlgorithmsAllowList(t *testing.T) {
	as := newFakeAS(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	k := &signingKey{kid: "r1", priv: rsaKey, alg: jose.RS256}
	as.mu.Lock()
	as.published = append(as.published, k)
	as.mu.Unlock()
	raw := signJWT(t, k, map[jose.HeaderKey]any{"typ": "at+jwt"}, mustJSON(t, as.claims()))

	if _, err := as.verifier().Verify(context.Background(), raw); !errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("RS256 with the default allow-list: %v", err)
	}
	v := as.verifier(func(c *bearer.Config) { c.Algorithms = []string{"ES256", "RS256"} })
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("RS256 allowed: %v", err)
	}
	if _, err := v.Verify(context.Background(), as.valid()); err != nil {
		t.Fatalf("ES256 allowed: %v", err)
	}

	// A key is used only with the algorithm it was published for, and an
	// RSA key only from 2048 bits (RFC 7518 §3.3), even when go-jose would
	// check the signature.
	v = as.verifier(func(c *bearer.Config) { c.Algorithms = []string{"RS256", "PS256"} })
	pss := signJWT(t, &signingKey{kid: "r1", priv: rsaKey, alg: jose.PS256}, map[jose.HeaderKey]any{"typ": "at+jwt"}, mustJSON(t, as.claims()))
	if _, err := v.Verify(context.Background(), pss); !errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("PS256 with a key published for RS256: %v", err)
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	wk := &signingKey{kid: "weak", priv: weak, alg: jose.RS256}
	as.mu.Lock()
	as.published = append(as.published, wk)
	as.mu.Unlock()
	as.clock.Advance(bearer.UnknownKeyRefetchInterval)
	if _, err := v.Verify(context.Background(), signJWT(t, wk, map[jose.HeaderKey]any{"typ": "at+jwt"}, mustJSON(t, as.claims()))); !errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("RS256 with a 1024-bit key: %v", err)
	}
}

// BenchmarkVerifyJWT measures Verify of a JWT access token with the keys
// cached: what a resource server pays per request.
func BenchmarkVerifyJWT(b *testing.B) {
	as := newFakeAS(b)
	v := as.verifier()
	raw := as.valid()
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyJWTParallel is BenchmarkVerifyJWT on every core at once.
func BenchmarkVerifyJWTParallel(b *testing.B) {
	as := newFakeAS(b)
	v := as.verifier()
	raw := as.valid()
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, raw); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
