package oidc_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/valetauth/valet/internal/oidc"
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
