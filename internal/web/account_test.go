package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/grant"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/token"
)

// grantFor gives u a refresh token for clientID in the store, as the token
// endpoint would after a code was redeemed, and a JWT access token of the
// same family; it returns both values.
func (e *env) grantFor(u *valet.User, clientID string) (refresh, access string) {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.st.Clients.Get(ctx, clientID)
	if err != nil {
		e.t.Fatal(err)
	}
	family := secret.ID("fam_")
	refresh = secret.Token(token.RefreshPrefix)
	now := time.Now()
	if err := e.st.Refresh.Create(ctx, &valet.RefreshToken{
		Digest: e.dig.Digest(secret.PurposeRefresh, refresh), FamilyID: family, ClientID: clientID, UserID: u.ID,
		Scopes: []string{"openid", "contacts.read"}, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}); err != nil {
		e.t.Fatal(err)
	}
	m := token.Minter{Issuer: e.tokens, Access: e.st.Access, Digester: e.dig}
	access, _, err = m.Mint(ctx, c, token.AccessRequest{Subject: u.ID, ClientID: clientID, Audience: defaultAudience,
		Scopes: []string{"contacts.read"}, AuthTime: now, GrantID: family})
	if err != nil {
		e.t.Fatal(err)
	}
	return refresh, access
}

// refreshGrant exchanges refresh at the refresh-token grant, as the token
// endpoint would, and returns its error.
func (e *env) refreshGrant(clientID, refresh string) error {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.st.Clients.Get(ctx, clientID)
	if err != nil {
		e.t.Fatal(err)
	}
	g := &grant.RefreshToken{Refresh: e.st.Refresh, Revocations: e.st.Revocations, Users: e.st.Users, Consents: e.st.Consents,
		Access: e.st.Access, Digester: e.dig, Tokens: e.tokens, Audience: defaultAudience, RefreshTTL: time.Hour}
	_, err = g.Exchange(ctx, c, &grant.Request{GrantType: "refresh_token", RefreshToken: refresh})
	return err
}

func (e *env) introspectActive(raw string) bool {
	e.t.Helper()
	in := &token.Introspector{Issuer: e.tokens, Access: e.st.Access, Refresh: e.st.Refresh, Revocations: e.st.Revocations,
		Consents: e.st.Consents, Digester: e.dig}
	got, err := in.Introspect(context.Background(), raw)
	if err != nil {
		e.t.Fatal(err)
	}
	return got.Active
}

// removeForm returns the csrf of the "Remove access" form of clientID on
// the account page b sees.
func (b *browser) removeForm(t *testing.T, clientID string) string {
	t.Helper()
	r := b.get("/account")
	assertPage(t, r, http.StatusOK)
	i := strings.Index(r.body, `data-client-id="`+clientID+`"`)
	if i < 0 {
		t.Fatalf("no app %q on the account page:\n%s", clientID, r.body)
	}
	return hidden(t, r.body[i:], "csrf")
}

func TestAccount_ListsApps(t *testing.T) {
	le := newLogoutEnv(t, logoutOptions{}) // serves /logout too
	e := le.env
	e.addClient(&valet.Client{ID: "ff", Name: "FriendFinder", SecretDigest: "x", RedirectURIs: []string{"https://ff.example/cb"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: fixtureScopes,
		ClientURI: "https://ff.example/", PolicyURI: "https://ff.example/privacy", TosURI: "https://ff.example/terms"})
	e.consentTo(e.user, "ff", "contacts.read", "openid")
	e.consentTo(e.addUser("bob", password), "conf2", "openid") // another person's app
	b := e.signedIn(e.user)

	r := b.get("/account")
	assertPage(t, r, http.StatusOK)
	for _, want := range []string{"FriendFinder", "Read your contacts", "Confirm who you are", "Not yet",
		`href="https://ff.example/privacy" rel="noopener noreferrer"`, `href="https://ff.example/terms" rel="noopener noreferrer"`,
		"Apps that check with Valet stop at once; others within 10 minutes", `name="sessions" value="all"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("account page lacks %q:\n%s", want, r.body)
		}
	}
	if strings.Contains(r.body, "Conf Two") {
		t.Error("the account page lists another person's app")
	}
	if strings.Contains(r.body, "<img") {
		t.Error("the page loads an image: CSP img-src is 'self' data:, logos are monograms")
	}

	used := time.Date(2031, 3, 4, 5, 6, 0, 0, time.UTC)
	if err := e.st.Consents.Touch(context.Background(), e.user.ID, "ff", used); err != nil {
		t.Fatal(err)
	}
	r = b.get("/account")
	if !strings.Contains(r.body, `<time datetime="2031-03-04T05:06:00Z">4 March 2031, 05:06 UTC</time>`) {
		t.Errorf("last use not shown:\n%s", r.body)
	}
	// The sign-out button is the logout confirmation form: it works.
	out := b.post("/logout", url.Values{"csrf": {hidden(t, r.body[strings.Index(r.body, `action="/logout"`):], "csrf")}, "sessions": {"all"}}.Encode())
	assertPage(t, out, http.StatusOK)
	if !strings.Contains(out.body, "every device") {
		t.Errorf("sign out of all sessions:\n%s", out.body)
	}
	if loc := b.get("/account").Header.Get("Location"); !strings.HasPrefix(loc, "/login") {
		t.Errorf("after signing out, /account redirects to %q, want the sign-in page", loc)
	}
}

func TestAccount_RequiresSignIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	r := b.get("/account")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login?return_to=%2Faccount" {
		t.Fatalf("GET /account without a session: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	page := b.get(r.Header.Get("Location"))
	assertPage(t, page, http.StatusOK)
	form := url.Values{"username": {"ana"}, "password": {password}, "csrf": {hidden(t, page.body, "csrf")},
		"return_to": {hidden(t, page.body, "return_to")}}
	r = b.post("/login", form.Encode())
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
		t.Fatalf("sign-in from /account: %d %q, want 303 /account", r.StatusCode, r.Header.Get("Location"))
	}
	assertPage(t, b.get("/account"), http.StatusOK)
	// Only exactly /account joins /authorize as a place to return to.
	for _, bad := range []string{"/account/", "/account?x=1", "/accounts", "//account", "/account/remove"} {
		if r := b.get("/login?return_to=" + url.QueryEscape(bad)); r.StatusCode != http.StatusBadRequest {
			t.Errorf("return_to=%q: %d, want 400", bad, r.StatusCode)
		}
	}
}

func TestAccount_RemoveApp(t *testing.T) {
	e := newEnv(t)
	e.consentTo(e.user, "pub1", "openid", "contacts.read")
	e.consentTo(e.user, "conf2", "openid")
	refresh, access := e.grantFor(e.user, "pub1")
	otherRefresh, otherAccess := e.grantFor(e.user, "conf2")
	if err := e.refreshGrant("pub1", refresh); err != nil {
		t.Fatalf("control: the refresh token does not work before removal: %v", err)
	}
	// That rotated it; take a fresh one for the removal.
	refresh, access = e.grantFor(e.user, "pub1")
	if !e.introspectActive(access) {
		t.Fatal("control: the access token is inactive before removal")
	}

	b := e.signedIn(e.user)
	csrf := b.removeForm(t, "pub1")
	r := b.post("/account/remove", url.Values{"csrf": {csrf}, "client_id": {"pub1"}}.Encode())
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account?removed=pub1" {
		t.Fatalf("remove: %d %q\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	page := b.get(r.Header.Get("Location"))
	if !strings.Contains(page.body, "<strong>SPA</strong> no longer has access") || strings.Contains(page.body, `data-client-id="pub1"`) {
		t.Errorf("account page after removal:\n%s", page.body)
	}

	if e.consentOf(e.user, "pub1") != nil {
		t.Error("the consent survived")
	}
	err := e.refreshGrant("pub1", refresh)
	if oe := oauth.From(err); err == nil || oe.Code != oauth.InvalidGrant {
		t.Errorf("refresh after removal: %v, want invalid_grant", err)
	}
	if e.introspectActive(access) {
		t.Error("the access token still introspects active")
	}
	// The next authorization request asks again.
	if r := b.authorize(authz("pub1", "https://spa.example/cb")); r.StatusCode != http.StatusOK || !strings.Contains(r.body, `value="allow"`) {
		t.Errorf("after removal /authorize did not ask again: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	// The other app is untouched.
	if e.consentOf(e.user, "conf2") == nil || !e.introspectActive(otherAccess) || !e.introspectActive(otherRefresh) {
		t.Error("removing one app touched another")
	}
	// Removing again (a second click, a replayed form) finds nothing.
	r = b.post("/account/remove", url.Values{"csrf": {csrf}, "client_id": {"pub1"}}.Encode())
	assertPage(t, r, http.StatusNotFound)
}

func TestAccount_RemoveRefused(t *testing.T) {
	e := newEnv(t)
	bob := e.addUser("bob", password)
	e.consentTo(e.user, "pub1", "openid")
	_, access := e.grantFor(e.user, "pub1")
	ana := e.signedIn(e.user)
	csrf := ana.removeForm(t, "pub1")
	untouched := func(t *testing.T) {
		t.Helper()
		if e.consentOf(e.user, "pub1") == nil || !e.introspectActive(access) {
			t.Fatal("a refused removal removed the app")
		}
	}
	cases := map[string]struct {
		b      *browser
		form   url.Values
		header []string
		status int
	}{
		"no csrf":                 {ana, url.Values{"client_id": {"pub1"}}, nil, http.StatusForbidden},
		"wrong csrf":              {ana, url.Values{"client_id": {"pub1"}, "csrf": {csrf + "x"}}, nil, http.StatusForbidden},
		"altered csrf":            {ana, url.Values{"client_id": {"pub1"}, "csrf": {"AAAA" + csrf[4:]}}, nil, http.StatusForbidden},
		"csrf of another app":     {ana, url.Values{"client_id": {"conf2"}, "csrf": {csrf}}, nil, http.StatusForbidden},
		"no session":              {e.browser(), url.Values{"client_id": {"pub1"}, "csrf": {csrf}}, nil, http.StatusForbidden},
		"another session's csrf":  {e.signedIn(e.user), url.Values{"client_id": {"pub1"}, "csrf": {csrf}}, nil, http.StatusForbidden},
		"cross-origin":            {ana, url.Values{"client_id": {"pub1"}, "csrf": {csrf}}, []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		"cross-site fetch":        {ana, url.Values{"client_id": {"pub1"}, "csrf": {csrf}}, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		"another person's app id": {e.signedIn(bob), nil, nil, http.StatusNotFound},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			form := c.form
			if form == nil { // bob's own, valid form, for ana's app
				form = url.Values{"client_id": {"pub1"}, "csrf": {c.b.csrfFor(t, "pub1")}}
			}
			r := c.b.post("/account/remove", form.Encode(), c.header...)
			assertPage(t, r, c.status)
			untouched(t)
		})
	}
	t.Run("GET is not a route", func(t *testing.T) {
		if r := ana.get("/account/remove?client_id=pub1&csrf=" + url.QueryEscape(csrf)); r.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET /account/remove: %d, want 405", r.StatusCode)
		}
		untouched(t)
	})
}

// csrfFor forges nothing: it is the MAC the account page would give b's
// session for clientID, read from a page that lists it. Bob has no such
// app, so he grants it first and removes the consent in the store again.
func (b *browser) csrfFor(t *testing.T, clientID string) string {
	t.Helper()
	ctx := context.Background()
	r := b.get("/account")
	assertPage(t, r, http.StatusOK)
	s, err := b.e.st.Sessions.Get(ctx, b.e.dig.Digest(secret.PurposeSession, b.cookie(b.e.sessionCookieName())))
	if err != nil {
		t.Fatal(err)
	}
	b.e.consentTo(&valet.User{ID: s.UserID}, clientID, "openid")
	csrf := b.removeForm(t, clientID)
	if err := b.e.st.Consents.Delete(ctx, s.UserID, clientID); err != nil && !errors.Is(err, valet.ErrNotFound) {
		t.Fatal(err)
	}
	return csrf
}

func TestAccount_HD03_NoInjection(t *testing.T) {
	e := newEnv(t)
	e.addClient(&valet.Client{ID: "xss", Name: xss, SecretDigest: "x", RedirectURIs: []string{"https://xss.example/cb"},
		Scopes: []string{"openid", `<b>bold</b>`}, ClientURI: "javascript:alert(1)", PolicyURI: "data:text/html,<script>alert(1)</script>",
		TosURI: `https://tos.example/"onmouseover="alert(1)`, LogoURI: `https://logo.example/"><img src=x onerror=alert(1)>`})
	e.consentTo(e.user, "xss", "openid", `<b>bold</b>`)
	b := e.signedIn(e.user)
	r := b.get("/account")
	assertPage(t, r, http.StatusOK)
	for _, bad := range []string{"<script", "<img", `"onmouseover`, "javascript:", "data:text/html", "<b>"} {
		if strings.Contains(r.body, bad) {
			t.Errorf("account page contains %q unescaped:\n%s", bad, r.body)
		}
	}
	if !strings.Contains(r.body, "&#34;&gt;&lt;script&gt;") {
		t.Errorf("the client name is not shown escaped:\n%s", r.body)
	}
	// The removal notice shows the registered name, escaped, never the query.
	csrf := b.removeForm(t, "xss")
	b.post("/account/remove", url.Values{"csrf": {csrf}, "client_id": {"xss"}}.Encode())
	for _, q := range []string{"xss", url.QueryEscape(xss)} {
		r := b.get("/account?removed=" + q)
		assertPage(t, r, http.StatusOK)
		if strings.Contains(r.body, "<script") {
			t.Errorf("removed=%s: the notice is not escaped:\n%s", q, r.body)
		}
	}
}

// TestAccount_RemoveAppWithoutRefreshTokens: an app that never received a
// refresh token (no refresh grant, or implicit) has no family for RevokeFor
// to find; its access tokens must still stop at introspection at once.
func TestAccount_RemoveAppWithoutRefreshTokens(t *testing.T) {
	e := newEnv(t)
	e.consentTo(e.user, "conf2", "openid")
	access, _, err := e.tokens.Access(token.AccessRequest{Subject: e.user.ID, ClientID: "conf2",
		Audience: defaultAudience, Scopes: []string{"openid"}, AuthTime: time.Now(), GrantID: "fam_no_refresh"})
	if err != nil {
		t.Fatal(err)
	}
	if !e.introspectActive(access) {
		t.Fatal("control: the access token is inactive before removal")
	}
	b := e.signedIn(e.user)
	csrf := b.removeForm(t, "conf2")
	if r := b.post("/account/remove", url.Values{"csrf": {csrf}, "client_id": {"conf2"}}.Encode()); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d\n%s", r.StatusCode, r.body)
	}
	if e.introspectActive(access) {
		t.Error("the access token of an app without refresh tokens still introspects active after removal")
	}
}
