package secret

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: the OWASP recommendation of 19 MiB, 2 iterations, 1 lane.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// ErrPasswordTooLong is returned for passwords over 1024 bytes, which would
// only make hashing a denial-of-service lever.
var ErrPasswordTooLong = errors.New("password is longer than 1024 bytes")

// HashPassword returns the argon2id hash of password in PHC string form.
func HashPassword(password string) (string, error) {
	if len(password) > 1024 {
		return "", ErrPasswordTooLong
	}
	salt := Bytes(16)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// dummyHash is checked when the user does not exist, so that an unknown
// username takes as long as a wrong password.
var dummyHash, _ = HashPassword("valet-dummy-password")

// CheckPassword reports whether password matches the PHC-form hash. An empty
// or malformed hash never matches, but still costs one hash computation.
func CheckPassword(hash, password string) bool {
	if hash == "" {
		hash = dummyHash
		password += "\x00never"
	}
	var version, mem, iters int
	var threads uint8
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || len(password) > 1024 {
		CheckPassword("", "")
		return false
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iters, &threads); err != nil || mem <= 0 || mem > 1<<20 || iters <= 0 || iters > 16 || threads == 0 {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 64 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, uint32(iters), uint32(mem), threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
