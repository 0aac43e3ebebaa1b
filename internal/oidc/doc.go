// Package oidc serves what anyone may discover about Valet without
// credentials, and what an app holding an access token may ask about the
// person who signed in. The first: the authorization server metadata of
// RFC 8414 at /.well-known/oauth-authorization-server, which lists exactly
// what the server supports, with OpenID Connect on the very same document at
// /.well-known/openid-configuration (OpenID Connect Discovery 1.0), and the
// public signing keys as a JWK Set (RFC 7517) at /jwks. The second: the
// UserInfo endpoint (OpenID Connect Core §5.3, userinfo.go), which answers a
// bearer access token carrying scope openid with the claims its scopes
// release, from the person's current record.
package oidc
