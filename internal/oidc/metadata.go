package oidc

import (
	"slices"
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

	// OpenID says that OpenID Connect is on: ID tokens at /token, GET and
	// POST /userinfo, and /.well-known/openid-configuration. The scopes
	// that release claims (Handler.Claims) join scopes_supported.
	OpenID bool
	// The switches of the /authorize side and of logout, set from the
	// values that turn them on there; they count only with OpenID. IDTokenResponseTypes: the response
	// types id_token, id_token token, code id_token, code token and code
	// id_token token (OpenID Connect Core §3.2, §3.3). FormPost: response_mode
	// form_post (OAuth 2.0 Form Post Response Mode). EndSession: RP-initiated
	// logout at EndSessionPath. BackchannelLogout: logout tokens POSTed to
	// clients' backchannel_logout_uri; BackchannelLogoutSession: they carry
	// sid (Back-Channel Logout §2.1).
	IDTokenResponseTypes     bool
	FormPost                 bool
	EndSession               bool
	BackchannelLogout        bool
	BackchannelLogoutSession bool
}

// Endpoint paths under the issuer, the ones internal/web and internal/grant
// register.
const (
	AuthorizePath  = "/authorize"
	TokenPath      = "/token"
	IntrospectPath = "/introspect"
	RevokePath     = "/revoke"
	UserInfoPath   = "/userinfo"
	// EndSessionPath is where internal/web serves RP-initiated logout.
	EndSessionPath = "/logout"
)

// Well-known paths: RFC 8414 §3 and OpenID Connect Discovery §4.
const (
	metadataPath  = "/.well-known/oauth-authorization-server"
	discoveryPath = "/.well-known/openid-configuration"
)

// Metadata is the RFC 8414 §2 authorization server metadata document and,
// with OpenID Connect on, the OpenID Connect Discovery §3 provider metadata:
// one document, built by one function and served at both well-known URIs,
// so the two cannot disagree (RFC 8414 §7.1.2 registers the OpenID members
// for the OAuth document too).
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

	// OpenID Connect Discovery §3; absent while OpenID is off.
	UserInfoEndpoint                  string   `json:"userinfo_endpoint,omitempty"`
	EndSessionEndpoint                string   `json:"end_session_endpoint,omitempty"`
	SubjectTypesSupported             []string `json:"subject_types_supported,omitempty"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported,omitempty"`
	ClaimsSupported                   []string `json:"claims_supported,omitempty"`
	BackchannelLogoutSupported        bool     `json:"backchannel_logout_supported,omitempty"`
	BackchannelLogoutSessionSupported bool     `json:"backchannel_logout_session_supported,omitempty"`
	// Pointers, so that false is written: request_uri_parameter_supported
	// defaults to true when absent (Discovery §3), and Valet supports
	// neither request objects nor the claims parameter.
	RequestParameterSupported    *bool `json:"request_parameter_supported,omitempty"`
	RequestURIParameterSupported *bool `json:"request_uri_parameter_supported,omitempty"`
	ClaimsParameterSupported     *bool `json:"claims_parameter_supported,omitempty"`
}

// metadata builds the document from h.Issuer, h.Supported and, with
// OpenID Connect on, h.Claims. Both well-known URIs serve its result.
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
	if s.OpenID {
		h.openIDMetadata(m, base)
	}
	return m
}

// openIDMetadata adds what OpenID Connect Discovery §3 lists to m.
func (h *Handler) openIDMetadata(m *Metadata, base string) {
	s := h.Supported
	no := false
	m.UserInfoEndpoint = base + UserInfoPath
	// Core §8: "public" is the user ID, "pairwise" a per-sector value;
	// each client registers one (token.Subjects).
	m.SubjectTypesSupported = []string{"public", "pairwise"}
	// RS256 is mandatory (Core §15.1) and the default; ES256 for clients
	// that register id_token_signed_response_alg.
	m.IDTokenSigningAlgValuesSupported = []string{"RS256", "ES256"}
	m.ClaimsSupported = h.Claims.Supported()
	for _, sc := range h.Claims.Scopes() {
		if !slices.Contains(m.ScopesSupported, sc) {
			m.ScopesSupported = append(m.ScopesSupported, sc)
		}
	}
	if s.IDTokenResponseTypes {
		m.ResponseTypesSupported = append(m.ResponseTypesSupported,
			"id_token", "id_token token", "code id_token", "code token", "code id_token token")
		// Core §3.2.2.5, §3.3.2.5: the default mode of these is fragment.
		if !slices.Contains(m.ResponseModesSupported, "fragment") {
			m.ResponseModesSupported = append(m.ResponseModesSupported, "fragment")
		}
	}
	if s.FormPost {
		m.ResponseModesSupported = append(m.ResponseModesSupported, "form_post")
	}
	if s.EndSession {
		m.EndSessionEndpoint = base + EndSessionPath
	}
	m.BackchannelLogoutSupported = s.BackchannelLogout
	m.BackchannelLogoutSessionSupported = s.BackchannelLogout && s.BackchannelLogoutSession
	m.RequestParameterSupported, m.RequestURIParameterSupported, m.ClaimsParameterSupported = &no, &no, &no
}
