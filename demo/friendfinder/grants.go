package friendfinder

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/valetauth/valet/demo/explorer"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The other grants of the note, run as a second registered app, "Grant
// Lab", that opted into them: client credentials (RFC 6749 §4.4), the
// resource owner password credentials grant (§4.3) and the implicit grant
// (§4.2). RFC 9700 deprecates the last two; they are here to show why.

// The grant types of the lab, as the pages and sessions name them.
const (
	grantClientCredentials = "client_credentials"
	grantPassword          = "password"
	grantImplicit          = "implicit"
)

// labApp is the lab's name in the explanations.
const labApp = "Grant Lab"

// labRun is one run of one of the other grants.
type labRun struct {
	Grant   string
	At      time.Time
	OK      bool
	Outcome string // one line: what the run came to
	Steps   []step
}

// labConfig is the lab's client configuration for x/oauth2.
func (a *App) labConfig() *oauth2.Config {
	return &oauth2.Config{
		ClientID:     a.cfg.Lab.ClientID,
		ClientSecret: a.cfg.Lab.ClientSecret,
		Endpoint:     a.endpoint, // AuthStyleInHeader, as for FriendFinder
		RedirectURL:  a.cfg.URL + "/grants/implicit/callback",
		Scopes:       []string{scopeContacts},
	}
}

// grantsPage serves GET /grants: the three grants, each with a button and
// the steps of its last run.
func (a *App) grantsPage(w http.ResponseWriter, r *http.Request) {
	p := grantsPage{Registration: a.cfg.Lab.Registration, Issuer: a.cfg.Issuer, MailURL: a.cfg.MailURL}
	if sess := a.sessions.get(r); sess != nil {
		p.ClientCredentials = sess.labRun(grantClientCredentials)
		p.Password = sess.labRun(grantPassword)
		p.Implicit = sess.labRun(grantImplicit)
	}
	a.render(w, http.StatusOK, "grants", "The other grants", p)
}

// runClientCredentials serves POST /grants/client-credentials: the lab
// asks for a token in its own name and calls Mail with it.
func (a *App) runClientCredentials(w http.ResponseWriter, r *http.Request) {
	sess := a.session(w, r)
	run := &labRun{Grant: grantClientCredentials, At: time.Now()}
	defer a.finishLab(w, r, sess, run)

	ctx, rec := a.recording(r.Context())
	cc := &clientcredentials.Config{
		ClientID:     a.cfg.Lab.ClientID,
		ClientSecret: a.cfg.Lab.ClientSecret,
		TokenURL:     a.endpoint.TokenURL,
		Scopes:       []string{scopeContacts},
		// RFC 8707 §2: the API the token is for.
		EndpointParams: url.Values{"resource": {a.cfg.MailURL}},
		AuthStyle:      oauth2.AuthStyleInHeader,
	}
	tok, err := cc.Token(ctx)
	ex, _ := rec.Last()
	req, resp := tokenSteps(labApp, ex, tok, err)
	req.Number, resp.Number = 1, 2
	req.Title, req.Route = labApp+" asks for a token in its own name", labApp+" → Valet, server to server"
	req.Proves = "No person takes part: " + labApp + " proves who it is with its client secret and asks for a token " +
		"for itself. The note: \"used with Applications API access\"."
	if err == nil {
		resp.Proves = "The token's sub is " + labApp + "'s own client ID: it speaks for the app, not for ana. " +
			"There is no refresh token; the app simply asks again when it needs one."
	}
	run.Steps = append(run.Steps, req, resp)
	if err != nil {
		run.Outcome = "Valet gave no token: " + describe(err)
		return
	}
	status, _, err := getJSON(ctx, oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok)), a.cfg.MailURL+"/contacts")
	ex, _ = rec.Last()
	call, answer := apiSteps(3, ex, status, labApp, "contacts")
	if status == http.StatusNotFound {
		answer.Proves = "Mail accepted the token — it is valid, for Mail, with " + scopeContacts + " — but found no " +
			"mailbox for its subject, because an app has none. Client credentials is for an app's own business, " +
			"such as a nightly job, never for a person's data."
	}
	run.Steps = append(run.Steps, call, answer)
	run.OK = err == nil && (status == http.StatusOK || status == http.StatusNotFound)
	run.Outcome = mailOutcome(status, err)
}

// runPassword serves POST /grants/password: the person types her password
// into the lab's own form, and the lab sends it to Valet.
func (a *App) runPassword(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		a.fail(w, http.StatusRequestEntityTooLarge, "The form is too large", "Send a username and a password.", nil)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("username") == "" || form.Get("password") == "" {
		a.fail(w, http.StatusBadRequest, "Username and password needed", "Go back and fill in both fields.", nil)
		return
	}
	sess := a.session(w, r)
	run := &labRun{Grant: grantPassword, At: time.Now()}
	defer a.finishLab(w, r, sess, run)

	received := explorer.Incoming(r, body)
	run.Steps = append(run.Steps, step{
		Number: 1, Title: "ana gives " + labApp + " her password",
		Route: "ana's browser → " + labApp,
		Proves: "This is the note's \"very dangerous\" old way: " + labApp + "'s own form received ana's password. " +
			"It could keep it, use it for anything she can do, and she cannot take it back without changing her password.",
		Messages: []shown{{"The form post " + labApp + " received (the password is masked here, not there)", &received}},
	})

	ctx, rec := a.recording(r.Context())
	tok, err := a.labConfig().PasswordCredentialsToken(ctx, form.Get("username"), form.Get("password"))
	ex, _ := rec.Last()
	req, resp := tokenSteps(labApp, ex, tok, err)
	req.Number, resp.Number = 2, 3
	req.Title, req.Route = labApp+" sends the password to Valet", labApp+" → Valet, server to server"
	req.Proves = "The password travels again, inside the token request. RFC 9700 §2.4 says the password grant " +
		"MUST NOT be used; Valet runs it only for clients that registered it, and can turn it off for all."
	if err == nil {
		resp.Proves = "The token is limited to " + orWord(scopeOf(tok), "what was asked") + " — but " + labApp +
			" also holds the password, which is not limited at all."
	}
	run.Steps = append(run.Steps, req, resp)
	if err != nil {
		run.Outcome = "Valet gave no token: " + describe(err)
		return
	}
	status, _, err := getJSON(ctx, oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok)), a.cfg.MailURL+"/contacts")
	ex, _ = rec.Last()
	call, answer := apiSteps(4, ex, status, labApp, "ana's contacts")
	run.Steps = append(run.Steps, call, answer)
	run.OK = err == nil && status == http.StatusOK
	run.Outcome = mailOutcome(status, err)
}

// startImplicit serves POST /grants/implicit: the browser goes to Valet
// with response_type=token. x/oauth2 has no implicit grant (it is
// deprecated), so the URL is built by hand.
func (a *App) startImplicit(w http.ResponseWriter, r *http.Request) {
	sess := a.session(w, r)
	state := randomString()
	q := url.Values{
		"response_type": {"token"},
		"client_id":     {a.cfg.Lab.ClientID},
		"redirect_uri":  {a.labConfig().RedirectURL},
		"scope":         {scopeContacts},
		"state":         {state},
		"resource":      {a.cfg.MailURL},
	}
	authURL := a.endpoint.AuthURL + "?" + q.Encode()
	sess.addPending(state, &pending{grant: grantImplicit, started: time.Now(),
		sent: explorer.Redirect(http.StatusSeeOther, authURL)})
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

// implicitCallback serves GET /grants/implicit/callback. The token is in
// the fragment, which the browser keeps: this request carries nothing.
// The page's script (static/fragment.js) reads the fragment and posts it
// to finishImplicit; without JavaScript the person can paste it.
func (a *App) implicitCallback(w http.ResponseWriter, r *http.Request) {
	if sess := a.sessions.get(r); sess != nil {
		m := explorer.Incoming(r, nil)
		sess.mu.Lock()
		sess.implicitArrival = &m
		sess.mu.Unlock()
	}
	a.render(w, http.StatusOK, "implicit", "Reading the token from the address", nil)
}

// finishImplicit serves POST /grants/implicit/finish: the fragment, as the
// page's script read it.
func (a *App) finishImplicit(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	form, perr := url.ParseQuery(string(body))
	if err != nil || perr != nil {
		a.fail(w, http.StatusBadRequest, "That is not a fragment", "Go back to the grants page and run the implicit grant again.", nil)
		return
	}
	fragment := strings.TrimPrefix(strings.TrimSpace(form.Get("fragment")), "#")
	if i := strings.IndexByte(fragment, '#'); i >= 0 { // a whole address was pasted
		fragment = fragment[i+1:]
	}
	params, err := url.ParseQuery(fragment)
	ar := parseAuthResponse(params)
	var p *pending
	sess := a.sessions.get(r)
	if sess != nil && err == nil {
		p = sess.takePending(ar.State, grantImplicit)
	}
	if p == nil {
		a.fail(w, http.StatusBadRequest, "This answer is not for "+labApp,
			labApp+" did not start this request in this browser, or started it more than ten minutes ago: the state does not match. Run the implicit grant again.", nil)
		return
	}
	if ar.Iss != a.cfg.Issuer {
		a.fail(w, http.StatusBadRequest, "This answer came from the wrong server",
			fmt.Sprintf("The answer names issuer %q, but %s asked %q.", ar.Iss, labApp, a.cfg.Issuer), nil)
		return
	}
	run := &labRun{Grant: grantImplicit, At: time.Now()}
	defer a.finishLab(w, r, sess, run)

	sent := p.sent
	run.Steps = append(run.Steps, step{
		Number: 1, Title: labApp + " asks for a token through the browser",
		Route: labApp + " → ana's browser → Valet",
		Note:  "The application requests authorization to access service resources from the user",
		Proves: "response_type=token asks Valet to hand the access token straight to the browser: no code, no PKCE, " +
			"and no client secret anywhere in the flow.",
		Messages: []shown{{labApp + "'s answer to the browser: a redirect to Valet's authorization endpoint", &sent}},
	})
	address := explorer.Message{
		Line:   explorer.MaskURL(a.labConfig().RedirectURL + "#" + fragment),
		Params: explorer.Pairs(fragment), ParamsIn: "fragment",
	}
	arrival := step{
		Before: atValet,
		Number: 2, Title: "The token comes back in the address",
		Note:  "If the user authorized the request, the application receives an authorization grant",
		Route: "Valet → ana's browser (→ " + labApp + "'s page script)",
		Proves: "The token came in the fragment, after #. A browser never sends the fragment to a server, so " + labApp +
			"'s server saw only the bare request below; a script on its page had to read the token. On the way it sat " +
			"in the address bar and the history, and no client authentication took place: why RFC 9700 §2.1.2 " +
			"deprecates the implicit grant.",
		Messages: []shown{{"The address Valet sent the browser to", &address}},
	}
	sess.mu.Lock()
	if m := sess.implicitArrival; m != nil {
		arrival.Messages = append(arrival.Messages, shown{"What " + labApp + "'s server received", m})
		sess.implicitArrival = nil
	}
	sess.mu.Unlock()
	if ar.Error != "" {
		arrival.Title = "The answer comes back: no"
		arrival.Proves = "Valet sent back an error instead of a token, in the fragment too: " + ar.Error + "."
		run.Steps = append(run.Steps, arrival)
		run.Outcome = "Valet gave no token: " + ar.Error
		return
	}
	raw := ar.AccessToken
	arrival.Token, _ = explorer.DecodeJWT(raw)
	run.Steps = append(run.Steps, arrival)
	if raw == "" {
		run.Outcome = "The fragment holds no access token."
		return
	}

	ctx, rec := a.recording(r.Context())
	tok := &oauth2.Token{AccessToken: raw, TokenType: "Bearer"}
	status, _, err := getJSON(ctx, oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok)), a.cfg.MailURL+"/contacts")
	ex, _ := rec.Last()
	call, answer := apiSteps(3, ex, status, labApp, "ana's contacts")
	run.Steps = append(run.Steps, call, answer)
	run.OK = err == nil && status == http.StatusOK
	run.Outcome = mailOutcome(status, err)
}

// finishLab stores the run and sends the browser back to its section of
// the grants page.
func (a *App) finishLab(w http.ResponseWriter, r *http.Request, sess *session, run *labRun) {
	sess.setLab(run)
	http.Redirect(w, r, "/grants#"+strings.ReplaceAll(run.Grant, "_", "-"), http.StatusSeeOther)
}

func mailOutcome(status int, err error) string {
	switch {
	case err != nil:
		return "Mail did not answer: " + err.Error()
	case status == http.StatusOK:
		return "Mail returned the contacts."
	case status == http.StatusNotFound:
		return "Mail accepted the token but has no mailbox for an app."
	default:
		return fmt.Sprintf("Mail answered %d %s.", status, http.StatusText(status))
	}
}

func scopeOf(tok *oauth2.Token) string {
	s, _ := tok.Extra("scope").(string)
	return s
}
