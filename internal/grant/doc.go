// Package grant serves the endpoints where a client authenticates itself:
// the token endpoint (RFC 6749 §3.2), token introspection (RFC 7662) and
// token revocation (RFC 7009).
//
// Handler owns the steps every grant shares, in a fixed order that no grant
// can skip: parse the form once into a Request, authenticate the client,
// choose the grant by grant_type, check the client registered it, Exchange,
// write the response. Each grant_type is a small type in its own file
// (authorization_code.go, refresh_token.go, client_credentials.go,
// password.go) implementing Grant. /introspect and /revoke (introspect.go,
// revoke.go) authenticate the client the same way and find tokens through
// one token.Introspector, the one the admin API uses too.
//
// Every grant mints its access token in one place, family.access, in the
// format the client registered: an RFC 9068 JWT, which needs no storage, or
// an opaque token stored under its keyed digest. With IDTokens set, the
// grants made for a person (code, refresh, password) add an OpenID Connect
// ID token when the granted scopes include openid (idtoken.go); it names the
// person by the sub the client's subject type calls for and carries the
// claims the scopes release, as UserInfo does.
//
// Policy lives here; the invariants live in single store primitives:
// CodeStore.Consume is the single-use gate of a code and RefreshStore.Rotate
// the single-winner gate of a refresh token. A replayed code or refresh token,
// or a revoked refresh token, revokes its whole grant family, in the refresh
// store and, for the access tokens that carry the family as grant_id, in the
// shared deny-list.
package grant
