package grant

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/throttle"
	"github.com/valetauth/valet/internal/token"
)

// Password is the resource owner password credentials grant (RFC 6749
// §4.3): the client collects the person's username and password itself and
// trades them for tokens. RFC 9700 §2.4 says it "MUST NOT be used"; Valet
// keeps it for the clients that registered "password" in grant_types
// (unauthorized_client for all others), and Handler.PasswordGrantDisabled
// turns it off for everyone (catalogue pin P16).
//
// Valet has no second factor yet; when it does, a user who enrolled one must
// get invalid_grant here, since this grant cannot ask for it (catalogue
// TE-03e).
type Password struct {
	Users    valet.UserStore
	Consents valet.ConsentStore // the grant is recorded as the person's consent
	Refresh  valet.RefreshStore
	Access   valet.AccessTokenStore // opaque access tokens
	Digester *secret.Digester       // digests of refresh tokens and opaque access tokens
	Tokens   *token.Issuer
	// IDTokens, when set, adds an ID token when the granted scopes include
	// openid (see IDTokens for why the password grant follows that rule).
	IDTokens *IDTokens
	// Limiter counts failed password checks per username. Share it with the
	// sign-in page (web.Handler.AccountLimiter) so that both doors to an
	// account draw on one budget (RFC 6749 §4.3.2: the server "MUST protect
	// the endpoint against brute force attacks"). Required.
	Limiter *throttle.Limiter
	// Audience is the "aud" of tokens whose request names no RFC 8707 resource.
	Audience []string
	// RefreshTTL is the lifetime of a refresh token; one is issued only to
	// clients that registered the refresh_token grant.
	RefreshTTL time.Duration
	Now        func() time.Time // nil means time.Now
	Log        *slog.Logger     // nil discards
}

// Type returns "password".
func (g *Password) Type() string { return valet.GrantPassword }

// badCredentials is the one answer for an unknown username and a wrong
// password: RFC 6749 §5.2 invalid_grant, status 400, never invalid_client or
// 401, with one body for both so that nobody learns who has an account
// (catalogue TE-03b).
func badCredentials() error {
	return oauth.Errorf(oauth.InvalidGrant, "the username or password is wrong")
}

// Exchange checks the person's password and mints tokens for the requested
// scopes, or every scope the client registered when none is requested.
func (g *Password) Exchange(ctx context.Context, c *valet.Client, r *Request) (*Response, error) {
	// RFC 9700 §2.4 and catalogue TE-03d: a public client's password
	// requests cannot be tied to anyone. Registration already refuses this
	// combination; a stored one is refused here all the same.
	if c.Public() {
		return nil, oauth.Errorf(oauth.UnauthorizedClient, "a public client cannot use the password grant")
	}
	// RFC 6749 §4.3.2: username and password are REQUIRED.
	if r.Username == "" || r.Password == "" {
		return nil, oauth.Errorf(oauth.InvalidRequest, "username and password are required")
	}
	// Scope and resource are checked before the password, so that a
	// malformed request costs no argon2id and no attempt of the budget.
	scopes, err := clientScopes(c, r.Scopes)
	if err != nil {
		return nil, err
	}
	aud, err := clientAudience(c, r.Resources, g.Audience)
	if err != nil {
		return nil, err
	}
	user, err := g.check(ctx, r.Username, r.Password)
	if err != nil {
		return nil, err
	}
	now := g.now()
	if err := g.recordConsent(ctx, user.ID, c.ID, scopes, now); err != nil {
		return nil, err
	}
	// The password was just checked: this is the authentication time, and
	// the start of a new grant family.
	familyID := secret.ID("fam_")
	f := g.family()
	resp, err := f.access(ctx, c, grantedTokens{
		userID: user.ID, familyID: familyID, audience: aud, scopes: scopes, authTime: now,
	})
	if err != nil {
		return nil, err
	}
	if g.IDTokens.wanted(scopes) {
		// No browser session and no authorization request: no sid, no nonce.
		resp.IDToken, err = g.IDTokens.mint(g.Tokens, c, signIn{
			user: user, scopes: scopes, authTime: now, accessToken: resp.AccessToken,
		})
		if err != nil {
			return nil, err
		}
	}
	if c.AllowsGrant(valet.GrantRefreshToken) {
		value, rt := newRefresh(g.Digester, g.RefreshTTL, now, &valet.RefreshToken{
			FamilyID: familyID, ClientID: c.ID, UserID: user.ID,
			Scopes: scopes, Resources: r.Resources, AuthTime: now,
		})
		if err := g.Refresh.Create(ctx, rt); err != nil {
			return nil, unavailable("store refresh token", err)
		}
		resp.RefreshToken = value
	}
	g.log().InfoContext(ctx, "token: password grant", "client_id", c.ID, "user_id", user.ID, "family_id", familyID)
	return resp, nil
}

// check verifies username and password under the per-username limit of
// catalogue TE-03c and DS-04: over it, 429 with Retry-After, before any
// password is hashed.
func (g *Password) check(ctx context.Context, username, password string) (*valet.User, error) {
	if g.Limiter == nil {
		// Unthrottled password guessing is worse than no password grant.
		return nil, oauth.Internal(errors.New("grant: the password grant has no Limiter"))
	}
	attempt, wait := g.Limiter.Begin(throttle.AccountKey(username))
	if attempt == nil {
		g.log().WarnContext(ctx, "token: password grant throttled", "wait", wait)
		return nil, throttled(wait)
	}
	user, err := g.Users.GetByUsername(ctx, username)
	if err != nil && !errors.Is(err, valet.ErrNotFound) {
		attempt.Succeed() // nothing was checked
		return nil, unavailable("get user", err)
	}
	hash := ""
	if user != nil {
		hash = user.PasswordHash
	}
	// An unknown user costs one argon2id computation too (CheckPassword
	// checks a dummy hash), so timing does not tell who has an account.
	if !secret.CheckPassword(hash, password) || user == nil {
		attempt.Fail()
		if user != nil {
			g.log().InfoContext(ctx, "token: password grant: wrong password", "user_id", user.ID)
		} else {
			g.log().InfoContext(ctx, "token: password grant: unknown user")
		}
		return nil, badCredentials()
	}
	attempt.Succeed()
	return user, nil
}

// throttled is the answer over the limit: invalid_grant, as for a wrong
// password, but with 429 and Retry-After so that a client can tell it to
// wait rather than to ask for the password again (catalogue TE-03c).
func throttled(wait time.Duration) error {
	return tooManyRequests(oauth.InvalidGrant, wait, "too many failed attempts for this username")
}

// recordConsent records that the person let the client use scopes: by
// handing the client their password they authorized it (RFC 6749 §4.3), and
// the record is what lists the client on the account page, where removing
// it revokes the grant. The refresh grant checks it too.
func (g *Password) recordConsent(ctx context.Context, userID, clientID string, scopes []string, now time.Time) error {
	existing, err := g.Consents.Get(ctx, userID, clientID)
	switch {
	case errors.Is(err, valet.ErrNotFound):
		existing = &valet.Consent{UserID: userID, ClientID: clientID}
	case err != nil:
		return unavailable("get consent", err)
	case existing.Covers(scopes):
		return nil
	}
	merged := slices.Concat(existing.Scopes, scopes)
	slices.Sort(merged)
	c := &valet.Consent{UserID: userID, ClientID: clientID, Scopes: slices.Compact(merged), GrantedAt: now}
	if err := g.Consents.Put(ctx, c); err != nil {
		return unavailable("record consent", err)
	}
	return nil
}

func (g *Password) family() family {
	return family{refresh: g.Refresh, opaque: g.Access, digester: g.Digester, tokens: g.Tokens, log: g.log()}
}

func (g *Password) now() time.Time {
	if g.Now == nil {
		return time.Now()
	}
	return g.Now()
}

func (g *Password) log() *slog.Logger {
	if g.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Log
}
