package grant

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/throttle"
)

// authFailed is the description of every failed client authentication, so
// that an unknown client, a wrong secret and a wrong method read alike and
// nobody can probe which client IDs exist (catalogue CA-02). The precise
// reason goes to the log only.
const authFailed = "client authentication failed"

// dummyDigest stands in for the secret digest of an unknown client. It has
// the length of a real digest (base64url of 32 bytes), so the comparison
// against it costs what a real one costs.
var dummyDigest = strings.Repeat("A", 43)

// client authenticates the client of a request whose form is parsed: the
// step /token, /introspect and /revoke share, so that all three accept and
// refuse exactly the same credentials (catalogue CA-01 to CA-05).
func (h *Handler) client(ctx context.Context, r *http.Request, form url.Values) (*valet.Client, oauth.Credentials, error) {
	creds, err := oauth.ClientCredentials(r, form)
	if err != nil {
		return nil, creds, err
	}
	if h.ClientAuthLimiter == nil { // a Handler used without Register
		c, err := h.authenticate(ctx, creds)
		return c, creds, err
	}
	// Catalogue DS-04: failed client authentication is limited per client
	// ID and source address, so that guessing a client's secret is slow
	// while the client itself, calling from elsewhere, is not locked out.
	attempt, wait := h.ClientAuthLimiter.Begin("client:" + loggable(creds.ID) + "@" + throttle.AddressKey(r))
	if attempt == nil {
		h.log().WarnContext(ctx, "client authentication throttled", "client_id", loggable(creds.ID))
		return nil, creds, tooManyRequests(oauth.RateLimited, wait, "too many failed client authentications")
	}
	c, err := h.authenticate(ctx, creds)
	if err != nil && oauth.From(err).Code == oauth.InvalidClient {
		attempt.Fail()
	} else {
		attempt.Succeed() // authenticated, or a storage failure that taught nothing
	}
	return c, creds, err
}

// DefaultClientAuthLimiter is the budget of failed client authentications
// at /token, /introspect and /revoke when Handler.ClientAuthLimiter is nil:
// per client ID and source address, 300 failures in a row, then 5 a second.
// A client secret Valet generates has 256 random bits, so the limit guards
// secrets set by hand; it is high enough that no client's own concurrency
// reaches it (an attempt in flight holds one failure in reserve). The
// counters live in each node's memory: with N nodes the budget is N times
// this.
func DefaultClientAuthLimiter(now func() time.Time) *throttle.Limiter {
	return &throttle.Limiter{Failures: 300, Per: time.Minute, Now: now}
}

// authenticate finds the client the credentials name and checks them
// against its registration. Every failure is invalid_client with status 401
// (catalogue pin P1), with a WWW-Authenticate challenge when the client used
// the Authorization header.
func (h *Handler) authenticate(ctx context.Context, cr oauth.Credentials) (*valet.Client, error) {
	basic := cr.Method == valet.AuthSecretBasic
	reject := func(reason string) error {
		h.log().WarnContext(ctx, "client authentication failed",
			"client_id", loggable(cr.ID), "method", cr.Method, "reason", reason)
		return oauth.InvalidClientf(basic, authFailed)
	}
	if cr.ID == "" {
		// RFC 6749 §3.2.1: "A client MAY use the "client_id" request parameter
		// to identify itself when sending requests to the token endpoint";
		// with neither that nor credentials, the client is unknown.
		return nil, oauth.InvalidClientf(false, "client authentication required: send client_id, with the client secret if the client has one")
	}
	c, err := h.Clients.Get(ctx, cr.ID)
	if errors.Is(err, valet.ErrNotFound) {
		// Compare anyway, so an unknown client costs what a known one does
		// (catalogue CA-02); the result is always false.
		h.Digester.Equal(secret.PurposeClientSecret, cr.Secret, dummyDigest)
		return nil, reject("unknown client")
	}
	if err != nil {
		return nil, unavailable("get client", err)
	}
	if c.Public() {
		// A public client cannot keep a secret (RFC 6749 §2.1), so one that
		// sends a secret is confused or an impostor (catalogue pin P13).
		// A Basic header with an empty password, which golang.org/x/oauth2
		// sends for public clients, carries no secret and is accepted.
		if cr.HasSecret {
			return nil, reject("public client sent a client secret")
		}
		return c, nil
	}
	// Computed before the checks below so every confidential path costs one
	// digest. Digester.Equal compares the keyed digests in constant time.
	match := h.Digester.Equal(secret.PurposeClientSecret, cr.Secret, c.SecretDigest)
	switch {
	case cr.Method != c.TokenEndpointAuthMethod:
		// RFC 7591 §2: token_endpoint_auth_method is the "requested
		// authentication method for the token endpoint"; only that one
		// authenticates the client (catalogue CA-05a). A client_id alone
		// (method "none") is a confidential client posing as public: RFC 6749
		// §4.1.3, the server MUST "require client authentication for
		// confidential clients" (catalogue CA-05b, CO-03e).
		return nil, reject("used " + cr.Method + ", registered " + c.TokenEndpointAuthMethod)
	case !match:
		// Also a Basic header with an empty password: no digest of "" matches.
		return nil, reject("wrong client secret")
	}
	return c, nil
}

// loggable bounds an attacker-chosen client_id before it is logged.
func loggable(id string) string {
	if len(id) > 64 {
		return id[:64] + "..."
	}
	return id
}
