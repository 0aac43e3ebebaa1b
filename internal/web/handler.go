package web

import (
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/throttle"
	"github.com/valetauth/valet/internal/token"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Defaults for the durations a Handler leaves at zero.
const (
	DefaultCodeTTL    = 60 * time.Second // catalogue §3.4, pin P11
	DefaultSessionTTL = 24 * time.Hour
	// consentFormTTL is how long a rendered consent form may be submitted.
	consentFormTTL = 10 * time.Minute
)

// Handler serves the authorization endpoint and the sign-in and consent
// pages. Its fields are its dependencies: set them with a struct literal and
// call Register once, before serving.
type Handler struct {
	// Issuer is the server's issuer identifier, sent as "iss" in every
	// authorization response (RFC 9207). Its origin is the only one trusted
	// for cross-origin form posts.
	Issuer   string
	Clients  valet.ClientStore
	Users    valet.UserStore
	Sessions valet.SessionStore
	Consents valet.ConsentStore
	Codes    valet.CodeStore
	// Replays makes each consent form single use.
	Replays  valet.ReplayStore
	Digester *secret.Digester

	// Refresh and Revocations serve the connected-apps page (/account):
	// removing an app revokes its refresh tokens and deny-lists its grant
	// families, so introspection answers inactive at once. Required.
	Refresh     valet.RefreshStore
	Revocations valet.RevocationStore
	// AccessTTL is the access-token lifetime of the token endpoint: how
	// long a removed app's JWTs may still verify, which the page states,
	// and how long the deny-list keeps its families. Zero means 10 minutes.
	AccessTTL time.Duration

	// Tokens mints the access tokens of the implicit grant (RFC 6749
	// §4.2), in the format each client registered. Required unless
	// ImplicitDisabled.
	Tokens *token.Minter
	// Audience is the "aud" of implicit access tokens whose request names
	// no RFC 8707 resource; the token endpoint's grants use the same
	// default. Required unless ImplicitDisabled.
	Audience []string
	// ImplicitDisabled turns off server-wide every response type that
	// returns a token through the browser (token, id_token and the hybrid
	// types): every request for one is unsupported_response_type, even from
	// a client that registered it (catalogue pin P16, AZ-01c). With it
	// false, each is still off for every client that did not register it
	// (unauthorized_client).
	ImplicitDisabled bool

	// IDTokens signs the ID tokens of response types with id_token (OpenID
	// Connect Core §3.2.2.10, §3.3.2.11) and verifies id_token_hint.
	// Required.
	IDTokens *token.Issuer
	// IDTokenTTL is the lifetime of those ID tokens; zero means
	// token.DefaultIDTokenTTL. Use the token endpoint's value.
	IDTokenTTL time.Duration
	// Subjects computes each client's "sub" for a person, public or
	// pairwise (Core §8); the token endpoint and UserInfo must use the same.
	Subjects token.Subjects
	// Claims decides which claims each scope releases into the ID token of
	// response_type=id_token, the one type with no access token to call
	// UserInfo with (Core §5.4). Use UserInfo's rules.
	Claims token.ClaimRules

	CodeTTL    time.Duration // zero means DefaultCodeTTL
	SessionTTL time.Duration // zero means DefaultSessionTTL
	// Secure marks cookies Secure with the __Host- prefix and sends HSTS;
	// set it whenever the issuer is https.
	Secure bool
	// ScopeDescriptions holds one plain sentence per scope for the consent
	// page; they override the built-in ones (see defaultScopeDescriptions).
	ScopeDescriptions map[string]string

	// AccountLimiter limits failed sign-ins per username, AddressLimiter per
	// client address. Share AccountLimiter with the password grant, so that
	// guesses spread over both endpoints count together. Nil means a
	// limiter of 10 failures per 5 minutes per account and 50 per address.
	AccountLimiter *throttle.Limiter
	AddressLimiter *throttle.Limiter

	Log *slog.Logger     // nil discards
	Now func() time.Time // nil means time.Now

	pages  *pages
	origin *http.CrossOriginProtection
}

// Register parses the embedded templates, fills defaults and adds the
// routes to mux. It panics on a missing dependency or a broken template, so
// that both fail at start-up and in tests, never on a request.
//
// GET /consent is not a route: the mux answers 405, so a link can never
// grant consent (catalogue CS-02a).
func (h *Handler) Register(mux *http.ServeMux) {
	switch {
	case h.Clients == nil || h.Users == nil || h.Sessions == nil || h.Consents == nil || h.Codes == nil:
		panic("web: Handler needs Clients, Users, Sessions, Consents and Codes")
	case h.Replays == nil:
		panic("web: Handler needs Replays (single-use consent forms)")
	case h.Refresh == nil || h.Revocations == nil:
		panic("web: Handler needs Refresh and Revocations (the connected-apps page)")
	case h.Digester == nil:
		panic("web: Handler needs a Digester")
	case h.IDTokens == nil:
		panic("web: Handler needs IDTokens (ID tokens and id_token_hint)")
	case !h.ImplicitDisabled && (h.Tokens == nil || len(h.Audience) == 0):
		panic("web: Handler needs Tokens and Audience for the implicit grant, or ImplicitDisabled")
	}
	iss, err := url.Parse(h.Issuer)
	if err != nil || (iss.Scheme != "https" && iss.Scheme != "http") || iss.Host == "" {
		panic("web: Issuer must be an absolute http(s) URL, got " + h.Issuer)
	}
	if h.CodeTTL <= 0 {
		h.CodeTTL = DefaultCodeTTL
	}
	if h.AccessTTL <= 0 {
		h.AccessTTL = 10 * time.Minute
	}
	if h.SessionTTL <= 0 {
		h.SessionTTL = DefaultSessionTTL
	}
	if h.AccountLimiter == nil {
		h.AccountLimiter = throttle.NewAccountLimiter(h.Now)
	}
	if h.AddressLimiter == nil {
		h.AddressLimiter = &throttle.Limiter{Failures: 50, Per: 5 * time.Minute, Now: h.Now}
	}
	if h.Log == nil {
		h.Log = slog.New(slog.DiscardHandler)
	}
	h.pages = parsePages(h.Secure)

	// CS-01d: state-changing forms refuse cross-site posts (Sec-Fetch-Site,
	// else Origin against Host). The issuer's origin is trusted as well, for
	// deployments behind a proxy that rewrites Host.
	h.origin = http.NewCrossOriginProtection()
	if err := h.origin.AddTrustedOrigin(iss.Scheme + "://" + iss.Host); err != nil {
		panic("web: issuer origin: " + err.Error())
	}
	h.origin.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Log.Info("web: cross-origin form post refused", "path", r.URL.Path)
		h.pages.error(w, http.StatusForbidden, errorPage{
			Title:   "Request refused",
			Message: "This form was sent from another website, so Valet did not accept it. Go back to the app you were using and start again.",
		})
	}))

	mux.HandleFunc("GET /authorize", h.authorizeGet)
	mux.HandleFunc("POST /authorize", h.authorizePost)
	mux.HandleFunc("GET /login", h.loginPage)
	mux.Handle("POST /login", h.origin.Handler(http.HandlerFunc(h.login)))
	mux.Handle("POST /consent", h.origin.Handler(http.HandlerFunc(h.consent)))
	mux.HandleFunc("GET "+accountPath, h.accountGet)
	mux.Handle("POST "+accountPath+"/remove", h.origin.Handler(http.HandlerFunc(h.accountRemove)))
	mux.Handle("GET /static/", staticHandler())
}

// staticHandler serves the embedded stylesheet and form_post script.
// Directory paths are 404, so nothing is listed.
func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}
