package main

import (
	"net/url"
	"strings"
	"testing"
)

// TestDemoOtherGrants runs the grants page: client credentials, password
// and implicit, each against the demo's Valet and Mail.
func TestDemoOtherGrants(t *testing.T) {
	d := startDemo(t)
	b := newDemoBrowser(t)
	grants := b.get(d.FriendFinder + "/grants")
	for _, want := range []string{"Client credentials", "Resource owner password credentials", "Implicit",
		"--grant-type client_credentials --grant-type password --grant-type implicit",
		`<label for="pw-password">`} {
		if !strings.Contains(grants.body, want) {
			t.Errorf("the grants page lacks %q", want)
		}
	}

	// Client credentials.
	r := b.post(d.FriendFinder+"/grants/client-credentials", nil)
	if loc := r.location(t); loc.Path != "/grants" || loc.Fragment != "client-credentials" {
		t.Errorf("after client credentials: %s", loc)
	}
	page := b.get(d.FriendFinder + "/grants").body
	section := demoSection(page, `id="client-credentials"`, `id="password"`)
	for _, want := range []string{"Mail accepted the token but has no mailbox for an app.", "Step 1</span> Grant Lab asks for a token in its own name",
		"grant_type=client_credentials", "Step 4</span> Mail answers", "HTTP/1.1 404 Not Found", "decoded — not verified"} {
		if !strings.Contains(section, want) {
			t.Errorf("the client credentials run lacks %q", want)
		}
	}

	// Password: ana types her password into Grant Lab.
	r = b.post(d.FriendFinder+"/grants/password", url.Values{"username": {d.Username}, "password": {d.Password}})
	if loc := r.location(t); loc.Fragment != "password" {
		t.Errorf("after the password grant: %s", loc)
	}
	page = b.get(d.FriendFinder + "/grants").body
	section = demoSection(page, `id="password"`, `id="implicit"`)
	for _, want := range []string{"Mail returned the contacts.", "Step 1</span> ana gives Grant Lab her password",
		"grant_type=password", "Step 5</span> Mail answers", "Bruno Costa"} {
		if !strings.Contains(section, want) {
			t.Errorf("the password run lacks %q", want)
		}
	}
	// A wrong password: Valet refuses, and the page says so.
	b.post(d.FriendFinder+"/grants/password", url.Values{"username": {d.Username}, "password": {"not-" + d.Password}})
	page = b.get(d.FriendFinder + "/grants").body
	if !strings.Contains(demoSection(page, `id="password"`, `id="implicit"`), "Valet gave no token: invalid_grant") {
		t.Error("a wrong password does not show invalid_grant")
	}

	// Implicit: sign in and consent at Valet, the token in the fragment.
	r = b.post(d.FriendFinder+"/grants/implicit", nil)
	authz := r.location(t)
	if authz.Query().Get("response_type") != "token" || authz.Query().Get("client_id") != d.LabID {
		t.Fatalf("implicit authorization request %s", authz)
	}
	back := b.atValet(b.get(authz.String()), d, d.FriendFinder, "allow")
	fragment, _ := url.ParseQuery(back.Fragment)
	implicitToken := fragment.Get("access_token")
	if back.Path != "/grants/implicit/callback" || implicitToken == "" || back.RawQuery != "" {
		t.Fatalf("implicit redirect back %s", back)
	}
	// The browser requests the page without the fragment; the page's
	// script reads it and posts it.
	cb := b.get(d.FriendFinder + back.Path)
	if !strings.Contains(cb.body, `<script src="/static/fragment.js" defer></script>`) || !strings.Contains(cb.body, `action="/grants/implicit/finish"`) {
		t.Fatalf("implicit callback page:\n%s", cb.body)
	}
	js := b.get(d.FriendFinder + "/static/fragment.js")
	if js.StatusCode != 200 || !strings.Contains(js.body, "location.hash") {
		t.Errorf("fragment.js: %d", js.StatusCode)
	}
	r = b.post(d.FriendFinder+"/grants/implicit/finish", url.Values{"fragment": {back.EscapedFragment()}})
	if loc := r.location(t); loc.Fragment != "implicit" {
		t.Errorf("after the implicit grant: %s", loc)
	}
	page = b.get(d.FriendFinder + "/grants").body
	section = page[strings.Index(page, `id="implicit"`):]
	for _, want := range []string{"Mail returned the contacts.", "Step 2</span> The token comes back in the address",
		"response_type=token", "#access_token=" + implicitToken[:6] + "…[masked]", "GET /grants/implicit/callback HTTP/1.1",
		"Step 4</span> Mail answers"} {
		if !strings.Contains(section, want) {
			t.Errorf("the implicit run lacks %q", want)
		}
	}

	if !strings.Contains(page, "Grant Lab&#39;s request to Valet&#39;s token endpoint") || strings.Contains(page, "FriendFinder&#39;s request") {
		t.Error("the grants page does not name Grant Lab as the app that sent the requests")
	}
	for name, s := range map[string]string{"Grant Lab's secret": d.LabSecret, "the password": d.Password,
		"the password's first characters": d.Password[:5], "the implicit token": implicitToken} {
		if strings.Contains(page, s) {
			t.Errorf("the grants page shows %s", name)
		}
	}
}

func demoSection(s, from, to string) string {
	i := strings.Index(s, from)
	j := strings.Index(s, to)
	if i < 0 || j < i {
		return ""
	}
	return s[i:j]
}
