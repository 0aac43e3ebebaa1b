// Package grant serves the token endpoint, where a client presents its
// credentials and a grant and receives tokens (RFC 6749 §3.2).
//
// Handler owns the steps every grant shares, in a fixed order that no grant
// can skip: parse the form once into a Request, authenticate the client,
// choose the grant by grant_type, check the client registered it, Exchange,
// write the response. Each grant_type is a small type in its own file
// (authorization_code.go, refresh_token.go) implementing Grant.
//
// Policy lives here; the invariants live in single store primitives:
// CodeStore.Consume is the single-use gate of a code and RefreshStore.Rotate
// the single-winner gate of a refresh token. A replayed code or refresh token
// revokes its whole grant family, in the refresh store and, for the JWT access
// tokens that carry the family as grant_id, in the shared deny-list.
package grant
