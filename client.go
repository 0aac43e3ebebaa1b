package valet

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Grant types a client may register (RFC 7591 §2).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantImplicit          = "implicit"
	GrantPassword          = "password"
)

// Client authentication methods at the token endpoint (RFC 7591 §2).
const (
	AuthSecretBasic = "client_secret_basic"
	AuthSecretPost  = "client_secret_post"
	AuthNone        = "none"
)

// Access token formats a client may register.
const (
	TokenFormatJWT    = "jwt"
	TokenFormatOpaque = "opaque"
)

// Validation error codes of RFC 7591 §3.2.2.
const (
	InvalidRedirectURI    = "invalid_redirect_uri"
	InvalidClientMetadata = "invalid_client_metadata"
)

// Client is an application registered to ask people for access, such as the
// demo's FriendFinder. Its JSON form is the RFC 7591 client metadata.
type Client struct {
	ID string `json:"client_id"`
	// SecretDigest is the keyed digest of the client secret; empty for public
	// clients (token_endpoint_auth_method "none"). The secret itself is never stored.
	SecretDigest string `json:"-"`

	Name                    string   `json:"client_name,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	Scopes                  []string `json:"-"` // the most this client may ask for; "scope" in JSON
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`

	// AccessTokenFormat is "jwt" (RFC 9068, the default) or "opaque"
	// (stored, read by introspection only).
	AccessTokenFormat string `json:"access_token_format,omitempty"`
	// Resources are the RFC 8707 resource indicators (absolute URIs) this
	// client may ask tokens for; empty means only the default audience.
	Resources []string `json:"resources,omitempty"`

	// OpenID Connect: where the person may be sent after logging out (exact
	// match, like redirect URIs), and where logout tokens are POSTed
	// (Back-Channel Logout §2.2).
	PostLogoutRedirectURIs           []string `json:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI             string   `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool     `json:"backchannel_logout_session_required,omitempty"`
	// IDTokenSignedResponseAlg is "RS256" (the default) or "ES256".
	IDTokenSignedResponseAlg string `json:"id_token_signed_response_alg,omitempty"`
	// SubjectType is "public" (the default) or "pairwise": a "sub" that is
	// different for every sector (redirect host), so apps cannot correlate
	// people (OpenID Connect Core §8).
	SubjectType string `json:"subject_type,omitempty"`

	// Pages show these to the person asked for consent.
	ClientURI string `json:"client_uri,omitempty"`
	LogoURI   string `json:"logo_uri,omitempty"`
	PolicyURI string `json:"policy_uri,omitempty"`
	TosURI    string `json:"tos_uri,omitempty"`

	CreatedAt time.Time `json:"-"`
	UpdatedAt time.Time `json:"-"`
}

// Clone returns a copy of c that shares no list with it, so that a cached
// registration handed to several requests cannot be changed through one.
func (c *Client) Clone() *Client {
	cp := *c
	cp.RedirectURIs = slices.Clone(c.RedirectURIs)
	cp.GrantTypes = slices.Clone(c.GrantTypes)
	cp.ResponseTypes = slices.Clone(c.ResponseTypes)
	cp.Scopes = slices.Clone(c.Scopes)
	cp.Resources = slices.Clone(c.Resources)
	cp.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	return &cp
}

// Public reports whether the client cannot keep a secret (RFC 6749 §2.1).
func (c *Client) Public() bool { return c.TokenEndpointAuthMethod == AuthNone }

// AllowsGrant reports whether the client registered grantType.
func (c *Client) AllowsGrant(grantType string) bool { return slices.Contains(c.GrantTypes, grantType) }

// AllowsResponseType reports whether the client registered responseType.
func (c *Client) AllowsResponseType(responseType string) bool {
	want := CanonicalResponseType(responseType)
	for _, rt := range c.ResponseTypes {
		if CanonicalResponseType(rt) == want {
			return true
		}
	}
	return false
}

// AllowsScopes reports whether every scope is among the client's allowed scopes.
func (c *Client) AllowsScopes(scopes []string) bool {
	for _, s := range scopes {
		if !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	return true
}

// ApplyDefaults fills what RFC 7591 §2 lets a registration leave out:
// grant_types ["authorization_code"], response_types derived from the grant
// types, and token_endpoint_auth_method "client_secret_basic".
func (c *Client) ApplyDefaults() {
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{GrantAuthorizationCode}
	}
	if len(c.ResponseTypes) == 0 {
		c.ResponseTypes = []string{}
		if c.AllowsGrant(GrantAuthorizationCode) {
			c.ResponseTypes = append(c.ResponseTypes, "code")
		}
		if c.AllowsGrant(GrantImplicit) {
			c.ResponseTypes = append(c.ResponseTypes, "token")
		}
	}
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = AuthSecretBasic
	}
	if c.AccessTokenFormat == "" {
		c.AccessTokenFormat = TokenFormatJWT
	}
	if c.RedirectURIs == nil {
		c.RedirectURIs = []string{}
	}
	if c.Scopes == nil {
		c.Scopes = []string{}
	}
}

// ValidationError says why client metadata or a user was refused, with the
// RFC 7591 §3.2.2 error code and the field at fault.
type ValidationError struct {
	Code    string // InvalidRedirectURI or InvalidClientMetadata
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

func invalid(code, field, format string, args ...any) *ValidationError {
	return &ValidationError{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

var knownGrants = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantImplicit, GrantPassword}
var knownResponseTypes = []string{"code", "token", "id_token", "code id_token", "code token", "id_token token", "code id_token token"}

// CanonicalResponseType sorts the space-separated values of a response type,
// whose order does not matter (RFC 6749 §3.1.1): "id_token code" and
// "code id_token" are the same type.
func CanonicalResponseType(rt string) string {
	parts := strings.Split(rt, " ")
	order := map[string]int{"code": 0, "id_token": 1, "token": 2}
	slices.SortFunc(parts, func(a, b string) int {
		oa, ok1 := order[a]
		ob, ok2 := order[b]
		if !ok1 || !ok2 {
			return strings.Compare(a, b)
		}
		return oa - ob
	})
	return strings.Join(parts, " ")
}

var knownAuthMethods = []string{AuthSecretBasic, AuthSecretPost, AuthNone}

// Validate checks the metadata against RFC 7591 and the security rules of
// RFC 9700 §2.1 and §4.1 (exact redirect URIs, no fragments, no wildcards,
// http only on loopback IP literals). Call ApplyDefaults first.
func (c *Client) Validate() error {
	if len(c.Name) > 200 || strings.ContainsFunc(c.Name, isControl) {
		return invalid(InvalidClientMetadata, "client_name", "must be at most 200 characters without control characters")
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(knownGrants, g) {
			return invalid(InvalidClientMetadata, "grant_types", "unknown grant type %q; use one of %s", g, strings.Join(knownGrants, ", "))
		}
	}
	hasCode, hasImplicit := false, false
	for _, rt := range c.ResponseTypes {
		canon := CanonicalResponseType(rt)
		if !slices.Contains(knownResponseTypes, canon) {
			return invalid(InvalidClientMetadata, "response_types", "unknown response type %q; use one of %s", rt, strings.Join(knownResponseTypes, ", "))
		}
		// OpenID Connect Registration §2: a response type containing code
		// needs authorization_code; one containing token or id_token needs implicit.
		if strings.Contains(canon, "code") {
			hasCode = true
			if !c.AllowsGrant(GrantAuthorizationCode) {
				return invalid(InvalidClientMetadata, "response_types", "response type %q needs grant type \"authorization_code\"", rt)
			}
		}
		if strings.Contains(canon, "token") {
			hasImplicit = true
			if !c.AllowsGrant(GrantImplicit) {
				return invalid(InvalidClientMetadata, "response_types", "response type %q needs grant type \"implicit\"", rt)
			}
		}
	}
	if c.AllowsGrant(GrantAuthorizationCode) && !hasCode {
		return invalid(InvalidClientMetadata, "grant_types", `grant type "authorization_code" needs a response type with "code"`)
	}
	if c.AllowsGrant(GrantImplicit) && !hasImplicit {
		return invalid(InvalidClientMetadata, "grant_types", `grant type "implicit" needs a response type with "token" or "id_token"`)
	}
	if !slices.Contains(knownAuthMethods, c.TokenEndpointAuthMethod) {
		return invalid(InvalidClientMetadata, "token_endpoint_auth_method", "unknown method %q; use one of %s", c.TokenEndpointAuthMethod, strings.Join(knownAuthMethods, ", "))
	}
	if c.Public() && (c.AllowsGrant(GrantClientCredentials) || c.AllowsGrant(GrantPassword)) {
		return invalid(InvalidClientMetadata, "grant_types", "a public client (token_endpoint_auth_method none) cannot use client_credentials or password: it has no secret to prove itself")
	}
	needsRedirect := c.AllowsGrant(GrantAuthorizationCode) || c.AllowsGrant(GrantImplicit)
	if needsRedirect && len(c.RedirectURIs) == 0 {
		return invalid(InvalidRedirectURI, "redirect_uris", "at least one redirect URI is required for the authorization_code and implicit grants")
	}
	if len(c.RedirectURIs) > 20 {
		return invalid(InvalidRedirectURI, "redirect_uris", "at most 20 redirect URIs")
	}
	for _, u := range c.RedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			return err
		}
	}
	if c.AccessTokenFormat != TokenFormatJWT && c.AccessTokenFormat != TokenFormatOpaque {
		return invalid(InvalidClientMetadata, "access_token_format", "unknown format %q; use jwt or opaque", c.AccessTokenFormat)
	}
	if len(c.Resources) > 20 {
		return invalid(InvalidClientMetadata, "resources", "at most 20 resources")
	}
	for _, r := range c.Resources {
		if err := ValidateResource(r); err != nil {
			return invalid(InvalidClientMetadata, "resources", "%s", err)
		}
	}
	if len(c.Scopes) > 50 {
		return invalid(InvalidClientMetadata, "scope", "at most 50 scopes")
	}
	for _, s := range c.Scopes {
		if !ValidScopeToken(s) {
			return invalid(InvalidClientMetadata, "scope", "scope %q is not a valid scope token (RFC 6749 §3.3: printable ASCII without space, '\"', '\\' or ',', at most 255 characters)", s)
		}
	}
	if len(c.PostLogoutRedirectURIs) > 20 {
		return invalid(InvalidClientMetadata, "post_logout_redirect_uris", "at most 20 URIs")
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := ValidateRedirectURI(u); err != nil || !isWebURI(u) {
			return invalid(InvalidClientMetadata, "post_logout_redirect_uris", "%q must be an exact https URI (http only on a loopback IP), with no fragment", u)
		}
	}
	if c.BackchannelLogoutURI != "" {
		if err := ValidateRedirectURI(c.BackchannelLogoutURI); err != nil || !isWebURI(c.BackchannelLogoutURI) {
			return invalid(InvalidClientMetadata, "backchannel_logout_uri", "%q must be an absolute https URI with no fragment", c.BackchannelLogoutURI)
		}
	}
	switch c.IDTokenSignedResponseAlg {
	case "", "RS256", "ES256":
	default:
		return invalid(InvalidClientMetadata, "id_token_signed_response_alg", "%q is not supported; use RS256 or ES256", c.IDTokenSignedResponseAlg)
	}
	switch c.SubjectType {
	case "", "public":
	case "pairwise":
		if _, err := c.SectorIdentifier(); err != nil {
			return invalid(InvalidClientMetadata, "subject_type", "%s", err)
		}
	default:
		return invalid(InvalidClientMetadata, "subject_type", "%q is not supported; use public or pairwise", c.SubjectType)
	}
	for field, u := range map[string]string{"client_uri": c.ClientURI, "logo_uri": c.LogoURI, "policy_uri": c.PolicyURI, "tos_uri": c.TosURI} {
		if u != "" {
			if err := validateWebURI(u); err != nil {
				return invalid(InvalidClientMetadata, field, "%s", err)
			}
		}
	}
	return nil
}

// responseParams are the parameters an authorization server adds to a
// redirect URI; a registered URI must not already carry them (RFC 9700 §4.1,
// catalogue RU-05).
var responseParams = []string{"code", "state", "iss", "error", "error_description", "error_uri",
	"id_token", "access_token", "token_type", "expires_in", "session_state", "scope"}

// ValidateRedirectURI checks one redirect URI for registration: an absolute
// URI with no fragment, no wildcard, no user info and no dot segments; https,
// http on a loopback IP literal (RFC 8252 §7.3), or a private-use scheme in
// reverse domain form (RFC 8252 §7.1).
func ValidateRedirectURI(raw string) error {
	bad := func(format string, args ...any) error {
		return invalid(InvalidRedirectURI, "redirect_uris", "%q: %s", raw, fmt.Sprintf(format, args...))
	}
	if raw == "" || len(raw) > 2000 {
		return bad("must be between 1 and 2000 characters")
	}
	for _, r := range raw {
		if r <= 0x20 || r >= 0x7f || r == '\\' || r == '"' || r == '<' || r == '>' || r == '`' || r == '{' || r == '}' || r == '|' || r == '^' {
			return bad("contains a character that is not allowed in a URI (spaces, controls, non-ASCII, \\, quotes, <, >)")
		}
	}
	if strings.Contains(raw, "#") {
		return bad("must not contain a fragment (RFC 6749 §3.1.2)")
	}
	if strings.Contains(raw, "*") {
		return bad("wildcards are not allowed: register each exact URI")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return bad("must be an absolute URI")
	}
	if !strings.HasPrefix(raw, u.Scheme+":") { // url.Parse lowercases the scheme; the raw one must already be
		return bad("the scheme must be lower case")
	}
	switch u.Scheme {
	case "https", "http":
		if u.Opaque != "" || u.Host == "" {
			return bad("must have a host, as in https://app.example/callback")
		}
		if u.User != nil || strings.Contains(u.Host, "@") {
			return bad("must not contain user info")
		}
		if u.Host != strings.ToLower(u.Host) {
			return bad("the host must be lower case")
		}
		if u.Scheme == "http" && !IsLoopbackIPHost(u.Hostname()) {
			return bad("http is only allowed on a loopback IP literal (http://127.0.0.1:PORT/... or http://[::1]:PORT/...); use https")
		}
	default:
		// Private-use URI scheme for native apps, RFC 8252 §7.1: reverse domain
		// name, so javascript:, data:, vbscript:, file: and urn: never qualify.
		if !strings.Contains(u.Scheme, ".") {
			return bad("scheme %q is not allowed: use https, http on a loopback IP, or a reverse-domain private-use scheme such as com.example.app:/callback", u.Scheme)
		}
	}
	path := u.EscapedPath()
	if u.Opaque != "" {
		path = u.Opaque
	}
	lower := strings.ToLower(path)
	for _, seg := range strings.Split(lower, "/") {
		if seg == "." || seg == ".." || strings.Contains(seg, "%2e") || strings.Contains(seg, "%2f") || strings.Contains(seg, "%5c") || strings.Contains(seg, ";") {
			return bad("must not contain dot segments, encoded dots or slashes, or ';' in the path")
		}
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return bad("has a malformed query")
		}
		for _, p := range responseParams {
			if q.Has(p) {
				return bad("its query must not contain %q: the server adds that parameter", p)
			}
		}
	}
	return nil
}

// IsLoopbackIPHost reports whether host (without port or brackets) is a
// loopback IP literal: 127.0.0.0/8 or ::1. "localhost" is not (RFC 8252 §8.3).
func IsLoopbackIPHost(host string) bool {
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return false
	}
	return ip.IsLoopback() && (ip.Is6() || ip.String() == host)
}

// isWebURI reports whether raw is http(s).
func isWebURI(raw string) bool {
	return strings.HasPrefix(raw, "https://") || strings.HasPrefix(raw, "http://")
}

// SectorIdentifier is the host pairwise subjects are computed for (OpenID
// Connect Core §8.1): the host of the redirect URIs, which must all share it.
func (c *Client) SectorIdentifier() (string, error) {
	host := ""
	for _, r := range c.RedirectURIs {
		u, err := url.Parse(r)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("pairwise subjects need redirect URIs with a host; %q has none", r)
		}
		if host != "" && u.Hostname() != host {
			return "", fmt.Errorf("pairwise subjects need every redirect URI on one host (%s and %s differ)", host, u.Hostname())
		}
		host = u.Hostname()
	}
	if host == "" {
		return "", fmt.Errorf("pairwise subjects need at least one redirect URI")
	}
	return host, nil
}

func validateWebURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || len(raw) > 2000 || strings.ContainsFunc(raw, isControl) {
		return fmt.Errorf("%q must be an absolute https URL", raw)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && IsLoopbackIPHost(u.Hostname())) {
		return fmt.Errorf("%q must use https", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q must not contain user info", raw)
	}
	return nil
}

// ValidateResource checks an RFC 8707 resource indicator: an absolute URI
// with no fragment (RFC 8707 §2), printable ASCII, at most 2000 characters.
func ValidateResource(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || len(raw) > 2000 || strings.Contains(raw, "#") ||
		strings.ContainsFunc(raw, func(r rune) bool { return r <= 0x20 || r >= 0x7f }) {
		return fmt.Errorf("resource %q must be an absolute URI without a fragment (RFC 8707 §2)", raw)
	}
	return nil
}

// ValidScopeToken reports whether s is a scope token of RFC 6749 §3.3
// (1*NQCHAR, NQCHAR = %x21 / %x23-5B / %x5D-7E), at most 255 characters.
func ValidScopeToken(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		// A comma is NQCHAR, but "a,b" is almost always a mistaken list
		// (catalogue IP-04), so Valet refuses it in scope names.
		if b < 0x21 || b > 0x7e || b == '"' || b == '\\' || b == ',' {
			return false
		}
	}
	return true
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
