package oidc_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/valetauth/valet/internal/oidc"
	"github.com/valetauth/valet/internal/token"

	"github.com/valetauth/valet/internal/testclock"
)

// allOn is every switch on, as with the legacy grants enabled.
var allOn = oidc.Supported{AuthorizationCode: true, RefreshToken: true, ClientCredentials: true,
	Implicit: true, Password: true, Introspection: true, Revocation: true, Scopes: []string{"openid", "contacts.read"}}

// modern is the default server: no legacy grants.
var modern = oidc.Supported{AuthorizationCode: true, RefreshToken: true, ClientCredentials: true,
	Introspection: true, Revocation: true}

func TestMetadata(t *testing.T) {
	for _, tc := range []struct {
		name      string
		supported oidc.Supported
		want      map[string]any
	}{
		{"modern", modern, map[string]any{
			"issuer":                 issuer,
			"authorization_endpoint": issuer + "/authorize",
			"token_endpoint":         issuer + "/token",
			"jwks_uri":               issuer + "/jwks",
			"introspection_endpoint": issuer + "/introspect",
			"introspection_endpoint_auth_methods_supported":  []any{"client_secret_basic", "client_secret_post"},
			"revocation_endpoint":                            issuer + "/revoke",
			"revocation_endpoint_auth_methods_supported":     []any{"client_secret_basic", "client_secret_post", "none"},
			"response_types_supported":                       []any{"code"},
			"response_modes_supported":                       []any{"query"},
			"grant_types_supported":                          []any{"authorization_code", "refresh_token", "client_credentials"},
			"token_endpoint_auth_methods_supported":          []any{"client_secret_basic", "client_secret_post", "none"},
			"code_challenge_methods_supported":               []any{"S256"},
			"authorization_response_iss_parameter_supported": true,
		}},
		{"legacy on", allOn, map[string]any{
			"issuer":                 issuer,
			"authorization_endpoint": issuer + "/authorize",
			"token_endpoint":         issuer + "/token",
			"jwks_uri":               issuer + "/jwks",
			"introspection_endpoint": issuer + "/introspect",
			"introspection_endpoint_auth_methods_supported":  []any{"client_secret_basic", "client_secret_post"},
			"revocation_endpoint":                            issuer + "/revoke",
			"revocation_endpoint_auth_methods_supported":     []any{"client_secret_basic", "client_secret_post", "none"},
			"scopes_supported":                               []any{"openid", "contacts.read"},
			"response_types_supported":                       []any{"code", "token"},
			"response_modes_supported":                       []any{"query", "fragment"},
			"grant_types_supported":                          []any{"authorization_code", "implicit", "refresh_token", "client_credentials", "password"},
			"token_endpoint_auth_methods_supported":          []any{"client_secret_basic", "client_secret_post", "none"},
			"code_challenge_methods_supported":               []any{"S256"},
			"authorization_response_iss_parameter_supported": true,
		}},
		// A machine-to-machine server: no browser endpoint, no PKCE, no iss
		// parameter, nothing that is not there.
		{"client credentials only", oidc.Supported{ClientCredentials: true}, map[string]any{
			"issuer":                                issuer,
			"token_endpoint":                        issuer + "/token",
			"jwks_uri":                              issuer + "/jwks",
			"response_types_supported":              []any{},
			"grant_types_supported":                 []any{"client_credentials"},
			"token_endpoint_auth_methods_supported": []any{"client_secret_basic", "client_secret_post", "none"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := serve(t, &oidc.Handler{Issuer: issuer, Keys: leakyKeys{}, Supported: tc.supported})
			r := get(t, url+"/.well-known/oauth-authorization-server")
			r.wantPublic(t)
			var got map[string]any
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("metadata\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestMetadataIssuerIsExact: RFC 8414 §3.3, the issuer in the document is
// identical to the configured one, with its path and trailing slash, and
// the document is also where §3.1 puts it for an issuer with a path.
func TestMetadataIssuerIsExact(t *testing.T) {
	for _, tc := range []struct{ issuer, path, endpoint string }{
		{"https://auth.example.com", "/.well-known/oauth-authorization-server", "https://auth.example.com/token"},
		{"https://auth.example.com/", "/.well-known/oauth-authorization-server", "https://auth.example.com/token"},
		{"http://127.0.0.1:8080", "/.well-known/oauth-authorization-server", "http://127.0.0.1:8080/token"},
		{"https://example.com/tenant/a", "/.well-known/oauth-authorization-server/tenant/a", "https://example.com/tenant/a/token"},
		{"https://example.com/tenant/a/", "/.well-known/oauth-authorization-server/tenant/a", "https://example.com/tenant/a/token"},
	} {
		url := serve(t, &oidc.Handler{Issuer: tc.issuer, Keys: leakyKeys{}, Supported: modern})
		for _, path := range []string{tc.path, "/.well-known/oauth-authorization-server"} {
			r := get(t, url+path)
			r.wantPublic(t)
			var m oidc.Metadata
			if err := json.Unmarshal(r.body, &m); err != nil {
				t.Fatal(err)
			}
			if m.Issuer != tc.issuer || m.TokenEndpoint != tc.endpoint {
				t.Errorf("issuer %q at %s: document says issuer %q, token endpoint %q; want %q", tc.issuer, path, m.Issuer, m.TokenEndpoint, tc.endpoint)
			}
		}
	}
}

func TestRegisterRefusesABadIssuer(t *testing.T) {
	for _, iss := range []string{"", "auth.example.com", "ftp://auth.example.com", "https://auth.example.com?x=1", "https://auth.example.com#f", "https://"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register with issuer %q did not panic", iss)
				}
			}()
			(&oidc.Handler{Issuer: iss, Keys: leakyKeys{}}).Register(http.NewServeMux())
		}()
	}
}

// openIDHandler is a Handler with OpenID Connect on and the dependencies
// of /userinfo.
func openIDHandler(t *testing.T, iss string, s oidc.Supported) *oidc.Handler {
	t.Helper()
	c := testclock.New(t0)
	ring, st := newRing(t, c)
	return &oidc.Handler{Issuer: iss, Keys: ring, Supported: s,
		Introspector: &token.Introspector{Issuer: &token.Issuer{URL: iss, Keys: ring, Now: c.Now}},
		Users:        st.Users, Clients: st.Clients,
		Claims: token.ClaimRules{Custom: map[string][]string{"org": {"department"}}}}
}

func getJSON(t *testing.T, url string) map[string]any {
	t.Helper()
	r := get(t, url)
	r.wantPublic(t)
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDiscovery: OpenID Connect Discovery §3, with every switch of the
// /authorize side and of logout on, and with each off.
func TestDiscovery(t *testing.T) {
	on := allOn
	on.OpenID, on.IDTokenResponseTypes, on.FormPost, on.EndSession = true, true, true, true
	on.BackchannelLogout, on.BackchannelLogoutSession = true, true
	got := getJSON(t, serve(t, openIDHandler(t, issuer, on))+"/.well-known/openid-configuration")
	want := map[string]any{
		"issuer":                                issuer,
		"authorization_endpoint":                issuer + "/authorize",
		"token_endpoint":                        issuer + "/token",
		"userinfo_endpoint":                     issuer + "/userinfo",
		"end_session_endpoint":                  issuer + "/logout",
		"jwks_uri":                              issuer + "/jwks",
		"scopes_supported":                      []any{"openid", "contacts.read", "profile", "email", "org"},
		"response_types_supported":              []any{"code", "token", "id_token", "id_token token", "code id_token", "code token", "code id_token token"},
		"response_modes_supported":              []any{"query", "fragment", "form_post"},
		"grant_types_supported":                 []any{"authorization_code", "implicit", "refresh_token", "client_credentials", "password"},
		"subject_types_supported":               []any{"public", "pairwise"},
		"id_token_signing_alg_values_supported": []any{"RS256", "ES256"},
		"claims_supported": []any{"iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "sub",
			"name", "preferred_username", "updated_at", "email", "email_verified", "department"},
		"token_endpoint_auth_methods_supported":          []any{"client_secret_basic", "client_secret_post", "none"},
		"code_challenge_methods_supported":               []any{"S256"},
		"introspection_endpoint":                         issuer + "/introspect",
		"introspection_endpoint_auth_methods_supported":  []any{"client_secret_basic", "client_secret_post"},
		"revocation_endpoint":                            issuer + "/revoke",
		"revocation_endpoint_auth_methods_supported":     []any{"client_secret_basic", "client_secret_post", "none"},
		"authorization_response_iss_parameter_supported": true,
		"backchannel_logout_supported":                   true,
		"backchannel_logout_session_supported":           true,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"claims_parameter_supported":                     false,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("discovery document\n got %v\nwant %v", got, want)
	}

	// With the switches of the other side off, their members go.
	basic := modern
	basic.OpenID = true
	got = getJSON(t, serve(t, openIDHandler(t, issuer, basic))+"/.well-known/openid-configuration")
	for _, m := range []string{"end_session_endpoint", "backchannel_logout_supported", "backchannel_logout_session_supported"} {
		if _, ok := got[m]; ok {
			t.Errorf("%s is advertised with its switch off", m)
		}
	}
	if rt := got["response_types_supported"]; !reflect.DeepEqual(rt, []any{"code"}) {
		t.Errorf("response_types_supported %v, want [code]", rt)
	}
	if rm := got["response_modes_supported"]; !reflect.DeepEqual(rm, []any{"query"}) {
		t.Errorf("response_modes_supported %v, want [query]", rm)
	}
	// request_uri_parameter_supported defaults to true when absent
	// (Discovery §3): false must be written.
	if got["request_uri_parameter_supported"] != false || got["userinfo_endpoint"] != issuer+"/userinfo" {
		t.Errorf("document %v", got)
	}
	// The session flag means nothing without back-channel logout.
	half := basic
	half.BackchannelLogoutSession = true
	got = getJSON(t, serve(t, openIDHandler(t, issuer, half))+"/.well-known/openid-configuration")
	if _, ok := got["backchannel_logout_session_supported"]; ok {
		t.Error("backchannel_logout_session_supported without backchannel_logout_supported")
	}
}

// TestDiscoveryAgreesWithRFC8414: the two documents come from one
// function, so every member both carry is equal, and neither lacks one
// the other has.
func TestDiscoveryAgreesWithRFC8414(t *testing.T) {
	full := allOn
	full.OpenID, full.IDTokenResponseTypes, full.FormPost, full.EndSession, full.BackchannelLogout = true, true, true, true, true
	minimal := oidc.Supported{AuthorizationCode: true, OpenID: true}
	for name, s := range map[string]oidc.Supported{"full": full, "minimal": minimal} {
		for _, iss := range []string{issuer, "https://example.com/tenant"} {
			url := serve(t, openIDHandler(t, iss, s))
			tenant := strings.TrimPrefix(iss, "https://example.com")
			if iss == issuer {
				tenant = ""
			}
			oauthDoc := getJSON(t, url+"/.well-known/oauth-authorization-server"+tenant)
			// Discovery §4: the issuer with /.well-known/openid-configuration
			// appended; and without the path, as a path-stripping proxy sends it.
			for _, path := range []string{tenant + "/.well-known/openid-configuration", "/.well-known/openid-configuration"} {
				oidcDoc := getJSON(t, url+path)
				if oidcDoc["issuer"] != iss {
					t.Errorf("%s %s: issuer %v, want %s", name, path, oidcDoc["issuer"], iss)
				}
				shared := 0
				for k, v := range oauthDoc {
					if w, ok := oidcDoc[k]; ok {
						shared++
						if !reflect.DeepEqual(v, w) {
							t.Errorf("%s %s: %s is %v in RFC 8414 metadata and %v in discovery", name, path, k, v, w)
						}
					}
				}
				if shared < 10 || len(oauthDoc) != len(oidcDoc) {
					t.Errorf("%s %s: %d shared members of %d and %d", name, path, shared, len(oauthDoc), len(oidcDoc))
				}
			}
		}
	}
}

// TestOpenIDOff: without OpenID Connect there is no discovery document, no
// UserInfo and no OpenID member in the RFC 8414 document.
func TestOpenIDOff(t *testing.T) {
	url := serve(t, &oidc.Handler{Issuer: issuer, Keys: leakyKeys{}, Supported: allOn})
	for _, path := range []string{"/.well-known/openid-configuration", "/userinfo"} {
		if r := get(t, url+path); r.status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, r.status)
		}
	}
	doc := getJSON(t, url+"/.well-known/oauth-authorization-server")
	for _, m := range []string{"userinfo_endpoint", "subject_types_supported", "id_token_signing_alg_values_supported", "claims_supported"} {
		if _, ok := doc[m]; ok {
			t.Errorf("%s advertised with OpenID Connect off", m)
		}
	}
}

func TestRegisterRefusesOpenIDWithoutUserInfo(t *testing.T) {
	bad := map[string]*oidc.Handler{
		"no dependencies": {Issuer: issuer, Keys: leakyKeys{}, Supported: oidc.Supported{OpenID: true}},
	}
	h := openIDHandler(t, issuer, oidc.Supported{OpenID: true})
	h.Claims = token.ClaimRules{Custom: map[string][]string{"org": {"email_verified"}}}
	bad["a custom claim that is standard"] = h
	for name, h := range bad {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Register did not panic", name)
				}
			}()
			h.Register(http.NewServeMux())
		}()
	}
}
