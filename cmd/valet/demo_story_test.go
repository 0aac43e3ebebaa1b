package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet/demo/mail"
	"github.com/valetauth/valet/internal/admin"
)

// TestDemoStory plays the note's story end to end without a browser:
// FriendFinder → Valet's sign-in → consent → FriendFinder's result.
func TestDemoStory(t *testing.T) {
	d := startDemo(t)
	b := newDemoBrowser(t)

	for _, want := range []string{d.FriendFinder, d.Valet, d.Mail, d.Password, "Ctrl-C"} {
		if !strings.Contains(d.out.String(), want) {
			t.Errorf("the banner does not show %q:\n%s", want, d.out)
		}
	}
	home := b.get(d.FriendFinder + "/")
	if home.StatusCode != 200 || !strings.Contains(home.body, `action="/start"`) {
		t.Fatalf("FriendFinder's home page: %d\n%s", home.StatusCode, home.body)
	}
	csp := home.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "form-action 'self' "+d.Valet) {
		t.Errorf("FriendFinder's CSP = %q", csp)
	}

	// 1. FriendFinder asks for authorization.
	start := b.post(d.FriendFinder+"/start", nil)
	authz := start.location(t)
	q := authz.Query()
	if !strings.HasPrefix(authz.String(), d.Valet+"/authorize?") || q.Get("response_type") != "code" ||
		q.Get("client_id") != d.FriendFinderID || q.Get("scope") != "contacts.read" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" ||
		q.Get("resource") != d.Mail || q.Get("redirect_uri") != d.FriendFinder+"/callback" {
		t.Fatalf("authorization request %s", authz)
	}
	// Sign-in and consent at Valet, then 2. the grant comes back.
	back := b.atValet(b.get(authz.String()), d, d.FriendFinder, "allow")
	code := back.Query().Get("code")
	if back.Path != "/callback" || code == "" || back.Query().Get("state") != q.Get("state") || back.Query().Get("iss") != d.Valet {
		t.Fatalf("redirect back to FriendFinder: %s", back)
	}
	// 3–6 happen while FriendFinder answers the callback.
	cb := b.get(back.String())
	if loc := cb.location(t); loc.Path != "/result" {
		t.Fatalf("the callback sends the browser to %s, want /result", loc)
	}
	res := b.get(d.FriendFinder + "/result")
	if res.StatusCode != 200 {
		t.Fatalf("result page: %d\n%s", res.StatusCode, res.body)
	}
	body := res.body

	// The contacts, and which of them are members.
	for _, c := range mail.SampleMailbox("ana").Contacts {
		if !strings.Contains(body, c.Name) {
			t.Errorf("the result page lacks the contact %s", c.Name)
		}
	}
	if !strings.Contains(body, "3 of your 6 Mail contacts already use FriendFinder: Bruno Costa, Dara Okafor, Farah Haddad.") {
		t.Errorf("the result page does not say which contacts are members")
	}
	if n := strings.Count(body, `<span class="badge member">`); n != 3 {
		t.Errorf("%d contacts marked as members, want 3", n)
	}

	// The six steps, as they happened.
	for _, want := range []string{
		"Step 1</span> FriendFinder asks for authorization",
		"Step 2</span> The grant comes back",
		"Step 3</span> FriendFinder trades the code for a token",
		"Step 4</span> Valet issues the access token",
		"Step 5</span> FriendFinder calls Mail with the token",
		"Step 6</span> Mail answers",
		"FriendFinder never saw ana&#39;s password: she typed it at Valet",
		"HTTP/1.1 303 See Other",
		"GET /callback?code=",
		"POST /token HTTP/1.1",
		"Authorization: Basic ",
		"grant_type=authorization_code",
		"code_verifier",
		"HTTP/1.1 200 OK",
		"GET /contacts HTTP/1.1",
		"Authorization: Bearer eyJ",
		"decoded — not verified",
		"Bruno Costa",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the result page lacks %q", want)
		}
	}
	if strings.Index(body, "Step 1</span>") > strings.Index(body, "Step 6</span>") {
		t.Error("the steps are out of order")
	}

	// What must never be shown: the code, the client secret, the PKCE
	// verifier, the tokens, the Basic credentials, the password.
	spied := d.tokens.all()
	if len(spied) != 1 {
		t.Fatalf("FriendFinder called the token endpoint %d times, want 1", len(spied))
	}
	authHeader, rest, _ := strings.Cut(spied[0], "\n")
	reqBody, respBody, _ := strings.Cut(rest, "\n")
	form, _ := url.ParseQuery(reqBody)
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Scope        string `json:"scope"`
	}
	if err := json.Unmarshal([]byte(respBody), &tok); err != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("token response %q: %v", respBody, err)
	}
	secrets := map[string]string{
		"the code": code, "the client secret": d.FriendFinderSecret, "the PKCE verifier": form.Get("code_verifier"),
		"the access token": tok.AccessToken, "the refresh token": tok.RefreshToken,
		"the Basic credentials": strings.TrimPrefix(authHeader, "Basic "), "the password": d.Password,
		"the JWT's signature": tok.AccessToken[strings.LastIndex(tok.AccessToken, ".")+1:],
	}
	for name, s := range secrets {
		if len(s) < 16 && name != "the password" {
			t.Errorf("%s is suspiciously short: %q", name, s)
		}
		if strings.Contains(body, s) || strings.Contains(body, html.EscapeString(s)) || strings.Contains(body, url.QueryEscape(s)) {
			t.Errorf("the result page shows %s in full", name)
		}
	}
	// Masked, but recognisable by its prefix.
	for _, prefix := range []string{code[:6] + "…[masked]", tok.AccessToken[:6] + "…[masked]", tok.RefreshToken[:6] + "…[masked]"} {
		if !strings.Contains(body, prefix) {
			t.Errorf("the result page lacks the masked value %q", prefix)
		}
	}

	// FriendFinder never receives the password, nor Valet's cookies.
	reqs := d.received.all()
	if len(reqs) < 4 {
		t.Fatalf("FriendFinder received %d requests; the recording does not work", len(reqs))
	}
	for _, r := range reqs {
		if strings.Contains(r, d.Password) || strings.Contains(r, url.QueryEscape(d.Password)) {
			t.Errorf("FriendFinder received the password:\n%s", r)
		}
		for line := range strings.SplitSeq(r, "\r\n") {
			if name, v, ok := strings.Cut(line, ": "); ok && strings.EqualFold(name, "Cookie") {
				for c := range strings.SplitSeq(v, "; ") {
					if !strings.HasPrefix(c, "friendfinder_session=") {
						t.Errorf("FriendFinder received another site's cookie: %s", c)
					}
				}
			}
		}
	}

	// FriendFinder never gets mail.read.
	if tok.Scope != "contacts.read" {
		t.Errorf("the token response's scope = %q, want contacts.read", tok.Scope)
	}
	claims := demoClaims(t, tok.AccessToken)
	if claims["scope"] != "contacts.read" || claims["aud"] != d.Mail && !demoContains(claims["aud"], d.Mail) {
		t.Errorf("access token claims: scope %v, aud %v", claims["scope"], claims["aud"])
	}
	refused := body[strings.Index(body, "What FriendFinder cannot do"):]
	for _, want := range []string{"GET /messages HTTP/1.1", "HTTP/1.1 403 Forbidden", `error=&#34;insufficient_scope&#34;`, `scope=&#34;mail.read&#34;`} {
		if !strings.Contains(refused, want) {
			t.Errorf("the refused panel lacks %q", want)
		}
	}
	if !strings.Contains(body, "It does not carry <code>mail.read</code>") {
		t.Error("the result page does not say the token lacks mail.read")
	}
	// And Mail indeed answers the token for /contacts, not for /messages.
	if code, _ := get(t, d.Mail+"/contacts", tok.AccessToken); code != 200 {
		t.Errorf("FriendFinder's token at /contacts: %d", code)
	}
	if code, _ := get(t, d.Mail+"/messages", tok.AccessToken); code != 403 {
		t.Errorf("FriendFinder's token at /messages: %d, want 403", code)
	}

	// A reload of the callback does not replay the code.
	again := b.get(back.String())
	if again.StatusCode != http.StatusBadRequest {
		t.Errorf("the callback a second time: %d, want 400", again.StatusCode)
	}

	// Ctrl-C: everything stops and the temporary directory goes.
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.Dir); !os.IsNotExist(err) {
		t.Errorf("the demo's directory %s is still there: %v", d.Dir, err)
	}
}

// TestDemoMailRefusesBadTokens checks Mail against tokens it must refuse:
// none, expired, for another API, tampered with.
func TestDemoMailRefusesBadTokens(t *testing.T) {
	d := startDemo(t)
	ctx := context.Background()
	ac := &admin.Client{BaseURL: d.Admin, Token: d.AdminToken}

	// A service that may ask for tokens for Mail and for another API.
	const calendar = "https://calendar.example"
	reg, _, err := ac.CreateClient(ctx, admin.ClientMetadata{ClientName: "Tester",
		GrantTypes: []string{"client_credentials"}, Scope: "contacts.read", Resources: []string{d.Mail, calendar}})
	if err != nil {
		t.Fatal(err)
	}
	tokenFor := func(resource string) string {
		t.Helper()
		req, _ := http.NewRequest("POST", d.Valet+"/token", strings.NewReader(url.Values{
			"grant_type": {"client_credentials"}, "scope": {"contacts.read"}, "resource": {resource}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(reg.ClientID, reg.ClientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
			t.Fatalf("token for %s: %d %v", resource, resp.StatusCode, err)
		}
		return tok.AccessToken
	}
	good := tokenFor(d.Mail)
	// The good token passes the checks; a service has no mailbox.
	if code, body := get(t, d.Mail+"/contacts", good); code != 404 || !strings.Contains(body, "no_mailbox") {
		t.Fatalf("a valid service token at /contacts: %d %s, want 404 no_mailbox", code, body)
	}

	challenge := func(tok string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", d.Mail+"/contacts", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	if code, www := challenge(""); code != 401 || strings.Contains(www, "error=") || !strings.Contains(www, `resource_metadata="`+d.Mail+`/.well-known/oauth-protected-resource"`) {
		t.Errorf("no token: %d %q, want 401 without an error code, pointing to the metadata", code, www)
	}
	if code, www := challenge(tokenFor(calendar)); code != 401 || !strings.Contains(www, `error="invalid_token"`) {
		t.Errorf("a token for another API: %d %q, want 401 invalid_token", code, www)
	}
	sig := good[strings.LastIndex(good, ".")+1:]
	flipped := good[:len(good)-len(sig)] + strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return 'A'
	}, sig[:1]) + sig[1:]
	if code, www := challenge(flipped); code != 401 || !strings.Contains(www, `error="invalid_token"`) {
		t.Errorf("a tampered token: %d %q, want 401 invalid_token", code, www)
	}

	// Expired: the same Mail, its clock two hours ahead of Valet's.
	later, err := (&mail.Server{URL: d.Mail, Issuer: d.Valet, Mailboxes: map[string]*mail.Mailbox{},
		Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "/contacts", nil)
	req.Header.Set("Authorization", "Bearer "+good)
	rec := httptest.NewRecorder()
	later.ServeHTTP(rec, req)
	if rec.Code != 401 || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("an expired token: %d %q, want 401 invalid_token", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}

	// RFC 9728 metadata names Valet.
	code, body := get(t, d.Mail+"/.well-known/oauth-protected-resource", "")
	var meta demoResourceMeta
	if code != 200 || json.Unmarshal([]byte(body), &meta) != nil || meta.Resource != d.Mail ||
		len(meta.AuthorizationServers) != 1 || meta.AuthorizationServers[0] != d.Valet {
		t.Errorf("protected resource metadata: %d %s", code, body)
	}
}

type demoResourceMeta struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
}

// TestDemoDeny: Valet remembers an Allow; asked again, ana says no, and
// FriendFinder gets nothing.
func TestDemoDeny(t *testing.T) {
	d := startDemo(t)
	b := newDemoBrowser(t)
	start := b.post(d.FriendFinder+"/start", nil)
	b.get(b.atValet(b.get(start.location(t).String()), d, d.FriendFinder, "allow").String())
	if b.consents != 1 {
		t.Fatalf("the first run showed the consent page %d times, want 1", b.consents)
	}
	// Run again: Valet remembers, and does not ask.
	start = b.post(d.FriendFinder+"/start", nil)
	b.get(b.atValet(b.get(start.location(t).String()), d, d.FriendFinder, "allow").String())
	if b.consents != 1 {
		t.Fatalf("a second run asked for consent again")
	}
	if n := len(d.tokens.all()); n != 2 {
		t.Fatalf("%d token requests after two runs", n)
	}

	// "Run it again, and let Valet ask me": prompt=consent, then Deny.
	start = b.post(d.FriendFinder+"/start", url.Values{"prompt": {"consent"}})
	if start.location(t).Query().Get("prompt") != "consent" {
		t.Fatalf("ask again: %s", start.location(t))
	}
	back := b.atValet(b.get(start.location(t).String()), d, d.FriendFinder, "deny")
	if b.consents != 2 {
		t.Errorf("prompt=consent did not show the consent page")
	}
	if back.Query().Get("error") != "access_denied" || back.Query().Get("code") != "" {
		t.Fatalf("deny: back to %s", back)
	}
	b.get(back.String())
	res := b.get(d.FriendFinder + "/result")
	for _, want := range []string{"FriendFinder got no contacts", "access_denied", "Step 2</span> The answer comes back: no"} {
		if !strings.Contains(res.body, want) {
			t.Errorf("the result page after Deny lacks %q", want)
		}
	}
	if strings.Contains(res.body, "Step 3") || strings.Contains(res.body, "Bruno") {
		t.Error("the result page after Deny shows a token exchange or contacts")
	}
	if n := len(d.tokens.all()); n != 2 {
		t.Errorf("FriendFinder called the token endpoint after a Deny (%d calls in all)", n)
	}
}

func demoClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func demoContains(v any, s string) bool {
	l, ok := v.([]any)
	if !ok {
		return false
	}
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}
