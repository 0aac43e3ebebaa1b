package web

import (
	"bytes"
	"html/template"
	"net/http"

	"github.com/valetauth/valet/internal/secret"
)

// pages renders the HTML pages. Templates are parsed once, in Register;
// call sites use the typed methods below, never template names.
type pages struct {
	t      *template.Template
	secure bool
}

func parsePages(secure bool) *pages {
	return &pages{t: template.Must(template.ParseFS(templateFS, "templates/*.html")), secure: secure}
}

// page is what the layout needs besides the page's own data.
type page struct {
	Title string
	Nonce string // the CSP nonce of this response, for any script tag
	Body  any
}

// errorPage is the page for errors that must not redirect: an unknown
// client, a bad redirect URI, a refused or replayed form.
type errorPage struct {
	Title   string
	Message string
	Code    string // the OAuth error code, when there is one
	Detail  string // the OAuth error description, when there is one
}

// loginPage is the sign-in form.
type loginPage struct {
	ClientName string // the app the person is signing in for, if known
	Username   string
	Error      string
	CSRF       string
	ReturnTo   string
}

// consentPage asks the person whether the client may have the scopes.
type consentPage struct {
	ClientName string
	ClientID   string
	ClientURI  string // only an http(s) URI registered for the client
	PolicyURI  string
	TosURI     string
	Username   string
	Scopes     []scopeLine
	Request    string // the canonical authorization request
	Expires    string
	CSRF       string
}

// formPostPage posts an authorization response to the client (OAuth 2.0
// Form Post Response Mode §2).
type formPostPage struct {
	ClientName string
	Action     string // the validated redirect URI
	Fields     []formField
}

type formField struct{ Name, Value string }

type scopeLine struct {
	Scope       string
	Description string
}

func (p *pages) error(w http.ResponseWriter, status int, e errorPage) {
	if e.Title == "" {
		e.Title = "Something went wrong"
	}
	p.render(w, status, "error.html", e.Title, e)
}

func (p *pages) login(w http.ResponseWriter, status int, l loginPage) {
	p.render(w, status, "login.html", "Sign in", l)
}

func (p *pages) consent(w http.ResponseWriter, c consentPage) {
	p.render(w, http.StatusOK, "consent.html", "Allow access?", c)
}

// formPost is 200: the page is the response, not an error.
func (p *pages) formPost(w http.ResponseWriter, f formPostPage) {
	p.render(w, http.StatusOK, "form_post.html", "Returning to "+f.ClientName, f)
}

// render executes the page into a buffer first, so that a template error
// becomes a clean 500 rather than half a page.
func (p *pages) render(w http.ResponseWriter, status int, name, title string, body any) {
	nonce := secret.ID("")
	var buf bytes.Buffer
	if err := p.t.ExecuteTemplate(&buf, name, page{Title: title, Nonce: nonce, Body: body}); err != nil {
		htmlHeaders(w.Header(), nonce, p.secure)
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("<!doctype html><title>Error</title><p>The page could not be shown.</p>\n"))
		return
	}
	htmlHeaders(w.Header(), nonce, p.secure)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// htmlHeaders sets the headers of catalogue §3.1 on an HTML response. No
// CORS header is ever set here (RFC 9700 §2.6).
func htmlHeaders(h http.Header, nonce string, secure bool) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self' 'nonce-"+nonce+"'; style-src 'self'; "+
		"img-src 'self' data:; connect-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'")
	// RFC 9700 §4.16: clickjacking; §4.2.4: no referrer leaks the request.
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if secure {
		h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	}
	h.Del("Location")
}
