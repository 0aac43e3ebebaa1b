package friendfinder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/valetauth/valet/demo/explorer"
	"golang.org/x/oauth2"
)

// Config is what FriendFinder needs to know: where it runs, its
// registration at the authorization server, and the API it calls.
type Config struct {
	// URL is FriendFinder's own address, such as
	// "https://friendfinder.example". Its redirect URI is URL+"/callback",
	// and the grants page's is URL+"/grants/implicit/callback".
	URL string
	// Issuer is the authorization server's issuer identifier; FriendFinder
	// reads its endpoints from the RFC 8414 metadata.
	Issuer string
	// ClientID and ClientSecret are FriendFinder's registration: a
	// confidential client with the authorization_code grant and scope
	// contacts.read.
	ClientID     string
	ClientSecret string
	// MailURL is the Mail API: the RFC 8707 resource FriendFinder asks a
	// token for, and the address it calls.
	MailURL string
	// Members are the email addresses of FriendFinder's members; nil means
	// DefaultMembers.
	Members []string
	// Registration, when set, is shown on the home page: the command that
	// registered FriendFinder.
	Registration string
	// Lab, when set, adds the page that runs the other grants.
	Lab *Lab

	// HTTPClient sends FriendFinder's requests to the authorization server
	// and to Mail; its Transport is recorded for the flow explorer. Nil
	// means a client with a 15-second timeout.
	HTTPClient *http.Client
	// Log receives what went wrong; nil means slog.Default().
	Log *slog.Logger
}

// Lab is the second registered app that runs the other grants of the
// note: a confidential client that registered client_credentials,
// password and implicit (with redirect URI Config.URL +
// "/grants/implicit/callback") and scope contacts.read.
type Lab struct {
	ClientID     string
	ClientSecret string
	// Registration, when set, is shown on the grants page.
	Registration string
}

// DefaultMembers are the people who already use FriendFinder, by email.
var DefaultMembers = []string{
	"bruno@mail.example", "dara@mail.example", "farah@mail.example", "kim@elsewhere.example",
}

// scopeContacts is the only scope FriendFinder asks for.
const scopeContacts = "contacts.read"

// App is a running FriendFinder. Make it with New.
type App struct {
	cfg      Config
	members  map[string]bool
	endpoint oauth2.Endpoint
	// oauth is FriendFinder's own client configuration.
	oauth *oauth2.Config
	// base sends every request; each run wraps it in a Recorder.
	base    http.RoundTripper
	timeout time.Duration
	log     *slog.Logger

	sessions *sessions
	pages    *pages
}

// New checks cfg, reads the authorization server's metadata and returns
// the app.
func New(ctx context.Context, cfg Config) (*App, error) {
	for name, v := range map[string]string{"URL": cfg.URL, "Issuer": cfg.Issuer, "MailURL": cfg.MailURL} {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("friendfinder: Config.%s must be an absolute http(s) URL, got %q", name, v)
		}
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("friendfinder: Config.ClientID and ClientSecret are required")
	}
	if cfg.Lab != nil && (cfg.Lab.ClientID == "" || cfg.Lab.ClientSecret == "") {
		return nil, errors.New("friendfinder: Config.Lab needs ClientID and ClientSecret")
	}
	cfg.URL = strings.TrimSuffix(cfg.URL, "/")
	cfg.MailURL = strings.TrimSuffix(cfg.MailURL, "/")
	a := &App{cfg: cfg, members: map[string]bool{}, base: http.DefaultTransport, timeout: 15 * time.Second, log: cfg.Log}
	if cfg.HTTPClient != nil {
		if cfg.HTTPClient.Transport != nil {
			a.base = cfg.HTTPClient.Transport
		}
		if cfg.HTTPClient.Timeout > 0 {
			a.timeout = cfg.HTTPClient.Timeout
		}
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	members := cfg.Members
	if members == nil {
		members = DefaultMembers
	}
	for _, m := range members {
		a.members[strings.ToLower(m)] = true
	}

	meta, err := a.discover(ctx)
	if err != nil {
		return nil, err
	}
	a.endpoint = oauth2.Endpoint{
		AuthURL:  meta.AuthorizationEndpoint,
		TokenURL: meta.TokenEndpoint,
		// Say how the client authenticates instead of letting the library
		// guess by trying both (AuthStyleAutoDetect): client_secret_basic,
		// the method FriendFinder registered.
		AuthStyle: oauth2.AuthStyleInHeader,
	}
	a.oauth = &oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		Endpoint:     a.endpoint,
		RedirectURL:  cfg.URL + "/callback",
		Scopes:       []string{scopeContacts},
	}
	a.sessions = newSessions(maxSessions, sessionTTL)
	a.pages = parsePages()
	return a, nil
}

// metadata is the part of RFC 8414 authorization server metadata that
// FriendFinder uses.
type metadata struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
}

// discover fetches the authorization server metadata (RFC 8414 §3).
func (a *App) discover(ctx context.Context) (*metadata, error) {
	u, _ := url.Parse(a.cfg.Issuer)
	// RFC 8414 §3.1: the well-known path goes between the host and the
	// issuer's path.
	u.Path = "/.well-known/oauth-authorization-server" + strings.TrimSuffix(u.Path, "/")
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Transport: a.base}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("friendfinder: fetch the authorization server metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("friendfinder: the authorization server metadata at %s answered %s", u, resp.Status)
	}
	var m metadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m); err != nil {
		return nil, fmt.Errorf("friendfinder: the authorization server metadata is not JSON: %w", err)
	}
	// RFC 8414 §3.3: the issuer in the document "MUST be identical" to the
	// one the client used, or the metadata is someone else's.
	if m.Issuer != a.cfg.Issuer {
		return nil, fmt.Errorf("friendfinder: the metadata names issuer %q, not %q", m.Issuer, a.cfg.Issuer)
	}
	if m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" {
		return nil, errors.New("friendfinder: the metadata lacks authorization_endpoint or token_endpoint")
	}
	return &m, nil
}

// recording returns a context that makes x/oauth2 send its requests
// through a new Recorder, the recorder, and a client for other calls.
//
// x/oauth2 takes its HTTP client only from the context (golang/oauth2#223
// calls that "an abuse of context"); this is the one place FriendFinder
// puts a dependency there, because the library offers no other way.
func (a *App) recording(ctx context.Context) (context.Context, *explorer.Recorder) {
	rec := &explorer.Recorder{Base: a.base}
	client := &http.Client{Transport: rec, Timeout: a.timeout,
		// FriendFinder follows no redirects from the servers it calls: a
		// token must never be sent on to another address.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return context.WithValue(ctx, oauth2.HTTPClient, client), rec
}

// Handler returns FriendFinder's pages.
func (a *App) Handler() http.Handler {
	// Cross-site form posts are refused (Sec-Fetch-Site, else Origin).
	origin := http.NewCrossOriginProtection()
	post := func(h http.HandlerFunc) http.Handler { return origin.Handler(h) }

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.Handle("POST /start", post(a.start))
	mux.HandleFunc("GET /callback", a.callback)
	mux.HandleFunc("GET /result", a.result)
	if a.cfg.Lab != nil {
		mux.HandleFunc("GET /grants", a.grantsPage)
		mux.Handle("POST /grants/client-credentials", post(a.runClientCredentials))
		mux.Handle("POST /grants/password", post(a.runPassword))
		mux.Handle("POST /grants/implicit", post(a.startImplicit))
		mux.HandleFunc("GET /grants/implicit/callback", a.implicitCallback)
		mux.Handle("POST /grants/implicit/finish", post(a.finishImplicit))
	}
	mux.Handle("GET /static/", staticHandler())
	return a.headers(mux)
}

// headers sets the security headers of every answer. The policy allows
// FriendFinder's own stylesheet and script only, and form posts to
// FriendFinder and to the authorization server, where /start redirects.
func (a *App) headers(next http.Handler) http.Handler {
	as, _ := url.Parse(a.endpoint.AuthURL)
	csp := "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; " +
		"form-action 'self' " + as.Scheme + "://" + as.Host + "; base-uri 'none'; frame-ancestors 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		// The callback's address holds a code: never send it on in a Referer.
		h.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// render shows page name with its data.
func (a *App) render(w http.ResponseWriter, status int, name, title string, body any) {
	a.pages.render(w, status, name, page{Title: title, Nav: name, Lab: a.cfg.Lab != nil, Body: body})
}

// home serves the start page.
func (a *App) home(w http.ResponseWriter, r *http.Request) {
	a.render(w, http.StatusOK, "home", "Find your friends from Mail", homePage{
		Issuer: a.cfg.Issuer, MailURL: a.cfg.MailURL, URL: a.cfg.URL,
		Registration: a.cfg.Registration, Lab: a.cfg.Lab != nil,
	})
}

// fail shows an error page. The cause goes to the log only.
func (a *App) fail(w http.ResponseWriter, status int, title, message string, cause error) {
	if cause != nil {
		a.log.Warn("friendfinder: "+title, "err", cause)
	}
	a.render(w, status, "error", title, errorPage{Title: title, Message: message, Lab: a.cfg.Lab != nil})
}
