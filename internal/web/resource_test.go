package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/valetauth/valet"
)

// TestRFC8707_ResourceAtAuthorize: resource may repeat; each must be an
// absolute URI without a fragment that the client registered, else
// invalid_target as an error redirect; the code records them, and an
// implicit token takes them as its audience.
func TestRFC8707_ResourceAtAuthorize(t *testing.T) {
	e := newEnv(t)
	// Registration would refuse these; stored as they are, they show that
	// the check at /authorize does not rely on it.
	e.addClient(&valet.Client{ID: "bad-res", SecretDigest: "x", RedirectURIs: []string{"https://bad.example/cb"},
		Scopes: fixtureScopes, Resources: []string{"/relative/api", "https://api.example/#frag", "api.example", "https://api.example/ x"}})
	b := e.signedInWithConsent("conf1", "conf2", "impl1", "bad-res")
	withResources := func(q url.Values, rs ...string) url.Values {
		q["resource"] = rs
		return q
	}

	t.Run("an allowed one is stored on the code", func(t *testing.T) {
		r := b.authorize(withResources(authz("conf1", "https://client.example/cb"), contactsAPI))
		c := e.assertCode(t, r, http.StatusFound, "https://client.example/cb", "st-1")
		if !slices.Equal(c.Resources, []string{contactsAPI}) {
			t.Errorf("code resources = %q, want [%s]", c.Resources, contactsAPI)
		}
	})
	t.Run("none: none on the code", func(t *testing.T) {
		for _, q := range []url.Values{authz("conf1", "https://client.example/cb"), withResources(authz("conf1", "https://client.example/cb"), "")} {
			c := e.assertCode(t, b.authorize(q), http.StatusFound, "https://client.example/cb", "st-1")
			if len(c.Resources) != 0 {
				t.Errorf("code resources = %q, want none", c.Resources)
			}
		}
	})
	t.Run("repeated: every one is kept, distinct and sorted", func(t *testing.T) {
		r := b.authorize(withResources(authz("conf1", "https://client.example/cb"), contactsAPI, calendarAPI, contactsAPI))
		c := e.assertCode(t, r, http.StatusFound, "https://client.example/cb", "st-1")
		if !slices.Equal(c.Resources, []string{calendarAPI, contactsAPI}) {
			t.Errorf("code resources = %q", c.Resources)
		}
	})
	t.Run("unknown: invalid_target", func(t *testing.T) {
		for _, rs := range [][]string{
			{"https://evil.example"},
			{contactsAPI, "https://evil.example"},
			{contactsAPI + "/"},                                  // byte-exact, like the audience check
			{strings.ToUpper(contactsAPI[:5]) + contactsAPI[5:]}, // HTTPS://...
		} {
			r := b.authorize(withResources(authz("conf1", "https://client.example/cb"), rs...))
			assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "invalid_target", "st-1")
		}
		// conf2 registered no resources: it may only have the default.
		r := b.authorize(withResources(authz("conf2", "https://client2.example/cb"), contactsAPI))
		assertRedirectError(t, r, http.StatusFound, "https://client2.example/cb", "invalid_target", "st-1")
	})
	t.Run("malformed: invalid_target, even when registered", func(t *testing.T) {
		for _, res := range []string{"/relative/api", "https://api.example/#frag", "api.example", "https://api.example/ x"} {
			r := b.authorize(withResources(authz("bad-res", "https://bad.example/cb"), res))
			assertRedirectError(t, r, http.StatusFound, "https://bad.example/cb", "invalid_target", "st-1")
		}
	})
	t.Run("only resource may repeat", func(t *testing.T) {
		base := withResources(authz("conf1", "https://client.example/cb"), contactsAPI, calendarAPI).Encode()
		for _, extra := range []string{"scope=openid", "response_type=code", "nonce=x", "code_challenge=" + challenge} {
			r := b.get("/authorize?" + base + "&" + extra)
			assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "invalid_request", "st-1")
		}
		e.assertCode(t, b.get("/authorize?"+base), http.StatusFound, "https://client.example/cb", "st-1")
	})
	t.Run("implicit: errors in the fragment", func(t *testing.T) {
		r := b.authorize(withResources(implicitReq("impl1", "https://impl.example/cb"), "https://evil.example"))
		assertFragmentError(t, r, http.StatusFound, "https://impl.example/cb", "invalid_target", "st-1")
	})
	t.Run("implicit: the token's audience is the resources, else the default", func(t *testing.T) {
		for _, tc := range []struct{ ask, aud []string }{
			{[]string{contactsAPI}, []string{contactsAPI}},
			{[]string{contactsAPI, calendarAPI}, []string{calendarAPI, contactsAPI}},
			{nil, defaultAudience},
		} {
			r := b.authorize(withResources(implicitReq("impl1", "https://impl.example/cb"), tc.ask...))
			c := e.claims(t, assertImplicit(t, r, http.StatusFound, "https://impl.example/cb", "st-1").Get("access_token"))
			if !slices.Equal(c.Audience, tc.aud) {
				t.Errorf("resource %q: aud = %q, want %q", tc.ask, c.Audience, tc.aud)
			}
		}
	})
}

// TestResourcesSurviveSignInAndConsent: the resources travel in the
// canonical request through the sign-in page and the MACed consent form.
func TestResourcesSurviveSignInAndConsent(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	q := authz("conf1", "https://client.example/cb")
	q["resource"] = []string{contactsAPI, calendarAPI}
	r := b.authorize(q)
	if r.StatusCode != http.StatusFound || r.location(t).Path != "/login" {
		t.Fatalf("no session: %d %s, want 302 to /login", r.StatusCode, r.Header.Get("Location"))
	}
	returnTo := r.location(t).Query().Get("return_to")
	rq, err := url.ParseQuery(strings.TrimPrefix(returnTo, "/authorize?"))
	if err != nil || !slices.Equal(rq["resource"], []string{calendarAPI, contactsAPI}) {
		t.Errorf("return_to %q: resources %q", returnTo, rq["resource"])
	}
	page := b.get(r.location(t).String())
	form := url.Values{"username": {"ana"}, "password": {password}, "csrf": {hidden(t, page.body, "csrf")}, "return_to": {hidden(t, page.body, "return_to")}}
	r = b.post("/login", form.Encode())
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d\n%s", r.StatusCode, r.body)
	}
	page = b.get(r.location(t).String())
	assertPage(t, page, http.StatusOK)
	f := consentForm{hidden(t, page.body, "request"), hidden(t, page.body, "expires"), hidden(t, page.body, "csrf")}
	c := e.assertCode(t, b.post("/consent", f.encode("allow")), http.StatusSeeOther, "https://client.example/cb", "st-1")
	if !slices.Equal(c.Resources, []string{calendarAPI, contactsAPI}) {
		t.Errorf("code resources = %q", c.Resources)
	}

	// The consent form's MAC covers the resources: one swapped in is refused.
	q.Set("prompt", "consent")
	f = b.consentPage(q)
	v, _ := url.ParseQuery(f.request)
	v["resource"] = []string{contactsAPI}
	f.request = v.Encode()
	assertPage(t, b.post("/consent", f.encode("allow")), http.StatusForbidden)
}
