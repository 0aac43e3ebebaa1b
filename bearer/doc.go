// Package bearer lets a resource server — an API such as a mail service's
// contacts endpoint — accept the OAuth 2.0 access tokens of one authorization
// server, such as Valet. It imports only the standard library and go-jose,
// and nothing of Valet: any RFC 8414 authorization server that issues
// RFC 9068 JWT access tokens or answers RFC 7662 introspection will do.
//
// # Protecting an endpoint
//
// Make one Verifier at startup and wrap each handler with the scopes it needs:
//
//	v, err := bearer.NewVerifier(bearer.Config{
//		Issuer:   "https://valet.example", // the authorization server
//		Audience: "https://mail.example",  // this API, as tokens name it in "aud"
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	mux.Handle("GET /contacts", v.Require("contacts.read")(http.HandlerFunc(listContacts)))
//
// and read the token in the handler:
//
//	func listContacts(w http.ResponseWriter, r *http.Request) {
//		tok, _ := bearer.FromContext(r.Context())
//		contacts := contactsOf(tok.Subject)
//		…
//	}
//
// A client calls the endpoint with "Authorization: Bearer <token>" (RFC 6750
// §2.1); the header is the only place a token is read from.
//
// # What is checked
//
// A token with exactly two dots is a JWT access token (RFC 9068), checked
// locally with no request to the authorization server once its keys are
// cached:
//
//   - at most MaxTokenSize bytes and exactly two dots, before anything is
//     parsed (unbounded splitting was CVE-2025-30204 and CVE-2025-27144);
//   - header "typ" at+jwt or application/at+jwt, so that an ID token or any
//     other JWT is not taken for an access token;
//   - "alg" in Config.Algorithms (default ES256); "none" and HS256/384/512
//     can never be configured;
//   - no "crit" and no "b64" header; "jku", "x5u", "jwk" and "x5c" are
//     ignored: the key is found only by "kid" in the issuer's own JWKS;
//   - the signature, with that key, which must suit the algorithm;
//   - no duplicate claim names; "iss" equal to Config.Issuer; "aud"
//     containing Config.Audience; "exp" not passed, "nbf" and "iat" not in
//     the future, each within Config.Leeway (default 30 s); "sub",
//     "client_id" and "jti" present;
//   - no "cnf" claim: a token bound to a DPoP key or a client certificate is
//     not a bearer token, and accepting it as one would undo the binding.
//
// A token without dots is opaque: with Config.ClientID and ClientSecret set,
// it is sent to the introspection endpoint (RFC 7662) with
// client_secret_basic; the answer must say "active": true, must not be a
// refresh token or a DPoP token, and passes the same "iss" (when present),
// "aud" and "exp" checks. Answers are cached for Config.IntrospectionCacheTTL
// (default 30 s, never past the token's "exp") in a cache bounded by
// Config.IntrospectionCacheSize entries. Set Config.IntrospectJWTs to send
// JWTs there too, after they verify, when a revocation must take effect
// within seconds rather than at the token's expiry.
//
// # Keys and metadata
//
// The JWKS URL and the introspection endpoint come from the authorization
// server metadata (RFC 8414) at the issuer's well-known URL, unless
// Config.JWKSURL and Config.IntrospectionURL are set; the metadata's "issuer"
// must equal Config.Issuer. Nothing is fetched by NewVerifier: the first
// token that needs them fetches the metadata and the keys, so the resource
// server may start before the authorization server.
//
// The key set is kept for the max-age of its Cache-Control (between one
// minute and a day; five minutes without one). A token whose "kid" is not in
// it triggers one refetch, so a key rotation is picked up at once; further
// refetches for unknown kids wait UnknownKeyRefetchInterval (one minute), so
// a stream of forged tokens costs the authorization server one request a
// minute. If a refetch fails, the keys already fetched are still used.
//
// # Answers
//
// Require answers as RFC 6750 §3 says: 401 with a "WWW-Authenticate: Bearer"
// challenge and no error code when there is no bearer token; 401
// error="invalid_token" when the token is refused; 403
// error="insufficient_scope" with scope="…" when a scope is missing. Each
// body is a small JSON object {"error": …, "error_description": …}.
//
// When the token cannot be checked at all — the JWKS or the introspection
// endpoint does not answer and nothing usable is cached — the request is
// refused with 503 and Retry-After, and the cause is logged at Error. That
// fails closed like a 401 would, but does not tell a well-behaved client that
// its token is bad, which would send every client to the authorization
// server for a new one just when it is in trouble. Verify reports this case
// as ErrUnavailable, the other refusals as ErrInvalidToken.
//
// # Protected resource metadata
//
// ResourceMetadata is the RFC 9728 document that tells clients which
// authorization server to go to. Serve it with its Handler at its URL's path
// and set Config.ResourceMetadataURL, so that 401 challenges carry
// resource_metadata="…" (RFC 9728 §5.1).
package bearer
