package admin

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
)

// ClientMetadata is a client as the admin API reads and writes it: the client
// metadata of RFC 7591 §2, with scope as one space-separated string. It never
// carries the client secret or its digest.
type ClientMetadata struct {
	// ClientID is chosen by the server; a value sent on create is ignored, and
	// one sent on update must equal the client's.
	ClientID                string   `json:"client_id,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	Scope                   string   `json:"scope,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	// AccessTokenFormat is "jwt" (RFC 9068, the default) or "opaque".
	AccessTokenFormat string `json:"access_token_format,omitempty"`
	// Resources are the RFC 8707 resource indicators the client may ask
	// tokens for; empty means only the server's default audience.
	Resources []string `json:"resources"`

	// OpenID Connect: where the person may be sent after logging out
	// (RP-Initiated Logout §3.1), where logout tokens are POSTed and whether
	// they must carry "sid" (Back-Channel Logout §2.2), the ID token's
	// algorithm, "RS256" (the default) or "ES256", and the subject type,
	// "public" (the default) or "pairwise" (Core §8). Reads always carry
	// every member but backchannel_logout_uri, defaults filled in.
	PostLogoutRedirectURIs           []string `json:"post_logout_redirect_uris"`
	BackchannelLogoutURI             string   `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool     `json:"backchannel_logout_session_required"`
	IDTokenSignedResponseAlg         string   `json:"id_token_signed_response_alg,omitempty"`
	SubjectType                      string   `json:"subject_type,omitempty"`

	ClientURI string `json:"client_uri,omitempty"`
	LogoURI   string `json:"logo_uri,omitempty"`
	PolicyURI string `json:"policy_uri,omitempty"`
	TosURI    string `json:"tos_uri,omitempty"`
	// ClientIDIssuedAt is when the client was registered, in seconds since
	// the Unix epoch (RFC 7591 §3.2.1); ignored on input.
	ClientIDIssuedAt int64 `json:"client_id_issued_at,omitempty"`
}

// ClientRegistration is the answer to a registration: the metadata, and for a
// confidential client the secret. This is the only response that ever
// carries the secret (RFC 7591 §3.2.1).
type ClientRegistration struct {
	ClientMetadata
	ClientSecret string `json:"client_secret,omitempty"`
	// ClientSecretExpiresAt is 0, "does not expire"; present only with a secret.
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
}

// ClientList is the body of GET /admin/clients.
type ClientList struct {
	Clients []ClientMetadata `json:"clients"`
}

// clientInput is a request body for POST and PUT: the metadata, plus the
// members a caller might copy from a registration response, so that they can
// be ignored (POST) or refused (PUT) instead of reported as unknown.
type clientInput struct {
	ClientMetadata
	ClientSecret          *string `json:"client_secret"`
	ClientSecretExpiresAt *int64  `json:"client_secret_expires_at"`
}

// UserInput is the body of POST /admin/users. Password is write-only: no
// response carries it. An empty password creates a user who cannot sign in
// with a password.
type UserInput struct {
	Username string `json:"username"`
	Password string `json:"password,omitempty"`
	Email    string `json:"email,omitempty"`
	// EmailVerified is the OpenID Connect email_verified claim: set it once
	// the address is known to belong to the person. It needs an email.
	EmailVerified bool   `json:"email_verified,omitempty"`
	Name          string `json:"name,omitempty"`
	// Claims are custom claims, released to apps by the configured mapping:
	// at most 50 members and 8 KiB of JSON.
	Claims Claims `json:"claims,omitempty"`
}

// UserUpdate is the body of PUT /admin/users/{id}: only the members present
// change. A present password, even an empty one, replaces the old one; a
// present claims object replaces all the claims. A new email without
// email_verified is unverified.
type UserUpdate struct {
	Username      *string `json:"username,omitempty"`
	Password      *string `json:"password,omitempty"`
	Email         *string `json:"email,omitempty"`
	EmailVerified *bool   `json:"email_verified,omitempty"`
	Name          *string `json:"name,omitempty"`
	Claims        *Claims `json:"claims,omitempty"`
}

// UserView is a user as the admin API returns it, without the password hash.
type UserView struct {
	ID            string `json:"id"`
	Username      string `json:"username"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name"`
	// Claims is always an object, {} when the user has none.
	Claims Claims `json:"claims"`
	// HasPassword reports whether the user can sign in with a password.
	HasPassword bool      `json:"has_password"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Claims is a JSON object of custom claims. Its numbers decode as
// json.Number, exactly as written, as the store keeps them: a float64 would
// round an integer above 2^53, such as a 19-digit employee number.
type Claims map[string]any

// UnmarshalJSON decodes an object, keeping numbers as json.Number.
func (c *Claims) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return err
	}
	*c = m
	return nil
}

// UserList is the body of GET /admin/users.
type UserList struct {
	Users []UserView `json:"users"`
}

// KeyView is a signing key as the admin API shows it: its ID, algorithm,
// times and state, never any key material.
type KeyView struct {
	ID        string `json:"kid"`
	Algorithm string `json:"alg"`
	// Status is KeyPending, KeySigning, KeyVerifying or KeyRemoved.
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	NotBefore time.Time `json:"not_before"` // when it starts (or started) signing
	// RetiredAt is when it stops signing; RemoveAt when it leaves the JWKS.
	// Absent while not planned.
	RetiredAt *time.Time `json:"retired_at,omitempty"`
	RemoveAt  *time.Time `json:"remove_at,omitempty"`
}

// KeyList is the body of GET /admin/keys, newest key first.
type KeyList struct {
	Keys []KeyView `json:"keys"`
}

// KeyRotateInput is the body of POST /admin/keys/rotate.
type KeyRotateInput struct {
	// Algorithm is "ES256", "RS256", or empty for every algorithm.
	Algorithm string `json:"algorithm"`
	// Now makes the new key sign at once and removes the old keys from the
	// JWKS at once: every token they signed stops verifying. Only for a key
	// that may have leaked.
	Now bool `json:"now"`
}

// KeyRotation is the answer to POST /admin/keys/rotate: the algorithms
// that got a new key, and every key afterwards.
type KeyRotation struct {
	Rotated []string  `json:"rotated"`
	Now     bool      `json:"now"`
	Keys    []KeyView `json:"keys"`
}

// IntrospectInput is the body of POST /admin/introspect.
type IntrospectInput struct {
	Token string `json:"token"`
}

// viewClient is the metadata of c, with empty lists as [] rather than null.
func viewClient(c *valet.Client) ClientMetadata {
	m := ClientMetadata{
		ClientID:                c.ID,
		ClientName:              c.Name,
		RedirectURIs:            nonNil(c.RedirectURIs),
		GrantTypes:              nonNil(c.GrantTypes),
		ResponseTypes:           nonNil(c.ResponseTypes),
		Scope:                   strings.Join(c.Scopes, " "),
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		AccessTokenFormat:       c.AccessTokenFormat,
		Resources:               nonNil(c.Resources),

		PostLogoutRedirectURIs:           nonNil(c.PostLogoutRedirectURIs),
		BackchannelLogoutURI:             c.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
		IDTokenSignedResponseAlg:         c.IDTokenSignedResponseAlg,
		SubjectType:                      c.SubjectType,

		ClientURI: c.ClientURI,
		LogoURI:   c.LogoURI,
		PolicyURI: c.PolicyURI,
		TosURI:    c.TosURI,
	}
	if m.AccessTokenFormat == "" { // stored before formats existed
		m.AccessTokenFormat = valet.TokenFormatJWT
	}
	// Empty means the default (valet.Client); show which it is.
	if m.IDTokenSignedResponseAlg == "" {
		m.IDTokenSignedResponseAlg = "RS256"
	}
	if m.SubjectType == "" {
		m.SubjectType = "public"
	}
	if !c.CreatedAt.IsZero() {
		m.ClientIDIssuedAt = c.CreatedAt.Unix()
	}
	return m
}

// newClient turns metadata into a client with defaults applied and every
// rule checked; it does not set the ID, secret or times. The error is an
// *oauth.Error or a *valet.ValidationError.
func newClient(m *ClientMetadata) (*valet.Client, error) {
	scopes, err := parseScope(m.Scope)
	if err != nil {
		return nil, err
	}
	c := &valet.Client{
		Name:                    m.ClientName,
		RedirectURIs:            m.RedirectURIs,
		GrantTypes:              m.GrantTypes,
		ResponseTypes:           m.ResponseTypes,
		Scopes:                  scopes,
		TokenEndpointAuthMethod: m.TokenEndpointAuthMethod,
		AccessTokenFormat:       m.AccessTokenFormat,
		Resources:               m.Resources,

		PostLogoutRedirectURIs:           m.PostLogoutRedirectURIs,
		BackchannelLogoutURI:             m.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired: m.BackchannelLogoutSessionRequired,
		IDTokenSignedResponseAlg:         m.IDTokenSignedResponseAlg,
		SubjectType:                      m.SubjectType,

		ClientURI: m.ClientURI,
		LogoURI:   m.LogoURI,
		PolicyURI: m.PolicyURI,
		TosURI:    m.TosURI,
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// parseScope splits the scope member on single spaces, RFC 7591 §2: "a string
// containing a space-separated list of scope values (as described in
// Section 3.3 of OAuth 2.0)". Empty tokens (doubled, leading or trailing
// spaces) and repeats are refused rather than repaired.
func parseScope(s string) ([]string, error) {
	if s == "" {
		return []string{}, nil
	}
	tokens := strings.Split(s, " ")
	seen := make(map[string]bool, len(tokens))
	for _, t := range tokens {
		switch {
		case t == "":
			return nil, oauth.Errorf(oauth.InvalidClientMetadata, "scope: separate scopes with single spaces, with none at the start or end, as in \"openid contacts.read\"")
		case !valet.ValidScopeToken(t):
			return nil, oauth.Errorf(oauth.InvalidClientMetadata, "scope: %q is not a valid scope (RFC 6749 §3.3: printable ASCII without '\"' or '\\', at most 255 characters)", t)
		case seen[t]:
			return nil, oauth.Errorf(oauth.InvalidClientMetadata, "scope: %q is listed twice", t)
		}
		seen[t] = true
	}
	return tokens, nil
}

func viewUser(u *valet.User) UserView {
	claims := Claims(u.Claims)
	if claims == nil {
		claims = Claims{}
	}
	return UserView{
		ID:            u.ID,
		Username:      u.Username,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
		Name:          u.Name,
		Claims:        claims,
		HasPassword:   u.PasswordHash != "",
		CreatedAt:     u.CreatedAt.UTC(),
		UpdatedAt:     u.UpdatedAt.UTC(),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
