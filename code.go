package valet

import "time"

// AuthCode is an issued authorization code (RFC 6749 §4.1.2), stored under the
// keyed digest of its value. It is single use: CodeStore.Consume is the gate.
type AuthCode struct {
	Digest string
	// FamilyID names the grant this code starts: the refresh tokens and access
	// tokens it produces carry it, so a replayed code can revoke them all.
	FamilyID string
	ClientID string
	UserID   string
	// RedirectURI is the redirect_uri sent at /authorize, empty when it was
	// omitted; the token request must repeat it exactly (RFC 6749 §4.1.3).
	RedirectURI         string
	Scopes              []string
	Resources           []string // RFC 8707 audiences asked for
	Nonce               string   // OpenID Connect
	SessionID           string   // the Session.SID the code was issued in ("sid")
	CodeChallenge       string   // RFC 7636, S256
	CodeChallengeMethod string
	AuthTime            time.Time
	CreatedAt           time.Time
	ExpiresAt           time.Time
	UsedAt              time.Time // zero until consumed
}
