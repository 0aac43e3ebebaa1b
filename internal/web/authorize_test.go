package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestPK01_PKCEIsMandatory(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("pub1", "conf1")
	for client, uri := range map[string]string{"pub1": "https://spa.example/cb", "conf1": "https://client.example/cb"} {
		t.Run(client, func(t *testing.T) {
			r := b.authorize(authz(client, uri, "scope", "openid", "nonce", "n", "code_challenge", del, "code_challenge_method", del))
			q := assertRedirectError(t, r, http.StatusFound, uri, "invalid_request", "st-1")
			if !strings.Contains(q.Get("error_description"), "code_challenge required") {
				t.Errorf("error_description = %q", q.Get("error_description"))
			}
		})
	}
}

func TestPK02_ChallengeMethodAndFormat(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("pub1")
	cases := map[string][]string{
		"a plain":                    {"code_challenge_method", "plain", "code_challenge", strings.Repeat("a", 43)},
		"b no method":                {"code_challenge_method", del},
		"c s256":                     {"code_challenge_method", "s256"},
		"c SHA256":                   {"code_challenge_method", "SHA256"},
		"c S512":                     {"code_challenge_method", "S512"},
		"d 42 chars":                 {"code_challenge", challenge[:42]},
		"d 44 chars":                 {"code_challenge", challenge + "A"},
		"d plus":                     {"code_challenge", "+" + challenge[1:]},
		"d slash":                    {"code_challenge", "/" + challenge[1:]},
		"d padding":                  {"code_challenge", challenge[:42] + "="},
		"d non-canonical last bit":   {"code_challenge", challenge[:42] + "N"},
		"e method without challenge": {"code_challenge", del},
	}
	for name, kv := range cases {
		t.Run(name, func(t *testing.T) {
			r := b.authorize(authz("pub1", "https://spa.example/cb", kv...))
			assertRedirectError(t, r, http.StatusFound, "https://spa.example/cb", "invalid_request", "st-1")
		})
	}
}

func TestAZ01_ResponseType(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("conf1", "impl1")
	t.Run("a missing", func(t *testing.T) {
		r := b.authorize(authz("conf1", "https://client.example/cb", "response_type", del))
		assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "invalid_request", "st-1")
	})
	t.Run("b unknown", func(t *testing.T) {
		for _, rt := range []string{"foo", "CODE", "code code", "code  ", "code,token"} {
			r := b.authorize(authz("conf1", "https://client.example/cb", "response_type", rt))
			assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "unsupported_response_type", "st-1")
		}
	})
	t.Run("c token-returning types answer in the fragment", func(t *testing.T) {
		// conf1 registered none of these (pin P16: unauthorized_client).
		// Either way the error goes in the fragment, whatever
		// response_mode=query says.
		for _, rt := range []string{"token", "id_token", "code id_token", "id_token code", "token id_token code", "code token", "token id_token"} {
			for _, mode := range []string{"", "query"} {
				r := b.authorize(authz("conf1", "https://client.example/cb", "response_type", rt, "response_mode", mode))
				assertFragmentError(t, r, http.StatusFound, "https://client.example/cb", "unauthorized_client", "st-1")
			}
		}
	})
	t.Run("d not registered for code", func(t *testing.T) {
		r := b.authorize(authz("impl1", "https://impl.example/cb"))
		assertRedirectError(t, r, http.StatusFound, "https://impl.example/cb", "unauthorized_client", "st-1")
	})
	t.Run("d client with no redirect URI at all gets the page", func(t *testing.T) {
		assertErrorPage(t, b.authorize(authz("cc1", "https://client.example/cb")))
	})
	t.Run("response_mode", func(t *testing.T) {
		for _, mode := range []string{"bogus", "Query", "form_post.jwt", "jwt"} {
			r := b.authorize(authz("conf1", "https://client.example/cb", "response_mode", mode))
			assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "invalid_request", "st-1")
		}
		e.assertCode(t, b.authorize(authz("conf1", "https://client.example/cb", "response_mode", "query")), http.StatusFound, "https://client.example/cb", "st-1")
		// A code may go in the fragment when the client asks (OAuth 2.0
		// Multiple Response Type Encoding Practices §2.1).
		f := fragmentOf(t, b.authorize(authz("conf1", "https://client.example/cb", "response_mode", "fragment")), "https://client.example/cb")
		if !strings.HasPrefix(f.Get("code"), "ac_") || f.Get("state") != "st-1" || f.Get("iss") != issuer {
			t.Errorf("fragment = %v", f)
		}
	})
}

func TestAZ02_ScopeCheckAndOrder(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("conf1")
	t.Run("a scope not allowed for the client", func(t *testing.T) {
		for _, s := range []string{"openid admin:all", "api.read", "openid profile mail.read"} {
			r := b.authorize(authz("conf1", "https://client.example/cb", "scope", s))
			assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "invalid_scope", "st-1")
		}
	})
	t.Run("b order does not matter", func(t *testing.T) {
		c1 := e.assertCode(t, b.authorize(authz("conf1", "https://client.example/cb", "scope", "profile openid")), http.StatusFound, "https://client.example/cb", "st-1")
		c2 := e.assertCode(t, b.authorize(authz("conf1", "https://client.example/cb", "scope", "openid profile")), http.StatusFound, "https://client.example/cb", "st-1")
		if !slices.Equal(c1.Scopes, c2.Scopes) || !slices.Equal(c1.Scopes, []string{"openid", "profile"}) {
			t.Errorf("scopes %v and %v, want both [openid profile]", c1.Scopes, c2.Scopes)
		}
	})
	t.Run("c no openid is plain OAuth", func(t *testing.T) {
		c := e.assertCode(t, b.authorize(authz("conf1", "https://client.example/cb", "scope", "profile", "nonce", del)), http.StatusFound, "https://client.example/cb", "st-1")
		if !slices.Equal(c.Scopes, []string{"profile"}) {
			t.Errorf("scopes %v", c.Scopes)
		}
	})
}

func TestAZ04_IssInEveryResponse(t *testing.T) {
	e := newEnv(t)
	t.Run("a success", func(t *testing.T) {
		b := e.signedInWithConsent("conf1")
		r := b.authorize(authz("conf1", "https://client.example/cb"))
		e.assertCode(t, r, http.StatusFound, "https://client.example/cb", "st-1")
		if !strings.Contains(r.Header.Get("Location"), "iss=https%3A%2F%2Fas.example") {
			t.Errorf("Location %q lacks iss=https%%3A%%2F%%2Fas.example", r.Header.Get("Location"))
		}
	})
	t.Run("b every error", func(t *testing.T) {
		b := e.signedIn(e.addUser("cy", "cy-password-1"))
		for code, kv := range map[string][]string{
			"invalid_scope":             {"scope", "openid admin:all"},
			"invalid_request":           {"code_challenge", del},
			"unsupported_response_type": {"response_type", "foo"},
			"consent_required":          {"prompt", "none", "scope", "email"},
		} {
			r := b.authorize(authz("conf1", "https://client.example/cb", kv...))
			assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", code, "st-1")
		}
	})
	t.Run("d prompt=none", func(t *testing.T) {
		r := e.browser().authorize(authz("conf1", "https://client.example/cb", "prompt", "none"))
		assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "login_required", "st-1")
		if strings.Contains(r.body, "<form") {
			t.Error("prompt=none rendered a page")
		}
		u := e.addUser("bo", "bo-password-1")
		r = e.signedIn(u).authorize(authz("conf1", "https://client.example/cb", "prompt", "none"))
		assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "consent_required", "st-1")
		// With consent, prompt=none answers at once.
		e.consentTo(u, "conf1", "openid", "profile")
		e.assertCode(t, e.signedIn(u).authorize(authz("conf1", "https://client.example/cb", "prompt", "none")), http.StatusFound, "https://client.example/cb", "st-1")
	})
}

func TestIP01_DuplicateParameters(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("conf1", "conf2")
	base := authz("conf1", "https://client.example/cb").Encode()
	t.Run("a client_id twice", func(t *testing.T) {
		assertNeverRedirects(t, b.get("/authorize?"+base+"&client_id=conf2"), "https://client.example/cb")
		assertNeverRedirects(t, b.get("/authorize?"+base+"&client_id=conf1"))
	})
	t.Run("a redirect_uri twice", func(t *testing.T) {
		assertNeverRedirects(t, b.get("/authorize?"+base+"&redirect_uri=https%3A%2F%2Fclient.example%2Fcb2"), "https://client.example/cb2")
		assertNeverRedirects(t, b.get("/authorize?"+base+"&redirect_uri="))
	})
	t.Run("a malformed or semicolon-separated", func(t *testing.T) {
		assertNeverRedirects(t, b.get("/authorize?"+base+"&client_id=%zz"))
		assertNeverRedirects(t, b.get("/authorize?"+base+";client_id=conf2"))
	})
	t.Run("b others twice", func(t *testing.T) {
		for _, extra := range []string{"scope=openid", "response_type=code", "code_challenge=" + challenge, "nonce=x"} {
			r := b.get("/authorize?" + base + "&" + extra)
			assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "invalid_request", "st-1")
		}
		// A repeated state is not echoed: there is no single value to echo.
		r := b.get("/authorize?" + base + "&state=st-2")
		assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "invalid_request", "")
	})
	t.Run("d client_id in the query and the body of a POST", func(t *testing.T) {
		r := b.post("/authorize?client_id=conf2", base)
		assertErrorPage(t, r)
		r = b.post("/authorize?redirect_uri=https%3A%2F%2Fclient.example%2Fcb", base)
		assertErrorPage(t, r)
		r = b.post("/authorize?state=other", base)
		assertRedirectError(t, r, http.StatusSeeOther, "https://client.example/cb", "invalid_request", "st-1")
	})
	t.Run("query over 8 KiB", func(t *testing.T) {
		assertErrorPage(t, b.get("/authorize?"+base+"&pad="+strings.Repeat("a", 8<<10)))
		// A body over the limit is 413, still a page, never a redirect.
		assertPage(t, b.post("/authorize", base+"&pad="+strings.Repeat("a", 8<<10)), http.StatusRequestEntityTooLarge)
	})
	t.Run("POST with another content type", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/authorize", strings.NewReader(`{"client_id":"conf1"}`))
		req.Header.Set("Content-Type", "application/json")
		assertErrorPage(t, b.do(req))
	})
}

func TestIP02_UnknownAndEmptyParameters(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("conf1")
	t.Run("a unknown parameters are ignored", func(t *testing.T) {
		r := b.authorize(authz("conf1", "https://client.example/cb", "foo", "bar", "extra_param", "1"))
		e.assertCode(t, r, http.StatusFound, "https://client.example/cb", "st-1")
	})
	t.Run("b empty scope is the client's default, empty state is absent", func(t *testing.T) {
		r := b.authorize(authz("conf1", "https://client.example/cb", "scope", "", "state", ""))
		c := e.assertCode(t, r, http.StatusFound, "https://client.example/cb", "")
		// The default is the registered scopes, without openid: a request
		// that does not say openid is not OpenID Connect.
		if !slices.Equal(c.Scopes, []string{"contacts.read", "email", "offline_access", "profile"}) {
			t.Errorf("default scopes = %v", c.Scopes)
		}
	})
	t.Run("c empty code_challenge is absent", func(t *testing.T) {
		r := b.authorize(authz("conf1", "https://client.example/cb", "code_challenge", ""))
		q := assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "invalid_request", "st-1")
		if !strings.Contains(q.Get("error_description"), "code_challenge required") {
			t.Errorf("error_description = %q", q.Get("error_description"))
		}
	})
	t.Run("empty redirect_uri is absent", func(t *testing.T) {
		r := b.authorize(authz("conf2", "", "redirect_uri", "", "scope", "profile"))
		e.consentTo(e.user, "conf2", "profile")
		r = b.authorize(authz("conf2", "", "redirect_uri", "", "scope", "profile"))
		e.assertCode(t, r, http.StatusFound, "https://client2.example/cb", "st-1")
	})
}

func TestRequestObjectsAreRefused(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("conf1")
	r := b.authorize(authz("conf1", "https://client.example/cb", "request", "eyJhbGciOiJub25lIn0.e30."))
	assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "request_not_supported", "st-1")
	r = b.authorize(authz("conf1", "https://client.example/cb", "request_uri", "https://evil.example/req"))
	assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "request_uri_not_supported", "st-1")
}

func TestIP04_ScopeGrammar(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("conf1")
	many := make([]string, 200)
	for i := range many {
		many[i] = fmt.Sprintf("s%d", i)
	}
	for _, s := range []string{
		"openid  profile", " openid", "openid ", "openid\tprofile", "openid\nprofile", "openid\r\nprofile",
		`open"id`, `open\id`, "openid,profile", strings.Join(many, " "), strings.Repeat("a", 300),
		"openid\x00", "openidé", "openid\x7f",
	} {
		t.Run(fmt.Sprintf("%.40q", s), func(t *testing.T) {
			r := b.authorize(authz("conf1", "https://client.example/cb", "scope", s))
			assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "invalid_scope", "st-1")
		})
	}
	t.Run("duplicates are merged", func(t *testing.T) {
		c := e.assertCode(t, b.authorize(authz("conf1", "https://client.example/cb", "scope", "openid openid profile")), http.StatusFound, "https://client.example/cb", "st-1")
		if !slices.Equal(c.Scopes, []string{"openid", "profile"}) {
			t.Errorf("scopes = %v", c.Scopes)
		}
	})
}

func TestIP05_StateAndNonceRoundTrip(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("conf1")
	long := strings.Repeat("S~!*'()-._ 9", 85) + "é" // 1020 + 2 bytes
	long += "zz"
	if len(long) != 1024 {
		t.Fatalf("len %d", len(long))
	}
	t.Run("1024 bytes round-trip exactly", func(t *testing.T) {
		r := b.authorize(authz("conf1", "https://client.example/cb", "state", long, "nonce", long))
		c := e.assertCode(t, r, http.StatusFound, "https://client.example/cb", long)
		if c.Nonce != long {
			t.Errorf("nonce stored as %d bytes, want the 1024 sent", len(c.Nonce))
		}
	})
	t.Run("1025 bytes are refused, never truncated", func(t *testing.T) {
		r := b.authorize(authz("conf1", "https://client.example/cb", "state", long+"x"))
		assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "invalid_request", "")
		r = b.authorize(authz("conf1", "https://client.example/cb", "nonce", long+"x"))
		assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "invalid_request", "st-1")
	})
	for _, state := range []string{"x&code=evil", "x#frag&code=evil", "a=b&iss=https://evil.example", "x?y", "%26code%3Devil", "x+y z", "line\r\nSet-Cookie: evil=1"} {
		t.Run(fmt.Sprintf("%q", state), func(t *testing.T) {
			r := b.authorize(authz("conf1", "https://client.example/cb", "state", state))
			e.assertCode(t, r, http.StatusFound, "https://client.example/cb", state)
			loc := r.Header.Get("Location")
			if strings.Contains(loc, "#") || strings.ContainsAny(loc, "\r\n ") {
				t.Errorf("Location %q carries a raw '#', space or line break", loc)
			}
			if r.Header.Get("Set-Cookie") != "" {
				t.Error("state injected a header")
			}
			q, _ := url.ParseQuery(r.location(t).RawQuery)
			if len(q["code"]) != 1 || len(q["iss"]) != 1 || q.Get("iss") != issuer {
				t.Errorf("Location %q parses to code=%q iss=%q", loc, q["code"], q["iss"])
			}
		})
	}
}
