package bearer_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet/bearer"
)

// TestIntrospection covers opaque tokens: active and inactive answers, the
// checks on the answer's members, and client authentication.
func TestIntrospection(t *testing.T) {
	as := newFakeAS(t)
	v := as.verifier()
	ctx := context.Background()

	as.setActive("at_good", as.introspectionAnswer())
	rec, tok := call(v, "Bearer at_good", "contacts.read")
	if rec.Code != 200 || tok == nil || tok.Subject != "user-ana" || tok.ClientID != "friendfinder" || !tok.HasScope("contacts.read") ||
		tok.Expiry != as.clock.Now().Add(600*time.Second) || tok.Claims["active"] != true {
		t.Fatalf("active opaque token: %d %+v", rec.Code, tok)
	}
	if as.introspectHits.Load() != 1 {
		t.Fatalf("%d introspections", as.introspectHits.Load())
	}

	rec, _ = call(v, "Bearer at_unknown")
	wantInvalidToken(t, rec)

	answer := func(edit func(map[string]any)) map[string]any {
		a := as.introspectionAnswer()
		edit(a)
		return a
	}
	for name, tt := range map[string]struct {
		answer map[string]any
		want   error
	}{
		"inactive":                   {map[string]any{"active": false}, bearer.ErrInvalidToken},
		"inactive but full":          {answer(func(a map[string]any) { a["active"] = false }), bearer.ErrInvalidToken},
		"wrong issuer":               {answer(func(a map[string]any) { a["iss"] = "https://evil.example" }), bearer.ErrInvalidToken},
		"wrong audience":             {answer(func(a map[string]any) { a["aud"] = []string{"https://other.example"} }), bearer.ErrInvalidToken},
		"no audience":                {answer(func(a map[string]any) { delete(a, "aud") }), bearer.ErrInvalidToken},
		"expired":                    {answer(func(a map[string]any) { a["exp"] = as.clock.Now().Unix() - 60 }), bearer.ErrInvalidToken},
		"no exp":                     {answer(func(a map[string]any) { delete(a, "exp") }), bearer.ErrInvalidToken},
		"a refresh token":            {answer(func(a map[string]any) { a["token_type"] = "refresh_token" }), bearer.ErrInvalidToken},
		"token_use refresh_token":    {answer(func(a map[string]any) { a["token_use"] = "refresh_token" }), bearer.ErrInvalidToken},
		"a DPoP token":               {answer(func(a map[string]any) { a["token_type"] = "DPoP" }), bearer.ErrInvalidToken},
		"cnf":                        {answer(func(a map[string]any) { a["cnf"] = map[string]any{"jkt": "x"} }), bearer.ErrInvalidToken},
		"active the string true":     {answer(func(a map[string]any) { a["active"] = "true" }), bearer.ErrUnavailable},
		"no active":                  {answer(func(a map[string]any) { delete(a, "active") }), bearer.ErrUnavailable},
		"no iss (optional in 7662)":  {answer(func(a map[string]any) { delete(a, "iss") }), nil},
		"no sub, jti, iat, type":     {answer(func(a map[string]any) { delete(a, "sub"); delete(a, "jti"); delete(a, "iat"); delete(a, "token_type") }), nil},
		"token_type bearer in lower": {answer(func(a map[string]any) { a["token_type"] = "bearer" }), nil},
	} {
		t.Run(name, func(t *testing.T) {
			token := "at_" + strings.Map(func(r rune) rune {
				if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
					return r
				}
				return '_'
			}, strings.ToLower(name))
			as.setActive(token, tt.answer)
			_, err := v.Verify(ctx, token)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("wrong client secret", func(t *testing.T) {
		v := as.verifier(func(c *bearer.Config) { c.ClientSecret = "wrong" })
		rec, _ := call(v, "Bearer at_good")
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503 (the resource server's own credentials are wrong)", rec.Code)
		}
	})
	t.Run("no introspection configured", func(t *testing.T) {
		v := as.verifier(func(c *bearer.Config) { c.ClientID, c.ClientSecret = "", "" })
		before := as.introspectHits.Load()
		rec, _ := call(v, "Bearer at_good")
		wantInvalidToken(t, rec)
		if as.introspectHits.Load() != before {
			t.Fatal("introspected without credentials")
		}
	})
	t.Run("JWTs are not introspected by default", func(t *testing.T) {
		before := as.introspectHits.Load()
		if _, err := v.Verify(ctx, as.valid()); err != nil {
			t.Fatal(err)
		}
		if as.introspectHits.Load() != before {
			t.Fatal("a JWT was introspected")
		}
	})
}

// TestIntrospectionCache: answers are reused for the TTL, never past the
// token's exp; a revocation shows once the TTL passes; the cache is bounded.
func TestIntrospectionCache(t *testing.T) {
	as := newFakeAS(t)
	v := as.verifier()
	ctx := context.Background()
	as.setActive("at_cached", as.introspectionAnswer())

	for range 5 {
		if _, err := v.Verify(ctx, "at_cached"); err != nil {
			t.Fatal(err)
		}
	}
	if n := as.introspectHits.Load(); n != 1 {
		t.Fatalf("%d introspections for 5 uses within the TTL; want 1", n)
	}
	// A handler that changes its token does not change the cached one.
	tok, _ := v.Verify(ctx, "at_cached")
	tok.Scopes[0], tok.Claims["sub"] = "admin", "admin"
	if tok, _ := v.Verify(ctx, "at_cached"); tok.Scopes[0] != "contacts.read" || tok.Claims["sub"] != "user-ana" {
		t.Fatalf("the cached token was changed through a returned copy: %+v", tok)
	}

	as.revoke("at_cached")
	as.clock.Advance(bearer.DefaultIntrospectionCacheTTL - time.Second)
	if _, err := v.Verify(ctx, "at_cached"); err != nil {
		t.Fatalf("within the TTL the cached answer holds: %v", err)
	}
	as.clock.Advance(time.Second)
	if _, err := v.Verify(ctx, "at_cached"); !errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("revoked token after the TTL: %v", err)
	}
	if n := as.introspectHits.Load(); n != 2 {
		t.Fatalf("%d introspections; want 2", n)
	}
	// The refusal is cached too.
	v.Verify(ctx, "at_cached")
	if n := as.introspectHits.Load(); n != 2 {
		t.Fatalf("%d introspections; the refusal was not cached", n)
	}

	t.Run("never past exp", func(t *testing.T) {
		a := as.introspectionAnswer()
		a["exp"] = as.clock.Now().Unix() + 5
		as.setActive("at_short", a)
		if _, err := v.Verify(ctx, "at_short"); err != nil {
			t.Fatal(err)
		}
		before := as.introspectHits.Load()
		as.clock.Advance(6 * time.Second)
		v.Verify(ctx, "at_short")
		if as.introspectHits.Load() != before+1 {
			t.Fatal("a cached answer was used past the token's exp")
		}
	})

	t.Run("bounded", func(t *testing.T) {
		v := as.verifier(func(c *bearer.Config) { c.IntrospectionCacheSize = 8 })
		for i := range 100 {
			tok := fmt.Sprintf("at_flood%d", i)
			as.setActive(tok, as.introspectionAnswer())
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
			if n := bearer.IntrospectionCacheLen(v); n > 8 {
				t.Fatalf("cache holds %d answers; the bound is 8", n)
			}
		}
		if n := bearer.IntrospectionCacheLen(v); n != 8 {
			t.Fatalf("cache holds %d answers; want it full at 8", n)
		}
	})

	t.Run("off", func(t *testing.T) {
		v := as.verifier(func(c *bearer.Config) { c.IntrospectionCacheTTL = -1 })
		as.setActive("at_nocache", as.introspectionAnswer())
		before := as.introspectHits.Load()
		v.Verify(ctx, "at_nocache")
		v.Verify(ctx, "at_nocache")
		if as.introspectHits.Load() != before+2 {
			t.Fatal("cached with the cache off")
		}
	})
}

// TestIntrospectionUnreachable: the request fails closed with 503 (not 401:
// the token may be fine), and the failure is not cached.
func TestIntrospectionUnreachable(t *testing.T) {
	as := newFakeAS(t)
	v := as.verifier()
	as.setActive("at_good", as.introspectionAnswer())
	as.introspectDown.Store(true)

	rec, tok := call(v, "Bearer at_good")
	if rec.Code != http.StatusServiceUnavailable || tok != nil || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("introspection down: %d %v", rec.Code, rec.Header())
	}
	as.introspectDown.Store(false)
	if rec, _ := call(v, "Bearer at_good"); rec.Code != 200 {
		t.Fatalf("after introspection came back: %d", rec.Code)
	}

	// An endpoint that does not answer at all: the context's deadline holds.
	as.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := v.Verify(ctx, "at_other"); !errors.Is(err, bearer.ErrUnavailable) {
		t.Fatalf("closed server: %v", err)
	}
}

// TestIntrospectJWTs: with IntrospectJWTs a revoked JWT is refused even
// though its signature and claims are fine, and a forged one never reaches
// the introspection endpoint.
func TestIntrospectJWTs(t *testing.T) {
	as := newFakeAS(t)
	v := as.verifier(func(c *bearer.Config) { c.IntrospectJWTs = true })
	ctx := context.Background()
	raw := as.valid()
	as.setActive(raw, as.introspectionAnswer())
	if _, err := v.Verify(ctx, raw); err != nil {
		t.Fatal(err)
	}
	revoked := as.token(as.claims())
	if _, err := v.Verify(ctx, revoked); !errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("inactive JWT: %v", err)
	}
	before := as.introspectHits.Load()
	forged := signJWT(t, newECKey(t, "k1"), nil, mustJSON(t, as.claims()))
	v.Verify(ctx, forged)
	if as.introspectHits.Load() != before {
		t.Fatal("a forged JWT was sent to introspection")
	}
}
