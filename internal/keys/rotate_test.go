package keys_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"slices"
	"strings"
	"sync"
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

// t0 is when the test keyrings start.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// sealKey is the key-encryption secret every node of a test shares.
var sealKey = secret.Bytes(32)

// openStore opens (and on first use migrates) the database at url: each call
// is one more node's connection to it.
func openStore(t *testing.T, url string) valet.Store {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db.Store()
}

// newRing is one node's keyring on st.
func newRing(t *testing.T, st valet.Store, c *testclock.Clock) *keys.Ring {
	t.Helper()
	sealer, err := secret.NewSealer(sealKey)
	if err != nil {
		t.Fatal(err)
	}
	return &keys.Ring{Store: st.Keys, Sealer: sealer, Now: c.Now}
}

// initRing is a single node with its first keys, made at t0.
func initRing(t *testing.T) (*keys.Ring, valet.Store, *testclock.Clock) {
	t.Helper()
	st := openStore(t, sqltest.Backends()[0].URL(t))
	c := testclock.New(t0)
	r := newRing(t, st, c)
	if err := r.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	return r, st, c
}

// kidOf signs a payload with alg and returns the kid in the JWS header.
func kidOf(t *testing.T, r *keys.Ring, alg string) string {
	t.Helper()
	raw, err := r.Sign(alg, "at+jwt", []byte(`{"sub":"x"}`))
	if err != nil {
		t.Fatalf("Sign(%s): %v", alg, err)
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID
}

// published returns the kids of the JWKS, in order.
func published(r *keys.Ring) []string {
	var kids []string
	for _, k := range r.JWKS().Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

func kidsOf(t *testing.T, st valet.Store, alg string) []string {
	t.Helper()
	list, err := st.Keys.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range list {
		if k.Algorithm == alg {
			kids = append(kids, k.ID)
		}
	}
	return kids
}

// TestRotateOverlap follows catalogue R6: the new key is published first,
// signs only after PrePublish, and the old one stays published until the
// tokens it signed have expired.
func TestRotateOverlap(t *testing.T) {
	r, st, c := initRing(t)
	ctx := t.Context()
	oldKid, rsKid := kidOf(t, r, keys.ES256), kidOf(t, r, keys.RS256)
	oldToken, err := r.Sign(keys.ES256, "at+jwt", []byte(`{"sub":"before"}`))
	if err != nil {
		t.Fatal(err)
	}

	c.Set(t0.Add(24 * time.Hour))
	rotated, err := r.Rotate(ctx, keys.ES256, true)
	if err != nil || !rotated {
		t.Fatalf("Rotate(force) = %v, %v", rotated, err)
	}
	kids := kidsOf(t, st, keys.ES256)
	if len(kids) != 2 || kids[1] != oldKid {
		t.Fatalf("ES256 keys after rotation %v, want a new one and %s", kids, oldKid)
	}
	newKid := kids[0]
	if got := published(r); !slices.Contains(got, newKid) || !slices.Contains(got, oldKid) || !slices.Contains(got, rsKid) {
		t.Errorf("JWKS right after rotation has %v, want the new %s, the old %s and the RS256 %s", got, newKid, oldKid, rsKid)
	}
	// Pre-publication (pin P21): the old key signs until PrePublish has passed.
	c.Set(t0.Add(24*time.Hour + keys.DefaultPrePublish - time.Second))
	if kid := kidOf(t, r, keys.ES256); kid != oldKid {
		t.Errorf("%v after the rotation the token is signed by %s, want the old key %s", keys.DefaultPrePublish-time.Second, kid, oldKid)
	}
	c.Set(t0.Add(24*time.Hour + keys.DefaultPrePublish))
	if kid := kidOf(t, r, keys.ES256); kid != newKid {
		t.Errorf("PrePublish after the rotation the token is signed by %s, want the new key %s", kid, newKid)
	}
	if kid := kidOf(t, r, keys.RS256); kid != rsKid {
		t.Errorf("rotating ES256 changed the RS256 signer to %s", kid)
	}
	// A token the old key signed still verifies with the published key.
	verify(t, r, oldToken, oldKid)

	// The old key leaves once every token it signed has expired.
	removeAt := t0.Add(24*time.Hour + keys.DefaultPrePublish + keys.DefaultMaxTokenLifetime)
	c.Set(removeAt.Add(-time.Second))
	verify(t, r, oldToken, oldKid)
	c.Set(removeAt)
	if _, ok := r.PublicKey(oldKid); ok {
		t.Errorf("the old key is still published at its RemoveAt")
	}
	if got := published(r); slices.Contains(got, oldKid) || !slices.Contains(got, newKid) {
		t.Errorf("JWKS after RemoveAt: %v", got)
	}
}

func verify(t *testing.T, r *keys.Ring, raw, kid string) {
	t.Helper()
	pub, ok := r.PublicKey(kid)
	if !ok {
		t.Fatalf("PublicKey(%s) not found", kid)
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jws.Verify(pub); err != nil {
		t.Errorf("a token signed by %s does not verify: %v", kid, err)
	}
}

// TestScheduledRotation: Rotate without force replaces a key only once it is
// RotateEvery old.
func TestScheduledRotation(t *testing.T) {
	r, st, c := initRing(t)
	r.RotateEvery = 7 * 24 * time.Hour
	c.Set(t0.Add(7*24*time.Hour - time.Second))
	if rotated, err := r.Rotate(t.Context(), keys.ES256, false); err != nil || rotated {
		t.Errorf("Rotate of a young key = %v, %v; want false", rotated, err)
	}
	if n := len(kidsOf(t, st, keys.ES256)); n != 1 {
		t.Errorf("%d ES256 keys after a check with nothing due, want 1", n)
	}
	c.Set(t0.Add(7*24*time.Hour + time.Second))
	if rotated, err := r.Rotate(t.Context(), keys.ES256, false); err != nil || !rotated {
		t.Errorf("Rotate of an old key = %v, %v; want true", rotated, err)
	}
	if rotated, err := r.Rotate(t.Context(), keys.ES256, false); err != nil || rotated {
		t.Errorf("a second scheduled Rotate = %v, %v; want false, the new key is young", rotated, err)
	}
	if n := len(kidsOf(t, st, keys.ES256)); n != 2 {
		t.Errorf("%d ES256 keys, want 2", n)
	}
}

// TestConcurrentRotationMakesOneKey has five nodes, each with its own
// connection, run the scheduled rotation at once on one database.
func TestConcurrentRotationMakesOneKey(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			url := b.URL(t)
			c := testclock.New(t0)
			const nodes = 5
			rings := make([]*keys.Ring, nodes)
			stores := make([]valet.Store, nodes)
			for i := range rings {
				stores[i] = openStore(t, url)
				rings[i] = newRing(t, stores[i], c)
			}
			var wg sync.WaitGroup
			initErrs := make([]error, nodes)
			for i, r := range rings { // start together on an empty database
				wg.Go(func() { initErrs[i] = r.Init(t.Context()) })
			}
			wg.Wait()
			for i, err := range initErrs {
				if err != nil {
					t.Fatalf("node %d Init: %v", i, err)
				}
			}
			before := kidsOf(t, stores[0], keys.ES256)
			if len(before) != 1 {
				t.Fatalf("%d ES256 keys after five nodes started, want 1", len(before))
			}

			c.Set(t0.Add(keys.DefaultRotateEvery + time.Minute))
			rotated := make([]bool, nodes)
			errs := make([]error, nodes)
			start := make(chan struct{})
			for i, r := range rings {
				wg.Go(func() {
					<-start
					rotated[i], errs[i] = r.Rotate(t.Context(), keys.ES256, false)
				})
			}
			close(start)
			wg.Wait()
			winners := 0
			for i := range rings {
				if errs[i] != nil {
					t.Errorf("node %d Rotate: %v", i, errs[i])
				}
				if rotated[i] {
					winners++
				}
			}
			after := kidsOf(t, stores[0], keys.ES256)
			if winners != 1 || len(after) != 2 || after[1] != before[0] {
				t.Fatalf("%d nodes rotated; ES256 keys %v; want exactly one new key beside %s", winners, after, before[0])
			}
			// After their reload every node publishes the same set and, once
			// the new key may sign, signs with it.
			c.Set(t0.Add(keys.DefaultRotateEvery + time.Minute + keys.DefaultPrePublish))
			for _, r := range rings {
				if err := r.Load(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			want := published(rings[0])
			if !slices.Contains(want, after[0]) || !slices.Contains(want, after[1]) {
				t.Errorf("node 0 publishes %v, want both ES256 keys %v", want, after)
			}
			for i, r := range rings {
				if got := published(r); !slices.Equal(got, want) {
					t.Errorf("node %d publishes %v, node 0 %v", i, got, want)
				}
				if kid := kidOf(t, r, keys.ES256); kid != after[0] {
					t.Errorf("node %d signs with %s, want the new key %s", i, kid, after[0])
				}
			}
		})
	}
}

// TestRotateNow is the emergency rotation: the new key signs at once and
// every older key of the algorithm, including one already retired, leaves
// the JWKS, so tokens they signed stop verifying.
func TestRotateNow(t *testing.T) {
	r, st, c := initRing(t)
	ctx := t.Context()
	first := kidOf(t, r, keys.ES256)
	rsKid := kidOf(t, r, keys.RS256)
	c.Set(t0.Add(time.Hour))
	if _, err := r.Rotate(ctx, keys.ES256, true); err != nil {
		t.Fatal(err)
	}
	c.Set(t0.Add(3 * time.Hour)) // the second key signs; the first is retired but published
	second := kidOf(t, r, keys.ES256)
	if second == first || !slices.Contains(published(r), first) {
		t.Fatalf("setup: signing %s, first %s, published %v", second, first, published(r))
	}
	tok, _ := r.Sign(keys.ES256, "at+jwt", []byte(`{}`))

	if err := r.RotateNow(ctx, keys.ES256); err != nil {
		t.Fatal(err)
	}
	kids := kidsOf(t, st, keys.ES256)
	third := kids[0]
	if kid := kidOf(t, r, keys.ES256); kid != third || third == second {
		t.Errorf("after RotateNow the ring signs with %s, want the new key %s", kid, third)
	}
	for _, kid := range []string{first, second} {
		if _, ok := r.PublicKey(kid); ok {
			t.Errorf("key %s is still published after RotateNow", kid)
		}
	}
	if got := published(r); !slices.Equal(got, []string{third, rsKid}) && !slices.Equal(got, []string{rsKid, third}) {
		t.Errorf("JWKS after RotateNow %v, want only %s and the RS256 key %s", got, third, rsKid)
	}
	if _, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256}); err != nil {
		t.Fatal(err)
	}
	// The janitor can delete the removed keys straight away.
	if n, err := st.Keys.DeleteExpired(ctx, c.Now()); err != nil || n != 2 {
		t.Errorf("DeleteExpired after RotateNow = %d, %v; want the 2 old keys", n, err)
	}
}

// TestPrePublishShorterThanCacheIsRefused keeps pin P21 executable.
func TestPrePublishShorterThanCacheIsRefused(t *testing.T) {
	r, st, _ := initRing(t)
	r.PrePublish = keys.JWKSMaxAge - time.Second
	if _, err := r.Rotate(t.Context(), keys.ES256, true); err == nil || !strings.Contains(err.Error(), "P21") {
		t.Errorf("Rotate with PrePublish below the JWKS max-age: %v", err)
	}
	if n := len(kidsOf(t, st, keys.ES256)); n != 1 {
		t.Errorf("a refused rotation stored a key: %d ES256 keys", n)
	}
	if keys.DefaultPrePublish < keys.JWKSMaxAge {
		t.Errorf("DefaultPrePublish %v < JWKSMaxAge %v", keys.DefaultPrePublish, keys.JWKSMaxAge)
	}
}

// TestRunRotation runs the schedule on two nodes and finds one new key per
// algorithm, however many checks they make.
func TestRunRotation(t *testing.T) {
	url := sqltest.Backends()[0].URL(t)
	c := testclock.New(t0)
	a, b := newRing(t, openStore(t, url), c), newRing(t, openStore(t, url), c)
	st := openStore(t, url)
	if err := a.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.Set(t0.Add(keys.DefaultRotateEvery + time.Hour))
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { a.RunRotation(ctx, 5*time.Millisecond) })
	wg.Go(func() { b.RunRotation(ctx, 5*time.Millisecond) })
	deadline := time.Now().Add(10 * time.Second)
	for len(kidsOf(t, st, keys.ES256)) < 2 || len(kidsOf(t, st, keys.RS256)) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("RunRotation made no new keys in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // several more checks on both nodes
	cancel()
	wg.Wait()
	for _, alg := range keys.Algorithms {
		if n := len(kidsOf(t, st, alg)); n != 2 {
			t.Errorf("%s: %d keys after the schedule ran, want 2", alg, n)
		}
	}
}

// TestJWKSHasNoPrivateMembers checks the ring's own output, before any
// HTTP handler sees it (catalogue JW-01).
func TestJWKSHasNoPrivateMembers(t *testing.T) {
	r, _, _ := initRing(t)
	if _, err := r.Rotate(t.Context(), keys.RS256, true); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 3 {
		t.Fatalf("JWKS has %d keys, want 3: %s", len(set.Keys), b)
	}
	for _, k := range set.Keys {
		for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[m]; ok {
				t.Errorf("JWKS key %v has the private member %q", k["kid"], m)
			}
		}
		for _, m := range []string{"kid", "kty", "use", "alg"} {
			if s, _ := k[m].(string); s == "" {
				t.Errorf("JWKS key %v lacks %q", k["kid"], m)
			}
		}
	}
}

// TestLoadRefusesAPublicJWKThatIsNotTheKey: the JWKS serves the stored
// public JWK as it is, so a row whose JWK is not exactly the public half of
// its sealed key (another key, or the private key itself) stops the load.
func TestLoadRefusesAPublicJWKThatIsNotTheKey(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, jwk := range map[string]jose.JSONWebKey{
		"another key":     {Key: other.Public(), KeyID: "forged", Algorithm: "ES256", Use: "sig"},
		"the private key": {Key: priv, KeyID: "forged", Algorithm: "ES256", Use: "sig"},
		"another kid":     {Key: priv.Public(), KeyID: "other", Algorithm: "ES256", Use: "sig"},
		"another alg":     {Key: priv.Public(), KeyID: "forged", Algorithm: "ES384", Use: "sig"},
	} {
		t.Run(name, func(t *testing.T) {
			r, st, c := initRing(t)
			sealer, _ := secret.NewSealer(sealKey)
			der, err := x509.MarshalPKCS8PrivateKey(priv)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := jwk.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			forged := &valet.SigningKey{ID: "forged", Algorithm: "ES256", Sealed: sealer.Seal(der, "forged"), Public: pub,
				CreatedAt: c.Now().Add(time.Minute), NotBefore: c.Now()}
			if err := st.Keys.Create(t.Context(), forged); err != nil {
				t.Fatal(err)
			}
			if err := r.Load(t.Context()); err == nil || !strings.Contains(err.Error(), "not the public half") {
				t.Errorf("Load: %v", err)
			}
			if slices.Contains(published(r), "forged") {
				t.Error("the forged key is published")
			}
		})
	}
}
