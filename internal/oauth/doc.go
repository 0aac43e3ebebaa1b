// Package oauth holds the protocol mechanics that need no I/O: the error type
// and its JSON and redirect forms (RFC 6749 §4.1.2.1, §5.2), and the rules for
// scopes, PKCE, redirect-URI matching and client credentials.
package oauth
