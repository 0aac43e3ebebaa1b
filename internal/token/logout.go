package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/valetauth/valet/internal/secret"
)

// Logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.4).
const (
	// LogoutTokenType is the "typ" header of logout tokens. §4.1 (Cross-JWT
	// Confusion): explicit typing keeps a logout token from being taken for
	// an ID token (ParseIDTokenHint refuses it) or an access token.
	LogoutTokenType = "logout+jwt"
	// BackchannelLogoutEvent is the one member of the "events" claim.
	BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"
	// LogoutTokenTTL is how long a logout token is valid. It is delivered
	// within seconds or not at all, and a short life limits replay (OWASP
	// ASVS 10.5.5 suggests about two minutes).
	LogoutTokenTTL = 2 * time.Minute
)

// LogoutRequest says whom a logout token logs out, at which client.
type LogoutRequest struct {
	// Alg is "RS256" (the default) or "ES256": the client's
	// id_token_signed_response_alg. §2.4: "The same keys are used to sign
	// and encrypt Logout Tokens as are used for ID Tokens."
	Alg      string
	ClientID string // "aud"
	// Subject is the "sub" the client knows the user by; SessionID is the
	// "sid" of the ended session. §2.4: "A Logout Token MUST contain either
	// a sub or a sid Claim, and MAY contain both."
	Subject   string
	SessionID string
}

// LogoutClaims are the claims of a logout token. There is no nonce: §2.4,
// "A nonce Claim MUST NOT be present", so that a logout token is never a
// valid ID token in a forged authentication response.
type LogoutClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub,omitempty"`
	Audience  Audience `json:"aud"`
	IssuedAt  int64    `json:"iat"`
	Expiry    int64    `json:"exp"`
	ID        string   `json:"jti"`
	SessionID string   `json:"sid,omitempty"`
	// Events is {"http://schemas.openid.net/event/backchannel-logout": {}}:
	// §2.4, "The corresponding member value MUST be a JSON object and
	// SHOULD be the empty JSON object {}."
	Events map[string]struct{} `json:"events"`
}

// Logout mints a signed logout token for one client.
func (i *Issuer) Logout(r LogoutRequest) (string, error) {
	if r.ClientID == "" {
		return "", errors.New("token: a logout token needs a client (aud)")
	}
	if r.Subject == "" && r.SessionID == "" {
		return "", errors.New("token: a logout token needs sub or sid")
	}
	alg := r.Alg
	switch alg {
	case "":
		alg = "RS256"
	case "RS256", "ES256":
	default:
		return "", fmt.Errorf("token: unsupported logout token algorithm %q", alg)
	}
	now := i.Now()
	payload, err := json.Marshal(LogoutClaims{
		Issuer:    i.URL,
		Subject:   r.Subject,
		Audience:  Audience{r.ClientID},
		IssuedAt:  now.Unix(),
		Expiry:    now.Add(LogoutTokenTTL).Unix(),
		ID:        secret.ID(""),
		SessionID: r.SessionID,
		Events:    map[string]struct{}{BackchannelLogoutEvent: {}},
	})
	if err != nil {
		return "", err
	}
	tok, err := i.Keys.Sign(alg, LogoutTokenType, payload)
	if err != nil {
		return "", fmt.Errorf("sign logout token: %w", err)
	}
	return tok, nil
}
