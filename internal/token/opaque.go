package token

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/valetauth/valet/internal/secret"
)

// An opaque access token is "at_", then 8 base64url characters holding the
// millisecond it was issued (48 bits, big-endian), then 43 characters of
// 256 random bits. Its key in the store is that millisecond in hex, ".",
// and the keyed digest of the whole token. Tokens issued one after another
// have keys that sort one after another, so a batch of inserts lands on the
// last page of the store's index instead of on one random page per token:
// on SQLite that is most of the page writes of a commit. The key reveals
// only the issue time, which the row holds anyway; the secret is still the
// 256 random bits.
//
// Tokens issued before this format ("at_" and 43 characters) keep the bare
// digest as their key, so they go on working until they expire.
const (
	opaqueTimeChars = 8 // base64url of 6 bytes
	opaqueLen       = len(accessPrefix) + opaqueTimeChars + 43
)

// newOpaque returns a new opaque access token issued at now.
func newOpaque(now time.Time) string {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(now.UnixMilli()))
	return secret.Token(accessPrefix + base64.RawURLEncoding.EncodeToString(ts[2:]))
}

// OpaqueKey returns the key under which raw, an opaque access token, is
// stored (valet.AccessToken.Digest).
func OpaqueKey(d *secret.Digester, raw string) string {
	digest := d.Digest(secret.PurposeAccess, raw)
	if len(raw) != opaqueLen {
		return digest
	}
	var ts [6]byte
	n, err := base64.RawURLEncoding.Decode(ts[:], []byte(raw[len(accessPrefix):len(accessPrefix)+opaqueTimeChars]))
	if err != nil || n != len(ts) {
		return digest
	}
	return hex.EncodeToString(ts[:]) + "." + digest
}
