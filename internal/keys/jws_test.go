package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/store/sqlstore"
	"github.com/valetauth/valet/internal/store/sqltest"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/valetauth/valet/internal/testclock"
)

// testRing is a ring with its first keys on a fresh SQLite store.
func testRing(tb testing.TB) (*Ring, *testclock.Clock) {
	tb.Helper()
	db, err := sqlstore.Open(tb.Context(), sqltest.Backends()[0].URL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	sealer, err := secret.NewSealer(secret.Bytes(32))
	if err != nil {
		tb.Fatal(err)
	}
	c := testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	r := &Ring{Store: db.Store().Keys, Sealer: sealer, Now: c.Now}
	if err := r.Init(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	return r, c
}

// joseSign is how Ring.Sign worked before it wrote the JWS itself: the
// reference the new encoding must match, and the benchmark's baseline.
func joseSign(tb testing.TB, k *key, typ string, payload []byte) string {
	tb.Helper()
	opts := (&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), k.meta.ID)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.meta.Algorithm), Key: k.private}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// verify checks raw with go-jose against the ring's published key of its
// kid and returns the payload and the decoded signature.
func verify(t *testing.T, r *Ring, alg, raw string) (payload, sig []byte, kid string) {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		t.Fatalf("go-jose cannot parse %s: %v", raw, err)
	}
	kid = jws.Signatures[0].Header.KeyID
	pub, ok := r.PublicKey(kid)
	if !ok {
		t.Fatalf("kid %q is not published", kid)
	}
	payload, err = jws.Verify(pub)
	if err != nil {
		t.Fatalf("go-jose does not verify %s: %v", raw, err)
	}
	sig, err = base64.RawURLEncoding.DecodeString(raw[strings.LastIndexByte(raw, '.')+1:])
	if err != nil {
		t.Fatal(err)
	}
	return payload, sig, kid
}

func decodeSegment(t *testing.T, seg string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("segment %q: %v", seg, err)
	}
	return b
}

// TestSign: what Sign writes verifies with go-jose, for both algorithms
// and with and without typ, and its header is byte for byte the one
// go-jose wrote: alg, kid, and typ when set, and nothing else.
func TestSign(t *testing.T) {
	r, _ := testRing(t)
	payload := []byte(`{"iss":"https://as.example","sub":"ana","note":"<&>\u2028"}`)
	for _, alg := range Algorithms {
		k, err := r.signingKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		for _, typ := range []string{"at+jwt", "JWT", "logout+jwt", ""} {
			for range 2 { // the second time from the cached header
				raw, err := r.Sign(alg, typ, payload)
				if err != nil {
					t.Fatalf("Sign(%s, %q): %v", alg, typ, err)
				}
				parts := strings.Split(raw, ".")
				if len(parts) != 3 {
					t.Fatalf("%s %q: %d parts", alg, typ, len(parts))
				}
				got, sig, kid := verify(t, r, alg, raw)
				if !bytes.Equal(got, payload) || kid != k.meta.ID {
					t.Errorf("%s %q: payload %s, kid %s", alg, typ, got, kid)
				}
				var h map[string]any
				if err := json.Unmarshal(decodeSegment(t, parts[0]), &h); err != nil {
					t.Fatal(err)
				}
				want := map[string]any{"alg": alg, "kid": k.meta.ID}
				if typ != "" {
					want["typ"] = typ
				}
				if len(h) != len(want) {
					t.Errorf("%s %q: header %v, want %v", alg, typ, h, want)
				}
				for m, v := range want {
					if h[m] != v {
						t.Errorf("%s %q: header %s = %v, want %v", alg, typ, m, h[m], v)
					}
				}
				ref := strings.Split(joseSign(t, k, typ, payload), ".")
				if parts[0] != ref[0] || parts[1] != ref[1] {
					t.Errorf("%s %q: signing input\n%s.%s\ngo-jose wrote\n%s.%s", alg, typ, parts[0], parts[1], ref[0], ref[1])
				}
				if alg == RS256 {
					// PKCS #1 v1.5 is deterministic: the very same token.
					if parts[2] != ref[2] {
						t.Errorf("RS256 %q: signature differs from go-jose's", typ)
					}
					if len(sig) != 256 {
						t.Errorf("RS256 signature is %d bytes", len(sig))
					}
				} else if len(sig) != 64 {
					t.Errorf("ES256 signature is %d bytes, want 64 (RFC 7518 §3.4)", len(sig))
				}
			}
		}
	}
}

// TestSignES256Padding: an R or S below 2^248 has a leading zero byte,
// which DER drops and RFC 7518 §3.4 keeps. About one signature in 128 has
// one; a few thousand signatures meet dozens.
func TestSignES256Padding(t *testing.T) {
	r, _ := testRing(t)
	k, err := r.signingKey(ES256)
	if err != nil {
		t.Fatal(err)
	}
	pub := k.private.Public().(*ecdsa.PublicKey)
	padded := 0
	n := 3000
	if testing.Short() {
		n = 500
	}
	for i := range n {
		raw, err := r.Sign(ES256, "at+jwt", []byte(`{"i":`+strconv.Itoa(i)+`}`))
		if err != nil {
			t.Fatal(err)
		}
		sig := decodeSegment(t, raw[strings.LastIndexByte(raw, '.')+1:])
		if len(sig) != 64 {
			t.Fatalf("signature of %d bytes", len(sig))
		}
		digest := sha256.Sum256([]byte(raw[:strings.LastIndexByte(raw, '.')]))
		rr, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(pub, digest[:], rr, ss) {
			t.Fatalf("signature %x does not verify as R||S", sig)
		}
		if sig[0] == 0 || sig[32] == 0 {
			padded++
			verify(t, r, ES256, raw)
		}
	}
	if !testing.Short() && padded == 0 {
		t.Errorf("no padded R or S in %d signatures", n)
	}
	t.Logf("%d of %d signatures had a padded R or S", padded, n)
}

// TestSignES256Deterministic: ES256 nonces come from RFC 6979, so the same
// signing input under the same key gives the same token, which still
// verifies, and another input another signature.
func TestSignES256Deterministic(t *testing.T) {
	r, _ := testRing(t)
	payload := []byte(`{"jti":"a"}`)
	first, err := r.Sign(ES256, "at+jwt", payload)
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Sign(ES256, "at+jwt", payload)
	if err != nil {
		t.Fatal(err)
	}
	if first != again {
		t.Errorf("two signatures of one input differ:\n%s\n%s", first, again)
	}
	verify(t, r, ES256, again)
	other, err := r.Sign(ES256, "at+jwt", []byte(`{"jti":"b"}`))
	if err != nil {
		t.Fatal(err)
	}
	if sig := func(s string) string { return s[strings.LastIndexByte(s, '.')+1:] }; sig(other) == sig(first) {
		t.Error("two inputs have one signature")
	}
}

// der encodes r and s as an ASN.1 ECDSA signature.
func der(r, s *big.Int) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(r)
		b.AddASN1BigInt(s)
	})
	return b.BytesOrPanic()
}

func TestAppendRS(t *testing.T) {
	big32 := func(b ...byte) []byte { return append(make([]byte, 32-len(b)), b...) }
	full := bytes.Repeat([]byte{0xff}, 32) // DER needs a leading 0x00 for it
	cases := []struct{ r, s []byte }{
		{big32(1), big32(2)},
		{big32(0), big32(0)},
		{full, big32(0x80)},
		{big32(0x7f, 0xff), full},
		{append([]byte{0, 0, 0x01}, bytes.Repeat([]byte{0xab}, 29)...), full},
	}
	for _, c := range cases {
		in := der(new(big.Int).SetBytes(c.r), new(big.Int).SetBytes(c.s))
		got, err := appendRS([]byte("x"), in, 32)
		if err != nil {
			t.Fatalf("%x: %v", in, err)
		}
		if want := slices.Concat([]byte("x"), c.r, c.s); !bytes.Equal(got, want) {
			t.Errorf("%x:\n got %x\nwant %x", in, got, want)
		}
	}
	tooBig := new(big.Int).Lsh(big.NewInt(1), 256)
	bad := map[string][]byte{
		"empty":          nil,
		"trailing data":  append(der(big.NewInt(1), big.NewInt(2)), 0),
		"negative":       der(big.NewInt(-1), big.NewInt(2)),
		"too big":        der(big.NewInt(1), tooBig),
		"one integer":    {0x30, 0x03, 0x02, 0x01, 0x01},
		"three integers": {0x30, 0x09, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"empty integer":  {0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x01},
		"not a sequence": {0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
	}
	for name, in := range bad {
		if got, err := appendRS(nil, in, 32); err == nil {
			t.Errorf("%s: accepted as %x", name, got)
		}
	}
}

// TestSignRetiredKeyStillVerifies: after a rotation the new key signs,
// and a token the retired key signed before still verifies while that key
// is published.
func TestSignRetiredKeyStillVerifies(t *testing.T) {
	r, c := testRing(t)
	for _, alg := range Algorithms {
		old, err := r.Sign(alg, "JWT", []byte(`{"n":1}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _, oldKid := verify(t, r, alg, old)
		if rotated, err := r.Rotate(t.Context(), alg, true); err != nil || !rotated {
			t.Fatalf("Rotate(%s) = %v, %v", alg, rotated, err)
		}
		c.Add(DefaultPrePublish + time.Minute) // the new key signs now
		fresh, err := r.Sign(alg, "JWT", []byte(`{"n":2}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, kid := verify(t, r, alg, fresh); kid == oldKid {
			t.Fatalf("%s: the retired key %s still signs", alg, kid)
		}
		if payload, _, _ := verify(t, r, alg, old); string(payload) != `{"n":1}` {
			t.Errorf("%s: old token payload %s", alg, payload)
		}
		c.Add(DefaultMaxTokenLifetime) // and now the old key is gone
		if _, ok := r.PublicKey(oldKid); ok {
			t.Errorf("%s: the old key is still published", alg)
		}
	}
}

// TestSignRefusesOtherKeys: a key the ring cannot write a JWS for is an
// error, not a token that does not verify.
func TestSignRefusesOtherKeys(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	cases := map[string]*key{
		"ES384":            {meta: &valet.SigningKey{ID: "k1", Algorithm: "ES384"}, private: p384},
		"ES256 on P-384":   {meta: &valet.SigningKey{ID: "k2", Algorithm: ES256}, private: p384},
		"RS256 on P-256":   {meta: &valet.SigningKey{ID: "k3", Algorithm: RS256}, private: p256},
		"EdDSA":            {meta: &valet.SigningKey{ID: "k4", Algorithm: "EdDSA"}, private: ed},
		"ES256 on Ed25519": {meta: &valet.SigningKey{ID: "k5", Algorithm: ES256}, private: ed},
	}
	for name, k := range cases {
		if raw, err := k.sign("JWT", []byte(`{}`)); err == nil {
			t.Errorf("%s: signed %s", name, raw)
		}
	}
}

var benchPayload = []byte(`{"iss":"https://as.example","sub":"svc","aud":"https://api.example","client_id":"svc","scope":"a","exp":1767225600,"iat":1767225000,"jti":"AbCdEfGhIjKlMnOpQrStUv"}`)

func BenchmarkSign(b *testing.B) {
	r, _ := testRing(b)
	for _, alg := range Algorithms {
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Sign(alg, "at+jwt", benchPayload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignGoJose is the baseline: Ring.Sign before it wrote the JWS
// itself, with a cached go-jose signer per key and typ.
func BenchmarkSignGoJose(b *testing.B) {
	r, _ := testRing(b)
	for _, alg := range Algorithms {
		k, err := r.signingKey(alg)
		if err != nil {
			b.Fatal(err)
		}
		opts := (&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), k.meta.ID).WithType("at+jwt")
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: k.private}, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.signingKey(alg); err != nil {
					b.Fatal(err)
				}
				jws, err := s.Sign(benchPayload)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := jws.CompactSerialize(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
