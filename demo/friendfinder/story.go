package friendfinder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/valetauth/valet/demo/explorer"
	"golang.org/x/oauth2"
)

// The note's flow with the authorization code grant (RFC 6749 §4.1, with
// PKCE, RFC 7636): start sends the browser to the authorization server,
// callback receives the code, trades it for a token and calls Mail, and
// result shows what happened.

// person is the demo's person; the explanations tell her story.
const person = "ana"

// storyRun is one run of the flow, as the result page shows it.
type storyRun struct {
	At time.Time
	// Denied is the error the authorization server sent back instead of a
	// code, such as access_denied when the person clicked Deny.
	Denied, DeniedDescription string
	// Failure says in plain words what went wrong after the code came back.
	Failure string

	Scope    string // the scope the token carries
	MailRead bool   // whether it carries mail.read: it must not
	Audience string // the API it is for
	Expires  string // how long it lives
	Contacts []contactRow
	Friends  []string // the names of the contacts who are members
	Steps    []step
	// Refused is the attempt to read the mail: the panel of what
	// FriendFinder cannot do.
	Refused *step
}

type contactRow struct {
	Name, Email string
	Member      bool
}

// step is one step of a flow in the explorer: what happened, between whom,
// the HTTP messages, and what it proves.
type step struct {
	// Before is what happened just before this step, out of the app's
	// sight, such as the sign-in at Valet.
	Before string
	Number int
	Title  string
	Route  string // who talks to whom, such as "FriendFinder → Valet, server to server"
	// Note is the sentence of the source note this step is, quoted.
	Note     string
	Proves   string
	Messages []shown
	Token    *explorer.Decoded
	// Err is why a request got no answer.
	Err string
}

// shown is one HTTP message with a caption.
type shown struct {
	Label string
	M     *explorer.Message
}

// start serves POST /start: the person clicked "Find my friends". Step 1:
// FriendFinder asks for authorization by sending the browser to Valet.
func (a *App) start(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		a.fail(w, http.StatusBadRequest, "That form is not FriendFinder's", "Start again from the home page.", nil)
		return
	}
	askAgain := r.PostForm.Get("prompt") == "consent"
	sess := a.session(w, r)
	// RFC 6749 §10.12: a state bound to this browser, so that an answer to
	// someone else's request is refused at the callback.
	state := randomString()
	// RFC 7636 / RFC 9700 §2.1.1: PKCE, even for a confidential client.
	verifier := oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{
		oauth2.S256ChallengeOption(verifier),
		// RFC 8707 §2: name the one API the token is for, so that no other
		// API would accept it.
		oauth2.SetAuthURLParam("resource", a.cfg.MailURL),
	}
	if askAgain {
		// Valet remembers an Allow; prompt=consent (OpenID Connect Core
		// §3.1.2.1) makes it ask again, so that a person can try Deny.
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "consent"))
	}
	authURL := a.oauth.AuthCodeURL(state, opts...)
	sess.addPending(state, &pending{grant: "authorization_code", verifier: verifier, started: time.Now(),
		sent: explorer.Redirect(http.StatusSeeOther, authURL)})
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

// callback serves GET /callback, where Valet sends the browser back. Step
// 2 arrives here; steps 3 to 6 and the refused call happen before it
// answers, and the browser is sent on to /result.
func (a *App) callback(w http.ResponseWriter, r *http.Request) {
	received := explorer.Incoming(r, nil)
	ar := parseAuthResponse(r.URL.Query())
	var p *pending
	sess := a.sessions.get(r)
	if sess != nil {
		p = sess.takePending(ar.State, "authorization_code")
	}
	if p == nil {
		a.fail(w, http.StatusBadRequest, "This answer is not for FriendFinder",
			"FriendFinder did not start this request in this browser, or started it more than ten minutes ago: the state does not match. Nothing was done with it. Start again from the home page.", nil)
		return
	}
	// RFC 9207 §2.4: the answer must come from the server the request
	// went to; a mix-up attacker's server would name itself.
	if ar.Iss != a.cfg.Issuer {
		a.fail(w, http.StatusBadRequest, "This answer came from the wrong server",
			fmt.Sprintf("The answer names issuer %q, but FriendFinder asked %q. It ignored the answer.", ar.Iss, a.cfg.Issuer), nil)
		return
	}
	run := &storyRun{At: time.Now()}
	run.Steps = append(run.Steps, authorizeStep(p), callbackStep(received, ar.Error != ""))
	defer func() {
		sess.setStory(run)
		// Post/Redirect/Get: the code leaves the address bar and a reload
		// does not replay it.
		http.Redirect(w, r, "/result", http.StatusSeeOther)
	}()
	if ar.Error != "" {
		run.Denied, run.DeniedDescription = ar.Error, ar.ErrorDescription
		return
	}

	// Steps 3 and 4: the code for a token, server to server.
	ctx, rec := a.recording(r.Context())
	tok, err := a.oauth.Exchange(ctx, ar.Code, oauth2.VerifierOption(p.verifier))
	ex, _ := rec.Last()
	req, resp := tokenSteps("FriendFinder", ex, tok, err)
	run.Steps = append(run.Steps, req, resp)
	if err != nil {
		run.Failure = "Valet did not give FriendFinder a token: " + describe(err)
		return
	}
	run.Scope, _ = tok.Extra("scope").(string)
	run.MailRead = has(run.Scope, "mail.read")
	run.Audience = claim(resp.Token, "aud")
	if !tok.Expiry.IsZero() {
		run.Expires = minutes(time.Until(tok.Expiry))
	}

	// Steps 5 and 6: the token for the contacts.
	client := a.oauth.Client(ctx, tok)
	status, body, err := getJSON(ctx, client, a.cfg.MailURL+"/contacts")
	ex, _ = rec.Last()
	call, answer := apiSteps(5, ex, status, "FriendFinder", "ana's contacts")
	run.Steps = append(run.Steps, call, answer)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("Mail answered %d", status)
	}
	if err != nil {
		run.Failure = "Mail did not give FriendFinder the contacts: " + err.Error()
		return
	}
	var book struct {
		Contacts []struct{ Name, Email string } `json:"contacts"`
	}
	if err := json.Unmarshal(body, &book); err != nil {
		run.Failure = "Mail's answer was not the expected JSON: " + err.Error()
		return
	}
	for _, c := range book.Contacts {
		member := a.members[strings.ToLower(c.Email)]
		run.Contacts = append(run.Contacts, contactRow{Name: c.Name, Email: c.Email, Member: member})
		if member {
			run.Friends = append(run.Friends, c.Name)
		}
	}

	// What it cannot do: the same token for the mail.
	status, _, err = getJSON(ctx, client, a.cfg.MailURL+"/messages")
	ex, _ = rec.Last()
	run.Refused = refusedStep(ex, status, err)
}

// authResponse is an authorization response (RFC 6749 §4.1.2, §4.2.2 and
// their errors), read once from the callback's query or the implicit
// grant's fragment.
type authResponse struct {
	Code, AccessToken, State, Iss string
	Error, ErrorDescription       string
}

func parseAuthResponse(v url.Values) authResponse {
	return authResponse{
		Code: v.Get("code"), AccessToken: v.Get("access_token"), State: v.Get("state"), Iss: v.Get("iss"),
		Error: v.Get("error"), ErrorDescription: v.Get("error_description"),
	}
}

// result serves GET /result: the friends found and the flow explorer.
func (a *App) result(w http.ResponseWriter, r *http.Request) {
	var run *storyRun
	if sess := a.sessions.get(r); sess != nil {
		run = sess.lastStory()
	}
	if run == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	title := "Your friends on FriendFinder"
	if run.Denied != "" || run.Failure != "" {
		title = "FriendFinder got no contacts"
	}
	a.render(w, http.StatusOK, "result", title, resultPage{Run: run, Issuer: a.cfg.Issuer,
		MailURL: a.cfg.MailURL, Lab: a.cfg.Lab != nil})
}

// getJSON sends GET url with client and returns the status and body.
func getJSON(ctx context.Context, client *http.Client, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// describe says why a token request failed, without the library's
// wording, which may quote the whole response.
func describe(err error) string {
	if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok {
		if re.ErrorCode != "" {
			s := re.ErrorCode
			if re.ErrorDescription != "" {
				s += " (" + re.ErrorDescription + ")"
			}
			return s
		}
		if re.Response != nil {
			return "the token endpoint answered " + re.Response.Status
		}
	}
	return err.Error()
}

func authorizeStep(p *pending) step {
	m := p.sent
	return step{
		Number: 1, Title: "FriendFinder asks for authorization",
		Route: "FriendFinder → ana's browser → Valet",
		Note:  "The application requests authorization to access service resources from the user",
		Proves: "FriendFinder sends ana's browser to Valet saying what it wants — " + scopeContacts +
			", for Mail only — with a fresh state and a PKCE challenge. It asks for no password: it has no sign-in form at all.",
		Messages: []shown{{"FriendFinder's answer to the browser: a redirect to Valet's authorization endpoint", &m}},
	}
}

// atValet is what happens between steps 1 and 2, where the app cannot see.
const atValet = "Meanwhile, at Valet, out of the app's sight: ana signs in with her password and answers Valet's question — allow or deny? (When she is already signed in and allowed before, Valet remembers and skips these pages.)"

func callbackStep(m explorer.Message, denied bool) step {
	s := step{
		Before: atValet,
		Number: 2, Title: "The grant comes back",
		Route: "Valet → ana's browser → FriendFinder",
		Note:  "If the user authorized the request, the application receives an authorization grant",
		Proves: "FriendFinder never saw ana's password: she typed it at Valet, and what came back is a one-time code, " +
			"useless without FriendFinder's secret and PKCE verifier. The state is the one FriendFinder made in step 1 " +
			"and iss names Valet, so FriendFinder knows this answer is to its own request, from the right server.",
		Messages: []shown{{"The request the browser made to FriendFinder's redirect URI", &m}},
	}
	if denied {
		s.Title = "The answer comes back: no"
		s.Proves = "ana said no at Valet, so Valet sent back an error instead of a code. FriendFinder never saw her password and got nothing it could use."
	}
	return s
}

// tokenSteps are steps 3 and 4: the token request and its answer.
func tokenSteps(app string, ex explorer.Exchange, tok *oauth2.Token, err error) (step, step) {
	req := step{
		Number: 3, Title: app + " trades the code for a token",
		Route: app + " → Valet, server to server",
		Note:  "The application requests an access token from the authorization server (API) by presenting authentication of its own identity, and the authorization grant",
		Proves: "FriendFinder proves who it is with its client secret (in the Authorization header) and that it started " +
			"step 1 with the PKCE verifier, which hashes to the challenge sent then. Someone who stole the code from the " +
			"browser could do neither.",
		Messages: []shown{{app + "'s request to Valet's token endpoint", &ex.Request}},
	}
	resp := step{Number: 4, Title: "Valet issues the access token", Route: "Valet → " + app, Err: ex.Err,
		Note: "If the application identity is authenticated and the authorization grant is valid, the authorization server (API) issues an access token to the application. Authorization is complete"}
	if ex.Response != nil {
		resp.Messages = []shown{{"Valet's answer", ex.Response}}
	}
	if err != nil {
		resp.Proves = "Valet refused, so FriendFinder has no token: " + describe(err) + "."
		return req, resp
	}
	scope, _ := tok.Extra("scope").(string)
	resp.Proves = fmt.Sprintf("The access token allows %s and nothing else. It went from Valet to %s, server "+
		"to server, and never passed through ana's browser.", orWord(scope, "what ana allowed"), app)
	if tok.RefreshToken != "" {
		resp.Proves += " The refresh token beside it lets FriendFinder ask for a new one later without bothering ana — until she takes her permission back."
	}
	resp.Token, _ = explorer.DecodeJWT(tok.AccessToken)
	return req, resp
}

// apiSteps are a call to Mail and its answer, numbered from n.
func apiSteps(n int, ex explorer.Exchange, status int, app, what string) (step, step) {
	call := step{
		Number: n, Title: app + " calls Mail with the token",
		Route: app + " → Mail",
		Proves: app + " shows Mail the access token, not a password. Mail checks it by itself — Valet's signature, " +
			"the issuer, the audience (Mail), the expiry and the scope — and looks up the mailbox of the token's subject.",
		Messages: []shown{{app + "'s request to Mail", &ex.Request}},
		Note:     "The application requests the resource from the resource server (API) and presents the access token for authentication",
	}
	answer := step{Number: n + 1, Title: "Mail answers", Route: "Mail → " + app, Err: ex.Err,
		Note: "If the access token is valid, the resource server (API) serves the resource to the application"}
	if ex.Response != nil {
		answer.Messages = []shown{{"Mail's answer", ex.Response}}
	}
	switch {
	case ex.Response == nil:
		answer.Proves = "Mail did not answer."
	case status == http.StatusOK:
		answer.Proves = "Mail returned " + what + " and nothing else: the token is good for " + scopeContacts + " only."
	default:
		answer.Proves = "Mail refused: " + ex.Response.Line + "."
	}
	return call, answer
}

// refusedStep is the attempt to read the mail with a contacts.read token.
func refusedStep(ex explorer.Exchange, status int, err error) *step {
	s := &step{
		Title:    "What FriendFinder cannot do: read ana's mail",
		Route:    "FriendFinder → Mail → FriendFinder",
		Messages: []shown{{"FriendFinder's request for the messages, with the same token", &ex.Request}},
		Err:      ex.Err,
	}
	if ex.Response != nil {
		s.Messages = append(s.Messages, shown{"Mail's answer", ex.Response})
	}
	switch {
	case err != nil && ex.Response == nil:
		s.Proves = "Mail did not answer: " + err.Error()
	case status == http.StatusForbidden && strings.Contains(ex.Response.Header("WWW-Authenticate"), `error="insufficient_scope"`):
		s.Proves = "FriendFinder tried to read ana's inbox with the very same token. Mail refused with 403 " +
			"insufficient_scope: ana allowed " + scopeContacts + ", not mail.read, so her mail stays out of reach. " +
			"In the old days FriendFinder would have had her password, and with it everything."
	default:
		s.Proves = fmt.Sprintf("Mail answered %d. It should have refused with 403 insufficient_scope: check Mail's configuration.", status)
	}
	return s
}

// minutes says how long d is, to the minute, in words.
func minutes(d time.Duration) string {
	n := int(d.Round(time.Minute) / time.Minute)
	if n == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", n)
}

// claim returns the value of a registered claim of a decoded token, or "".
func claim(d *explorer.Decoded, name string) string {
	if d == nil {
		return ""
	}
	for _, c := range d.Explained {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func orWord(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// has reports whether the token's scope string contains scope.
func has(scope, want string) bool { return slices.Contains(strings.Fields(scope), want) }
