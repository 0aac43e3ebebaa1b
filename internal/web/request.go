package web

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/token"
)

// maxStateLen bounds state and nonce (catalogue pin P23). A longer value is
// refused, never truncated: a truncated state would fail the client's check
// in a way nobody could explain (IP-05).
const maxStateLen = 1024

// AuthorizeRequest is an authorization request (RFC 6749 §4.1.1, OpenID
// Connect Core §3.1.2.1), parsed once from the query or the form body.
// Nothing after parsing reads the raw parameters.
type AuthorizeRequest struct {
	ClientID string
	// RedirectURI is redirect_uri as sent, "" when it was omitted; the code
	// records it so that the token request must repeat it (RFC 6749 §4.1.3).
	RedirectURI string
	// ResponseType is canonical (valet.CanonicalResponseType), because "the
	// order of values does not matter" (RFC 6749 §3.1.1, catalogue AZ-01e).
	ResponseType string
	// Scopes is the canonical scope set (sorted, distinct). When scope was
	// omitted it is the client's registered scopes except "openid"
	// (RFC 6749 §3.3 lets the server use "a pre-defined default value"; a
	// request without openid is not an OpenID Connect request).
	Scopes              []string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	// Prompt holds the distinct prompt values, sorted: "none", "login",
	// "consent" (OIDC Core §3.1.2.1). "select_account" is read as "login":
	// signing in again is how a person picks another account here.
	Prompt []string
	// ResponseMode is response_mode as sent: "", "query", "fragment" or
	// "form_post".
	ResponseMode string
	// Resources are the RFC 8707 resource indicators asked for, distinct
	// and sorted; each is one the client registered.
	Resources []string
	// MaxAge is max_age (OIDC Core §3.1.2.1) when HasMaxAge: the longest
	// time since the person last entered a password that the client
	// accepts.
	MaxAge    time.Duration
	HasMaxAge bool
	// LoginHint pre-fills the username on the sign-in page; "" when absent
	// or unusable as one (see loginHint).
	LoginHint string
	// IDTokenHint is id_token_hint as sent: an ID token this server issued
	// to the client, verified while parsing.
	IDTokenHint string
}

// Encode returns the canonical query string of the request: only the
// parameters Valet reads, sorted by name. The sign-in page returns to
// "/authorize?" + Encode(), and the consent form carries it (MACed).
func (r *AuthorizeRequest) Encode() string {
	v := url.Values{}
	maxAge := ""
	if r.HasMaxAge {
		maxAge = strconv.FormatInt(int64(r.MaxAge/time.Second), 10)
	}
	for k, s := range map[string]string{
		"client_id":             r.ClientID,
		"redirect_uri":          r.RedirectURI,
		"response_type":         r.ResponseType,
		"scope":                 strings.Join(r.Scopes, " "),
		"state":                 r.State,
		"nonce":                 r.Nonce,
		"code_challenge":        r.CodeChallenge,
		"code_challenge_method": r.CodeChallengeMethod,
		"prompt":                strings.Join(r.Prompt, " "),
		"response_mode":         r.ResponseMode,
		"max_age":               maxAge,
		"login_hint":            r.LoginHint,
		"id_token_hint":         r.IDTokenHint,
	} {
		if s != "" {
			v.Set(k, s)
		}
	}
	// RFC 8707 §2: resource "MAY be used multiple times".
	for _, res := range r.Resources {
		v.Add(oauth.ResourceParam, res)
	}
	return v.Encode()
}

func (r *AuthorizeRequest) hasPrompt(p string) bool { return slices.Contains(r.Prompt, p) }

// authorization is a request whose client and redirect URI are validated:
// from here on, errors go to redirect, never to an error page.
type authorization struct {
	AuthorizeRequest
	client *valet.Client
	// redirect is where responses go: the matched registered URI, or the
	// only registered one when redirect_uri was omitted (pin P9).
	redirect string
	// kind is what the response type returns.
	kind responseType
	// mode is how the response reaches the client: query, fragment or
	// form_post.
	mode responseMode
	// hint holds the claims of a verified id_token_hint, nil without one.
	hint *token.IDClaims
}

// parseAuthorize parses raw, a query string or a form body, as an
// authorization request.
//
// It returns a nil authorization and a *pageError while the client or the
// redirect URI cannot be trusted: then nothing may be sent to any redirect
// URI (RFC 6749 §4.1.2.1, catalogue RU-01, IP-01a). Once both are valid it
// returns the authorization and, when the request is bad, an *oauth.Error
// to send there as an error redirect.
//
// mixed reports that a POSTed request also carried parameters in its URL.
func (h *Handler) parseAuthorize(ctx context.Context, raw string, mixed bool) (*authorization, error) {
	// Catalogue pin P23: the request is at most 8 KiB. A request cut short
	// by a proxy could change meaning, so it is refused, not truncated.
	if len(raw) > oauth.MaxQueryBytes {
		return nil, badRequestPage("The request is too long.", nil)
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		// url.ParseQuery drops malformed pairs and semicolon-separated
		// ones; what remains cannot be trusted to be the whole request.
		return nil, badRequestPage("The request is not well-formed.", nil)
	}
	// RFC 6749 §3.1: "Request and response parameters MUST NOT be included
	// more than once." Two client_ids or redirect_uris leave no redirect
	// target to trust, so this is an error page (IP-01a).
	for _, p := range []string{"client_id", "redirect_uri"} {
		if len(vals[p]) > 1 {
			return nil, badRequestPage("The request names more than one "+p+".",
				oauth.Errorf(oauth.InvalidRequest, "%s included more than once", p))
		}
	}
	clientID := vals.Get("client_id")
	if clientID == "" {
		return nil, badRequestPage("The request does not say which app is asking (client_id is missing).",
			oauth.Errorf(oauth.InvalidRequest, "client_id required"))
	}
	client, err := h.Clients.Get(ctx, clientID)
	if errors.Is(err, valet.ErrNotFound) {
		return nil, badRequestPage("The app that sent you here is not registered with Valet.",
			oauth.Errorf(oauth.InvalidClient, "unknown client"))
	}
	if err != nil {
		return nil, internalPage(err)
	}
	// Pin P9: redirect_uri may be omitted only by a plain OAuth request from
	// a client with one registered URI. Any request that looks like OpenID
	// Connect counts, even one whose scope will fail to parse, so that an
	// omitted redirect_uri is never guessed for it (catalogue RU-06b).
	redirect, err := oauth.ResolveRedirectURI(client.RedirectURIs, vals.Get("redirect_uri"), mentionsOpenID(vals["scope"]))
	if err != nil {
		return nil, badRequestPage("Valet cannot tell where to send you back: the app did not give an address it has registered, so Valet stopped here.", oauth.From(err))
	}

	a := &authorization{client: client, redirect: redirect}
	a.ClientID = client.ID
	// Until the request is checked, errors go where the request asked, as
	// far as that can be trusted: form_post when it said so, else the
	// fragment whenever a token was asked for, so that not even an error
	// about a token request goes in a query (catalogue AZ-03a).
	a.mode = earlyMode(vals["response_type"], vals["response_mode"], redirect)
	// RFC 6749 §4.1.2.1: state is returned "if the "state" parameter was
	// present", as the exact value; only a single, acceptable one can be.
	if s := vals["state"]; len(s) == 1 && len(s[0]) <= maxStateLen {
		a.State = s[0]
	}
	return a, h.checkAuthorize(a, vals, mixed)
}

// checkAuthorize applies the checks that come after the redirect URI is
// trusted, in order, filling a's request. Each failure is an *oauth.Error
// for an error redirect.
func (h *Handler) checkAuthorize(a *authorization, vals url.Values, mixed bool) error {
	// RFC 6749 §3.1: parameters "MUST NOT be included more than once";
	// §3.1: "Parameters sent without a value MUST be treated as if they
	// were omitted". RFC 8707 §2 makes resource the one exception: it
	// "MAY be used multiple times", so it is set aside first.
	resources := vals[oauth.ResourceParam]
	rest := maps.Clone(vals)
	delete(rest, oauth.ResourceParam)
	p, err := oauth.SingleValues(rest)
	if err != nil {
		return err
	}
	if mixed {
		return oauth.Errorf(oauth.InvalidRequest, "a POSTed authorization request must carry every parameter in the form body, none in the URL")
	}
	// OIDC Core §3.1.2.6 and catalogue pin P22: request objects are not
	// supported. Ignoring one would act on parameters its signature was
	// meant to override, so the client is told.
	if p["request"] != "" {
		return oauth.Errorf("request_not_supported", "request objects are not supported")
	}
	if p["request_uri"] != "" {
		return oauth.Errorf("request_uri_not_supported", "request_uri is not supported")
	}
	a.RedirectURI = p["redirect_uri"]
	if len(p["state"]) > maxStateLen {
		return oauth.Errorf(oauth.InvalidRequest, "state is longer than %d bytes", maxStateLen)
	}
	a.State = p["state"]

	if err := h.checkResponseType(a, p["response_type"], p["response_mode"]); err != nil {
		return err
	}

	// RFC 6749 §3.3: invalid_scope when "the requested scope is invalid,
	// unknown, or malformed"; catalogue AZ-02a pins refusing over
	// silently narrowing.
	scopes, err := oauth.ParseScope(p["scope"])
	if err != nil {
		return err
	}
	if p["scope"] == "" {
		scopes = slices.DeleteFunc(slices.Clone(a.client.Scopes), func(s string) bool { return s == "openid" })
		slices.Sort(scopes)
		scopes = slices.Compact(scopes)
	}
	if !a.client.AllowsScopes(scopes) {
		return oauth.Errorf(oauth.InvalidScope, "the client is not allowed one or more of the requested scopes")
	}
	a.Scopes = scopes
	// OIDC Core §3.2.2.1 and §3.3.2.1: response types with id_token are
	// OpenID Connect's, and "OpenID Connect requests MUST contain the openid
	// scope value".
	if a.kind.idToken && !a.openID() {
		return oauth.Errorf(oauth.InvalidRequest, "response_type %s needs the openid scope", a.ResponseType)
	}
	if a.Resources, err = checkResources(a.client, resources); err != nil {
		return err
	}

	// RFC 7636 §4.4.1 and catalogue pin P10: PKCE with S256 whenever a code
	// is issued, hybrid types included. id_token and token alone have no
	// code to bind a verifier to (PKCE "is not applicable" to them), so a
	// challenge, if any, is ignored and not carried on.
	if a.kind.code {
		a.CodeChallenge, a.CodeChallengeMethod = p["code_challenge"], p["code_challenge_method"]
		if err := oauth.ValidateChallenge(a.CodeChallenge, a.CodeChallengeMethod); err != nil {
			return err
		}
	}
	if a.Nonce = p["nonce"]; len(a.Nonce) > maxStateLen {
		return oauth.Errorf(oauth.InvalidRequest, "nonce is longer than %d bytes", maxStateLen)
	}
	// OIDC Core §3.2.2.1 and §3.3.2.11: nonce is REQUIRED whenever the
	// authorization endpoint returns an ID token (catalogue AZ-03c).
	if a.kind.idToken && a.Nonce == "" {
		return oauth.Errorf(oauth.InvalidRequest, "nonce required for response_type %s", a.ResponseType)
	}
	if a.Prompt, err = parsePrompt(p["prompt"]); err != nil {
		return err
	}
	if a.MaxAge, a.HasMaxAge, err = parseMaxAge(p["max_age"]); err != nil {
		return err
	}
	// OIDC Core §3.1.2.1: login_hint is a hint; one longer than any
	// username could be is dropped, not refused.
	a.LoginHint = loginHint(p["login_hint"])
	return h.checkIDTokenHint(a, p["id_token_hint"])
}

// openID reports whether the request is an OpenID Connect request.
func (a *authorization) openID() bool { return slices.Contains(a.Scopes, "openid") }

// checkIDTokenHint verifies id_token_hint (OIDC Core §3.1.2.1): an ID token
// this server signed, for this client. Expired hints are accepted: the hint
// names a past session. Anything else is invalid_request: an access token
// (typ at+jwt, catalogue JW-02c), a token signed by a key that is not ours,
// another client's token, or something that is no JWT at all.
func (h *Handler) checkIDTokenHint(a *authorization, raw string) error {
	if raw == "" {
		return nil
	}
	c, err := h.IDTokens.ParseIDTokenHint(raw)
	if err != nil {
		return oauth.Errorf(oauth.InvalidRequest, "id_token_hint is not an ID token issued by this server")
	}
	// OIDC Core §3.1.2.1: the hint is about "the End-User's current or past
	// authenticated session with the Client": its audience is this client.
	if !slices.Contains(c.Audience, a.client.ID) {
		return oauth.Errorf(oauth.InvalidRequest, "id_token_hint was not issued to this client")
	}
	a.IDTokenHint, a.hint = raw, c
	return nil
}

// checkResources checks the RFC 8707 resource indicators of a request and
// returns them distinct and sorted. Empty values count as omitted (RFC 6749
// §3.1). Each must be an absolute URI without a fragment (RFC 8707 §2,
// oauth.ParseResources) and one the client registered; otherwise
// invalid_target, which RFC 8707 §2 defines for "the requested resource is
// invalid, missing, unknown, or malformed".
func checkResources(c *valet.Client, values []string) ([]string, error) {
	out, err := oauth.ParseResources(slices.DeleteFunc(slices.Clone(values), func(s string) bool { return s == "" }))
	if err != nil {
		return nil, err
	}
	for _, r := range out {
		// Compared byte for byte, like redirect URIs: a resource server
		// compares its audience the same way.
		if !slices.Contains(c.Resources, r) {
			return nil, oauth.Errorf(oauth.InvalidTarget, "the client is not allowed one or more of the requested resources")
		}
	}
	return out, nil
}

// mentionsOpenID reports whether any scope value holds an "openid" token,
// however badly separated.
func mentionsOpenID(values []string) bool {
	for _, s := range values {
		for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == ',' }) {
			if t == "openid" {
				return true
			}
		}
	}
	return false
}

// pageError is an error shown on Valet's own error page: the request could
// not be trusted to redirect anywhere, or a form was refused.
type pageError struct {
	status int
	page   errorPage
	cause  error // logged, never shown
}

func (e *pageError) Error() string { return e.page.Message }

// badRequestPage is a 400 error page. When err is an *oauth.Error its code
// and description are shown too; they never echo the request.
func badRequestPage(msg string, err *oauth.Error) *pageError {
	e := &pageError{status: http.StatusBadRequest, page: errorPage{Title: "This request cannot continue", Message: msg}}
	if err != nil {
		e.page.Code, e.page.Detail = err.Code, err.Description
	}
	return e
}

// internalPage is a 500 error page for an unexpected failure; the cause is
// logged, never shown.
func internalPage(err error) *pageError {
	return &pageError{status: http.StatusInternalServerError, cause: err, page: errorPage{
		Title:   "Something went wrong",
		Message: "Valet met an unexpected problem. Please try again in a moment.",
		Code:    oauth.ServerError,
	}}
}
