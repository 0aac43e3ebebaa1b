package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// assertRefused checks a refused consent post: 403 page, nothing stored,
// no code.
func (e *env) assertRefused(t *testing.T, r *response, status int) {
	t.Helper()
	assertPage(t, r, status)
	if strings.Contains(r.body, "code=") {
		t.Error("a refused form mentions a code")
	}
	if c := e.consentOf(e.user, "conf1"); c != nil {
		t.Errorf("a refused form stored consent %v", c.Scopes)
	}
}

func TestCS01_ConsentCSRF(t *testing.T) {
	e := newEnv(t)
	q := authz("conf1", "https://client.example/cb")
	a := e.signedIn(e.user)
	f := a.consentPage(q)
	t.Run("a no token", func(t *testing.T) {
		e.assertRefused(t, a.post("/consent", consentForm{f.request, f.expires, ""}.encode("allow")), http.StatusForbidden)
		e.assertRefused(t, a.post("/consent", url.Values{"request": {f.request}, "decision": {"allow"}, "approve": {"true"}}.Encode()), http.StatusForbidden)
	})
	t.Run("b token of another session", func(t *testing.T) {
		other := e.signedIn(e.user).consentPage(q) // same user, another browser
		e.assertRefused(t, a.post("/consent", consentForm{f.request, other.expires, other.csrf}.encode("allow")), http.StatusForbidden)
	})
	t.Run("c token of another request", func(t *testing.T) {
		g := a.consentPage(authz("conf1", "https://client.example/cb", "state", "st-2"))
		e.assertRefused(t, a.post("/consent", consentForm{f.request, g.expires, g.csrf}.encode("allow")), http.StatusForbidden)
		// The expiry is covered too: a later one is refused.
		exp, _ := strconv.ParseInt(f.expires, 10, 64)
		e.assertRefused(t, a.post("/consent", consentForm{f.request, strconv.FormatInt(exp+60, 10), f.csrf}.encode("allow")), http.StatusForbidden)
	})
	t.Run("d cross-origin", func(t *testing.T) {
		e.assertRefused(t, a.post("/consent", f.encode("allow"), "Origin", "https://evil.example"), http.StatusForbidden)
		e.assertRefused(t, a.post("/consent", f.encode("allow"), "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
		e.assertRefused(t, a.post("/consent", f.encode("allow"), "Origin", "null"), http.StatusForbidden)
	})
	t.Run("expired form", func(t *testing.T) {
		e.advance(11 * time.Minute)
		defer e.advance(-11 * time.Minute)
		e.assertRefused(t, a.post("/consent", f.encode("allow")), http.StatusForbidden)
	})
	t.Run("the same-origin form still works afterwards", func(t *testing.T) {
		r := a.post("/consent", f.encode("allow"), "Origin", issuer, "Sec-Fetch-Site", "same-origin")
		e.assertCode(t, r, http.StatusSeeOther, "https://client.example/cb", "st-1")
	})
	t.Run("legitimate deny", func(t *testing.T) {
		u := e.addUser("dee", "dee-password-1")
		b := e.signedIn(u)
		r := b.post("/consent", b.consentPage(q).encode("deny"))
		q := assertRedirectError(t, r, http.StatusSeeOther, "https://client.example/cb", "access_denied", "st-1")
		if q.Has("code") {
			t.Error("deny issued a code")
		}
		if c := e.consentOf(u, "conf1"); c != nil {
			t.Errorf("deny stored consent %v", c.Scopes)
		}
	})
}

func TestCS02_GetNeverGrants(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn(e.user)
	t.Run("a GET /consent", func(t *testing.T) {
		f := b.consentPage(authz("conf1", "https://client.example/cb"))
		r := b.get("/consent?" + f.encode("allow") + "&approve=true")
		if r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Location") != "" {
			t.Errorf("GET /consent: %d %q, want 405 and no redirect", r.StatusCode, r.Header.Get("Location"))
		}
		if c := e.consentOf(e.user, "conf1"); c != nil {
			t.Errorf("GET stored consent %v", c.Scopes)
		}
	})
	t.Run("b POSTs answer 303", func(t *testing.T) {
		nb := e.browser()
		q := authz("conf1", "https://client.example/cb")
		r := nb.login(q, "ana", password)
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /login: %d, want 303", r.StatusCode)
		}
		f := nb.consentPage(q)
		r = nb.post("/consent", f.encode("allow"))
		e.assertCode(t, r, http.StatusSeeOther, "https://client.example/cb", "st-1")
	})
}

func TestCS03_TransactionBoundToTheBrowser(t *testing.T) {
	e := newEnv(t)
	q := authz("conf1", "https://client.example/cb")
	t.Run("consent form of session A with session B's cookie", func(t *testing.T) {
		f := e.signedIn(e.user).consentPage(q)
		mallory := e.addUser("mallory", "mallory-password")
		e.assertRefused(t, e.signedIn(mallory).post("/consent", f.encode("allow")), http.StatusForbidden)
		// The same user in another browser is another session: refused too.
		e.assertRefused(t, e.signedIn(e.user).post("/consent", f.encode("allow")), http.StatusForbidden)
		// No session at all.
		e.assertRefused(t, e.browser().post("/consent", f.encode("allow")), http.StatusForbidden)
	})
	t.Run("login return_to elsewhere", func(t *testing.T) {
		b := e.browser()
		good := e.browser().get("/login?return_to=" + url.QueryEscape("/authorize?"+q.Encode()))
		csrf := hidden(t, good.body, "csrf")
		for _, rt := range []string{
			"https://evil.example/", "//evil.example/authorize?x", `/\evil.example/authorize?x`, "/authorize", "/authorize/../login?x",
			"/authorize@evil.example?x", "/login?return_to=x", "javascript:alert(1)", "/authorize?x\r\nLocation: https://evil.example",
			" /authorize?x", "/AUTHORIZE?x", "",
		} {
			r := b.get("/login?return_to=" + url.QueryEscape(rt))
			assertErrorPage(t, r)
			if strings.Contains(r.body, "evil.example") {
				t.Errorf("the error page shows return_to %q", rt)
			}
			form := url.Values{"username": {"ana"}, "password": {password}, "csrf": {csrf}, "return_to": {rt}}
			r = b.post("/login", form.Encode())
			assertErrorPage(t, r)
		}
	})
}

func TestCS05_ConsentReplayAndSwap(t *testing.T) {
	e := newEnv(t)
	b := e.signedIn(e.user)
	t.Run("a a used form is refused", func(t *testing.T) {
		f := b.consentPage(authz("conf1", "https://client.example/cb"))
		e.assertCode(t, b.post("/consent", f.encode("allow")), http.StatusSeeOther, "https://client.example/cb", "st-1")
		r := b.post("/consent", f.encode("allow"))
		assertErrorPage(t, r)
		// Flipping the decision does not make it a new form.
		assertErrorPage(t, b.post("/consent", f.encode("deny")))
	})
	t.Run("b client_id swapped inside the request", func(t *testing.T) {
		u := e.addUser("sam", "sam-password-1")
		sb := e.signedIn(u)
		f := sb.consentPage(authz("conf1", "https://client.example/cb"))
		swapped := strings.Replace(f.request, "client_id=conf1", "client_id=conf2", 1)
		swapped = strings.Replace(swapped, url.QueryEscape("https://client.example/cb"), url.QueryEscape("https://client2.example/cb"), 1)
		if swapped == f.request {
			t.Fatal("the swap changed nothing")
		}
		r := sb.post("/consent", consentForm{swapped, f.expires, f.csrf}.encode("allow"))
		assertPage(t, r, http.StatusForbidden)
		if e.consentOf(u, "conf2") != nil || e.consentOf(u, "conf1") != nil {
			t.Error("a swapped form stored consent")
		}
		// Scope widened inside the request: refused as well.
		wider := strings.Replace(f.request, "scope=openid+profile", "scope=contacts.read+openid+profile", 1)
		assertPage(t, sb.post("/consent", consentForm{wider, f.expires, f.csrf}.encode("allow")), http.StatusForbidden)
	})
	t.Run("c remembered consent does not cover new scopes", func(t *testing.T) {
		u := e.addUser("cat", "cat-password-1")
		e.consentTo(u, "conf1", "openid", "profile")
		cb := e.signedIn(u)
		cb.consentPage(authz("conf1", "https://client.example/cb", "scope", "openid profile email"))
		r := cb.authorize(authz("conf1", "https://client.example/cb", "scope", "openid profile email", "prompt", "none"))
		assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "consent_required", "st-1")
	})
}

func TestConsentPageNamesClientAndScopes(t *testing.T) {
	e := newEnv(t, func(h *webHandler) { h.ScopeDescriptions = map[string]string{"profile": "See your public profile"} })
	r := e.signedIn(e.user).authorize(authz("conf1", "https://client.example/cb", "scope", "openid profile offline_access contacts.read email"))
	assertPage(t, r, http.StatusOK)
	for _, want := range []string{"Conf One", "Confirm who you are", "See your public profile", "Keep access when you are not using the app", "Read your contacts", "See your email address"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	e.addClient(&webClient{ID: "odd", RedirectURIs: []string{"https://odd.example/cb"}, Scopes: []string{"weird.scope"}, SecretDigest: "x"})
	r = e.signedIn(e.user).authorize(authz("odd", "https://odd.example/cb", "scope", "weird.scope"))
	if !strings.Contains(r.body, "weird.scope") {
		t.Errorf("an unknown scope is not named:\n%s", r.body)
	}
}
