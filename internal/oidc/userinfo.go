package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/token"
)

// UserInfo, OpenID Connect Core §5.3: "an OAuth 2.0 Protected Resource that
// returns Claims about the authenticated End-User". Valet serves it like any
// resource server would, with RFC 6750 bearer tokens and errors, and with
// the claims of the person's record as it is now, not as it was at sign-in.
//
// CORS: every answer carries Access-Control-Allow-Origin: *, and OPTIONS
// answers a preflight. The only credential is the token the calling script
// itself sends (Authorization header or form body), never a cookie, and
// Access-Control-Allow-Credentials is never set: a page on another origin
// gets nothing it could not get by holding the token already, while a
// single-page app, which runs on its own origin, could not call UserInfo
// at all without it.

// errNoToken is a request without any bearer token: RFC 6750 §3.1, "the
// resource server SHOULD NOT include an error code or other error
// information".
var errNoToken = errors.New("oidc: no bearer token")

// userinfo serves GET and POST /userinfo.
func (h *Handler) userinfo(w http.ResponseWriter, r *http.Request) {
	allowCORS(w.Header())
	raw, err := bearerToken(w, r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	claims, err := h.claimsFor(r.Context(), raw)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	// Core §5.3.2: a JSON object, Content-Type application/json; no-store
	// and Pragma as for every response that carries personal data or
	// tokens (catalogue HD-01).
	oauth.WriteJSONValue(w, http.StatusOK, claims)
}

// bearerToken returns the access token of the request: from the
// Authorization header (RFC 6750 §2.1) for GET and POST, and for POST also
// from the form body's access_token (§2.2), but never from both (§2: "Clients
// MUST NOT use more than one method to transmit the token in each
// request"). A token in the query string (§2.3) is not looked at: it would
// end up in logs and Referer headers (RFC 9700 §4.3.2).
func bearerToken(w http.ResponseWriter, r *http.Request) (string, error) {
	var header string
	switch values := r.Header.Values("Authorization"); len(values) {
	case 0:
	case 1:
		scheme, rest, _ := strings.Cut(values[0], " ")
		// The scheme is case-insensitive (RFC 9110 §11.1). Another scheme,
		// such as Basic, is as no token at all (RFC 6750 §3.1). When DPoP
		// comes (catalogue DP-01), the DPoP scheme is checked here, and a
		// DPoP-bound token presented as Bearer is refused.
		if strings.EqualFold(scheme, "Bearer") {
			header = strings.TrimLeft(rest, " ")
			if header == "" {
				return "", oauth.Errorf(oauth.InvalidRequest, "the Bearer credentials are empty")
			}
		}
	default:
		return "", oauth.Errorf(oauth.InvalidRequest, "send one Authorization header")
	}
	var body string
	if r.Method == http.MethodPost && isForm(r.Header.Get("Content-Type")) {
		// §2.2: "application/x-www-form-urlencoded"; oauth.ParseForm refuses
		// a repeated access_token and bounds the body.
		form, err := oauth.ParseForm(w, r, oauth.MaxFormBytes)
		if err != nil {
			return "", err
		}
		body = form.Get("access_token")
	}
	switch {
	case header != "" && body != "":
		return "", oauth.Errorf(oauth.InvalidRequest, "send the access token in the Authorization header or in the body, not both")
	case header != "":
		return header, nil
	case body != "":
		return body, nil
	}
	return "", errNoToken
}

func isForm(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// claimsFor checks raw as an access token for UserInfo and returns the
// claims it releases.
//
// The token's aud is not checked. Scope openid is what entitles a token to
// UserInfo (Core §5.3), and a code flow's access token is audience-
// restricted to the APIs the client named (RFC 8707), or the configured
// default audience, never to UserInfo: demanding the issuer in aud would
// refuse the very tokens OpenID Connect means for it.
func (h *Handler) claimsFor(ctx context.Context, raw string) (map[string]any, error) {
	// One Introspector for JWT and opaque tokens alike: signature, type
	// (at+jwt only, so an ID token is no access token, catalogue JW-02a),
	// expiry and the deny-list (revoked tokens and grants).
	t, err := h.Introspector.Introspect(ctx, raw)
	if err != nil {
		return nil, oauth.Unavailable(fmt.Errorf("introspect access token: %w", err))
	}
	if !t.Active || t.TokenUse != token.UseAccess {
		// A refresh token introspects active but is no access token
		// (catalogue JW-02b).
		return nil, invalidToken("the access token is invalid, expired or revoked")
	}
	if t.GrantID == "" {
		// Only client-credentials tokens lack a grant: their subject is
		// the client itself, there is no person to describe.
		return nil, invalidToken("the access token was not issued for a person")
	}
	scopes := strings.Fields(t.Scope)
	if !slices.Contains(scopes, token.ScopeOpenID) {
		// Core §5.3: the token comes from an OpenID Connect request, which
		// always has scope openid (§3.1.2.1).
		return nil, &oauth.Error{Code: oauth.InsufficientScope, Description: "the access token lacks scope openid"}
	}
	// The access token's sub is the user ID, whatever the client's subject
	// type (see token.Subjects).
	user, err := h.Users.Get(ctx, t.Subject)
	if errors.Is(err, valet.ErrNotFound) {
		return nil, invalidToken("the person this access token was issued for no longer has an account")
	}
	if err != nil {
		return nil, oauth.Unavailable(fmt.Errorf("get user: %w", err))
	}
	client, err := h.Clients.Get(ctx, t.ClientID)
	if errors.Is(err, valet.ErrNotFound) {
		return nil, invalidToken("the client this access token was issued to no longer exists")
	}
	if err != nil {
		return nil, oauth.Unavailable(fmt.Errorf("get client: %w", err))
	}
	// Core §5.3.2: "The sub Claim in the UserInfo Response MUST be verified
	// to exactly match the sub Claim in the ID Token"; both come from
	// Subjects, so a pairwise client sees its pairwise sub here too.
	sub, err := h.Subjects.For(client, user.ID)
	if err != nil {
		return nil, oauth.Internal(err)
	}
	return h.Claims.Release(sub, user, scopes), nil
}

func invalidToken(desc string) error {
	return oauth.Errorf(oauth.InvalidToken, "%s", desc)
}

// refuse answers err as RFC 6750 §3: a WWW-Authenticate Bearer challenge
// with error and error_description (401 invalid_token, 403
// insufficient_scope with the scope needed, 400 invalid_request), and the
// same in a JSON body; no token at all gets the bare challenge with realm
// and nothing else. A store outage is 503 with Retry-After, so the client
// keeps its token. Causes are logged, never sent, and never the token.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errNoToken) {
		w.Header().Set("WWW-Authenticate", "Bearer realm="+quote(h.realm))
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	e := oauth.From(err)
	level := slog.LevelDebug
	switch e.Code {
	case oauth.ServerError, oauth.TemporarilyUnavailable:
		level = slog.LevelError
	case oauth.InvalidToken, oauth.InsufficientScope, oauth.InvalidRequest:
		challenge := "Bearer realm=" + quote(h.realm) + ", error=" + quote(e.Code) +
			", error_description=" + quote(e.Description)
		if e.Code == oauth.InsufficientScope {
			challenge += ", scope=" + quote(token.ScopeOpenID)
		}
		e.Header = e.Header.Clone()
		if e.Header == nil {
			e.Header = http.Header{}
		}
		e.Header.Set("WWW-Authenticate", challenge)
	}
	h.log().Log(r.Context(), level, "userinfo: request refused", "method", r.Method,
		"status", e.Status(), "error", e.Code, "cause", e.Err)
	oauth.WriteJSON(w, e)
}

// quote makes an RFC 9110 quoted-string of s. RFC 6750 §3 limits error,
// error_description and scope to %x20-21 / %x23-5B / %x5D-7E, so '"', '\'
// and anything outside printable ASCII are dropped rather than escaped.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// allowCORS lets scripts of any origin read UserInfo answers, errors
// included, without credentials (see the comment at the top of this file).
func allowCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "WWW-Authenticate")
}

// preflight answers a CORS preflight for /userinfo: a script may send GET
// or POST with an Authorization header and a form body.
func preflight(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	allowCORS(h)
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
