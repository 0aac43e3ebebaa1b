package oauth

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// The example of RFC 7636 Appendix B.
const (
	rfcVerifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfcChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

func wantCode(t *testing.T, name string, err error, code string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("%s: error = %v, want *Error %s", name, err, code)
	}
	if e.Description == "" || SafeDescription(e.Description) != e.Description {
		t.Errorf("%s: description %q is empty or not RFC 6749 §4.1.2.1-safe", name, e.Description)
	}
	return e
}

func TestChallengeS256(t *testing.T) {
	if got := ChallengeS256(rfcVerifier); got != rfcChallenge {
		t.Fatalf("ChallengeS256(RFC 7636 Appendix B verifier) = %q, want %q", got, rfcChallenge)
	}
}

func TestValidateChallenge(t *testing.T) {
	// The last character of a 43-character encoding of 32 bytes carries 2
	// spare bits, which a canonical encoding leaves zero: the RFC's 'M'
	// (001100) does, 'N' (001101) does not.
	nonCanonical := rfcChallenge[:42] + "N"
	tests := []struct {
		name, challenge, method string
		ok                      bool
		desc                    string // part of the description, for the PK-01 wording
	}{
		{"S256", rfcChallenge, "S256", true, ""},
		{"all dashes and underscores", strings.Repeat("-", 21) + strings.Repeat("_", 21) + "A", "S256", true, ""},
		// PK-01 and PK-02e.
		{"no challenge", "", "", false, "code_challenge required"},
		{"S256 without challenge", "", "S256", false, "code_challenge required"},
		// PK-02a-c.
		{"plain", rfcVerifier, "plain", false, "plain"},
		{"no method defaults to plain", rfcChallenge, "", false, "code_challenge_method required"},
		{"s256 lower case", rfcChallenge, "s256", false, "S256"},
		{"SHA256", rfcChallenge, "SHA256", false, "S256"},
		{"S512", rfcChallenge, "S512", false, "S256"},
		{"S256 with space", rfcChallenge, "S256 ", false, "S256"},
		{"S256 with NUL", rfcChallenge, "S256\x00", false, "S256"},
		// PK-02d.
		{"42 characters", rfcChallenge[:42], "S256", false, "43"},
		{"44 characters", rfcChallenge + "A", "S256", false, "43"},
		{"padded", rfcChallenge + "=", "S256", false, "43"},
		{"plus", "+" + rfcChallenge[1:], "S256", false, "43"},
		{"slash", rfcChallenge[:10] + "/" + rfcChallenge[11:], "S256", false, "43"},
		{"equals inside", rfcChallenge[:10] + "=" + rfcChallenge[11:], "S256", false, "43"},
		{"space", rfcChallenge[:10] + " " + rfcChallenge[11:], "S256", false, "43"},
		{"128-char plain-style challenge", strings.Repeat("a", 128), "S256", false, "43"},
		{"non-canonical last character", nonCanonical, "S256", false, "canonical"},
	}
	for _, tt := range tests {
		err := ValidateChallenge(tt.challenge, tt.method)
		if tt.ok {
			if err != nil {
				t.Errorf("%s: ValidateChallenge = %v, want nil", tt.name, err)
			}
			continue
		}
		e := wantCode(t, tt.name, err, InvalidRequest)
		if !strings.Contains(e.Description, tt.desc) {
			t.Errorf("%s: description %q does not mention %q", tt.name, e.Description, tt.desc)
		}
		if tt.method != "" && !strings.HasPrefix(tt.method, "S256") && tt.method != "plain" && strings.Contains(e.Description, tt.method) {
			t.Errorf("%s: description %q echoes the method", tt.name, e.Description)
		}
	}
}

func TestVerifyVerifier(t *testing.T) {
	v2 := strings.Repeat("x", 43)
	v42 := strings.Repeat("a", 42)
	v129 := strings.Repeat("a", 129)
	v128 := strings.Repeat("a", 127) + "~"
	tests := []struct {
		name, verifier, challenge string
		ok                        bool
	}{
		{"RFC 7636 Appendix B", rfcVerifier, rfcChallenge, true},
		{"43 characters", v2, ChallengeS256(v2), true},
		{"128 characters", v128, ChallengeS256(v128), true},
		{"unreserved punctuation", "-._~" + strings.Repeat("Z9", 20), ChallengeS256("-._~" + strings.Repeat("Z9", 20)), true},
		// PK-03.
		{"a. missing", "", rfcChallenge, false},
		{"b. different verifier", v2, rfcChallenge, false},
		{"c. 42 characters", v42, ChallengeS256(v42), false},
		{"d. 129 characters", v129, ChallengeS256(v129), false},
		{"e. plus", "+" + rfcVerifier[1:], ChallengeS256("+" + rfcVerifier[1:]), false},
		{"e. slash", "/" + rfcVerifier[1:], ChallengeS256("/" + rfcVerifier[1:]), false},
		{"e. space", " " + rfcVerifier[1:], ChallengeS256(" " + rfcVerifier[1:]), false},
		{"e. NUL", "\x00" + rfcVerifier[1:], ChallengeS256("\x00" + rfcVerifier[1:]), false},
		{"e. percent", "%00" + rfcVerifier[3:], ChallengeS256("%00" + rfcVerifier[3:]), false},
		{"f. the challenge itself", rfcChallenge, rfcChallenge, false},
		{"non-ASCII", "é" + rfcVerifier[2:], ChallengeS256("é" + rfcVerifier[2:]), false},
		{"empty challenge", rfcVerifier, "", false},
		{"challenge differs in case", rfcVerifier, strings.ToLower(rfcChallenge), false},
		{"challenge with padding", rfcVerifier, rfcChallenge + "=", false},
	}
	for _, tt := range tests {
		err := VerifyVerifier(tt.verifier, tt.challenge)
		if tt.ok {
			if err != nil {
				t.Errorf("%s: VerifyVerifier = %v, want nil", tt.name, err)
			}
			continue
		}
		e := wantCode(t, tt.name, err, InvalidGrant)
		if e.Status() != 400 {
			t.Errorf("%s: status %d, want 400", tt.name, e.Status())
		}
	}
}

func TestVerifyAbsentVerifier(t *testing.T) {
	// PK-04: a code issued without code_challenge, redeemed with a verifier.
	wantCode(t, "verifier without challenge", VerifyAbsentVerifier(rfcVerifier), InvalidGrant)
	wantCode(t, "malformed verifier without challenge", VerifyAbsentVerifier("x"), InvalidGrant)
	if err := VerifyAbsentVerifier(""); err != nil {
		t.Errorf("VerifyAbsentVerifier(\"\") = %v, want nil", err)
	}
}

var verifierRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// FuzzPKCE is catalogue R10 F8: a verifier is accepted if and only if it is
// 43 to 128 unreserved characters whose S256 hash is the challenge, and a
// challenge is accepted if and only if it is the canonical 43-character
// base64url encoding of 32 bytes, with method S256.
func FuzzPKCE(f *testing.F) {
	f.Add(rfcVerifier, rfcChallenge, "S256", false)
	f.Add(rfcVerifier, "", "S256", true)
	f.Add(strings.Repeat("a", 42), "", "plain", true)
	f.Add(strings.Repeat("a", 129), "", "s256", true)
	f.Add(rfcChallenge, rfcChallenge, "", false)
	f.Add("+"+rfcVerifier[1:], "", "S256", true)
	f.Add(rfcVerifier, rfcChallenge[:42]+"F", "S256", false)
	f.Fuzz(func(t *testing.T, verifier, challenge, method string, derive bool) {
		if derive {
			challenge = ChallengeS256(verifier)
		}
		sum := sha256.Sum256([]byte(verifier))
		want := verifierRE.MatchString(verifier) && base64.RawURLEncoding.EncodeToString(sum[:]) == challenge
		err := VerifyVerifier(verifier, challenge)
		if (err == nil) != want {
			t.Fatalf("VerifyVerifier(%q, %q) = %v, want accept=%v", verifier, challenge, err, want)
		}
		if err != nil {
			wantCode(t, "VerifyVerifier", err, InvalidGrant)
		}

		raw, decErr := base64.RawURLEncoding.DecodeString(challenge)
		wantCh := method == "S256" && decErr == nil && len(raw) == 32 &&
			base64.RawURLEncoding.EncodeToString(raw) == challenge
		err = ValidateChallenge(challenge, method)
		if (err == nil) != wantCh {
			t.Fatalf("ValidateChallenge(%q, %q) = %v, want accept=%v", challenge, method, err, wantCh)
		}
		if err != nil {
			wantCode(t, "ValidateChallenge", err, InvalidRequest)
		}
		// Any challenge that passes ValidateChallenge is one some verifier could meet.
		if derive && method == "S256" && ValidateChallenge(challenge, method) != nil {
			t.Fatalf("ValidateChallenge refused the S256 challenge of %q", verifier)
		}
	})
}
