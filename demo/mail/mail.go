package mail

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/valetauth/valet/bearer"
)

// The scopes Mail understands.
const (
	ScopeContacts = "contacts.read" // read the address book
	ScopeMail     = "mail.read"     // read the messages
)

// Contact is one entry of a person's address book.
type Contact struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Message is one mail in a person's inbox.
type Message struct {
	From     string    `json:"from"`
	Subject  string    `json:"subject"`
	Received time.Time `json:"received"`
	Preview  string    `json:"preview"`
}

// Mailbox is everything Mail keeps for one person.
type Mailbox struct {
	Owner    string // a display name, such as "ana"
	Contacts []Contact
	Messages []Message
}

// Server is the Mail API. Fill its fields with a struct literal and call
// Handler once.
type Server struct {
	// URL is Mail's own address, such as "https://mail.example". Tokens
	// must name it in "aud" (RFC 9068 §4), and it is the resource
	// identifier of the RFC 9728 metadata. Mail's endpoints are under its
	// path.
	URL string
	// Issuer is the authorization server whose tokens Mail accepts, such as
	// "https://valet.example".
	Issuer string
	// Mailboxes are the people's mailboxes by their ID at the authorization
	// server: the "sub" of the tokens that speak for them. Handler does not
	// copy the map; do not change it while serving.
	Mailboxes map[string]*Mailbox

	// HTTPClient fetches the authorization server's metadata and keys; nil
	// means bearer's default.
	HTTPClient *http.Client
	// Log receives why tokens were refused (at Debug); nil means
	// slog.Default().
	Log *slog.Logger
	// Now is the clock tokens are checked against; nil means time.Now.
	Now func() time.Time
}

// Handler checks the configuration and returns Mail's routes.
func (s *Server) Handler() (http.Handler, error) {
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("mail: Server.URL must be an absolute http(s) URL without query or fragment")
	}
	meta := bearer.ResourceMetadata{
		Resource:             s.URL,
		AuthorizationServers: []string{s.Issuer},
		ScopesSupported:      []string{ScopeContacts, ScopeMail},
		ResourceName:         "Mail",
	}
	v, err := bearer.NewVerifier(bearer.Config{
		Issuer:   s.Issuer,
		Audience: s.URL,
		// RFC 9728 §5.1: a 401 tells the client where to learn which
		// authorization server to ask.
		ResourceMetadataURL: meta.URL(),
		HTTPClient:          s.HTTPClient,
		Log:                 s.Log,
		Now:                 s.Now,
	})
	if err != nil {
		return nil, err
	}
	metaURL, _ := url.Parse(meta.URL())
	prefix := strings.TrimSuffix(u.Path, "/")

	mux := http.NewServeMux()
	mux.Handle("GET "+metaURL.Path, meta.Handler())
	mux.Handle("GET "+prefix+"/contacts", v.Require(ScopeContacts)(http.HandlerFunc(s.contacts)))
	mux.Handle("GET "+prefix+"/messages", v.Require(ScopeMail)(http.HandlerFunc(s.messages)))
	mux.HandleFunc("GET "+prefix+"/{$}", s.index)
	return mux, nil
}

// mailbox returns the mailbox of the person the request's token speaks
// for, or answers 404 and returns nil.
func (s *Server) mailbox(w http.ResponseWriter, r *http.Request) *Mailbox {
	tok, _ := bearer.FromContext(r.Context())
	if box := s.Mailboxes[tok.Subject]; box != nil {
		return box
	}
	// A valid token whose subject has no mailbox: typically a
	// client-credentials token, which speaks for the app itself.
	writeJSON(w, http.StatusNotFound, map[string]string{
		"error":             "no_mailbox",
		"error_description": "the token is valid, but its subject has no mailbox here: a token that speaks for an app rather than a person has no contacts to read",
	})
	return nil
}

// contacts serves GET /contacts: the address book, and nothing else.
func (s *Server) contacts(w http.ResponseWriter, r *http.Request) {
	box := s.mailbox(w, r)
	if box == nil {
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Owner    string    `json:"owner"`
		Contacts []Contact `json:"contacts"`
	}{box.Owner, box.Contacts})
}

// messages serves GET /messages: the inbox, which a token with only
// contacts.read never reaches.
func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	box := s.mailbox(w, r)
	if box == nil {
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Owner    string    `json:"owner"`
		Messages []Message `json:"messages"`
	}{box.Owner, box.Messages})
}

// index says what Mail offers, for a person who opens its address.
func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"name": "Mail",
		"about": "The API of the demo's story. Every endpoint but this one and the metadata needs an access token " +
			"from " + s.Issuer + " in an Authorization: Bearer header.",
		"endpoints": map[string]string{
			"GET /contacts": "needs scope " + ScopeContacts,
			"GET /messages": "needs scope " + ScopeMail,
		},
		"protected_resource_metadata": bearer.ResourceMetadata{Resource: s.URL}.URL(),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	// A person's data: no cache may keep it.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
