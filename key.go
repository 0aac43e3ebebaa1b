package valet

import "time"

// SigningKey is a key the server signs JWTs with. The private half is sealed
// with the key-encryption secret by package keys before it is stored.
type SigningKey struct {
	ID        string // "kid"
	Algorithm string // "ES256" for access tokens, "RS256" for ID tokens
	Sealed    []byte // the encrypted private key
	Public    []byte // the public JWK, JSON
	CreatedAt time.Time
	// NotBefore is when the key may start signing: a new key is published
	// first, so that verifiers that cache the JWKS already know it.
	NotBefore time.Time
	RetiredAt time.Time // zero while it may sign
	RemoveAt  time.Time // zero while published; after it the key is deleted
}
