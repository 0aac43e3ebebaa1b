package secret

import (
	"crypto/rand"
	"encoding/base64"
)

// Token returns prefix followed by 256 random bits in base64url (43
// characters). The prefix ("ac_", "rt_", "at_" …) names the token's type so
// that a token of the wrong type is refused before any lookup.
func Token(prefix string) string {
	return prefix + randomString(32)
}

// ID returns prefix followed by 128 random bits in base64url (22 characters),
// for identifiers that are not credentials (client IDs, user IDs, families).
func ID(prefix string) string {
	return prefix + randomString(16)
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("secret: crypto/rand failed: " + err.Error()) // never happens on a working kernel
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Bytes returns n random bytes.
func Bytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	return b
}
