package grant

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/throttle"
	"github.com/valetauth/valet/internal/token"
)

// Request is a parsed token request. Every parameter a grant reads is parsed
// once, here, from the form body; no grant touches the raw form.
type Request struct {
	GrantType    string
	Code         string // authorization_code
	RedirectURI  string // authorization_code
	CodeVerifier string // authorization_code, RFC 7636 §4.5
	RefreshToken string // refresh_token
	Username     string // password, RFC 6749 §4.3.2
	Password     string // password
	// Scopes is the scope parameter in canonical form (distinct, sorted); nil
	// when the parameter was absent or empty (RFC 6749 §3.1).
	Scopes []string
	// Resources are the RFC 8707 resource indicators, each an absolute URI
	// without a fragment, distinct and sorted; nil when none was sent.
	Resources []string
}

// Response is a successful token response (RFC 6749 §5.1).
type Response struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"` // always "Bearer"
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	// IDToken is the OpenID Connect ID token (Core §3.1.3.3), present when
	// the granted scopes include openid and a person signed in.
	IDToken string `json:"id_token,omitempty"`
}

// Grant serves one grant_type. When Exchange runs, the Handler has already
// authenticated the client and checked that it registered this grant type.
// Exchange returns an *oauth.Error for anything the client should see;
// any other error is sent as server_error and only logged.
type Grant interface {
	// Type is the grant_type value this grant serves, compared exactly.
	Type() string
	Exchange(ctx context.Context, c *valet.Client, r *Request) (*Response, error)
}

// Handler serves POST /token, and with an Introspector also POST
// /introspect and POST /revoke: the endpoints where a client authenticates
// itself, all through the same client authentication. Its fields are its
// dependencies; set them with a struct literal and call Register.
type Handler struct {
	Clients  valet.ClientStore
	Digester *secret.Digester // checks client secrets (PurposeClientSecret)
	// Grants are the grant types this server offers; any other grant_type is
	// unsupported_grant_type, whatever a client registered.
	Grants []Grant
	// PasswordGrantDisabled turns grant_type=password off server-wide: it is
	// unsupported_grant_type even for a client that registered it and even
	// when Grants holds a Password grant (RFC 9700 §2.4, catalogue pin P16).
	// With it false the grant is still off for every client whose
	// registration lacks grant type "password" (unauthorized_client).
	PasswordGrantDisabled bool

	// Introspector finds tokens for /introspect and /revoke; nil serves
	// neither endpoint.
	Introspector *token.Introspector
	// Refresh and Revocations are where /revoke revokes: a refresh token's
	// whole family in both, an access token on the deny-list.
	Refresh     valet.RefreshStore
	Revocations valet.RevocationStore
	// IntrospectLimiter limits token scanning at /introspect (RFC 7662 §4,
	// catalogue DS-04): each inactive answer counts as a failure of the
	// calling client. Nil means DefaultIntrospectLimiter's budget.
	IntrospectLimiter *throttle.Limiter

	// ClientAuthLimiter limits failed client authentication at /token,
	// /introspect and /revoke, per client ID and source address (catalogue
	// DS-04). Nil means DefaultClientAuthLimiter's budget.
	ClientAuthLimiter *throttle.Limiter

	// Realm names the protection space in the Basic challenge of a 401
	// (RFC 7617 §2); the issuer's host. Empty means oauth.BasicRealm.
	Realm string
	Log   *slog.Logger     // nil discards
	Now   func() time.Time // nil means time.Now; /revoke's clock
}

// Register adds the token endpoint to mux, and /introspect and /revoke when
// the Introspector is set. The patterns have no method, so that a GET or PUT
// reaches the handler and gets the JSON 405 with "Allow: POST" (catalogue
// pin P2) from oauth.ParseForm rather than the mux's plain-text one.
func (h *Handler) Register(mux *http.ServeMux) {
	if h.ClientAuthLimiter == nil {
		h.ClientAuthLimiter = DefaultClientAuthLimiter(h.Now)
	}
	mux.HandleFunc("/token", h.token)
	if h.Introspector == nil {
		return
	}
	if h.Refresh == nil || h.Revocations == nil {
		panic("grant: Handler needs Refresh and Revocations to serve /revoke")
	}
	if h.IntrospectLimiter == nil {
		h.IntrospectLimiter = DefaultIntrospectLimiter(h.Now)
	}
	mux.HandleFunc("/introspect", h.introspect)
	mux.HandleFunc("/revoke", h.revoke)
}

// token runs the steps every grant shares, in order.
func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	resp, err := h.serve(r.Context(), w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// RFC 6749 §5.1: the response carries "Cache-Control: no-store" and
	// "Pragma: no-cache"; oauth.WriteJSONValue sets both.
	oauth.WriteJSONValue(w, http.StatusOK, resp)
}

func (h *Handler) serve(ctx context.Context, w http.ResponseWriter, r *http.Request) (*Response, error) {
	// RFC 6749 §3.2: "The client MUST use the HTTP "POST" method"; the
	// parameters come only from the form body, never the query (catalogue
	// IP-01), each at most once (§3.2: "MUST NOT be included more than once").
	// RFC 8707 §2 makes resource the one parameter that may repeat.
	form, resources, err := oauth.ParseFormResources(w, r, oauth.MaxFormBytes)
	if err != nil {
		return nil, err
	}
	// The client is authenticated before grant_type is even looked at, so a
	// wrong secret is 401 whatever else is wrong (catalogue TE-01).
	client, _, err := h.client(ctx, r, form)
	if err != nil {
		return nil, err
	}
	g, err := h.choose(client, form.Get("grant_type"))
	if err != nil {
		return nil, err
	}
	req, err := parseRequest(form, resources)
	if err != nil {
		return nil, err
	}
	return g.Exchange(ctx, client, req)
}

// choose picks the grant for grantType and checks the client may use it.
func (h *Handler) choose(c *valet.Client, grantType string) (Grant, error) {
	if grantType == "" {
		// RFC 6749 §3.1: an empty parameter is an omitted one.
		return nil, oauth.Errorf(oauth.InvalidRequest, "grant_type is required")
	}
	var g Grant
	for _, cand := range h.Grants {
		// Values are case-sensitive: Authorization_Code is not authorization_code.
		if cand.Type() == grantType {
			g = cand
			break
		}
	}
	if g == nil || grantType == valet.GrantPassword && h.PasswordGrantDisabled {
		// RFC 6749 §5.2: unsupported_grant_type, "The authorization grant type
		// is not supported by the authorization server." The value is not echoed.
		return nil, oauth.Errorf(oauth.UnsupportedGrantType, "this server does not support that grant_type")
	}
	if !c.AllowsGrant(grantType) {
		// RFC 6749 §5.2: unauthorized_client, "The authenticated client is not
		// authorized to use this authorization grant type."
		return nil, oauth.Errorf(oauth.UnauthorizedClient, "this client is not registered for the grant type %s", grantType)
	}
	return g, nil
}

// parseRequest reads the parameters the grants use from the parsed form.
// Unknown parameters are ignored (RFC 6749 §3.2: the server "MUST ignore
// unrecognized request parameters").
func parseRequest(form url.Values, resources []string) (*Request, error) {
	scopes, err := oauth.ParseScope(form.Get("scope"))
	if err != nil {
		return nil, err
	}
	res, err := oauth.ParseResources(resources)
	if err != nil {
		return nil, err
	}
	return &Request{
		GrantType:    form.Get("grant_type"),
		Code:         form.Get("code"),
		RedirectURI:  form.Get("redirect_uri"),
		CodeVerifier: form.Get("code_verifier"),
		RefreshToken: form.Get("refresh_token"),
		Username:     form.Get("username"),
		Password:     form.Get("password"),
		Scopes:       scopes,
		Resources:    res,
	}, nil
}

// fail writes err as the RFC 6749 §5.2 JSON error. Causes are logged, never
// sent: server_error and temporarily_unavailable log theirs at error level.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := oauth.From(err)
	switch e.Code {
	case oauth.ServerError, oauth.TemporarilyUnavailable:
		h.log().ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "error", e.Code, "err", e.Err)
	}
	if h.Realm != "" && strings.HasPrefix(e.Header.Get("WWW-Authenticate"), "Basic ") {
		e.Header = e.Header.Clone()
		e.Header.Set("WWW-Authenticate", `Basic realm="`+h.Realm+`"`)
	}
	oauth.WriteJSON(w, e)
}

func (h *Handler) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

func (h *Handler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// unavailable turns a store error other than valet.ErrNotFound (which
// callers translate themselves) into 503 temporarily_unavailable with
// Retry-After, so that the client keeps its code or token and retries
// (catalogue pin P7) instead of reading a 400 or 401 as a final answer.
func unavailable(what string, err error) error {
	return oauth.Unavailable(fmt.Errorf("%s: %w", what, err))
}
