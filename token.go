package valet

import "time"

// RefreshToken is one link of a rotation family (RFC 9700 §4.14.2): each use
// marks it used and issues the next; presenting a used one revokes the family.
// It is stored under the keyed digest of its value.
type RefreshToken struct {
	Digest    string
	FamilyID  string
	ClientID  string
	UserID    string
	Scopes    []string // the scopes originally granted to the family
	Resources []string
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
	RevokedAt time.Time // zero while not revoked
}

// Active reports whether the token may still be exchanged at now.
func (t *RefreshToken) Active(now time.Time) bool {
	return t.UsedAt.IsZero() && t.RevokedAt.IsZero() && now.Before(t.ExpiresAt)
}

// AccessToken is an opaque access token, for clients registered with
// access_token_format "opaque": introspection is the only way to read it.
type AccessToken struct {
	Digest    string
	ID        string // like a JWT's jti: the key revocation uses
	GrantID   string // the family it came from; empty for client credentials
	ClientID  string
	Subject   string // the user ID, or the client ID for client credentials
	Scopes    []string
	Audience  []string
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time
}
