// Package secret owns Valet's randomness and the ways it keeps credentials
// unusable at rest: random tokens and identifiers from crypto/rand, keyed
// digests (HMAC-SHA-256) for codes, tokens, sessions and client secrets,
// argon2id for user passwords, and AES-256-GCM sealing for signing keys.
package secret
