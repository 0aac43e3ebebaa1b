package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/keys"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/store/sqlstore"
	"github.com/valetauth/valet/internal/store/sqltest"

	"github.com/valetauth/valet/internal/testclock"
)

// cacheKeys is one ES256 key whose publication the test controls: it can
// withdraw the kid, or publish another key under it.
type cacheKeys struct {
	*testKeys
	mu       sync.Mutex
	gone     bool
	replaced *ecdsa.PrivateKey
}

func (k *cacheKeys) PublicKey(kid string) (jose.JSONWebKey, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case k.gone || kid != k.kid:
		return jose.JSONWebKey{}, false
	case k.replaced != nil:
		return jose.JSONWebKey{Key: &k.replaced.PublicKey, KeyID: k.kid, Algorithm: AccessAlg, Use: "sig"}, true
	}
	return k.testKeys.PublicKey(kid)
}

// denyList is an in-memory RevocationStore that counts its lookups.
type denyList struct {
	mu      sync.Mutex
	ids     map[string]bool
	lookups atomic.Int64
}

func (d *denyList) Add(_ context.Context, id string, _ time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ids == nil {
		d.ids = map[string]bool{}
	}
	d.ids[id] = true
	return nil
}

func (d *denyList) AnyRevoked(_ context.Context, ids ...string) (bool, error) {
	d.lookups.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		if d.ids[id] {
			return true, nil
		}
	}
	return false, nil
}

func (d *denyList) DeleteExpired(context.Context, time.Time) (int, error) { return 0, nil }

// consents holds the (user, client) pairs that have consent.
type consents struct {
	valet.ConsentStore
	mu   sync.Mutex
	gone map[string]bool
}

func (c *consents) Get(_ context.Context, userID, clientID string) (*valet.Consent, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone[userID+" "+clientID] {
		return nil, valet.ErrNotFound
	}
	return &valet.Consent{UserID: userID, ClientID: clientID}, nil
}

func (c *consents) remove(userID, clientID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone == nil {
		c.gone = map[string]bool{}
	}
	c.gone[userID+" "+clientID] = true
}

// cacheFixture is an Introspector over in-memory stores that counts full
// verifications (parses).
type cacheFixture struct {
	clock    *testclock.Clock
	keys     *cacheKeys
	deny     *denyList
	consents *consents
	in       *Introspector
	parses   atomic.Int64
}

func newCacheFixture(t testing.TB, size int) *cacheFixture {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &cacheFixture{
		clock:    testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		keys:     &cacheKeys{testKeys: &testKeys{priv: k, kid: "k1"}},
		deny:     &denyList{},
		consents: &consents{},
	}
	iss := &Issuer{URL: "https://as.example", Keys: f.keys, AccessTTL: 10 * time.Minute, Now: f.clock.Now}
	f.in = &Introspector{Issuer: iss, Revocations: f.deny, Consents: f.consents, JWTCacheSize: size,
		onParse: func() { f.parses.Add(1) }}
	return f
}

func (f *cacheFixture) mint(t testing.TB, sub, grant string) (string, *AccessClaims) {
	t.Helper()
	raw, c, err := f.in.Issuer.Access(AccessRequest{Subject: sub, ClientID: "app", Audience: []string{"https://api.example"},
		Scopes: []string{"read"}, GrantID: grant})
	if err != nil {
		t.Fatal(err)
	}
	return raw, c
}

func (f *cacheFixture) active(t testing.TB, raw string) bool {
	t.Helper()
	got, err := f.in.Introspect(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	return got.Active
}

// wantParses fails unless exactly n full verifications have happened.
func (f *cacheFixture) wantParses(t *testing.T, n int64, why string) {
	t.Helper()
	if got := f.parses.Load(); got != n {
		t.Fatalf("%s: %d full verifications, want %d", why, got, n)
	}
}

func (f *cacheFixture) cached() int { return f.in.jwtCache().len() }

// TestJWTCache_HitSkipsVerification: a token is verified once; later
// introspections answer the same from the cache, and each one still asks
// the deny-list.
func TestJWTCache_HitSkipsVerification(t *testing.T) {
	f := newCacheFixture(t, 0)
	raw, c := f.mint(t, "usr_1", "fam_1")
	var first *Introspection
	for n := range 5 {
		got, err := f.in.Introspect(context.Background(), raw)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = got
		}
		if !got.Active || got.ID != c.ID || got.Subject != "usr_1" || got.GrantID != "fam_1" || got.Scope != "read" ||
			got.Expiry != c.Expiry || len(got.Audience) != 1 || got.Audience[0] != "https://api.example" {
			t.Fatalf("introspection %d: %+v", n, got)
		}
		if fmt.Sprint(*got) != fmt.Sprint(*first) {
			t.Fatalf("introspection %d from the cache:\n%+v\nthe first:\n%+v", n, got, first)
		}
	}
	f.wantParses(t, 1, "5 introspections of one token")
	if n := f.deny.lookups.Load(); n != 5 {
		t.Errorf("%d deny-list lookups for 5 introspections", n)
	}
	// A caller that changes its answer does not change the next one.
	got, _ := f.in.Introspect(context.Background(), raw)
	got.Audience[0] = "https://evil.example"
	if got, _ := f.in.Introspect(context.Background(), raw); got.Audience[0] != "https://api.example" {
		t.Errorf("the cached audience changed: %v", got.Audience)
	}
	if f.in.JWTCacheSize != 0 || f.in.jwtCache().size != DefaultJWTCacheSize {
		t.Errorf("zero JWTCacheSize gives a cache of %d", f.in.jwtCache().size)
	}
}

// TestJWTCache_Off: a negative JWTCacheSize verifies every time.
func TestJWTCache_Off(t *testing.T) {
	f := newCacheFixture(t, -1)
	raw, _ := f.mint(t, "usr_1", "")
	for range 3 {
		if !f.active(t, raw) {
			t.Fatal("inactive")
		}
	}
	f.wantParses(t, 3, "cache off")
}

// TestJWTCache_DenyListedOnHit: a cached token that goes on the deny-list,
// by its jti or its grant, or whose person removes the app, is inactive at
// the next introspection, which is still served from the cache.
func TestJWTCache_DenyListedOnHit(t *testing.T) {
	f := newCacheFixture(t, 0)
	byJTI, c := f.mint(t, "usr_1", "fam_1")
	byGrant, _ := f.mint(t, "usr_1", "fam_2")
	byConsent, _ := f.mint(t, "usr_2", "fam_3")
	for _, raw := range []string{byJTI, byGrant, byConsent} {
		if !f.active(t, raw) || !f.active(t, raw) {
			t.Fatal("a fresh token is inactive")
		}
	}
	f.wantParses(t, 3, "three tokens, twice each")

	f.deny.Add(context.Background(), c.ID, time.Time{})
	f.deny.Add(context.Background(), "fam_2", time.Time{})
	f.consents.remove("usr_2", "app")
	for name, raw := range map[string]string{"jti denied": byJTI, "grant denied": byGrant, "consent removed": byConsent} {
		if f.active(t, raw) {
			t.Errorf("%s: still active", name)
		}
	}
	f.wantParses(t, 3, "the revoked tokens came from the cache")
}

// TestJWTCache_KeyWithdrawn: once the key that verified a cached token is
// no longer published, or another key is published under its kid, the
// token is inactive and leaves the cache.
func TestJWTCache_KeyWithdrawn(t *testing.T) {
	for _, change := range []string{"removed", "replaced"} {
		t.Run(change, func(t *testing.T) {
			f := newCacheFixture(t, 0)
			raw, _ := f.mint(t, "usr_1", "")
			if !f.active(t, raw) || !f.active(t, raw) {
				t.Fatal("a fresh token is inactive")
			}
			f.wantParses(t, 1, "before the change")
			f.keys.mu.Lock()
			if change == "removed" {
				f.keys.gone = true
			} else {
				f.keys.replaced, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			}
			f.keys.mu.Unlock()
			if f.active(t, raw) {
				t.Fatalf("key %s: the cached token is still active", change)
			}
			if n := f.cached(); n != 0 {
				t.Errorf("key %s: %d tokens still cached", change, n)
			}
			f.wantParses(t, 2, "after the change, verified in full and refused")
		})
	}
}

// TestJWTCache_RotateNow: the same through a real key ring's emergency
// rotation, which stops publishing the old key at once.
func TestJWTCache_RotateNow(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqltest.Backends()[0].URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	sealer, err := secret.NewSealer(secret.Bytes(32))
	if err != nil {
		t.Fatal(err)
	}
	f := newCacheFixture(t, 0)
	ring := &keys.Ring{Store: db.Store().Keys, Sealer: sealer, Now: f.clock.Now}
	if err := ring.Init(ctx); err != nil {
		t.Fatal(err)
	}
	f.in.Issuer.Keys = ring
	raw, _ := f.mint(t, "usr_1", "")
	if !f.active(t, raw) || !f.active(t, raw) {
		t.Fatal("a fresh token is inactive")
	}
	f.wantParses(t, 1, "before the rotation")
	if err := ring.RotateNow(ctx, keys.ES256); err != nil {
		t.Fatal(err)
	}
	if f.active(t, raw) {
		t.Error("a cached token of the removed key is still active")
	}
	next, _ := f.mint(t, "usr_1", "")
	if !f.active(t, next) || !f.active(t, next) {
		t.Error("a token of the new key is inactive")
	}
	f.wantParses(t, 3, "after the rotation")
}

// TestJWTCache_Expiry: a cached token works until the second its exp
// names, by the Issuer's clock, and then is inactive and leaves the cache.
// A clock set back before its iat refuses it too, as ParseAccess would.
func TestJWTCache_Expiry(t *testing.T) {
	f := newCacheFixture(t, 0)
	start := f.clock.Now()
	raw, c := f.mint(t, "usr_1", "")
	if !f.active(t, raw) {
		t.Fatal("a fresh token is inactive")
	}
	exp := time.Unix(c.Expiry, 0)
	f.clock.Set(exp.Add(-time.Nanosecond))
	if !f.active(t, raw) {
		t.Fatal("inactive before its exp")
	}
	f.wantParses(t, 1, "before exp")
	f.clock.Set(exp)
	if f.active(t, raw) {
		t.Fatal("active at its exp")
	}
	if n := f.cached(); n != 0 {
		t.Errorf("%d tokens still cached after exp", n)
	}

	f.clock.Set(start)
	raw, _ = f.mint(t, "usr_1", "")
	if !f.active(t, raw) || !f.active(t, raw) {
		t.Fatal("a fresh token is inactive")
	}
	f.wantParses(t, 3, "the second token")
	f.clock.Set(start.Add(-leeway - time.Second))
	if f.active(t, raw) {
		t.Error("active more than the leeway before its iat")
	}
	if n := f.cached(); n != 0 {
		t.Errorf("%d tokens still cached", n)
	}
}

// TestJWTCache_Tampered: a token with one byte of its signature changed is
// never taken for the cached original, and never cached itself.
func TestJWTCache_Tampered(t *testing.T) {
	f := newCacheFixture(t, 0)
	raw, _ := f.mint(t, "usr_1", "")
	if !f.active(t, raw) || !f.active(t, raw) {
		t.Fatal("a fresh token is inactive")
	}
	f.wantParses(t, 1, "the original")
	dot := strings.LastIndexByte(raw, '.')
	for _, i := range []int{0, 31, 32, 63} {
		sig, err := base64.RawURLEncoding.DecodeString(raw[dot+1:])
		if err != nil {
			t.Fatal(err)
		}
		sig[i] ^= 0x01
		tampered := raw[:dot+1] + base64.RawURLEncoding.EncodeToString(sig)
		before := f.parses.Load()
		for range 2 {
			if f.active(t, tampered) {
				t.Fatalf("signature byte %d changed: active", i)
			}
		}
		f.wantParses(t, before+2, fmt.Sprintf("signature byte %d changed", i))
	}
	if n := f.cached(); n != 1 {
		t.Errorf("%d tokens cached, want only the original", n)
	}
	if !f.active(t, raw) {
		t.Error("the original is inactive")
	}
}

// TestJWTCache_Bound: however many tokens come, the cache holds at most
// JWTCacheSize, and the tokens it dropped still introspect active.
func TestJWTCache_Bound(t *testing.T) {
	const size = 8
	f := newCacheFixture(t, size)
	var raws []string
	for n := range 50 {
		raw, _ := f.mint(t, "usr_1", "")
		raws = append(raws, raw)
		if !f.active(t, raw) {
			t.Fatalf("token %d inactive", n)
		}
		if got, want := f.cached(), min(n+1, size); got != want {
			t.Fatalf("after %d tokens the cache holds %d, want %d", n+1, got, want)
		}
	}
	for _, raw := range raws {
		if !f.active(t, raw) {
			t.Fatal("an evicted token is inactive")
		}
	}
	if n := f.cached(); n != size {
		t.Errorf("the cache holds %d, want %d", n, size)
	}
	c := f.in.jwtCache()
	if len(c.entries) != size || len(c.index) != size {
		t.Errorf("%d slots, %d indexed", len(c.entries), len(c.index))
	}

}

// TestJWTCacheSweep: when the cache is full, expired entries make room
// before a live one is evicted, and the sweep that finds them runs at most
// once every size insertions.
func TestJWTCacheSweep(t *testing.T) {
	at := func(sec int64) time.Time { return time.Unix(sec, 0) }
	c := newClaimsCache(4)
	put := func(raw string, exp, now int64) {
		c.put(raw, &AccessClaims{ID: raw, Expiry: exp, Audience: Audience{"x"}}, "k1", nil, at(now))
		if n := c.len(); n > 4 {
			t.Fatalf("after %s the cache holds %d", raw, n)
		}
	}
	has := func(raws ...string) {
		t.Helper()
		for _, raw := range raws {
			if _, _, _, ok := c.get(raw); !ok {
				t.Errorf("%s is not cached", raw)
			}
		}
	}
	lacks := func(raws ...string) {
		t.Helper()
		for _, raw := range raws {
			if _, _, _, ok := c.get(raw); ok {
				t.Errorf("%s is cached", raw)
			}
		}
	}
	put("a", 100, 50)
	put("b", 100, 50)
	put("c", 1000, 50)
	put("d", 1000, 50)
	put("e", 1000, 200) // full: the sweep drops a and b, e takes a free slot
	has("c", "d", "e")
	lacks("a", "b")
	put("f", 1000, 200)
	// At 2000 c, d, e and f have expired, but the last sweep was 2
	// insertions ago: g and h each evict a slot instead.
	put("g", 3000, 2000)
	put("h", 3000, 2000)
	has("c", "d", "g", "h")
	if n := c.len(); n != 4 {
		t.Fatalf("the cache holds %d, want 4", n)
	}
	// 4 insertions since the last sweep: i may sweep, and drops c and d.
	put("i", 3000, 2000)
	has("g", "h", "i")
	lacks("c", "d")
	if n := c.len(); n != 3 {
		t.Fatalf("after the second sweep the cache holds %d, want 3", n)
	}
}

// TestJWTCache_Concurrent introspects, evicts and revokes from many
// goroutines at once; run it with -race.
func TestJWTCache_Concurrent(t *testing.T) {
	const size = 6
	f := newCacheFixture(t, size)
	var raws []string
	var last *AccessClaims
	for range 12 {
		raw, c := f.mint(t, "usr_1", "")
		raws = append(raws, raw)
		last = c
	}
	var wg sync.WaitGroup
	var revoked atomic.Bool
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for n := range 150 {
				raw := raws[(g*7+n)%len(raws)]
				victim := raw == raws[len(raws)-1]
				wasRevoked := revoked.Load()
				got, err := f.in.Introspect(context.Background(), raw)
				if err != nil {
					errs <- err
					return
				}
				if !victim && !got.Active || victim && wasRevoked && got.Active {
					errs <- fmt.Errorf("token %d: active %v", (g*7+n)%len(raws), got.Active)
					return
				}
				if c := f.cached(); c > size {
					errs <- fmt.Errorf("the cache holds %d", c)
					return
				}
				if g == 0 && n == 75 {
					f.deny.Add(context.Background(), last.ID, time.Time{})
					revoked.Store(true)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if f.active(t, raws[len(raws)-1]) {
		t.Error("the revoked token is active")
	}
	if f.parses.Load() >= 8*150 {
		t.Error("the cache never served a token")
	}
}

func BenchmarkIntrospectJWT(b *testing.B) {
	run := func(b *testing.B, size, pool int) {
		f := newCacheFixture(b, size)
		raws := make([]string, pool)
		for n := range raws {
			raws[n], _ = f.mint(b, "usr_1", "fam_1")
		}
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if !f.active(b, raws[n%pool]) {
				b.Fatal("inactive")
			}
			n++
		}
	}
	// hit: one token, verified once. miss: 256 tokens in turn through a
	// cache of 128, so that each is verified and inserted, evicting one.
	// off: no cache, as before it existed.
	b.Run("hit", func(b *testing.B) { run(b, 0, 1) })
	b.Run("miss", func(b *testing.B) { run(b, 128, 256) })
	b.Run("off", func(b *testing.B) { run(b, -1, 1) })
}
