// Package web serves what a person sees in a browser: the authorization
// endpoint (GET and POST /authorize, RFC 6749 §4.1.1, with RFC 8707
// resource indicators), which answers with a code or, for the implicit grant
// (§4.2), an access token in the fragment; the sign-in page and the consent
// page, with their templates and stylesheet embedded.
//
// The rule that shapes the package: until client_id and redirect_uri are
// validated, every error is an HTML page that never redirects (RFC 6749
// §4.1.2.1); after that, errors go back to the client as error redirects.
// There is no pending-request store: the sign-in page returns to /authorize
// with the original request, and the consent form carries it, MACed, so each
// step re-validates it. The only browser state is the session cookie.
package web
