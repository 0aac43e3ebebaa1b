package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// formPost is a parsed form_post page.
type formPost struct {
	action string
	fields url.Values
	nonce  string // the nonce attribute of the page's script
	script string // its src
}

var (
	formRE   = regexp.MustCompile(`<form id="form-post" method="post" action="([^"<>]*)">`)
	inputRE  = regexp.MustCompile(`<input type="hidden" name="([^"<>]*)" value="([^"<>]*)">`)
	scriptRE = regexp.MustCompile(`<script src="([^"<>]*)" nonce="([^"<>]*)"></script>`)
	cspNonce = regexp.MustCompile(`script-src 'self' 'nonce-([A-Za-z0-9_-]+)'`)
)

// assertFormPost checks a form_post response (OAuth 2.0 Form Post Response
// Mode §2, catalogue AZ-03d, HD-02, §3.1): a 200 page with the pages'
// headers, no Location, one form posting to exactly base, every value
// attribute-escaped, a Continue button, and an auto-submit script that the
// page's CSP allows. It returns the page's fields, unescaped.
func (e *env) assertFormPost(t *testing.T, r *response, base string) formPost {
	t.Helper()
	assertPage(t, r, http.StatusOK)
	csp := r.Header.Get("Content-Security-Policy")
	// Catalogue §3.1: form-action would apply to the POST to the client.
	if strings.Contains(csp, "form-action") {
		t.Errorf("CSP %q restricts form-action", csp)
	}
	var p formPost
	forms := formRE.FindAllStringSubmatch(r.body, -1)
	if len(forms) != 1 || strings.Count(r.body, "<form") != 1 {
		t.Fatalf("want exactly one form-post form:\n%s", r.body)
	}
	p.action = html.UnescapeString(forms[0][1])
	if p.action != base {
		t.Errorf("form action %q, want exactly %q", p.action, base)
	}
	p.fields = url.Values{}
	inputs := inputRE.FindAllStringSubmatch(r.body, -1)
	if len(inputs) != strings.Count(r.body, "<input") {
		t.Errorf("an input does not have the escaped shape:\n%s", r.body)
	}
	for _, m := range inputs {
		p.fields.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	if !strings.Contains(r.body, `<button type="submit">Continue</button>`) {
		t.Error("no Continue button for browsers without JavaScript")
	}
	scripts := scriptRE.FindAllStringSubmatch(r.body, -1)
	if len(scripts) != 1 || strings.Count(r.body, "<script") != 1 {
		t.Fatalf("want exactly one script, the auto-submit:\n%s", r.body)
	}
	p.script, p.nonce = scripts[0][1], scripts[0][2]
	// The script runs under the CSP: its nonce is the response's, and it is
	// served from this origin ('self').
	m := cspNonce.FindStringSubmatch(csp)
	if m == nil || m[1] != p.nonce {
		t.Errorf("script nonce %q is not the CSP's (%q)", p.nonce, csp)
	}
	if !strings.HasPrefix(p.script, "/static/") {
		t.Errorf("script src %q is not on this origin", p.script)
	}
	return p
}

// TestFormPostScript: the script the page loads exists, is JavaScript, and
// submits the page's form.
func TestFormPostScript(t *testing.T) {
	e := newEnv(t)
	r := e.browser().get("/static/form_post.js")
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Header.Get("Content-Type"), "javascript") ||
		r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("%d %q", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if !strings.Contains(r.body, `getElementById("form-post")`) || !strings.Contains(r.body, "HTMLFormElement.prototype.submit.call(form)") {
		t.Errorf("the script does not submit #form-post:\n%s", r.body)
	}
}

// TestAZ03d_FormPost: response_mode=form_post for every response type.
func TestAZ03d_FormPost(t *testing.T) {
	e := newEnv(t)
	b := e.signedInOIDC()
	e.consentTo(e.user, "conf1", fixtureScopes...)
	t.Run("code", func(t *testing.T) {
		r := b.authorize(authz("conf1", "https://client.example/cb", "response_mode", "form_post"))
		p := e.assertFormPost(t, r, "https://client.example/cb")
		if len(p.fields) != 3 || p.fields.Get("state") != "st-1" || p.fields.Get("iss") != issuer {
			t.Errorf("fields %v", p.fields)
		}
		e.storedCode(t, p.fields.Get("code"))
	})
	for _, rt := range []string{"token", "id_token", "id_token token", "code id_token", "code token", "code id_token token"} {
		t.Run(rt, func(t *testing.T) {
			p := e.assertFormPost(t, b.authorize(oidcReq(rt, "response_mode", "form_post")), "https://hyb.example/cb")
			for _, v := range strings.Fields(rt) {
				k := map[string]string{"code": "code", "id_token": "id_token", "token": "access_token"}[v]
				if p.fields.Get(k) == "" {
					t.Errorf("no %s among %v", k, p.fields)
				}
			}
			if raw := p.fields.Get("id_token"); raw != "" {
				tok, _ := verifyID(t, "hyb1", raw)
				if tok.Nonce != "n-0S6_WzA2Mj" {
					t.Errorf("nonce %q", tok.Nonce)
				}
			}
			if p.fields.Get("iss") != issuer || p.fields.Get("state") != "st-1" || p.fields.Has("refresh_token") {
				t.Errorf("fields %v", p.fields)
			}
		})
	}
	t.Run("the registered query stays in the action", func(t *testing.T) {
		r := b.authorize(oidcReq("code id_token", "redirect_uri", "https://hyb.example/cb?tenant=a", "response_mode", "form_post"))
		p := e.assertFormPost(t, r, "https://hyb.example/cb?tenant=a")
		if p.fields.Has("tenant") {
			t.Error("the redirect URI's query leaked into the form")
		}
	})
	t.Run("after the consent page, with 200", func(t *testing.T) {
		u := e.addUser("fp", "fp-password-1")
		sb := e.signedIn(u)
		f := sb.consentPage(oidcReq("code id_token", "response_mode", "form_post"))
		p := e.assertFormPost(t, sb.post("/consent", f.encode("allow")), "https://hyb.example/cb")
		if p.fields.Get("code") == "" || p.fields.Get("id_token") == "" {
			t.Errorf("fields %v", p.fields)
		}
		f = sb.consentPage(oidcReq("id_token", "response_mode", "form_post", "prompt", "consent"))
		p = e.assertFormPost(t, sb.post("/consent", f.encode("deny")), "https://hyb.example/cb")
		if p.fields.Get("error") != "access_denied" {
			t.Errorf("fields %v", p.fields)
		}
	})
	t.Run("errors after redirect validation are posted too", func(t *testing.T) {
		for code, r := range map[string]*response{
			"invalid_scope":             b.authorize(oidcReq("id_token", "response_mode", "form_post", "scope", "openid admin")),
			"invalid_request":           b.authorize(oidcReq("id_token", "response_mode", "form_post", "nonce", del)),
			"unsupported_response_type": b.authorize(oidcReq("foo", "response_mode", "form_post")),
			"login_required":            e.browser().authorize(oidcReq("code", "response_mode", "form_post", "prompt", "none")),
		} {
			p := e.assertFormPost(t, r, "https://hyb.example/cb")
			checkErrorParams(t, p.fields, code, "st-1")
			if p.fields.Has("id_token") || p.fields.Has("code") {
				t.Errorf("%s: fields %v", code, p.fields)
			}
		}
	})
	t.Run("a custom-scheme redirect URI cannot take a page's post", func(t *testing.T) {
		e.consentTo(e.user, "native1", fixtureScopes...)
		r := b.authorize(authz("native1", "com.example.app:/oauth2redirect", "response_mode", "form_post"))
		loc := r.Header.Get("Location")
		if r.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "com.example.app:/oauth2redirect?") {
			t.Fatalf("%d %q", r.StatusCode, loc)
		}
		q, _ := url.ParseQuery(r.location(t).RawQuery)
		checkErrorParams(t, q, "invalid_request", "st-1")
	})
}

// TestAZ03d_FormPostEscapesEveryValue: a state built to break out of the
// attribute comes back exactly, and nothing of it is markup (HD-03, IP-05).
func TestAZ03d_FormPostEscapesEveryValue(t *testing.T) {
	e := newEnv(t)
	b := e.signedInOIDC()
	for _, state := range []string{`"><script>alert(1)</script>`, `'><img src=x onerror=alert(1)>`, "a&amp;b&#34;</form><form action=https://evil.example>", "x\r\ny"} {
		r := b.authorize(oidcReq("code id_token", "response_mode", "form_post", "state", state))
		p := e.assertFormPost(t, r, "https://hyb.example/cb")
		if got := p.fields.Get("state"); got != state {
			t.Errorf("state came back as %q, want %q", got, state)
		}
		for _, bad := range []string{"<script>alert", "<img", "https://evil.example>", "</form><form"} {
			if strings.Contains(r.body, bad) {
				t.Errorf("page contains %q unescaped:\n%s", bad, r.body)
			}
		}
	}
}
