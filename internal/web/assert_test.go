package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
)

// assertErrorPage checks the catalogue's ERROR PAGE: 400 HTML with the
// security headers, and no way to navigate anywhere.
func assertErrorPage(t *testing.T, r *response) {
	t.Helper()
	assertPage(t, r, http.StatusBadRequest)
	for _, bad := range []string{"http-equiv", "<script", "code=", "window.location", "document.location"} {
		if strings.Contains(strings.ToLower(r.body), bad) {
			t.Errorf("error page contains %q:\n%s", bad, r.body)
		}
	}
}

// assertPage checks status, no Location and the headers of catalogue §3.1.
func assertPage(t *testing.T, r *response, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d; Location %q\n%s", r.StatusCode, status, r.Header.Get("Location"), r.body)
	}
	if loc := r.Header.Get("Location"); loc != "" {
		t.Errorf("page sends Location %q", loc)
	}
	assertHTMLHeaders(t, r.Header, false)
}

var cspRE = regexp.MustCompile(`^default-src 'none'; script-src 'self' 'nonce-[A-Za-z0-9_-]{16,}'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'$`)

func assertHTMLHeaders(t *testing.T, h http.Header, hsts bool) {
	t.Helper()
	want := map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "no-store",
	}
	if hsts {
		want["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if csp := h.Get("Content-Security-Policy"); !cspRE.MatchString(csp) {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("CORS header %s on a page", k)
		}
	}
}

// assertRedirectError checks the catalogue's REDIRECT ERROR e: status, the
// validated base URI, error, state, iss, and error_description's charset.
func assertRedirectError(t *testing.T, r *response, status int, base, code, state string) url.Values {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d; body:\n%s", r.StatusCode, status, r.body)
	}
	loc := r.location(t)
	q := loc.Query()
	if got, want := loc.Scheme+"://"+loc.Host+loc.Path, strings.SplitN(base, "?", 2)[0]; got != want {
		t.Errorf("redirected to %s, want %s", r.Header.Get("Location"), base)
	}
	if loc.Fragment != "" || strings.Contains(r.Header.Get("Location"), "#") {
		t.Errorf("error in the fragment of a query-mode response: %s", r.Header.Get("Location"))
	}
	checkErrorParams(t, q, code, state)
	if q.Has("code") {
		t.Errorf("an error redirect carries a code: %s", r.Header.Get("Location"))
	}
	return q
}

// assertFragmentError checks a REDIRECT ERROR for a token-returning
// response type: the parameters in the fragment, none in a query.
func assertFragmentError(t *testing.T, r *response, status int, base, code, state string) url.Values {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d; Location %q\n%s", r.StatusCode, status, r.Header.Get("Location"), r.body)
	}
	f := fragmentOf(t, r, base)
	checkErrorParams(t, f, code, state)
	if f.Has("access_token") || f.Has("code") {
		t.Errorf("an error redirect carries a token or code: %s", r.Header.Get("Location"))
	}
	return f
}

// fragmentOf checks that r redirects to base with parameters in the
// fragment only (no query, so no token can sit in one) and returns them.
func fragmentOf(t *testing.T, r *response, base string) url.Values {
	t.Helper()
	raw := r.Header.Get("Location")
	if !strings.HasPrefix(raw, base+"#") {
		t.Fatalf("Location %q, want %s#...", raw, base)
	}
	if strings.Contains(raw, "?") || strings.Count(raw, "#") != 1 {
		t.Fatalf("Location %q has a query or a second '#'", raw)
	}
	// The fragment is read as sent: decoding it first, as url.URL.Fragment
	// does, would turn an encoded "&" inside a value into a separator.
	_, frag, _ := strings.Cut(raw, "#")
	f, err := url.ParseQuery(frag)
	if err != nil {
		t.Fatalf("fragment of %q: %v", raw, err)
	}
	return f
}

func checkErrorParams(t *testing.T, q url.Values, code, state string) {
	t.Helper()
	if got := q.Get("error"); got != code {
		t.Errorf("error = %q (%q), want %q", got, q.Get("error_description"), code)
	}
	if state == "" {
		if q.Has("state") {
			t.Errorf("state %q returned, want none", q.Get("state"))
		}
	} else if got := q["state"]; len(got) != 1 || got[0] != state {
		t.Errorf("state = %q, want exactly %q", got, state)
	}
	if got := q["iss"]; len(got) != 1 || got[0] != issuer {
		t.Errorf("iss = %q, want %q (RFC 9207)", got, issuer)
	}
	if d := q.Get("error_description"); d != oauth.SafeDescription(d) {
		t.Errorf("error_description %q has characters outside RFC 6749 §4.1.2.1", d)
	}
}

// assertCode checks a successful code response to base and returns the
// stored code.
func (e *env) assertCode(t *testing.T, r *response, status int, base, state string) *valet.AuthCode {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d; Location %q\n%s", r.StatusCode, status, r.Header.Get("Location"), r.body)
	}
	raw := r.Header.Get("Location")
	if !strings.HasPrefix(raw, base+"?") && !strings.HasPrefix(raw, base+"&") {
		t.Fatalf("Location %q does not start with %q", raw, base)
	}
	loc := r.location(t)
	q, err := url.ParseQuery(loc.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	if q.Has("error") {
		t.Fatalf("error redirect %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if len(q["code"]) != 1 || !strings.HasPrefix(q.Get("code"), "ac_") {
		t.Fatalf("code = %q, want exactly one ac_ code", q["code"])
	}
	q.Del("error")
	checkErrorParams(t, q, "", state)
	c, err := e.st.Codes.Get(context.Background(), e.dig.Digest(secret.PurposeCode, q.Get("code")), time.Now())
	if err != nil {
		t.Fatalf("the code in Location is not stored: %v", err)
	}
	return c
}
