package admin_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/valetauth/valet/internal/admin"
	"github.com/valetauth/valet/internal/secret"
)

// friendFinder is a valid confidential registration.
func friendFinder() map[string]any {
	return map[string]any{
		"client_name":   "FriendFinder",
		"redirect_uris": []string{"https://friendfinder.example/callback", "http://127.0.0.1:8400/cb"},
		"grant_types":   []string{"authorization_code", "refresh_token"},
		"scope":         "openid contacts.read",
		"client_uri":    "https://friendfinder.example",
		"logo_uri":      "https://friendfinder.example/logo.png",
	}
}

func TestClientLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	r := e.do("POST", "/admin/clients", friendFinder())
	reg := decode[admin.ClientRegistration](t, r, http.StatusCreated)
	if reg.ClientID == "" || strings.HasPrefix(reg.ClientID, "-") {
		t.Fatalf("client_id %q", reg.ClientID)
	}
	want := admin.ClientMetadata{
		ClientID:                 reg.ClientID,
		ClientName:               "FriendFinder",
		RedirectURIs:             []string{"https://friendfinder.example/callback", "http://127.0.0.1:8400/cb"},
		GrantTypes:               []string{"authorization_code", "refresh_token"},
		ResponseTypes:            []string{"code"}, // the default for authorization_code
		Scope:                    "openid contacts.read",
		TokenEndpointAuthMethod:  "client_secret_basic", // the RFC 7591 default
		AccessTokenFormat:        "jwt",                 // RFC 9068 unless the client asks for opaque
		Resources:                []string{},
		PostLogoutRedirectURIs:   []string{},
		IDTokenSignedResponseAlg: "RS256",  // OpenID Connect Registration §2
		SubjectType:              "public", // unless the client asks for pairwise
		ClientURI:                "https://friendfinder.example",
		LogoURI:                  "https://friendfinder.example/logo.png",
		ClientIDIssuedAt:         testEpoch.Unix(), // the first tick
	}
	if !reflect.DeepEqual(reg.ClientMetadata, want) {
		t.Errorf("registration\n got %+v\nwant %+v", reg.ClientMetadata, want)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("the registration, which carries the secret, is cacheable: %q", r.header.Get("Cache-Control"))
	}

	// The secret: 256 random bits behind its prefix, expiring never, stored
	// only as its keyed digest.
	raw, ok := strings.CutPrefix(reg.ClientSecret, "vcs_")
	if b, err := base64.RawURLEncoding.DecodeString(raw); !ok || err != nil || len(b) != 32 {
		t.Errorf("client_secret %q is not vcs_ + 256 bits in base64url", reg.ClientSecret)
	}
	if m := members(t, r.body); string(m["client_secret_expires_at"]) != "0" {
		t.Errorf("client_secret_expires_at = %s, want 0", m["client_secret_expires_at"])
	}
	stored, err := e.store.Clients.Get(ctx, reg.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.SecretDigest != e.digester.Digest(secret.PurposeClientSecret, reg.ClientSecret) {
		t.Errorf("stored SecretDigest %q is not the digest of the secret", stored.SecretDigest)
	}
	if !stored.CreatedAt.Equal(testEpoch) {
		t.Errorf("stored CreatedAt %v, want %v", stored.CreatedAt, testEpoch)
	}
	if !reflect.DeepEqual(stored.Scopes, []string{"openid", "contacts.read"}) {
		t.Errorf("stored scopes %q", stored.Scopes)
	}

	// GET and list: the metadata, never the secret or its digest.
	r = e.do("GET", "/admin/clients/"+reg.ClientID, nil)
	if got := decode[admin.ClientMetadata](t, r, http.StatusOK); !reflect.DeepEqual(got, want) {
		t.Errorf("GET\n got %+v\nwant %+v", got, want)
	}
	list := e.do("GET", "/admin/clients", nil)
	if l := decode[admin.ClientList](t, list, http.StatusOK); len(l.Clients) != 1 || !reflect.DeepEqual(l.Clients[0], want) {
		t.Errorf("list %+v", l)
	}
	for _, body := range [][]byte{r.body, list.body} {
		for _, s := range []string{reg.ClientSecret, stored.SecretDigest, `"client_secret"`, `"client_secret_expires_at"`, "digest"} {
			if strings.Contains(string(body), s) {
				t.Errorf("a read answer contains %q: %s", s, body)
			}
		}
	}

	// PUT replaces the metadata and keeps the secret.
	update := map[string]any{
		"client_id":     reg.ClientID, // repeating the id is fine
		"client_name":   "FriendFinder 2",
		"redirect_uris": []string{"https://friendfinder.example/cb2"},
		"scope":         "contacts.read",
	}
	got := decode[admin.ClientMetadata](t, e.do("PUT", "/admin/clients/"+reg.ClientID, update), http.StatusOK)
	want2 := admin.ClientMetadata{ClientID: reg.ClientID, ClientName: "FriendFinder 2",
		RedirectURIs: []string{"https://friendfinder.example/cb2"}, GrantTypes: []string{"authorization_code"},
		ResponseTypes: []string{"code"}, Scope: "contacts.read", TokenEndpointAuthMethod: "client_secret_basic",
		AccessTokenFormat: "jwt", Resources: []string{}, PostLogoutRedirectURIs: []string{},
		IDTokenSignedResponseAlg: "RS256", SubjectType: "public", ClientIDIssuedAt: want.ClientIDIssuedAt}
	if !reflect.DeepEqual(got, want2) {
		t.Errorf("PUT\n got %+v\nwant %+v", got, want2)
	}
	after, err := e.store.Clients.Get(ctx, reg.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if after.SecretDigest != stored.SecretDigest || after.Name != "FriendFinder 2" {
		t.Errorf("after PUT: name %q, digest kept %v", after.Name, after.SecretDigest == stored.SecretDigest)
	}

	// DELETE, then it is gone.
	if r := e.do("DELETE", "/admin/clients/"+reg.ClientID, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE: status %d %s", r.status, r.body)
	}
	e.do("GET", "/admin/clients/"+reg.ClientID, nil).wantError(t, http.StatusNotFound, "not_found")
	e.do("DELETE", "/admin/clients/"+reg.ClientID, nil).wantError(t, http.StatusNotFound, "not_found")
	e.noLeak(reg.ClientSecret, stored.SecretDigest)
}

func TestPublicClientHasNoSecret(t *testing.T) {
	e := newEnv(t)
	body := friendFinder()
	body["token_endpoint_auth_method"] = "none"
	r := e.do("POST", "/admin/clients", body)
	reg := decode[admin.ClientRegistration](t, r, http.StatusCreated)
	m := members(t, r.body)
	if _, ok := m["client_secret"]; ok {
		t.Errorf("a public client got a secret: %s", r.body)
	}
	if _, ok := m["client_secret_expires_at"]; ok {
		t.Errorf("client_secret_expires_at without a secret: %s", r.body)
	}
	c, err := e.store.Clients.Get(t.Context(), reg.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if c.SecretDigest != "" || !c.Public() {
		t.Errorf("stored public client: digest %q, public %v", c.SecretDigest, c.Public())
	}

	// It cannot become confidential: it has no secret to authenticate with.
	body["token_endpoint_auth_method"] = "client_secret_basic"
	e.do("PUT", "/admin/clients/"+reg.ClientID, body).wantError(t, http.StatusBadRequest, "invalid_client_metadata")
	if c, _ := e.store.Clients.Get(t.Context(), reg.ClientID); !c.Public() {
		t.Errorf("the refused update changed the client to %q", c.TokenEndpointAuthMethod)
	}
}

func TestConfidentialToPublicDropsTheSecret(t *testing.T) {
	e := newEnv(t)
	reg := decode[admin.ClientRegistration](t, e.do("POST", "/admin/clients", friendFinder()), http.StatusCreated)
	body := friendFinder()
	body["token_endpoint_auth_method"] = "none"
	decode[admin.ClientMetadata](t, e.do("PUT", "/admin/clients/"+reg.ClientID, body), http.StatusOK)
	c, err := e.store.Clients.Get(t.Context(), reg.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if c.SecretDigest != "" {
		t.Errorf("a client made public keeps its secret digest, which would revive if it turned confidential again")
	}
}

func TestServerChoosesClientID(t *testing.T) {
	e := newEnv(t)
	body := friendFinder()
	body["client_id"] = "admin"
	body["client_secret"] = "hunter2"
	body["client_secret_expires_at"] = 12345
	reg := decode[admin.ClientRegistration](t, e.do("POST", "/admin/clients", body), http.StatusCreated)
	if reg.ClientID == "admin" || reg.ClientSecret == "hunter2" {
		t.Fatalf("the caller chose its credentials: id %q secret %q", reg.ClientID, reg.ClientSecret)
	}
	if reg.ClientSecretExpiresAt == nil || *reg.ClientSecretExpiresAt != 0 {
		t.Errorf("client_secret_expires_at %v, want 0", reg.ClientSecretExpiresAt)
	}
	e.do("GET", "/admin/clients/admin", nil).wantError(t, http.StatusNotFound, "not_found")
	c, err := e.store.Clients.Get(t.Context(), reg.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if e.digester.Equal(secret.PurposeClientSecret, "hunter2", c.SecretDigest) {
		t.Error("the caller's client_secret was stored")
	}
	again := decode[admin.ClientRegistration](t, e.do("POST", "/admin/clients", body), http.StatusCreated)
	if again.ClientID == reg.ClientID || again.ClientSecret == reg.ClientSecret {
		t.Error("two registrations got the same id or secret")
	}
	e.noLeak(reg.ClientSecret, again.ClientSecret)
}

// with returns friendFinder() with member k set to v (deleted when v is nil).
func with(k string, v any) map[string]any {
	b := friendFinder()
	if v == nil {
		delete(b, k)
	} else {
		b[k] = v
	}
	return b
}

// refusal is a request body and the error it must get.
type refusal struct {
	name   string
	body   any
	status int
	code   string
}

// invalidRegistrations are refused on POST and PUT alike.
var invalidRegistrations = []refusal{
	{"fragment", with("redirect_uris", []string{"https://client.example/cb#frag"}), 400, "invalid_redirect_uri"},
	{"javascript", with("redirect_uris", []string{"javascript:alert(1)"}), 400, "invalid_redirect_uri"},
	{"JaVaScRiPt", with("redirect_uris", []string{"JaVaScRiPt:alert(1)"}), 400, "invalid_redirect_uri"},
	{"space javascript", with("redirect_uris", []string{" javascript:alert(1)"}), 400, "invalid_redirect_uri"},
	{"data", with("redirect_uris", []string{"data:text/html,<script>alert(1)</script>"}), 400, "invalid_redirect_uri"},
	{"vbscript", with("redirect_uris", []string{"vbscript:x"}), 400, "invalid_redirect_uri"},
	{"http not loopback", with("redirect_uris", []string{"http://client.example/cb"}), 400, "invalid_redirect_uri"},
	{"http localhost", with("redirect_uris", []string{"http://localhost/cb"}), 400, "invalid_redirect_uri"},
	{"relative", with("redirect_uris", []string{"/cb"}), 400, "invalid_redirect_uri"},
	{"wildcard", with("redirect_uris", []string{"https://*.client.example/*"}), 400, "invalid_redirect_uri"},
	{"oob", with("redirect_uris", []string{"urn:ietf:wg:oauth:2.0:oob"}), 400, "invalid_redirect_uri"},
	{"code in query", with("redirect_uris", []string{"https://client.example/cb?code=1"}), 400, "invalid_redirect_uri"},
	// RU-05d: every parameter the server itself puts on the redirect.
	{"state in query", with("redirect_uris", []string{"https://client.example/cb?state=x"}), 400, "invalid_redirect_uri"},
	{"iss in query", with("redirect_uris", []string{"https://client.example/cb?tenant=a&iss=x"}), 400, "invalid_redirect_uri"},
	{"error in query", with("redirect_uris", []string{"https://client.example/cb?error=x"}), 400, "invalid_redirect_uri"},
	{"id_token in query", with("redirect_uris", []string{"https://client.example/cb?id_token=x"}), 400, "invalid_redirect_uri"},
	{"access_token in query", with("redirect_uris", []string{"https://client.example/cb?access_token=x"}), 400, "invalid_redirect_uri"},
	{"session_state in query", with("redirect_uris", []string{"https://client.example/cb?session_state=x"}), 400, "invalid_redirect_uri"},
	// RG-01: an encoded newline inside the scheme.
	{"java%0ascript", with("redirect_uris", []string{"java%0ascript:alert(1)"}), 400, "invalid_redirect_uri"},
	{"one bad of two", with("redirect_uris", []string{"https://client.example/cb", "https://client.example/cb#x"}), 400, "invalid_redirect_uri"},
	{"empty redirect_uris", with("redirect_uris", []string{}), 400, "invalid_redirect_uri"},
	{"no redirect_uris", with("redirect_uris", nil), 400, "invalid_redirect_uri"},
	{"unknown grant", with("grant_types", []string{"authorization_code", "urn:example:magic"}), 400, "invalid_client_metadata"},
	{"unknown auth method", with("token_endpoint_auth_method", "private_key_jwt_or_so"), 400, "invalid_client_metadata"},
	{"none + client_credentials", func() any {
		b := with("grant_types", []string{"client_credentials"})
		b["token_endpoint_auth_method"] = "none"
		return b
	}(), 400, "invalid_client_metadata"},
	{"code response, implicit grant", func() any {
		b := with("grant_types", []string{"implicit"})
		b["response_types"] = []string{"code"}
		return b
	}(), 400, "invalid_client_metadata"},
	{"code grant without code response", with("response_types", []string{"token"}), 400, "invalid_client_metadata"},
	{"unknown response type", with("response_types", []string{"code", "id_token token"}), 400, "invalid_client_metadata"},
	{"scope double space", with("scope", "openid  contacts.read"), 400, "invalid_client_metadata"},
	{"scope leading space", with("scope", " openid"), 400, "invalid_client_metadata"},
	{"scope quote", with("scope", `open"id`), 400, "invalid_client_metadata"},
	{"scope repeated", with("scope", "openid openid"), 400, "invalid_client_metadata"},
	{"scope as array", with("scope", []string{"openid"}), 400, "invalid_client_metadata"},
	{"redirect_uris as string", with("redirect_uris", "https://client.example/cb"), 400, "invalid_client_metadata"},
	{"logo javascript", with("logo_uri", "javascript:alert(1)"), 400, "invalid_client_metadata"},
	{"client_uri data", with("client_uri", "data:text/html,hi"), 400, "invalid_client_metadata"},
	{"name with newline", with("client_name", "Friend\nFinder"), 400, "invalid_client_metadata"},
	{"unknown member", with("redirect_uri", "https://client.example/cb"), 400, "invalid_client_metadata"},
	{"case-folded member", `{"Client_Name":"x","redirect_uris":["https://client.example/cb"]}`, 400, "invalid_client_metadata"},
	{"duplicate member", `{"client_name":"x","redirect_uris":["https://client.example/cb"],"redirect_uris":["https://evil.example/cb"]}`, 400, "invalid_client_metadata"},
	{"duplicate client_name", `{"client_name":"x","client_name":"y","redirect_uris":["https://client.example/cb"]}`, 400, "invalid_client_metadata"},
	{"unknown token format", with("access_token_format", "paseto"), 400, "invalid_client_metadata"},
	{"token format case", with("access_token_format", "JWT"), 400, "invalid_client_metadata"},
	{"token format as array", with("access_token_format", []string{"jwt"}), 400, "invalid_client_metadata"},
	{"relative resource", with("resources", []string{"/contacts"}), 400, "invalid_client_metadata"},
	{"resource with fragment", with("resources", []string{"https://mail.example/api#x"}), 400, "invalid_client_metadata"},
	{"resource with space", with("resources", []string{"https://mail.example/a b"}), 400, "invalid_client_metadata"},
	{"resources as string", with("resources", "https://mail.example/api"), 400, "invalid_client_metadata"},
	{"21 resources", with("resources", func() []string {
		var rs []string
		for i := range 21 {
			rs = append(rs, fmt.Sprintf("https://api%d.example/", i))
		}
		return rs
	}()), 400, "invalid_client_metadata"},
	{"post-logout URI http", with("post_logout_redirect_uris", []string{"http://friendfinder.example/bye"}), 400, "invalid_client_metadata"},
	{"post-logout URI fragment", with("post_logout_redirect_uris", []string{"https://friendfinder.example/bye#x"}), 400, "invalid_client_metadata"},
	{"post-logout URI private scheme", with("post_logout_redirect_uris", []string{"com.example.app:/bye"}), 400, "invalid_client_metadata"},
	{"post-logout URIs as string", with("post_logout_redirect_uris", "https://friendfinder.example/bye"), 400, "invalid_client_metadata"},
	{"21 post-logout URIs", with("post_logout_redirect_uris", func() []string {
		var us []string
		for i := range 21 {
			us = append(us, fmt.Sprintf("https://friendfinder.example/bye%d", i))
		}
		return us
	}()), 400, "invalid_client_metadata"},
	{"back-channel URI http", with("backchannel_logout_uri", "http://friendfinder.example/logout"), 400, "invalid_client_metadata"},
	{"back-channel URI relative", with("backchannel_logout_uri", "/logout"), 400, "invalid_client_metadata"},
	{"session required as string", with("backchannel_logout_session_required", "true"), 400, "invalid_client_metadata"},
	{"id token alg none", with("id_token_signed_response_alg", "none"), 400, "invalid_client_metadata"},
	{"id token alg HS256", with("id_token_signed_response_alg", "HS256"), 400, "invalid_client_metadata"},
	{"id token alg case", with("id_token_signed_response_alg", "rs256"), 400, "invalid_client_metadata"},
	{"unknown subject type", with("subject_type", "private"), 400, "invalid_client_metadata"},
	// friendFinder's redirect URIs are on two hosts: no single sector.
	{"pairwise across hosts", with("subject_type", "pairwise"), 400, "invalid_client_metadata"},
	{"malformed JSON", `{"client_name":"x",`, 400, "invalid_request"},
	{"trailing garbage", `{"client_name":"x","redirect_uris":["https://client.example/cb"]} x`, 400, "invalid_request"},
	{"two objects", `{"redirect_uris":["https://client.example/cb"]}{"redirect_uris":["https://client.example/cb"]}`, 400, "invalid_request"},
	{"array", `[{"redirect_uris":["https://client.example/cb"]}]`, 400, "invalid_request"},
	{"null", `null`, 400, "invalid_request"},
	{"empty body", ``, 400, "invalid_request"},
	{"100 KiB", `{"client_name":"` + strings.Repeat("a", 100<<10) + `","redirect_uris":["https://client.example/cb"]}`, 413, "invalid_request"},
}

func TestInvalidRegistrationsStoreNothing(t *testing.T) {
	e := newEnv(t)
	for _, tc := range invalidRegistrations {
		t.Run(tc.name, func(t *testing.T) {
			before := e.do("GET", "/admin/clients", nil).body
			b := e.do("POST", "/admin/clients", tc.body).wantError(t, tc.status, tc.code)
			if b.Description == "" {
				t.Error("no error_description")
			}
			if after := e.do("GET", "/admin/clients", nil).body; string(after) != string(before) {
				t.Errorf("the refused registration changed the list:\n%s\n%s", before, after)
			}
		})
	}
}

func TestInvalidUpdatesChangeNothing(t *testing.T) {
	e := newEnv(t)
	reg := decode[admin.ClientRegistration](t, e.do("POST", "/admin/clients", friendFinder()), http.StatusCreated)
	path := "/admin/clients/" + reg.ClientID
	before, err := e.store.Clients.Get(t.Context(), reg.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	cases := append(slices.Clip(invalidRegistrations),
		refusal{"change client_id", with("client_id", "someone-else"), 400, "invalid_client_metadata"},
		refusal{"set client_secret", with("client_secret", "hunter2"), 400, "invalid_client_metadata"},
		refusal{"repeat client_secret", with("client_secret", reg.ClientSecret), 400, "invalid_client_metadata"},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.do("PUT", path, tc.body).wantError(t, tc.status, tc.code)
			after, err := e.store.Clients.Get(t.Context(), reg.ClientID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(after, before) {
				t.Errorf("the refused update changed the client:\n%+v\n%+v", before, after)
			}
		})
	}
	e.do("PUT", "/admin/clients/unknown", friendFinder()).wantError(t, http.StatusNotFound, "not_found")
}

func TestContentType(t *testing.T) {
	e := newEnv(t)
	body := `{"client_name":"x","redirect_uris":["https://client.example/cb"]}`
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/jsonx"} {
		h := http.Header{"Authorization": {"Bearer " + testToken}}
		if ct != "" {
			h.Set("Content-Type", ct)
		}
		e.send("POST", "/admin/clients", body, h).wantError(t, http.StatusBadRequest, "invalid_request")
	}
	h := http.Header{"Authorization": {"Bearer " + testToken}, "Content-Type": {"application/json; charset=utf-8"}}
	if r := e.send("POST", "/admin/clients", body, h); r.status != http.StatusCreated {
		t.Errorf("application/json with charset: status %d %s", r.status, r.body)
	}
	if l := decode[admin.ClientList](t, e.do("GET", "/admin/clients", nil), 200); len(l.Clients) != 1 {
		t.Errorf("%d clients, want only the one sent as JSON", len(l.Clients))
	}
}

func TestErrorDescriptionsNameTheField(t *testing.T) {
	e := newEnv(t)
	b := e.do("POST", "/admin/clients", with("redirect_uris", []string{"http://client.example/cb"})).
		wantError(t, http.StatusBadRequest, "invalid_redirect_uri")
	for _, s := range []string{"redirect_uris", "'http://client.example/cb'", "https"} {
		if !strings.Contains(b.Description, s) {
			t.Errorf("description %q does not mention %q", b.Description, s)
		}
	}
	b = e.do("POST", "/admin/clients", `{"redirect_uris":"https://client.example/cb"}`).
		wantError(t, http.StatusBadRequest, "invalid_client_metadata")
	if !strings.HasPrefix(b.Description, "redirect_uris: must be an array of strings") {
		t.Errorf("description %q", b.Description)
	}
	b = e.do("POST", "/admin/clients", `{"redirect_uris":["https://client.example/cb"]`).
		wantError(t, http.StatusBadRequest, "invalid_request")
	if !strings.Contains(b.Description, "not valid JSON") {
		t.Errorf("description %q", b.Description)
	}
}

// TestTokenFormatAndResources: the RFC 9068/opaque switch and the RFC 8707
// resources go in on create and update, are stored, and come back out.
func TestTokenFormatAndResources(t *testing.T) {
	e := newEnv(t)
	body := friendFinder()
	body["access_token_format"] = "opaque"
	body["resources"] = []string{"https://mail.example/api", "urn:example:contacts"}
	r := e.do("POST", "/admin/clients", body)
	reg := decode[admin.ClientRegistration](t, r, http.StatusCreated)
	if reg.AccessTokenFormat != "opaque" || !slices.Equal(reg.Resources, []string{"https://mail.example/api", "urn:example:contacts"}) {
		t.Errorf("registration: format %q, resources %q", reg.AccessTokenFormat, reg.Resources)
	}
	c, err := e.store.Clients.Get(t.Context(), reg.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessTokenFormat != "opaque" || !slices.Equal(c.Resources, reg.Resources) {
		t.Errorf("stored: format %q, resources %q", c.AccessTokenFormat, c.Resources)
	}
	got := decode[admin.ClientMetadata](t, e.do("GET", "/admin/clients/"+reg.ClientID, nil), http.StatusOK)
	if !reflect.DeepEqual(got, reg.ClientMetadata) {
		t.Errorf("GET\n got %+v\nwant %+v", got, reg.ClientMetadata)
	}

	// An update without the members goes back to the defaults, as every
	// other member of a PUT does.
	got = decode[admin.ClientMetadata](t, e.do("PUT", "/admin/clients/"+reg.ClientID, friendFinder()), http.StatusOK)
	if got.AccessTokenFormat != "jwt" || got.Resources == nil || len(got.Resources) != 0 {
		t.Errorf("PUT without them: format %q, resources %#v", got.AccessTokenFormat, got.Resources)
	}
	if m := members(t, e.do("GET", "/admin/clients/"+reg.ClientID, nil).body); string(m["resources"]) != "[]" || string(m["access_token_format"]) != `"jwt"` {
		t.Errorf("JSON: resources %s, access_token_format %s", m["resources"], m["access_token_format"])
	}
}

// TestOpenIDConnectMetadata: the logout URIs, the ID token algorithm and the
// subject type go in on create and update, are stored, and come back out.
func TestOpenIDConnectMetadata(t *testing.T) {
	e := newEnv(t)
	body := with("redirect_uris", []string{"https://friendfinder.example/callback", "https://friendfinder.example/cb2"})
	body["post_logout_redirect_uris"] = []string{"https://friendfinder.example/bye", "http://127.0.0.1:8400/bye"}
	body["backchannel_logout_uri"] = "https://friendfinder.example/backchannel"
	body["backchannel_logout_session_required"] = true
	body["id_token_signed_response_alg"] = "ES256"
	body["subject_type"] = "pairwise"
	r := e.do("POST", "/admin/clients", body)
	reg := decode[admin.ClientRegistration](t, r, http.StatusCreated)
	if !slices.Equal(reg.PostLogoutRedirectURIs, []string{"https://friendfinder.example/bye", "http://127.0.0.1:8400/bye"}) ||
		reg.BackchannelLogoutURI != "https://friendfinder.example/backchannel" || !reg.BackchannelLogoutSessionRequired ||
		reg.IDTokenSignedResponseAlg != "ES256" || reg.SubjectType != "pairwise" {
		t.Errorf("registration %+v", reg.ClientMetadata)
	}
	c, err := e.store.Clients.Get(t.Context(), reg.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.PostLogoutRedirectURIs, reg.PostLogoutRedirectURIs) || c.BackchannelLogoutURI != reg.BackchannelLogoutURI ||
		!c.BackchannelLogoutSessionRequired || c.IDTokenSignedResponseAlg != "ES256" || c.SubjectType != "pairwise" {
		t.Errorf("stored %+v", c)
	}
	if got := decode[admin.ClientMetadata](t, e.do("GET", "/admin/clients/"+reg.ClientID, nil), http.StatusOK); !reflect.DeepEqual(got, reg.ClientMetadata) {
		t.Errorf("GET\n got %+v\nwant %+v", got, reg.ClientMetadata)
	}

	// An update without the members goes back to the defaults, as every
	// other member of a PUT does, and the answer names them.
	r = e.do("PUT", "/admin/clients/"+reg.ClientID, friendFinder())
	got := decode[admin.ClientMetadata](t, r, http.StatusOK)
	if got.PostLogoutRedirectURIs == nil || len(got.PostLogoutRedirectURIs) != 0 || got.BackchannelLogoutURI != "" ||
		got.BackchannelLogoutSessionRequired || got.IDTokenSignedResponseAlg != "RS256" || got.SubjectType != "public" {
		t.Errorf("PUT without them: %+v", got)
	}
	m := members(t, r.body)
	for k, v := range map[string]string{"post_logout_redirect_uris": "[]", "backchannel_logout_session_required": "false",
		"id_token_signed_response_alg": `"RS256"`, "subject_type": `"public"`} {
		if string(m[k]) != v {
			t.Errorf("JSON %s = %s, want %s", k, m[k], v)
		}
	}
	if _, ok := m["backchannel_logout_uri"]; ok {
		t.Errorf("JSON has backchannel_logout_uri %s, want it left out when not set", m["backchannel_logout_uri"])
	}
	if c, _ := e.store.Clients.Get(t.Context(), reg.ClientID); c.PostLogoutRedirectURIs != nil || c.SubjectType != "" || c.IDTokenSignedResponseAlg != "" {
		t.Errorf("stored after PUT: %+v", c)
	}
}
