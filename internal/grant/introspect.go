package grant

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/throttle"
	"github.com/valetauth/valet/internal/token"
)

// DefaultIntrospectLimiter is the token-scanning budget of each client at
// /introspect when Handler.IntrospectLimiter is nil: 600 inactive answers
// in a row, then 10 a second. Active answers cost nothing, so a resource
// server checking real tokens never meets it; a caller trying random
// values does (RFC 7662 §4). The counters live in each node's memory: with
// N nodes the budget is N times this.
func DefaultIntrospectLimiter(now func() time.Time) *throttle.Limiter {
	return &throttle.Limiter{Failures: 600, Per: time.Minute, Now: now}
}

// introspect serves POST /introspect (RFC 7662).
//
// Policy: every confidential client may introspect every token. Resource
// servers register as confidential clients, and a resource server must be
// able to check the tokens other clients present to it; RFC 7662 §2.1 leaves
// the choice of callers to the server. Public clients cannot authenticate,
// so they may not introspect at all (RFC 7662 §4: the endpoint "MUST
// require some form of authorization").
func (h *Handler) introspect(w http.ResponseWriter, r *http.Request) {
	t, err := h.serveIntrospect(r.Context(), w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// RFC 7662 §2.2: a JSON object, with the no-store headers of catalogue
	// HD-01. An inactive token is always a fresh {Active: false}, so every
	// inactive answer is byte for byte the same (catalogue IR-01b).
	oauth.WriteJSONValue(w, http.StatusOK, t)
}

func (h *Handler) serveIntrospect(ctx context.Context, w http.ResponseWriter, r *http.Request) (*token.Introspection, error) {
	// RFC 7662 §2.1: "The protected resource calls the introspection
	// endpoint using an HTTP POST request with parameters sent as
	// "application/x-www-form-urlencoded" data".
	form, err := oauth.ParseForm(w, r, oauth.MaxFormBytes)
	if err != nil {
		return nil, err
	}
	// RFC 7662 §2.1: the server "MUST" require authorization; the same
	// client authentication as /token (catalogue CA-01, IR-01a).
	c, creds, err := h.client(ctx, r, form)
	if err != nil {
		return nil, err
	}
	if c.Public() {
		return nil, oauth.InvalidClientf(creds.Method == valet.AuthSecretBasic, "public clients cannot introspect")
	}
	raw := form.Get("token")
	if raw == "" {
		// RFC 7662 §2.1: token is REQUIRED.
		return nil, oauth.Errorf(oauth.InvalidRequest, "token is required")
	}
	// token_type_hint is not read at all: RFC 7662 §2.1 makes it a hint,
	// and the server "MUST extend its search across all of its supported
	// token types"; the type prefixes make every search one lookup
	// (catalogue IR-01c, pin P19).
	attempt, wait := h.IntrospectLimiter.Begin(c.ID)
	if attempt == nil {
		h.log().WarnContext(ctx, "introspect: token scanning throttled", "client_id", c.ID)
		return nil, tooManyRequests(oauth.RateLimited, wait, "too many inactive tokens introspected")
	}
	t, err := h.Introspector.Introspect(ctx, raw)
	if err != nil {
		attempt.Succeed() // nothing was learnt
		// Never {"active":false}: a token the server could not check is not
		// known to be inactive.
		return nil, unavailable("introspect", err)
	}
	if t.Active {
		attempt.Succeed()
	} else {
		attempt.Fail()
	}
	return t, nil
}

// tooManyRequests is error code with status 429 and Retry-After (RFC 6585
// §4), for a caller over a rate limit (catalogue DS-04).
func tooManyRequests(code string, wait time.Duration, why string) error {
	secs := strconv.Itoa(max(int(math.Ceil(wait.Seconds())), 1))
	return &oauth.Error{
		Code:        code,
		Description: why + "; retry in " + secs + " seconds",
		StatusCode:  http.StatusTooManyRequests,
		Header:      http.Header{"Retry-After": {secs}},
	}
}
