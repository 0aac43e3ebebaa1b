package oidc

import (
	"strings"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
)

// Supported is what the server does, switch by switch. The metadata lists
// exactly these and nothing more, so set each switch from the same value
// that decides whether the feature is wired: a grant listed here but not
// registered at /token (or the reverse) misleads every client library.
type Supported struct {
	AuthorizationCode bool // response_type=code at /authorize, grant_type=authorization_code at /token
	RefreshToken      bool // grant_type=refresh_token
	ClientCredentials bool // grant_type=client_credentials
	// Implicit (response_type=token) and Password (grant_type=password) are
	// the grants RFC 9700 deprecates: true only while the server-wide
	// switch allows them (pin P16).
	Implicit bool
	Password bool
	// Introspection and Revocation say whether POST /introspect (RFC 7662)
	// and POST /revoke (RFC 7009) are served.
	Introspection bool
	Revocation    bool
	// Scopes are the configured scope names, advertised as scopes_supported
	// (RFC 8414 §2 "RECOMMENDED"); empty leaves the member out.
	Scopes []string
}

// Endpoint paths under the issuer, the ones internal/web and internal/grant
// register.
const (
	AuthorizePath  = "/authorize"
	TokenPath      = "/token"
	IntrospectPath = "/introspect"
	RevokePath     = "/revoke"
)

// Metadata is the RFC 8414 §2 authorization server metadata document.
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint,omitempty"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	RevocationEndpoint                         string   `json:"revocation_endpoint,omitempty"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported,omitempty"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported,omitempty"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
}

// metadata builds the document from h.Issuer and h.Supported.
func (h *Handler) metadata() *Metadata {
	s := h.Supported
	base := strings.TrimSuffix(h.Issuer, "/")
	m := &Metadata{
		Issuer:        h.Issuer, // RFC 8414 §3.3: identical to the issuer
		TokenEndpoint: base + TokenPath,
		JWKSURI:       base + JWKSPath,
		// Every client authenticates at /token with one of these; "none"
		// is how public clients identify themselves (RFC 7591 §2).
		TokenEndpointAuthMethodsSupported: []string{valet.AuthSecretBasic, valet.AuthSecretPost, valet.AuthNone},
		ResponseTypesSupported:            []string{},
		GrantTypesSupported:               []string{},
	}
	if s.AuthorizationCode || s.Implicit {
		m.AuthorizationEndpoint = base + AuthorizePath
		// RFC 9207: every authorization response carries "iss".
		m.AuthorizationResponseIssParameterSupported = true
	}
	if s.AuthorizationCode {
		m.ResponseTypesSupported = append(m.ResponseTypesSupported, "code")
		m.ResponseModesSupported = append(m.ResponseModesSupported, "query")
		m.GrantTypesSupported = append(m.GrantTypesSupported, valet.GrantAuthorizationCode)
		// PKCE with S256 only; plain is refused (RFC 9700 §2.1.1).
		m.CodeChallengeMethodsSupported = []string{oauth.MethodS256}
	}
	if s.Implicit {
		// RFC 6749 §4.2.2: the token travels in the fragment.
		m.ResponseTypesSupported = append(m.ResponseTypesSupported, "token")
		m.ResponseModesSupported = append(m.ResponseModesSupported, "fragment")
		m.GrantTypesSupported = append(m.GrantTypesSupported, valet.GrantImplicit)
	}
	if s.RefreshToken {
		m.GrantTypesSupported = append(m.GrantTypesSupported, valet.GrantRefreshToken)
	}
	if s.ClientCredentials {
		m.GrantTypesSupported = append(m.GrantTypesSupported, valet.GrantClientCredentials)
	}
	if s.Password {
		m.GrantTypesSupported = append(m.GrantTypesSupported, valet.GrantPassword)
	}
	if s.Introspection {
		m.IntrospectionEndpoint = base + IntrospectPath
		// Only a client that can prove who it is may introspect (RFC 7662
		// §2.1 requires authorization); public clients cannot.
		m.IntrospectionEndpointAuthMethodsSupported = []string{valet.AuthSecretBasic, valet.AuthSecretPost}
	}
	if s.Revocation {
		m.RevocationEndpoint = base + RevokePath
		// RFC 7009 §2.1: a public client revokes its own tokens by client_id.
		m.RevocationEndpointAuthMethodsSupported = []string{valet.AuthSecretBasic, valet.AuthSecretPost, valet.AuthNone}
	}
	if len(s.Scopes) > 0 {
		m.ScopesSupported = append([]string(nil), s.Scopes...)
	}
	return m
}
