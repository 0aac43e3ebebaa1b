package grant

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/token"
)

// AuthorizationCode redeems authorization codes for tokens (RFC 6749 §4.1.3),
// checking the PKCE verifier (RFC 7636 §4.6). A code is single use: a
// replayed code revokes every token its first redemption produced.
type AuthorizationCode struct {
	Codes       valet.CodeStore
	Refresh     valet.RefreshStore
	Revocations valet.RevocationStore // the deny-list a replayed code's family goes on
	Digester    *secret.Digester      // digests of codes, refresh tokens and opaque access tokens
	Tokens      *token.Issuer
	// Access stores opaque access tokens, for clients registered with
	// access_token_format "opaque"; JWT access tokens are never stored.
	Access valet.AccessTokenStore
	// IDTokens, when set, adds an ID token to the response of a code whose
	// scopes include openid; Users is then where its claims come from.
	IDTokens *IDTokens
	Users    valet.UserStore
	// Consents, when set, records that the person's consent was used (the
	// account page's "last used"); nil records nothing.
	Consents valet.ConsentStore
	// Audience is the "aud" of access tokens whose code names no RFC 8707 resource.
	Audience []string
	// RefreshTTL is the lifetime of a refresh token; one is issued only to
	// clients that registered the refresh_token grant.
	RefreshTTL time.Duration
	Now        func() time.Time // nil means time.Now
	Log        *slog.Logger     // nil discards
}

// Type returns "authorization_code".
func (g *AuthorizationCode) Type() string { return valet.GrantAuthorizationCode }

// badCode is the one answer for a code that is unknown, expired, of the
// wrong type, used or another client's, so that the wording tells nobody
// which it was (catalogue CO-04).
func badCode() error {
	return oauth.Errorf(oauth.InvalidGrant, "the authorization code is invalid, expired or already used, or was issued to another client")
}

// Exchange redeems r.Code for client c. Every check runs before the code is
// consumed, so a request that fails one leaves the code usable by the
// legitimate client (catalogue pin P3).
func (g *AuthorizationCode) Exchange(ctx context.Context, c *valet.Client, r *Request) (*Response, error) {
	now := g.now()
	// The type prefix is checked first: a refresh token, an access token or
	// random bytes never reach the store (catalogue CO-04d/e).
	if !strings.HasPrefix(r.Code, codePrefix) || len(r.Code) > maxTokenLen {
		return nil, badCode()
	}
	digest := g.Digester.Digest(secret.PurposeCode, r.Code)
	code, err := g.Codes.Get(ctx, digest, now)
	if errors.Is(err, valet.ErrNotFound) {
		return nil, badCode()
	}
	if err != nil {
		return nil, unavailable("get authorization code", err)
	}
	// RFC 6749 §4.1.3: the server MUST "ensure that the authorization code
	// was issued to the authenticated confidential client, or if the client
	// is public, ensure that the code was issued to "client_id" in the
	// request".
	if code.ClientID != c.ID {
		g.log().WarnContext(ctx, "token: authorization code presented by another client",
			"client_id", c.ID, "code_client_id", code.ClientID, "family_id", code.FamilyID)
		return nil, badCode()
	}
	if !code.UsedAt.IsZero() {
		return nil, g.replayed(ctx, code.FamilyID, now)
	}
	if err := checkRedirectURI(code, c, r.RedirectURI); err != nil {
		return nil, err
	}
	if err := checkPKCE(code, c, r.CodeVerifier); err != nil {
		return nil, err
	}
	if err := g.checkConsent(ctx, code); err != nil {
		return nil, err
	}
	aud, err := audience(r.Resources, code.Resources, g.Audience)
	if err != nil {
		return nil, err
	}
	// Minted before the code is consumed: if signing fails, the code is
	// still good for a retry. A token minted by a request that then loses
	// the race below is never sent.
	resp, err := g.family().access(ctx, c, grantedTokens{
		userID: code.UserID, familyID: code.FamilyID,
		audience: aud, scopes: code.Scopes, authTime: code.AuthTime,
	})
	if err != nil {
		return nil, err
	}
	if g.IDTokens.wanted(code.Scopes) {
		if resp.IDToken, err = g.idToken(ctx, c, code, resp.AccessToken); err != nil {
			return nil, err
		}
	}

	// The single-use gate: of any number of concurrent redemptions exactly
	// one sees first == true (catalogue CO-02).
	code, first, err := g.Codes.Consume(ctx, digest, now)
	if errors.Is(err, valet.ErrNotFound) {
		return nil, badCode() // expired since Get
	}
	if err != nil {
		return nil, unavailable("consume authorization code", err)
	}
	if !first {
		// A concurrent loser is a replay like any other: it revokes what the
		// winner is issuing (catalogue pin P4).
		return nil, g.replayed(ctx, code.FamilyID, now)
	}

	if c.AllowsGrant(valet.GrantRefreshToken) {
		value, rt := newRefresh(g.Digester, g.RefreshTTL, now, &valet.RefreshToken{
			FamilyID: code.FamilyID, ClientID: c.ID, UserID: code.UserID,
			Scopes: code.Scopes, Resources: code.Resources, AuthTime: code.AuthTime,
		})
		if err := g.Refresh.Create(ctx, rt); err != nil {
			return nil, unavailable("store refresh token", err)
		}
		// A concurrent replay may have revoked the family before the token
		// above existed; then it is revoked now. The response still goes out,
		// as it would have if the replay had come a moment later.
		if err := g.family().checkRevoked(ctx, code.FamilyID, now); err != nil {
			return nil, err
		}
		resp.RefreshToken = value
	}
	touchConsent(ctx, g.Consents, g.log(), code.UserID, c.ID, now)
	return resp, nil
}

// touchConsent records, best effort, that the client used the person's
// consent at now. A failure is logged and never fails the token request:
// "last used" is for the person's information, not a security control.
func touchConsent(ctx context.Context, consents valet.ConsentStore, log *slog.Logger, userID, clientID string, now time.Time) {
	if consents == nil {
		return
	}
	if err := consents.Touch(ctx, userID, clientID, now); err != nil {
		log.Warn("grant: recording the consent's last use failed", "client_id", clientID, "user_id", userID, "err", err)
	}
}

// idToken mints the ID token of code (OpenID Connect Core §3.1.3.3) with
// the claims of the person's current record. Like the access token it is
// minted before the code is consumed, so a failure leaves the code usable.
func (g *AuthorizationCode) idToken(ctx context.Context, c *valet.Client, code *valet.AuthCode, accessToken string) (string, error) {
	if g.Users == nil {
		return "", oauth.Internal(errors.New("grant: AuthorizationCode has IDTokens but no Users"))
	}
	user, err := g.Users.Get(ctx, code.UserID)
	if errors.Is(err, valet.ErrNotFound) {
		// The person's account was deleted after they authorized.
		return "", badCode()
	}
	if err != nil {
		return "", unavailable("get user", err)
	}
	return g.IDTokens.mint(g.Tokens, c, signIn{
		user: user, scopes: code.Scopes, authTime: code.AuthTime,
		nonce: code.Nonce, sessionID: code.SessionID, accessToken: accessToken,
	})
}

// replayed handles a code presented after its first use: RFC 6749 §4.1.2,
// the server "MUST deny the request and SHOULD revoke (when possible) all
// tokens previously issued based on that authorization code" (catalogue
// CO-01).
func (g *AuthorizationCode) replayed(ctx context.Context, familyID string, now time.Time) error {
	if err := g.family().revoke(ctx, familyID, now, "authorization code replayed"); err != nil {
		return err
	}
	return badCode()
}

// checkRedirectURI applies RFC 6749 §4.1.3: the server MUST "ensure that the
// "redirect_uri" parameter is present if the "redirect_uri" parameter was
// included in the initial authorization request ..., and if included ensure
// that their values are identical." Comparison is byte for byte (catalogue
// pin P8).
func checkRedirectURI(code *valet.AuthCode, c *valet.Client, sent string) error {
	if code.RedirectURI != "" {
		if sent != code.RedirectURI {
			return oauth.Errorf(oauth.InvalidGrant, "redirect_uri must be sent, identical to the one in the authorization request")
		}
		return nil
	}
	// Omitted at /authorize, which only a client with a single registered
	// redirect URI may do: omitting it here too is fine, and a value sent
	// anyway must be that URI (catalogue pin P9).
	if sent != "" && (len(c.RedirectURIs) != 1 || sent != c.RedirectURIs[0]) {
		return oauth.Errorf(oauth.InvalidGrant, "redirect_uri does not match the redirect URI the code was issued to")
	}
	return nil
}

// checkPKCE checks the code_verifier against the code's challenge (RFC 7636
// §4.6), and refuses a verifier for a code issued without a challenge.
func checkPKCE(code *valet.AuthCode, c *valet.Client, verifier string) error {
	if code.CodeChallenge == "" {
		// RFC 9700 §2.1.1: public clients MUST use PKCE. /authorize never
		// issues such a code; refusing it here keeps that true if it did.
		if c.Public() {
			return oauth.Errorf(oauth.InvalidGrant, "the authorization request of a public client carried no code_challenge")
		}
		// RFC 9700 §4.8.2 (catalogue PK-04): a verifier for a code without
		// a challenge is a downgrade attempt.
		return oauth.VerifyAbsentVerifier(verifier)
	}
	// Only S256 challenges are ever accepted at /authorize, and VerifyVerifier
	// applies S256 whatever the stored method says.
	return oauth.VerifyVerifier(verifier, code.CodeChallenge)
}

func (g *AuthorizationCode) family() family {
	return family{refresh: g.Refresh, revocations: g.Revocations, opaque: g.Access,
		digester: g.Digester, tokens: g.Tokens, log: g.log()}
}

func (g *AuthorizationCode) now() time.Time {
	if g.Now == nil {
		return time.Now()
	}
	return g.Now()
}

func (g *AuthorizationCode) log() *slog.Logger {
	if g.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Log
}

// checkConsent refuses a code whose consent the person has withdrawn since it
// was issued (removed on the account page): the code must not start a new
// grant the person no longer allows.
func (g *AuthorizationCode) checkConsent(ctx context.Context, code *valet.AuthCode) error {
	if g.Consents == nil {
		return nil
	}
	consent, err := g.Consents.Get(ctx, code.UserID, code.ClientID)
	if errors.Is(err, valet.ErrNotFound) || (err == nil && !consent.Covers(code.Scopes)) {
		return oauth.Errorf(oauth.InvalidGrant, "the person has withdrawn the consent this code was issued under")
	}
	if err != nil {
		return unavailable("get consent", err)
	}
	return nil
}
