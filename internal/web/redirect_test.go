package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// signedInWithConsent is a browser whose user already allowed every fixture
// client "openid profile", so that a valid request ends in a code.
func (e *env) signedInWithConsent(clients ...string) *browser {
	for _, c := range clients {
		e.consentTo(e.user, c, fixtureScopes...)
	}
	return e.signedIn(e.user)
}

// assertNeverRedirects checks the error page and that neither the requested
// nor any registered URI appears as a link or a target.
func assertNeverRedirects(t *testing.T, r *response, uris ...string) {
	t.Helper()
	assertErrorPage(t, r)
	for _, u := range uris {
		if strings.Contains(r.body, u) || strings.Contains(r.body, `href="`+u) {
			t.Errorf("the error page shows %q", u)
		}
	}
	if strings.Contains(r.body, "<a ") {
		t.Errorf("the error page has a link:\n%s", r.body)
	}
}

func TestRU01_UnregisteredRedirectNeverRedirects(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("conf1", "conf2")
	t.Run("a unregistered redirect_uri", func(t *testing.T) {
		r := b.authorize(authz("conf1", "https://client.example/cb-x7Qp2", "scope", "openid", "nonce", "n"))
		assertNeverRedirects(t, r, "https://client.example/cb-x7Qp2", "https://client.example/cb")
	})
	t.Run("b unknown client with another client's URI", func(t *testing.T) {
		r := b.authorize(authz("does-not-exist", "https://client.example/cb", "scope", "openid", "nonce", "n"))
		assertNeverRedirects(t, r, "https://client.example/cb", "does-not-exist")
	})
	t.Run("c client_id omitted", func(t *testing.T) {
		r := b.authorize(authz("conf1", "https://client.example/cb-x7Qp2", "client_id", del, "scope", "openid"))
		assertNeverRedirects(t, r, "https://client.example/cb-x7Qp2")
	})
	t.Run("c client_id empty", func(t *testing.T) {
		r := b.authorize(authz("", "https://client.example/cb"))
		assertNeverRedirects(t, r)
	})
	t.Run("without a session too", func(t *testing.T) {
		r := e.browser().authorize(authz("conf1", "https://evil.example/cb"))
		assertNeverRedirects(t, r, "https://evil.example/cb")
	})
}

func TestRU02_EquivalentURIsAreNotEqual(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("conf1")
	for _, uri := range []string{
		"https://client.example/CB", "https://CLIENT.example/cb", "HTTPS://client.example/cb",
		"https://client.example/cb/", "https://client.example:443/cb", "https://client.example./cb",
		"https://client.example/%63b", "https://client.example/cb?", "https://client.example/cb#",
		"https://client.example//cb", "https://client.example/cb%20", "https://client.example/cb%00",
		"https://client.example/cb ", " https://client.example/cb", "https://client.example/cb\t",
	} {
		t.Run(uri, func(t *testing.T) {
			assertNeverRedirects(t, b.authorize(authz("conf1", uri)), uri)
		})
	}
	t.Run("control: exact string", func(t *testing.T) {
		e.assertCode(t, b.authorize(authz("conf1", "https://client.example/cb")), http.StatusFound, "https://client.example/cb", "st-1")
	})
}

func TestRU03_PathTraversalAndEncoding(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("conf1")
	for _, uri := range []string{
		"https://client.example/cb/../cb", "https://client.example/x/../cb", "https://client.example/./cb",
		"https://client.example/cb/.", "https://client.example/cb/..", "https://client.example/cb/../../evil",
		"https://client.example/cb/..;/evil", "https://client.example/cb..;/", "https://client.example/cb;/../cb",
		"https://client.example/cb;x", "https://client.example/cb/%2e%2e/cb", "https://client.example/cb/%2E%2E/evil",
		"https://client.example/%2e/cb", "https://client.example/cb%2f..%2fevil", "https://client.example/cb%2F",
		"https://client.example/%2563b", "https://client.example/cb%252f..%252fevil", "https://client.example/cb/%252e%252e/",
		"https://client.example/%25%36%33b", "https://client.example/cb%5c..%5cevil", "https://client.example/cb/..%00/",
		"https://client.example/cb%3F", "https://client.example/cb%23", "https://client.example/c%62",
	} {
		t.Run(uri, func(t *testing.T) {
			assertNeverRedirects(t, b.authorize(authz("conf1", uri)), uri)
		})
	}
	// Double-encoded in the query itself: the decoded redirect_uri is a
	// different string, so it must not match either.
	t.Run("double-encoded parameter", func(t *testing.T) {
		raw := "response_type=code&client_id=conf1&state=s&code_challenge=" + challenge + "&code_challenge_method=S256" +
			"&redirect_uri=https%253A%252F%252Fclient.example%252Fcb"
		assertNeverRedirects(t, b.get("/authorize?"+raw))
	})
}

func TestRU04_AuthorityConfusion(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("conf1")
	for _, uri := range []string{
		"https://client.example@evil.example/cb", "https://evil.example@client.example/cb",
		"https://client.example:443@evil.example/cb", "https://client.example%40evil.example/cb",
		"https://client.example/cb@evil.example", "https://user:pw@client.example/cb",
		"https://client.example@client.example@evil.example/cb", "https://a@b@client.example/cb",
		`https://client.example\@evil.example/cb`, `https://client.example\evil.example/cb`, `https:\\client.example\cb`,
		"https://client.example%5c@evil.example/cb", "https://client.example%2F@evil.example/cb",
		"https://client.example.evil.example/cb", "https://evil.client.example/cb", "https://evilclient.example/cb",
		"https://client.exampleevil.example/cb", "https://client.example/cbx", "https://client.example/c",
		"https://client.example/cb/evil", "https://client.example/cb.evil.example", "https://client.example/cb2x",
		"//client.example/cb", "//evil.example/cb", "https:client.example/cb", "https:/client.example/cb",
		"https://client.example#@evil.example/cb", "https://client.example?@evil.example/cb",
		"https://client.example%09/cb", "https://xn--client-example/cb", "https://clіent.example/cb",
		"http://client.example/cb", "javascript:alert(1)//https://client.example/cb", "data:text/html,<script>alert(1)</script>",
	} {
		t.Run(uri, func(t *testing.T) {
			assertNeverRedirects(t, b.authorize(authz("conf1", uri)), uri)
		})
	}
}

func TestRU05_QueryComponent(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("conf1", "conf-q")
	t.Run("a query added", func(t *testing.T) {
		assertNeverRedirects(t, b.authorize(authz("conf1", "https://client.example/cb?x=1")), "x=1")
	})
	t.Run("b query mismatched", func(t *testing.T) {
		for _, uri := range []string{"https://client.example/cb?tenant=b", "https://client.example/cb?tenant=a&tenant=b",
			"https://client.example/cb?tenant=A", "https://client.example/cb?tenant=a&", "https://client.example/cb?tenant%3Da",
			"https://client.example/cb", "https://client.example/cb?tenant=a#x"} {
			assertNeverRedirects(t, b.authorize(authz("conf-q", uri)), uri)
		}
	})
	t.Run("c query retained", func(t *testing.T) {
		r := b.authorize(authz("conf-q", "https://client.example/cb?tenant=a"))
		e.assertCode(t, r, http.StatusFound, "https://client.example/cb?tenant=a", "st-1")
		loc := r.Header.Get("Location")
		if strings.Count(loc, "?") != 1 || !strings.HasPrefix(loc, "https://client.example/cb?tenant=a&code=") {
			t.Errorf("Location %q: want the registered query kept, one '?', AS parameters appended with '&'", loc)
		}
		q, _ := url.ParseQuery(r.location(t).RawQuery)
		if q.Get("tenant") != "a" || len(q["tenant"]) != 1 {
			t.Errorf("tenant = %q", q["tenant"])
		}
		// An error keeps the query too.
		r = b.authorize(authz("conf-q", "https://client.example/cb?tenant=a", "scope", "nope"))
		q = assertRedirectError(t, r, http.StatusFound, "https://client.example/cb?tenant=a", "invalid_scope", "st-1")
		if q.Get("tenant") != "a" {
			t.Errorf("error redirect dropped the registered query: %s", r.Header.Get("Location"))
		}
	})
	t.Run("d code smuggled in the query", func(t *testing.T) {
		assertNeverRedirects(t, b.authorize(authz("conf1", "https://client.example/cb?code=ATTACKER&state=x")), "ATTACKER")
	})
}

func TestRU06_MissingRedirectURI(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("conf1", "conf2")
	t.Run("a several registered", func(t *testing.T) {
		assertNeverRedirects(t, b.authorize(authz("conf1", "", "scope", "profile")))
	})
	t.Run("b openid requires it", func(t *testing.T) {
		assertNeverRedirects(t, b.authorize(authz("conf2", "")), "https://client2.example/cb")
		// However the scope is spelled, openid means OpenID Connect.
		assertNeverRedirects(t, b.authorize(authz("conf2", "", "scope", "profile\topenid")))
		assertNeverRedirects(t, b.authorize(authz("conf2", "", "scope", "openid,profile")))
	})
	t.Run("c plain OAuth with one registered", func(t *testing.T) {
		r := b.authorize(authz("conf2", "", "scope", "profile"))
		c := e.assertCode(t, r, http.StatusFound, "https://client2.example/cb", "st-1")
		if c.RedirectURI != "" {
			t.Errorf("stored redirect_uri %q, want empty: it was omitted, so the token request may omit it", c.RedirectURI)
		}
	})
}

func TestRU07_LoopbackAndNativeRules(t *testing.T) {
	e := newEnv(t)
	b := e.signedInWithConsent("native1", "native6")
	for _, uri := range []string{
		"http://127.0.0.1/callback", "http://127.0.0.1:51004/callback", "http://127.0.0.1:1/callback",
		"http://127.0.0.1:65535/callback", "com.example.app:/oauth2redirect",
	} {
		t.Run("allowed "+uri, func(t *testing.T) {
			r := b.authorize(authz("native1", uri))
			e.assertCode(t, r, http.StatusFound, uri, "st-1")
		})
	}
	t.Run("allowed http://[::1]:8080/cb", func(t *testing.T) {
		e.assertCode(t, b.authorize(authz("native6", "http://[::1]:8080/cb")), http.StatusFound, "http://[::1]:8080/cb", "st-1")
	})
	for _, uri := range []string{
		"http://localhost/callback", "http://localhost:51004/callback", "http://localhost.evil.test/callback",
		"http://127.0.0.1.evil.example/callback", "http://127.0.0.1:80@evil.example/callback",
		"http://evil.example@127.0.0.1:5000/callback", "http://127.0.0.1:5000%2f@evil/callback",
		"http://127.0.0.1:5000%40evil/callback", "http://127.0.0.2:5000/callback", "http://127.1:5000/callback",
		"http://0x7f.0.0.1:5000/callback", "http://2130706433:5000/callback", "http://[::ffff:127.0.0.1]:5000/callback",
		"http://[::1]:5000/callback", "https://127.0.0.1:5000/callback", "HTTP://127.0.0.1:5000/callback",
		"http://127.0.0.1:0/callback", "http://127.0.0.1:65536/callback", "http://127.0.0.1:051004/callback",
		"http://127.0.0.1:/callback", "http://127.0.0.1:5000:6000/callback", "http://127.0.0.1:+5000/callback",
		"http://127.0.0.1:5000/callback/", "http://127.0.0.1:5000/Callback", "http://127.0.0.1:5000/callback?x=1",
		"http://127.0.0.1:5000/callback/../callback", "http://127.0.0.1:5000/callback#x", "http://127.0.0.1:5000",
		"com.example.app://oauth2redirect", "com.example.app:/oauth2redirect/../x", "com.example.app:/oauth2redirect/",
		"com.example.APP:/oauth2redirect", "com.example.app.evil:/oauth2redirect",
	} {
		t.Run("refused "+uri, func(t *testing.T) {
			assertNeverRedirects(t, b.authorize(authz("native1", uri)), uri)
		})
	}
	t.Run("refused v6 with another host", func(t *testing.T) {
		for _, uri := range []string{"http://127.0.0.1:8080/cb", "http://[::1%25eth0]:8080/cb", "http://[0:0:0:0:0:0:0:1]:8080/cb", "http://localhost:8080/cb"} {
			assertNeverRedirects(t, b.authorize(authz("native6", uri)), uri)
		}
	})
}
