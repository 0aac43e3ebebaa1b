// Package explorer records the HTTP messages of an OAuth flow so that a
// person can read them: the flow explorer of Valet's demo. A Recorder is an
// http.RoundTripper that keeps a copy of every request an app sends and of
// every answer it gets; Incoming and Redirect describe the messages an app
// receives from, or sends to, a browser.
//
// Every Message is masked as it is made: client secrets, codes, PKCE
// verifiers, passwords, access, refresh and ID tokens, and the values of
// Authorization and Cookie headers keep only a short prefix, so that a page
// showing them gives nothing away that could be replayed. DecodeJWT shows
// what a JWT says without checking its signature, and says so.
//
// It imports only the standard library, like the rest of the demo's
// support code.
package explorer
