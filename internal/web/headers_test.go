package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/valetauth/valet"
)

func TestHD02_HeadersOnEveryPage(t *testing.T) {
	e := newEnv(t, useThrottle(1, 100))
	q := authz("conf1", "https://client.example/cb")
	rt := url.QueryEscape("/authorize?" + q.Encode())
	b := e.browser()
	pages := map[string]*response{
		"login":                 b.get("/login?return_to=" + rt),
		"error: unknown client": b.authorize(authz("nope", "https://client.example/cb")),
		"error: bad return_to":  b.get("/login?return_to=https://evil.example"),
		"consent":               e.signedIn(e.user).authorize(q),
		"account":               e.signedIn(e.user).get("/account"),
		"403 consent csrf":      e.signedIn(e.user).post("/consent", "decision=allow&request=x&csrf=y&expires=1"),
		"403 login csrf":        b.post("/login", "username=a&password=b&csrf=c&return_to="+rt),
		"400 wrong password":    b.login(q, "ana", "wrong"),
		"429 throttled":         b.login(q, "ana", "wrong"),
		"403 cross-origin":      b.post("/login", "x=1", "Origin", "https://evil.example"),
	}
	want := map[string]int{"login": 200, "consent": 200, "account": 200, "403 consent csrf": 403, "403 login csrf": 403, "400 wrong password": 400,
		"429 throttled": 429, "403 cross-origin": 403}
	for name, r := range pages {
		t.Run(name, func(t *testing.T) {
			status, ok := want[name]
			if !ok {
				status = http.StatusBadRequest
			}
			assertPage(t, r, status)
			if strings.Contains(r.body, "<script") || strings.Contains(r.body, "https://fonts.") || strings.Contains(r.body, "src=\"http") {
				t.Error("page loads a script or a third-party resource")
			}
		})
	}
	t.Run("nonce differs per response", func(t *testing.T) {
		a, c := b.get("/login?return_to="+rt), b.get("/login?return_to="+rt)
		if a.Header.Get("Content-Security-Policy") == c.Header.Get("Content-Security-Policy") {
			t.Error("two responses share a CSP nonce")
		}
	})
	t.Run("no CORS at /authorize", func(t *testing.T) {
		sb := e.signedInWithConsent("conf1")
		for _, r := range []*response{
			sb.get("/authorize?"+q.Encode(), "Origin", "https://evil.example"),
			sb.do(preflight(e.srv.URL + "/authorize")),
			sb.post("/authorize", q.Encode(), "Origin", "https://evil.example"),
		} {
			for k := range r.Header {
				if strings.HasPrefix(k, "Access-Control-") {
					t.Errorf("%s %s: %s", r.Request.Method, r.Request.URL.Path, k)
				}
			}
		}
	})
	t.Run("redirects carry no-store", func(t *testing.T) {
		r := e.signedInWithConsent("conf1").authorize(q)
		if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("code redirect: Cache-Control %q, Referrer-Policy %q", r.Header.Get("Cache-Control"), r.Header.Get("Referrer-Policy"))
		}
	})
}

func preflight(u string) *http.Request {
	req, _ := http.NewRequest(http.MethodOptions, u, nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	return req
}

const xss = `"><script>alert(1)</script><img src=x onerror=alert(1)>`

func TestHD03_NoInjection(t *testing.T) {
	e := newEnv(t)
	e.addClient(&valet.Client{ID: "xss", Name: xss, SecretDigest: "x", RedirectURIs: []string{"https://xss.example/cb"},
		Scopes: []string{"openid", "profile", `<b>bold</b>`}, ClientURI: "javascript:alert(1)", PolicyURI: "data:text/html,<script>alert(1)</script>",
		TosURI: `https://tos.example/"onmouseover="alert(1)`})
	noRawMarkup := func(t *testing.T, r *response) {
		t.Helper()
		// Text such as onerror= may appear inside an escaped value; what
		// must never appear is a raw tag, a raw quote before a handler, or
		// a script URL.
		for _, bad := range []string{"<script", "<img", `"onmouseover`, " onerror=alert(1)>", "javascript:", "data:text/html", "<b>"} {
			if strings.Contains(r.body, bad) {
				t.Errorf("page contains %q unescaped:\n%s", bad, r.body)
			}
		}
	}
	b := e.signedIn(e.user)
	t.Run("client metadata on the consent page", func(t *testing.T) {
		// "<b>bold</b>" is a valid RFC 6749 scope token (NQCHAR allows < and >).
		r := b.authorize(authz("xss", "https://xss.example/cb", "scope", "openid <b>bold</b>", "state", xss))
		assertPage(t, r, http.StatusOK)
		noRawMarkup(t, r)
		if !strings.Contains(r.body, "&lt;b&gt;bold&lt;/b&gt;") {
			t.Errorf("the unknown scope is not shown escaped:\n%s", r.body)
		}
		if !strings.Contains(r.body, "&#34;&gt;&lt;script&gt;") {
			t.Errorf("the client name is not shown escaped:\n%s", r.body)
		}
		if strings.Contains(r.body, "href=\"https://tos.example") && !strings.Contains(r.body, "%22onmouseover=%22") {
			t.Error("the tos link is not URL-escaped")
		}
		// The state travels inside the MACed request field, escaped.
		if got := hidden(t, r.body, "request"); !strings.Contains(got, url.QueryEscape(xss)) {
			t.Errorf("request field %q lacks the encoded state", got)
		}
	})
	t.Run("error page never reflects the request", func(t *testing.T) {
		for _, q := range []url.Values{
			authz(xss, "https://xss.example/cb"),
			authz("xss", "https://xss.example/cb"+url.QueryEscape(xss)),
			authz("xss", "javascript:alert(1)"),
		} {
			r := b.authorize(q)
			assertErrorPage(t, r)
			noRawMarkup(t, r)
		}
		r := b.get("/login?return_to=" + url.QueryEscape("/authorize?"+xss))
		if r.StatusCode == http.StatusOK {
			noRawMarkup(t, r)
		}
		r = b.get("/login?return_to=" + url.QueryEscape("javascript:alert(1)"))
		assertErrorPage(t, r)
		noRawMarkup(t, r)
	})
	t.Run("error redirect values are encoded", func(t *testing.T) {
		r := b.authorize(authz("xss", "https://xss.example/cb", "state", xss+"\r\nSet-Cookie: a=b", "scope", "nope"))
		q := assertRedirectError(t, r, http.StatusFound, "https://xss.example/cb", "invalid_scope", xss+"\r\nSet-Cookie: a=b")
		loc := r.Header.Get("Location")
		if strings.ContainsAny(loc, "<>\"\r\n ") || r.Header.Get("Set-Cookie") != "" {
			t.Errorf("Location %q is not fully percent-encoded", loc)
		}
		if d := q.Get("error_description"); strings.ContainsAny(d, `<>"\`) {
			t.Errorf("error_description %q", d)
		}
	})
	t.Run("username echoed on the sign-in page", func(t *testing.T) {
		r := e.browser().login(authz("conf1", "https://client.example/cb"), xss, "pw")
		assertPage(t, r, http.StatusBadRequest)
		noRawMarkup(t, r)
	})
}

// TestLogsHoldNoSecrets runs a whole flow and checks that no state, nonce,
// code, password, cookie or CSRF value reached the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	state, nonce := "state-canary-5c1d", "nonce-canary-9e2f"
	q := authz("conf1", "https://client.example/cb", "state", state, "nonce", nonce)
	b.login(q, "ana", "wrong-password-canary")
	r := b.login(q, "ana", password)
	f := b.consentPage(q)
	r = b.post("/consent", f.encode("allow"))
	code := r.location(t).Query().Get("code")
	b.authorize(authz("conf1", "https://client.example/cb", "state", state, "scope", "nope"))
	logs := e.logs.String()
	if !strings.Contains(logs, "code issued") {
		t.Fatalf("the flow logged nothing useful:\n%s", logs)
	}
	for _, secret := range []string{state, nonce, code, password, "wrong-password-canary", b.cookie("valet_session"), f.csrf, challenge, "redirect_uri", "client.example"} {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
}
