package secret

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestTokenEntropyAndUniqueness(t *testing.T) {
	seen := make(map[string]bool, 100000)
	var ones, bits int
	for range 100000 {
		tok := Token("ac_")
		if !strings.HasPrefix(tok, "ac_") || len(tok) != 3+43 {
			t.Fatalf("token %q: want ac_ and 43 base64url characters", tok)
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok[3:])
		if err != nil || len(raw) != 32 {
			t.Fatalf("token %q does not carry 256 bits: %v", tok, err)
		}
		if seen[tok] {
			t.Fatalf("duplicate token after %d", len(seen))
		}
		seen[tok] = true
		for _, b := range raw {
			for i := range 8 {
				ones += int(b>>i) & 1
			}
			bits += 8
		}
	}
	// A biased generator would drift far from one half; 3.2e6 fair bits
	// stay within 0.5% of it with overwhelming probability.
	if r := float64(ones) / float64(bits); r < 0.495 || r > 0.505 {
		t.Errorf("fraction of one bits = %.4f, want about 0.5", r)
	}
	if id := ID("c_"); len(id) != 2+22 {
		t.Errorf("ID %q: want 128 bits", id)
	}
}

func TestDigestIsKeyedAndPurposeBound(t *testing.T) {
	a := NewDigester([]byte(strings.Repeat("a", 32)))
	b := NewDigester([]byte(strings.Repeat("b", 32)))
	v := Token("rt_")
	if a.Digest(PurposeRefresh, v) != a.Digest(PurposeRefresh, v) {
		t.Fatal("digest is not deterministic")
	}
	if a.Digest(PurposeRefresh, v) == b.Digest(PurposeRefresh, v) {
		t.Error("two secrets give the same digest: the digest is not keyed")
	}
	if a.Digest(PurposeRefresh, v) == a.Digest(PurposeCode, v) {
		t.Error("two purposes give the same digest")
	}
	if strings.Contains(a.Digest(PurposeRefresh, v), v) {
		t.Error("the digest contains the value")
	}
	d := a.Digest(PurposeClientSecret, "s3cret")
	if !a.Equal(PurposeClientSecret, "s3cret", d) || a.Equal(PurposeClientSecret, "s3creT", d) || a.Equal(PurposeClientSecret, "", d) {
		t.Error("Equal gives the wrong answer")
	}
}

func TestPasswords(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not argon2id with the OWASP parameters", h)
	}
	h2, _ := HashPassword("correct horse")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	if !CheckPassword(h, "correct horse") {
		t.Error("the right password is refused")
	}
	for _, wrong := range []string{"correct horsE", "", "correct horse ", strings.Repeat("x", 2000)} {
		if CheckPassword(h, wrong) {
			t.Errorf("wrong password %q accepted", wrong)
		}
	}
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=1,t=1,p=1$$", "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA", "$bcrypt$x"} {
		if CheckPassword(bad, "anything") {
			t.Errorf("malformed hash %q matched", bad)
		}
	}
	if _, err := HashPassword(strings.Repeat("x", 1025)); err == nil {
		t.Error("a 1025-byte password was hashed")
	}
}

func TestSealer(t *testing.T) {
	s, err := NewSealer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal([]byte("private key"), "kid-1")
	if strings.Contains(string(sealed), "private key") {
		t.Fatal("sealed data contains the plaintext")
	}
	if got, err := s.Open(sealed, "kid-1"); err != nil || string(got) != "private key" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open(sealed, "kid-2"); err == nil {
		t.Error("opened under another label")
	}
	other, _ := NewSealer([]byte(strings.Repeat("o", 32)))
	if _, err := other.Open(sealed, "kid-1"); err == nil {
		t.Error("opened with another secret")
	}
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	if _, err := s.Open(tampered, "kid-1"); err == nil {
		t.Error("opened tampered data")
	}
	if _, err := s.Open(sealed[:5], "kid-1"); err == nil {
		t.Error("opened truncated data")
	}
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Error("accepted a short secret")
	}
}

func BenchmarkDigest(b *testing.B) {
	d := NewDigester([]byte(strings.Repeat("a", 32)))
	v := Token("vcs_")
	b.ReportAllocs()
	for b.Loop() {
		d.Digest(PurposeClientSecret, v)
	}
}
