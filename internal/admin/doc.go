// Package admin is the operator's JSON API, served on its own listener and
// guarded by the admin token: it registers clients, manages users, lists and
// rotates signing keys, and introspects tokens for an operator. It also
// holds the Go client that the valet CLI uses, and the wire types the two
// share, so that the CLI and the server cannot disagree about a field.
//
// Errors use the OAuth JSON shape of RFC 6749 §5.2, with the admin codes
// not_found and conflict beside the RFC 7591 §3.2.2 registration codes.
package admin
