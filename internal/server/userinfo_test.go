package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// UserInfo and discovery through the assembled server; the environment
// and the sign-in are oidc_test.go's.

// userinfo calls /userinfo with method, Authorization header auth (none if
// empty) and form body (none if nil).
func (e *oidcEnv) userinfo(t *testing.T, method, auth string, form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, e.srv.URL+"/userinfo", body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &m)
	return resp, m
}

// TestUserInfoErrors: RFC 6750 §3 answers, and the headers of catalogue
// HD-01 on every answer.
func TestUserInfoErrors(t *testing.T) {
	e := newOIDCEnv(t)
	p := newPerson(t, e.srv.URL)
	tok := e.signIn(t, p, "rp", "n", oidc.ScopeOpenID, "profile")
	plain := e.signIn(t, p, "rp", "n", "contacts.read") // no openid
	realm := `Bearer realm="` + strings.TrimPrefix(e.srv.URL, "http://") + `"`

	check := func(name string, resp *http.Response, status int, code string) {
		t.Helper()
		for k, v := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache", "X-Content-Type-Options": "nosniff"} {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q (HD-01)", name, k, got, v)
			}
		}
		if resp.StatusCode != status {
			t.Errorf("%s: status %d, want %d", name, resp.StatusCode, status)
		}
		challenge := resp.Header.Get("WWW-Authenticate")
		switch {
		case status == http.StatusOK:
			if ct := resp.Header.Get("Content-Type"); ct != "application/json;charset=UTF-8" {
				t.Errorf("%s: Content-Type %q", name, ct)
			}
		case code == "":
			if challenge != realm {
				t.Errorf("%s: challenge %q, want %q with no error (RFC 6750 §3.1)", name, challenge, realm)
			}
		case !strings.HasPrefix(challenge, realm+`, error="`+code+`", error_description="`):
			t.Errorf("%s: challenge %q, want error %s", name, challenge, code)
		}
	}

	resp, claims := e.userinfo(t, http.MethodGet, "Bearer "+tok.AccessToken, nil)
	check("valid", resp, http.StatusOK, "")
	if claims["sub"] != "user-ana" || claims["preferred_username"] != username {
		t.Errorf("claims %v", claims)
	}
	resp, _ = e.userinfo(t, http.MethodPost, "", url.Values{"access_token": {tok.AccessToken}})
	check("POST body", resp, http.StatusOK, "")

	resp, _ = e.userinfo(t, http.MethodGet, "", nil)
	check("no token", resp, http.StatusUnauthorized, "")
	resp, _ = e.userinfo(t, http.MethodGet, "Bearer not-a-token", nil)
	check("bad token", resp, http.StatusUnauthorized, "invalid_token")
	resp, _ = e.userinfo(t, http.MethodGet, "Bearer "+idToken(t, tok), nil)
	check("ID token as access token (JW-02a)", resp, http.StatusUnauthorized, "invalid_token")
	resp, _ = e.userinfo(t, http.MethodGet, "Bearer "+tok.RefreshToken, nil)
	check("refresh token as access token (JW-02b)", resp, http.StatusUnauthorized, "invalid_token")
	resp, _ = e.userinfo(t, http.MethodGet, "Bearer "+plain.AccessToken, nil)
	check("no openid", resp, http.StatusForbidden, "insufficient_scope")
	resp, _ = e.userinfo(t, http.MethodPost, "Bearer "+tok.AccessToken, url.Values{"access_token": {tok.AccessToken}})
	check("header and body", resp, http.StatusBadRequest, "invalid_request")
	if _, err := e.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(plain)); err == nil {
		t.Error("go-oidc's UserInfo succeeded without openid")
	}

	// Revoked at /revoke (RFC 7009): the access token stops working at once.
	form := url.Values{"token": {tok.AccessToken}}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("rp", e.rps["rp"].secret)
	rr, err := http.DefaultClient.Do(req)
	if err != nil || rr.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %v %v", rr, err)
	}
	rr.Body.Close()
	resp, _ = e.userinfo(t, http.MethodGet, "Bearer "+tok.AccessToken, nil)
	check("revoked", resp, http.StatusUnauthorized, "invalid_token")
}

// TestDiscoveryConsistency: the OpenID Connect document and the RFC 8414
// document of the assembled server agree on every member both carry, and
// the OpenID one has what Discovery §3 requires.
func TestDiscoveryConsistency(t *testing.T) {
	e := newOIDCEnv(t)
	fetch := func(path string) map[string]any {
		t.Helper()
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, err)
		}
		return m
	}
	od := fetch("/.well-known/openid-configuration")
	am := fetch("/.well-known/oauth-authorization-server")
	shared := 0
	for k, v := range am {
		if w, ok := od[k]; ok {
			shared++
			if !reflect.DeepEqual(v, w) {
				t.Errorf("%s: %v in RFC 8414 metadata, %v in discovery", k, v, w)
			}
		}
	}
	if shared < 10 {
		t.Errorf("only %d shared members", shared)
	}
	has := func(member, value string) bool {
		l, _ := od[member].([]any)
		return slices.Contains(l, any(value))
	}
	if od["issuer"] != e.srv.URL || od["userinfo_endpoint"] != e.srv.URL+"/userinfo" || od["jwks_uri"] != e.srv.URL+"/jwks" ||
		!has("response_types_supported", "code") || !has("subject_types_supported", "public") || !has("subject_types_supported", "pairwise") ||
		!has("id_token_signing_alg_values_supported", "RS256") || !has("id_token_signing_alg_values_supported", "ES256") ||
		!has("scopes_supported", "openid") || !has("scopes_supported", "profile") || !has("scopes_supported", "email") ||
		!has("claims_supported", "sub") || !has("claims_supported", "email_verified") ||
		od["request_uri_parameter_supported"] != false || od["claims_parameter_supported"] != false {
		t.Errorf("discovery document %v", od)
	}
	var pc struct {
		UserInfo string   `json:"userinfo_endpoint"`
		Algs     []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := e.provider.Claims(&pc); err != nil || pc.UserInfo != e.srv.URL+"/userinfo" || len(pc.Algs) != 2 {
		t.Errorf("go-oidc read %+v (%v)", pc, err)
	}
}
