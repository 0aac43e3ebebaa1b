package oauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// MethodS256 is the only code_challenge_method Valet accepts: "plain" would
// expose the verifier in the front channel (RFC 9700 §2.1.1).
const MethodS256 = "S256"

// s256Len is the length of BASE64URL(SHA256(x)) without padding: 32 bytes,
// 43 characters.
const s256Len = 43

// ValidateChallenge checks the code_challenge and code_challenge_method of an
// authorization request. Every failure is invalid_request (RFC 7636 §4.4.1),
// which the authorization endpoint sends to the validated redirect URI.
func ValidateChallenge(challenge, method string) error {
	// RFC 7636 §4.4.1: "If the server requires Proof Key for Code Exchange
	// (PKCE) by OAuth public clients and the client does not send the
	// code_challenge in the request, the authorization endpoint MUST return ...
	// invalid_request"; Valet requires it of every client (catalogue pin P10).
	if challenge == "" {
		return Errorf(InvalidRequest, "code_challenge required")
	}
	switch method {
	case MethodS256:
	case "":
		// RFC 7636 §4.3: a missing method means "plain"; it must not be
		// silently read as S256 (catalogue PK-02b).
		return Errorf(InvalidRequest, "code_challenge_method required: the default, plain, is not supported; send code_challenge_method=S256")
	case "plain":
		return Errorf(InvalidRequest, "code_challenge_method plain is not supported; use S256")
	default:
		// RFC 7636 §4.4.1: a transformation the server does not support is
		// invalid_request. The value is not echoed; the method is case-sensitive.
		return Errorf(InvalidRequest, "code_challenge_method not supported: the only supported method is S256 (case-sensitive)")
	}
	// RFC 7636 §4.2: code_challenge = BASE64URL-ENCODE(SHA256(ASCII(code_verifier))),
	// always 32 bytes, so exactly 43 base64url characters without padding. A
	// non-canonical encoding (stray low bits in the last character) can never
	// match a verifier, so it is refused now rather than at the token endpoint.
	if len(challenge) != s256Len || !isBase64URL(challenge) {
		return Errorf(InvalidRequest, "code_challenge must be 43 base64url characters (A-Z a-z 0-9 - _, no padding): BASE64URL(SHA256(code_verifier))")
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(challenge); err != nil {
		return Errorf(InvalidRequest, "code_challenge is not a canonical base64url encoding of a SHA-256 hash")
	}
	return nil
}

// VerifyVerifier checks the code_verifier of a token request against the
// code_challenge stored with the authorization code. Every failure is
// invalid_grant (RFC 7636 §4.6). It compares in constant time.
func VerifyVerifier(verifier, challenge string) error {
	if verifier == "" {
		return Errorf(InvalidGrant, "code_verifier required: the authorization request carried a code_challenge")
	}
	// RFC 7636 §4.1: code-verifier = 43*128unreserved,
	// unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~".
	if !ValidVerifier(verifier) {
		return Errorf(InvalidGrant, "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
	}
	// RFC 7636 §4.6: "If the values are equal, the token endpoint MUST
	// continue processing as normal ... If the values are not equal, an error
	// response indicating invalid_grant ... MUST be returned."
	if subtle.ConstantTimeCompare([]byte(ChallengeS256(verifier)), []byte(challenge)) != 1 {
		return Errorf(InvalidGrant, "code_verifier does not match the code_challenge")
	}
	return nil
}

// VerifyAbsentVerifier is the check for an authorization code issued without a
// code_challenge (a client on the legacy opt-out of pin P10): a code_verifier
// sent anyway is invalid_grant, so an attacker cannot pass off an injected,
// PKCE-less code as PKCE-protected (RFC 9700 §4.8.2, catalogue PK-04).
func VerifyAbsentVerifier(verifier string) error {
	// RFC 9700 §4.8.2: "if there was no code_challenge in the authorization
	// request, a request to the token endpoint containing a code_verifier is
	// rejected."
	if verifier != "" {
		return Errorf(InvalidGrant, "code_verifier sent, but the authorization request had no code_challenge")
	}
	return nil
}

// ChallengeS256 returns BASE64URL(SHA256(verifier)), the S256 code_challenge
// for verifier (RFC 7636 §4.2).
func ChallengeS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ValidVerifier reports whether verifier has the form RFC 7636 §4.1 requires:
// 43 to 128 characters of [A-Za-z0-9-._~].
func ValidVerifier(verifier string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for i := 0; i < len(verifier); i++ {
		if b := verifier[i]; !isAlnum(b) && b != '-' && b != '.' && b != '_' && b != '~' {
			return false
		}
	}
	return true
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; !isAlnum(b) && b != '-' && b != '_' {
			return false
		}
	}
	return true
}

func isAlnum(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
}
