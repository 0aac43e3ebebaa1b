package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/token"
	"github.com/valetauth/valet/internal/web"
)

// implicitReq is an implicit request (RFC 6749 §4.2.1): response_type=token,
// no PKCE and no nonce; kv override as in authz.
func implicitReq(client, redirect string, kv ...string) url.Values {
	base := []string{"response_type", "token", "code_challenge", del, "code_challenge_method", del, "nonce", del, "scope", "openid contacts.read"}
	return authz(client, redirect, append(base, kv...)...)
}

// assertImplicit checks a successful implicit response to base (RFC 6749
// §4.2.2, catalogue AZ-03b): everything in the fragment, exactly the
// parameters the RFC lists plus iss, no refresh token. It returns them.
func assertImplicit(t *testing.T, r *response, status int, base, state string) url.Values {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d; Location %q\n%s", r.StatusCode, status, r.Header.Get("Location"), r.body)
	}
	f := fragmentOf(t, r, base)
	if f.Has("error") {
		t.Fatalf("error redirect %s: %s", f.Get("error"), f.Get("error_description"))
	}
	for k, v := range f {
		switch {
		case !slices.Contains([]string{"access_token", "token_type", "expires_in", "scope", "state", "iss"}, k):
			t.Errorf("fragment carries %s=%q", k, v) // refresh_token, code, id_token...
		case len(v) != 1:
			t.Errorf("fragment carries %s %d times", k, len(v))
		}
	}
	if f.Get("access_token") == "" || f.Get("token_type") != "Bearer" {
		t.Errorf("access_token %q, token_type %q", f.Get("access_token"), f.Get("token_type"))
	}
	// expires_in is the token's remaining life in seconds; a second may
	// have passed since it was minted.
	if n, err := strconv.Atoi(f.Get("expires_in")); err != nil || n < int(accessTTL/time.Second)-2 || n > int(accessTTL/time.Second) {
		t.Errorf("expires_in = %q, want about %d", f.Get("expires_in"), int(accessTTL/time.Second))
	}
	checkErrorParams(t, f, "", state)
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("Cache-Control %q, Referrer-Policy %q", r.Header.Get("Cache-Control"), r.Header.Get("Referrer-Policy"))
	}
	return f
}

// claims verifies an access token as a resource server would.
func (e *env) claims(t *testing.T, at string) *token.AccessClaims {
	t.Helper()
	c, err := e.tokens.ParseAccess(at)
	if err != nil {
		t.Fatalf("access token %.20s… does not verify: %v", at, err)
	}
	return c
}

// TestFlow_Implicit drives the implicit grant through the pages with a
// cookie jar: no session, sign in, consent, and the token read from the
// fragment and verified.
func TestFlow_Implicit(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	q := implicitReq("impl1", "https://impl.example/cb")

	r := b.authorize(q)
	if r.StatusCode != http.StatusFound || r.location(t).Path != "/login" {
		t.Fatalf("no session: %d %s, want 302 to /login\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	page := b.get(r.location(t).String())
	assertPage(t, page, http.StatusOK)
	before := time.Now().Truncate(time.Second)
	form := url.Values{"username": {"ana"}, "password": {password}, "csrf": {hidden(t, page.body, "csrf")}, "return_to": {hidden(t, page.body, "return_to")}}
	r = b.post("/login", form.Encode())
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: status %d, want 303\n%s", r.StatusCode, r.body)
	}
	r = b.get(r.location(t).String())
	assertPage(t, r, http.StatusOK)
	if !strings.Contains(r.body, "Implicit only") || !strings.Contains(r.body, "Read your contacts") {
		t.Errorf("consent page does not name the client and scopes:\n%s", r.body)
	}
	f := consentForm{hidden(t, r.body, "request"), hidden(t, r.body, "expires"), hidden(t, r.body, "csrf")}
	r = b.post("/consent", f.encode("allow"))
	frag := assertImplicit(t, r, http.StatusSeeOther, "https://impl.example/cb", "st-1")
	if frag.Get("scope") != "contacts.read openid" {
		t.Errorf("scope = %q, want the granted set", frag.Get("scope"))
	}

	c := e.claims(t, frag.Get("access_token"))
	if c.Subject != e.user.ID || c.ClientID != "impl1" || !slices.Equal(c.Scopes(), []string{"contacts.read", "openid"}) ||
		!slices.Equal(c.Audience, defaultAudience) || c.Issuer != issuer {
		t.Errorf("claims = %+v", c)
	}
	if c.Expiry-c.IssuedAt != int64(accessTTL/time.Second) {
		t.Errorf("token lives %ds, want %v", c.Expiry-c.IssuedAt, accessTTL)
	}
	if c.AuthTime < before.Unix() || c.AuthTime > time.Now().Unix() {
		t.Errorf("auth_time %d is not the sign-in time (%d…)", c.AuthTime, before.Unix())
	}
	// A grant family of its own, which the deny-list can target.
	if !strings.HasPrefix(c.GrantID, "fam_") {
		t.Errorf("grant_id = %q, want a fresh family ID", c.GrantID)
	}
	if got := e.consentOf(e.user, "impl1"); got == nil || !slices.Equal(got.Scopes, []string{"contacts.read", "openid"}) {
		t.Errorf("remembered consent = %+v", got)
	}

	// With consent remembered, the next request answers at once, with a
	// new token of a new family.
	r = b.authorize(q)
	again := e.claims(t, assertImplicit(t, r, http.StatusFound, "https://impl.example/cb", "st-1").Get("access_token"))
	if again.ID == c.ID || again.GrantID == c.GrantID {
		t.Errorf("second token shares jti or grant_id with the first: %+v %+v", again, c)
	}
	if logs := e.logs.String(); strings.Contains(logs, frag.Get("access_token")) || !strings.Contains(logs, "implicit access token issued") {
		t.Errorf("the log holds the token, or does not record the issuance:\n%s", logs)
	}
}

// TestImplicitOpaqueToken: for a client registered with access_token_format
// "opaque" the fragment carries a random at_ value, stored as a digest.
func TestImplicitOpaqueToken(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("impl-opaque")
	r := b.authorize(implicitReq("impl-opaque", "https://opaque.example/cb", "scope", "profile"))
	f := assertImplicit(t, r, http.StatusFound, "https://opaque.example/cb", "st-1")
	raw := f.Get("access_token")
	if !strings.HasPrefix(raw, "at_") || len(raw) != len("at_")+8+43 {
		t.Fatalf("access_token %q is not an opaque at_ token", raw)
	}
	if _, err := e.tokens.ParseAccess(raw); err == nil {
		t.Error("an opaque token parses as a JWT")
	}
	stored, err := e.st.Access.Get(context.Background(), token.OpaqueKey(e.dig, raw))
	if err != nil {
		t.Fatalf("the token in the fragment is not stored under its digest: %v", err)
	}
	if stored.Digest == raw || stored.Subject != e.user.ID || stored.ClientID != "impl-opaque" ||
		!slices.Equal(stored.Scopes, []string{"profile"}) || !slices.Equal(stored.Audience, defaultAudience) ||
		!strings.HasPrefix(stored.GrantID, "fam_") || stored.ID == "" || stored.AuthTime.IsZero() {
		t.Errorf("stored token = %+v", stored)
	}
	if d := stored.ExpiresAt.Sub(stored.CreatedAt); d < accessTTL-time.Second || d > accessTTL {
		t.Errorf("stored lifetime %v, want %v", d, accessTTL)
	}
	if _, err := e.st.Access.Get(context.Background(), raw); err == nil {
		t.Error("the raw token value is a key in the store")
	}
}

// TestAZ01c_ImplicitSwitches: implicit needs the server (pin P16) and the
// client's registration; errors go in the fragment.
func TestAZ01c_ImplicitSwitches(t *testing.T) {
	t.Run("disabled server-wide: unsupported_response_type, even for a registered client", func(t *testing.T) {
		e := newEnv(t, implicitOff)
		b := e.signedInWithConsent("impl1", "conf1")
		for _, mode := range []string{"", "fragment", "query"} {
			r := b.authorize(implicitReq("impl1", "https://impl.example/cb", "response_mode", mode))
			assertFragmentError(t, r, http.StatusFound, "https://impl.example/cb", "unsupported_response_type", "st-1")
		}
		// The code flow is untouched by the switch.
		e.assertCode(t, b.authorize(authz("conf1", "https://client.example/cb")), http.StatusFound, "https://client.example/cb", "st-1")
	})
	t.Run("enabled: a client that did not register it gets unauthorized_client", func(t *testing.T) {
		e := newEnv(t)
		b := e.signedInWithConsent("impl1", "conf1")
		r := b.authorize(implicitReq("conf1", "https://client.example/cb"))
		assertFragmentError(t, r, http.StatusFound, "https://client.example/cb", "unauthorized_client", "st-1")
		// The control: the registered client gets its token.
		assertImplicit(t, b.authorize(implicitReq("impl1", "https://impl.example/cb")), http.StatusFound, "https://impl.example/cb", "st-1")
	})
	t.Run("Register refuses implicit without Tokens or Audience", func(t *testing.T) {
		e := newEnv(t)
		for name, drop := range map[string]func(*webHandler){
			"no Tokens":   func(h *webHandler) { h.Tokens = nil },
			"no Audience": func(h *webHandler) { h.Audience = nil },
		} {
			h := &webHandler{Issuer: issuer, Clients: e.st.Clients, Users: e.st.Users, Sessions: e.st.Sessions,
				Consents: e.st.Consents, Codes: e.st.Codes, Replays: e.st.Replays, Digester: e.dig,
				Tokens: e.h.Tokens, Audience: defaultAudience, IDTokens: e.tokens,
				Refresh: e.st.Refresh, Revocations: e.st.Revocations}
			drop(h)
			func() {
				defer func() {
					if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "ImplicitDisabled") {
						t.Errorf("%s: Register did not refuse (%v)", name, p)
					}
				}()
				h.Register(http.NewServeMux())
			}()
		}
		// With the switch off neither is needed: newEnv(t, implicitOff)
		// above registers a Handler without them.
	})
}

// TestAZ03_TokenResponses: fragment only, never a query, never a refresh token.
func TestAZ03_TokenResponses(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("impl1", "impl-rt")
	t.Run("a response_mode=query is invalid_request, in the fragment", func(t *testing.T) {
		r := b.authorize(implicitReq("impl1", "https://impl.example/cb", "response_mode", "query"))
		assertFragmentError(t, r, http.StatusFound, "https://impl.example/cb", "invalid_request", "st-1")
		for _, mode := range []string{"bogus", "Fragment"} {
			r := b.authorize(implicitReq("impl1", "https://impl.example/cb", "response_mode", mode))
			assertFragmentError(t, r, http.StatusFound, "https://impl.example/cb", "invalid_request", "st-1")
		}
		// fragment, the default, is accepted when named.
		assertImplicit(t, b.authorize(implicitReq("impl1", "https://impl.example/cb", "response_mode", "fragment")), http.StatusFound, "https://impl.example/cb", "st-1")
	})
	t.Run("a errors after validation go in the fragment too", func(t *testing.T) {
		r := b.authorize(implicitReq("impl1", "https://impl.example/cb", "scope", "openid admin:all"))
		assertFragmentError(t, r, http.StatusFound, "https://impl.example/cb", "invalid_scope", "st-1")
		r = e.browser().authorize(implicitReq("impl1", "https://impl.example/cb", "prompt", "none"))
		assertFragmentError(t, r, http.StatusFound, "https://impl.example/cb", "login_required", "st-1")
	})
	t.Run("b no refresh token, even for a client with the refresh grant asking offline_access", func(t *testing.T) {
		r := b.authorize(implicitReq("impl-rt", "https://both.example/cb", "scope", "openid offline_access"))
		f := assertImplicit(t, r, http.StatusFound, "https://both.example/cb", "st-1")
		if f.Get("scope") != "offline_access openid" {
			t.Errorf("scope = %q", f.Get("scope"))
		}
		// The same client's code flow still works: the difference is the
		// response type, not the client.
		e.assertCode(t, b.authorize(authz("impl-rt", "https://both.example/cb", "scope", "openid")), http.StatusFound, "https://both.example/cb", "st-1")
	})
	t.Run("PKCE is not required, and a challenge sent anyway is ignored", func(t *testing.T) {
		assertImplicit(t, b.authorize(implicitReq("impl1", "https://impl.example/cb")), http.StatusFound, "https://impl.example/cb", "st-1")
		r := b.authorize(implicitReq("impl1", "https://impl.example/cb", "code_challenge", challenge, "code_challenge_method", "S256"))
		assertImplicit(t, r, http.StatusFound, "https://impl.example/cb", "st-1")
	})
	t.Run("denied at the consent page: access_denied in the fragment", func(t *testing.T) {
		u := e.addUser("eve", "eve-password-1")
		sb := e.signedIn(u)
		f := sb.consentPage(implicitReq("impl1", "https://impl.example/cb"))
		r := sb.post("/consent", f.encode("deny"))
		assertFragmentError(t, r, http.StatusSeeOther, "https://impl.example/cb", "access_denied", "st-1")
	})
	t.Run("no state: none returned", func(t *testing.T) {
		assertImplicit(t, b.authorize(implicitReq("impl1", "https://impl.example/cb", "state", del)), http.StatusFound, "https://impl.example/cb", "")
	})
}

// TestHD03_FragmentValuesAreEncoded: a state with "&", "#", quotes, markup,
// spaces or line breaks comes back exactly, percent-encoded, and cannot add
// or change a parameter of the fragment (IP-05, HD-03).
func TestHD03_FragmentValuesAreEncoded(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("impl1")
	for _, state := range []string{
		"x&access_token=evil", "x#iss=https://evil.example", `"'><script>alert(1)</script>`, "a=b&token_type=mac",
		"%26access_token%3Devil", "x+y z", "line\r\nSet-Cookie: evil=1", "é&#x27;",
	} {
		t.Run(fmt.Sprintf("%q", state), func(t *testing.T) {
			check := func(r *response) {
				t.Helper()
				loc := r.Header.Get("Location")
				if strings.ContainsAny(loc, " \"'<>\r\n") || r.Header.Get("Set-Cookie") != "" {
					t.Errorf("Location %q is not fully percent-encoded", loc)
				}
			}
			r := b.authorize(implicitReq("impl1", "https://impl.example/cb", "state", state))
			f := assertImplicit(t, r, http.StatusFound, "https://impl.example/cb", state)
			check(r)
			if !strings.HasPrefix(f.Get("access_token"), "ey") {
				t.Errorf("access_token = %q", f.Get("access_token"))
			}
			r = b.authorize(implicitReq("impl1", "https://impl.example/cb", "state", state, "scope", "nope"))
			assertFragmentError(t, r, http.StatusFound, "https://impl.example/cb", "invalid_scope", state)
			check(r)
		})
	}
}

// downAccess is an access-token store that is unreachable.
type downAccess struct{ valet.AccessTokenStore }

func (downAccess) Create(context.Context, *valet.AccessToken) error {
	return errors.New("database down")
}

// TestImplicitStoreOutage: an opaque token that cannot be stored is an
// outage, temporarily_unavailable in the fragment (RFC 6749 §4.2.2.1), so
// the app may retry; not server_error.
func TestImplicitStoreOutage(t *testing.T) {
	e := newEnv(t, func(h *web.Handler) {
		m := *h.Tokens
		m.Access = downAccess{}
		h.Tokens = &m
	})
	b := e.signedInWithConsent("impl-opaque")
	r := b.authorize(implicitReq("impl-opaque", "https://opaque.example/cb", "scope", "profile"))
	f := fragmentOf(t, r, "https://opaque.example/cb")
	if f.Get("error") != oauth.TemporarilyUnavailable || f.Has("access_token") {
		t.Fatalf("fragment %v, want error=temporarily_unavailable and no token", f)
	}
}
