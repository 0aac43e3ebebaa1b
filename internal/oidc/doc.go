// Package oidc serves what anyone may discover about Valet without
// credentials: the authorization server metadata of RFC 8414 at
// /.well-known/oauth-authorization-server, which lists exactly what the
// server supports, and the public signing keys as a JWK Set (RFC 7517) at
// /jwks. OpenID Connect discovery and userinfo will grow here too.
package oidc
