package web_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/valetauth/valet/internal/token"
)

// toSignIn checks that r sends the browser to the sign-in page and returns
// the request it will return to.
func toSignIn(t *testing.T, r *response) url.Values {
	t.Helper()
	if r.StatusCode != http.StatusFound || r.location(t).Path != "/login" {
		t.Fatalf("%d %q, want 302 to /login\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	rt := r.location(t).Query().Get("return_to")
	q, err := url.ParseQuery(strings.TrimPrefix(rt, "/authorize?"))
	if err != nil || !strings.HasPrefix(rt, "/authorize?") {
		t.Fatalf("return_to %q", rt)
	}
	return q
}

// signInFrom follows r to the sign-in page, signs in there and follows the
// way back to /authorize, returning its response.
func (b *browser) signInFrom(t *testing.T, r *response, username, pw string) *response {
	t.Helper()
	toSignIn(t, r)
	page := b.get(r.Header.Get("Location"))
	if page.StatusCode != http.StatusOK {
		t.Fatalf("sign-in page: %d", page.StatusCode)
	}
	form := url.Values{"username": {username}, "password": {pw}, "csrf": {hidden(t, page.body, "csrf")},
		"return_to": {hidden(t, page.body, "return_to")}}
	done := b.post("/login", form.Encode())
	if done.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /login: %d\n%s", done.StatusCode, done.body)
	}
	return b.get(done.Header.Get("Location"))
}

// idTokenFor returns an ID token for b's user from hyb1.
func idTokenFor(t *testing.T, b *browser) string {
	t.Helper()
	f := fragmentOf(t, b.authorize(oidcReq("id_token")), "https://hyb.example/cb")
	if f.Get("id_token") == "" {
		t.Fatalf("no ID token: %v", f)
	}
	return f.Get("id_token")
}

func TestPromptNone(t *testing.T) {
	e := newEnv(t)
	t.Run("no session: login_required, with iss and state", func(t *testing.T) {
		r := e.browser().authorize(authz("conf1", "https://client.example/cb", "prompt", "none"))
		assertRedirectError(t, r, http.StatusFound, "https://client.example/cb", "login_required", "st-1")
		r = e.browser().authorize(oidcReq("id_token", "prompt", "none"))
		assertFragmentError(t, r, http.StatusFound, "https://hyb.example/cb", "login_required", "st-1")
	})
	t.Run("session without consent: consent_required", func(t *testing.T) {
		r := e.signedIn(e.addUser("nc", "nc-password-1")).authorize(oidcReq("code id_token", "prompt", "none"))
		assertFragmentError(t, r, http.StatusFound, "https://hyb.example/cb", "consent_required", "st-1")
	})
	t.Run("session older than max_age: login_required", func(t *testing.T) {
		b := e.signedInOIDC() // signed in a minute ago
		r := b.authorize(oidcReq("id_token", "prompt", "none", "max_age", "30"))
		assertFragmentError(t, r, http.StatusFound, "https://hyb.example/cb", "login_required", "st-1")
		r = b.authorize(authz("hyb1", "https://hyb.example/cb", "prompt", "none", "max_age", "0"))
		assertRedirectError(t, r, http.StatusFound, "https://hyb.example/cb", "login_required", "st-1")
		// Control: within max_age the session answers.
		f := fragmentOf(t, b.authorize(oidcReq("id_token", "prompt", "none", "max_age", "600")), "https://hyb.example/cb")
		if !f.Has("id_token") {
			t.Errorf("within max_age: %v", f)
		}
	})
}

// TestPromptLoginSignsInOnce: prompt=login and select_account show the
// sign-in page to a signed-in person once; after it the request answers
// with the new session.
func TestPromptLoginSignsInOnce(t *testing.T) {
	for _, p := range []string{"login", "select_account", "login consent"} {
		t.Run(p, func(t *testing.T) {
			e := newEnv(t)
			b := e.signedInOIDC()
			old := e.sessionOf(t, b)
			q := oidcReq("code id_token", "prompt", p)
			r := b.authorize(q)
			if back := toSignIn(t, r); strings.Contains(back.Get("prompt"), "login") {
				t.Errorf("return_to still asks for login: %v", back)
			}
			r = b.signInFrom(t, r, "ana", password)
			if p == "login consent" {
				f := consentForm{hidden(t, r.body, "request"), hidden(t, r.body, "expires"), hidden(t, r.body, "csrf")}
				r = b.post("/consent", f.encode("allow"))
			}
			f := fragmentOf(t, r, "https://hyb.example/cb")
			tok, claims := verifyID(t, "hyb1", f.Get("id_token"))
			now := e.sessionOf(t, b)
			if at, _ := claims["auth_time"].(float64); int64(at) != now.AuthTime.Unix() || time.Since(now.AuthTime) > 10*time.Second {
				t.Errorf("auth_time %v, want the new sign-in's %v", claims["auth_time"], now.AuthTime)
			}
			if claims["sid"] == old.SID || claims["sid"] != now.SID || tok.Nonce != "n-0S6_WzA2Mj" {
				t.Errorf("sid %v (old %q, new %q)", claims["sid"], old.SID, now.SID)
			}
			if c := e.storedCode(t, f.Get("code")); c.SessionID != now.SID {
				t.Errorf("code sid %q, want %q", c.SessionID, now.SID)
			}
		})
	}
}

func TestMaxAge(t *testing.T) {
	e := newEnv(t)
	t.Run("0 always asks, once", func(t *testing.T) {
		b := e.signedInOIDC()
		r := b.authorize(oidcReq("id_token", "max_age", "0"))
		if back := toSignIn(t, r); back.Has("max_age") {
			t.Errorf("return_to keeps max_age, so sign-in would loop: %v", back)
		}
		r = b.signInFrom(t, r, "ana", password)
		_, claims := verifyID(t, "hyb1", fragmentOf(t, r, "https://hyb.example/cb").Get("id_token"))
		if at, ok := claims["auth_time"].(float64); !ok || time.Since(time.Unix(int64(at), 0)) > 10*time.Second {
			t.Errorf("auth_time %v, want the fresh sign-in", claims["auth_time"])
		}
	})
	t.Run("N: the session may be at most N seconds old", func(t *testing.T) {
		b := e.signedInOIDC() // signed in a minute ago
		toSignIn(t, b.authorize(oidcReq("id_token", "max_age", "30")))
		toSignIn(t, b.authorize(authz("hyb1", "https://hyb.example/cb", "max_age", "30")))
		sess := e.sessionOf(t, b)
		f := fragmentOf(t, b.authorize(oidcReq("id_token", "max_age", "120")), "https://hyb.example/cb")
		_, claims := verifyID(t, "hyb1", f.Get("id_token"))
		if at, _ := claims["auth_time"].(float64); int64(at) != sess.AuthTime.Unix() {
			t.Errorf("auth_time %v, want the session's %d", claims["auth_time"], sess.AuthTime.Unix())
		}
		// Two minutes later the same max_age asks again.
		e.advance(2 * time.Minute)
		defer e.advance(-2 * time.Minute)
		toSignIn(t, b.authorize(oidcReq("id_token", "max_age", "120")))
		// A huge max_age is no limit, not an error.
		f = fragmentOf(t, b.authorize(oidcReq("id_token", "max_age", "99999999999999999999999")), "https://hyb.example/cb")
		if !f.Has("id_token") {
			t.Errorf("huge max_age: %v", f)
		}
	})
	t.Run("runs out while the consent page is open", func(t *testing.T) {
		u := e.addUser("slow", "slow-password-1")
		b := e.signedIn(u) // signed in a minute ago
		f := b.consentPage(oidcReq("code id_token", "max_age", "120"))
		e.advance(2 * time.Minute)
		defer e.advance(-2 * time.Minute)
		r := b.post("/consent", f.encode("allow"))
		if r.StatusCode != http.StatusSeeOther || r.location(t).Path != "/login" {
			t.Fatalf("%d %q, want 303 to /login", r.StatusCode, r.Header.Get("Location"))
		}
		if c := e.consentOf(u, "hyb1"); c != nil {
			t.Errorf("consent stored before the sign-in: %+v", c)
		}
	})
	t.Run("malformed: invalid_request", func(t *testing.T) {
		b := e.signedInOIDC()
		for _, v := range []string{"-1", "1.5", "abc", " 5", "+5", "0x10", "1e3", "５", "10s"} {
			r := b.authorize(authz("hyb1", "https://hyb.example/cb", "max_age", v))
			q := assertRedirectError(t, r, http.StatusFound, "https://hyb.example/cb", "invalid_request", "st-1")
			if !strings.Contains(q.Get("error_description"), "max_age") {
				t.Errorf("%q: error_description %q", v, q.Get("error_description"))
			}
		}
	})
}

func TestLoginHint(t *testing.T) {
	e := newEnv(t)
	page := func(hint string) *response {
		t.Helper()
		b := e.browser()
		r := b.authorize(authz("conf1", "https://client.example/cb", "login_hint", hint))
		toSignIn(t, r)
		p := b.get(r.Header.Get("Location"))
		assertPage(t, p, http.StatusOK)
		return p
	}
	username := extract(`<input id="username" name="username" type="text" value="([^"<>]*)"`)
	t.Run("pre-fills the username", func(t *testing.T) {
		if got := username(t, page("ana").body); got != "ana" {
			t.Errorf("username field %q, want ana", got)
		}
	})
	t.Run("escaped", func(t *testing.T) {
		p := page(xss)
		if got := username(t, p.body); got != xss {
			t.Errorf("username field %q, want %q", got, xss)
		}
		if strings.Contains(p.body, "<script>") || strings.Contains(p.body, "<img") {
			t.Errorf("hint not escaped:\n%s", p.body)
		}
	})
	t.Run("length-limited", func(t *testing.T) {
		if got := username(t, page(strings.Repeat("a", 300)).body); got != "" {
			t.Errorf("a 300-character hint was pre-filled: %q", got)
		}
		if got := username(t, page(strings.Repeat("a", 256)).body); got != strings.Repeat("a", 256) {
			t.Errorf("a 256-character hint was dropped: %q", got)
		}
	})
}

// extract returns a function that extracts the first group of pattern,
// HTML-unescaped, from a page.
func extract(pattern string) func(*testing.T, string) string {
	re := regexp.MustCompile(pattern)
	return func(t *testing.T, body string) string {
		t.Helper()
		m := re.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no match for %s in:\n%s", pattern, body)
		}
		return html.UnescapeString(m[1])
	}
}

func TestIDTokenHint(t *testing.T) {
	e := newEnv(t)
	ana := e.signedInOIDC()
	hint := idTokenFor(t, ana)
	bo := e.addUser("bo", "bo-password-1")
	e.consentTo(bo, "hyb1", oidcScopes...)
	boB := e.signedIn(bo)

	t.Run("the signed-in user: answers", func(t *testing.T) {
		e.assertCode(t, ana.authorize(authz("hyb1", "https://hyb.example/cb", "prompt", "none", "id_token_hint", hint)), http.StatusFound, "https://hyb.example/cb", "st-1")
		f := fragmentOf(t, ana.authorize(oidcReq("id_token", "id_token_hint", hint)), "https://hyb.example/cb")
		if !f.Has("id_token") {
			t.Errorf("fragment %v", f)
		}
	})
	t.Run("another user with prompt=none: login_required", func(t *testing.T) {
		r := boB.authorize(authz("hyb1", "https://hyb.example/cb", "prompt", "none", "id_token_hint", hint))
		assertRedirectError(t, r, http.StatusFound, "https://hyb.example/cb", "login_required", "st-1")
		r = e.browser().authorize(authz("hyb1", "https://hyb.example/cb", "prompt", "none", "id_token_hint", hint))
		assertRedirectError(t, r, http.StatusFound, "https://hyb.example/cb", "login_required", "st-1")
	})
	t.Run("another user: sign in as the hinted one", func(t *testing.T) {
		b := e.signedIn(bo)
		r := b.authorize(oidcReq("id_token", "id_token_hint", hint))
		if back := toSignIn(t, r); back.Get("id_token_hint") != hint {
			t.Errorf("return_to dropped the hint: %v", back)
		}
		r = b.signInFrom(t, r, "ana", password)
		tok, _ := verifyID(t, "hyb1", fragmentOf(t, r, "https://hyb.example/cb").Get("id_token"))
		if tok.Subject != e.user.ID {
			t.Errorf("sub %q, want ana", tok.Subject)
		}
	})
	t.Run("expired hints are hints still", func(t *testing.T) {
		old := &token.Issuer{URL: issuer, Keys: ring, Now: func() time.Time { return time.Now().Add(-3 * time.Hour) }}
		expired, err := old.ID(token.IDRequest{Subject: e.user.ID, ClientID: "hyb1", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		e.assertCode(t, ana.authorize(authz("hyb1", "https://hyb.example/cb", "prompt", "none", "id_token_hint", expired)), http.StatusFound, "https://hyb.example/cb", "st-1")
	})
	t.Run("pairwise: compared as the client's subject", func(t *testing.T) {
		f := fragmentOf(t, ana.authorize(authz("pair1", "https://pair.example/cb", "response_type", "id_token", "nonce", "n")), "https://pair.example/cb")
		pairHint := f.Get("id_token")
		f = fragmentOf(t, ana.authorize(authz("pair1", "https://pair.example/cb", "response_type", "id_token", "nonce", "n", "prompt", "none", "id_token_hint", pairHint)), "https://pair.example/cb")
		if !f.Has("id_token") {
			t.Errorf("fragment %v", f)
		}
		e.consentTo(bo, "pair1", oidcScopes...)
		r := boB.authorize(authz("pair1", "https://pair.example/cb", "response_type", "id_token", "nonce", "n", "prompt", "none", "id_token_hint", pairHint))
		assertFragmentError(t, r, http.StatusFound, "https://pair.example/cb", "login_required", "st-1")
	})

	at := fragmentOf(t, ana.authorize(oidcReq("token")), "https://hyb.example/cb").Get("access_token")
	for name, bad := range map[string]string{
		"an access token (at+jwt)": at,
		"signed by a foreign key":  foreignIDToken(t, e.user.ID, "hyb1"),
		"issued to another client": foreignClientHint(t, ana),
		"not a JWT":                "not-a-token",
		"three garbage parts":      "a.b.c",
		"unsigned":                 unsignedIDToken(e.user.ID, "hyb1"),
	} {
		t.Run(name+": invalid_request", func(t *testing.T) {
			r := ana.authorize(authz("hyb1", "https://hyb.example/cb", "id_token_hint", bad))
			q := assertRedirectError(t, r, http.StatusFound, "https://hyb.example/cb", "invalid_request", "st-1")
			if !strings.Contains(q.Get("error_description"), "id_token_hint") {
				t.Errorf("error_description %q", q.Get("error_description"))
			}
		})
	}
}

// foreignIDToken is an ID token with valid claims and the kid of one of the
// ring's keys, signed by a key that is not the ring's.
func foreignIDToken(t *testing.T, sub, aud string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid := ""
	for _, k := range ring.JWKS().Keys {
		if k.Algorithm == "ES256" {
			kid = k.KeyID
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"iss": issuer, "sub": sub, "aud": aud, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// foreignClientHint is a valid ID token of ana's, for pair1.
func foreignClientHint(t *testing.T, b *browser) string {
	t.Helper()
	f := fragmentOf(t, b.authorize(authz("pair1", "https://pair.example/cb", "response_type", "id_token", "nonce", "n")), "https://pair.example/cb")
	return f.Get("id_token")
}

func unsignedIDToken(sub, aud string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return fmt.Sprintf("%s.%s.", enc(map[string]string{"alg": "none", "typ": "JWT"}),
		enc(map[string]any{"iss": issuer, "sub": sub, "aud": aud, "exp": time.Now().Add(time.Hour).Unix()}))
}

// TestSSOAcrossClients: one sign-in serves every client; each still asks
// for its own consent, and the codes share the session's sid.
func TestSSOAcrossClients(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	r := b.signInFrom(t, b.authorize(authz("conf1", "https://client.example/cb")), "ana", password)
	f := consentForm{hidden(t, r.body, "request"), hidden(t, r.body, "expires"), hidden(t, r.body, "csrf")}
	c1 := e.assertCode(t, b.post("/consent", f.encode("allow")), http.StatusSeeOther, "https://client.example/cb", "st-1")

	// The second client: the consent page at once, no sign-in.
	f = b.consentPage(authz("conf2", "https://client2.example/cb"))
	c2 := e.assertCode(t, b.post("/consent", f.encode("allow")), http.StatusSeeOther, "https://client2.example/cb", "st-1")
	sess := e.sessionOf(t, b)
	if c1.SessionID == "" || c1.SessionID != sess.SID || c2.SessionID != sess.SID {
		t.Errorf("code sids %q and %q, want the session's %q", c1.SessionID, c2.SessionID, sess.SID)
	}
	if !c1.AuthTime.Equal(c2.AuthTime) || !c2.AuthTime.Equal(sess.AuthTime) {
		t.Errorf("auth_time %v and %v, want the one sign-in's %v", c1.AuthTime, c2.AuthTime, sess.AuthTime)
	}
}

// TestSIDPerSession: every ID token of one session has its sid; a new
// sign-in starts a session with another.
func TestSIDPerSession(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	e.consentTo(e.user, "hyb1", oidcScopes...)
	e.consentTo(e.user, "pair1", oidcScopes...)
	r := b.signInFrom(t, b.authorize(oidcReq("id_token")), "ana", password)
	_, first := verifyID(t, "hyb1", fragmentOf(t, r, "https://hyb.example/cb").Get("id_token"))
	_, second := verifyID(t, "hyb1", idTokenFor(t, b))
	f := fragmentOf(t, b.authorize(authz("pair1", "https://pair.example/cb", "response_type", "id_token", "nonce", "n")), "https://pair.example/cb")
	_, other := verifyID(t, "pair1", f.Get("id_token"), "ES256")
	sid, _ := first["sid"].(string)
	if sid == "" || second["sid"] != sid || other["sid"] != sid || e.sessionOf(t, b).SID != sid {
		t.Errorf("sids %v, %v, %v in one session", first["sid"], second["sid"], other["sid"])
	}
	r = b.signInFrom(t, b.authorize(oidcReq("id_token", "prompt", "login")), "ana", password)
	_, next := verifyID(t, "hyb1", fragmentOf(t, r, "https://hyb.example/cb").Get("id_token"))
	if s, _ := next["sid"].(string); s == "" || s == sid {
		t.Errorf("sid after a new sign-in %v, want a new one (was %q)", next["sid"], sid)
	}
}
