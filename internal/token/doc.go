// Package token shapes the tokens Valet hands out: JWT access tokens per
// RFC 9068 (typ "at+jwt", signed ES256), and their verification for the
// endpoints that accept them back. It declares the Keys it needs; *keys.Ring
// satisfies it.
package token
