// Package valet is the vocabulary of the Valet authorization server: the things
// it stores (clients, users, sessions, consents, codes, refresh tokens,
// revocations and signing keys), their invariants, and the contract every
// storage backend keeps (Store). It imports only the standard library.
//
// The Go API of this package is not stable; only package bearer is.
package valet
