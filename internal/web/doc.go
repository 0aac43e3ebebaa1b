// Package web serves what a person sees in a browser: the authorization
// endpoint (GET and POST /authorize, RFC 6749 §4.1.1, with RFC 8707
// resource indicators), which answers with a code, an access token
// (implicit, §4.2), an ID token, or a hybrid of them (OpenID Connect Core
// §3.2, §3.3), in the query, the fragment or a form_post page; the sign-in
// page and the consent page, with their templates, stylesheet and form_post
// script embedded; and the session behind them: single sign-on across
// clients, prompt, max_age, login_hint and id_token_hint (Core §3.1.2.1).
//
// The rule that shapes the package: until client_id and redirect_uri are
// validated, every error is an HTML page that never redirects (RFC 6749
// §4.1.2.1); after that, errors go back to the client in the response mode
// of the request. There is no pending-request store: the sign-in page
// returns to /authorize with the original request, and the consent form
// carries it, MACed, so each step re-validates it. The only browser state is
// the session cookie.
package web
