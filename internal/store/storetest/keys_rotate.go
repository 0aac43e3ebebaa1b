package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// keyring checks that List returns exactly want, newest first, field for field.
func keyring(t *testing.T, st valet.Store, what string, want ...*valet.SigningKey) {
	t.Helper()
	list, err := st.Keys.List(t.Context())
	ok(t, "List", err)
	if !slices.Equal(ids(list, keyID), ids(want, keyID)) {
		t.Fatalf("%s: List = %v, want %v (newest first)", what, ids(list, keyID), ids(want, keyID))
	}
	for i := range want {
		same(t, what+": key "+want[i].ID, want[i], list[i])
	}
}

// retired returns a copy of k retired at at, published until removeAt.
func retired(k *valet.SigningKey, at, removeAt time.Time) *valet.SigningKey {
	r := *k
	r.RetiredAt, r.RemoveAt = at, removeAt
	return &r
}

func testKeysRotate(t *testing.T, st valet.Store) {
	ctx := t.Context()
	gone := retired(newKey("es-0", "ES256", t0.Add(-time.Hour)), t0, t0.Add(24*time.Hour))
	es1 := newKey("es-1", "ES256", t0)
	rs := newKey("rs", "RS256", t0.Add(30*time.Minute))
	for _, k := range []*valet.SigningKey{gone, es1, rs} {
		ok(t, "Create "+k.ID, st.Keys.Create(ctx, k))
	}

	// The newest ES256 key was created at t0, before t0+1h: rotate. Only the
	// unretired ES256 key is retired; the retired one and the RS256 key keep
	// their times.
	es2 := newKey("es-2", "ES256", t0.Add(2*time.Hour))
	removeAt := t0.Add(48 * time.Hour)
	rotated, err := st.Keys.Rotate(ctx, es2, removeAt, t0.Add(time.Hour))
	ok(t, "Rotate", err)
	if !rotated {
		t.Fatal("Rotate with the newest key created before createdBefore returned false")
	}
	es1r := retired(es1, es2.NotBefore, removeAt)
	keyring(t, st, "after Rotate", es2, rs, es1r, gone)

	// The newest ES256 key (es-2) was created at createdBefore, not before
	// it: nothing changes.
	es3 := newKey("es-3", "ES256", t0.Add(3*time.Hour))
	rotated, err = st.Keys.Rotate(ctx, es3, t0.Add(72*time.Hour), es2.CreatedAt)
	ok(t, "Rotate too soon", err)
	if rotated {
		t.Error("Rotate with the newest key created at createdBefore returned true")
	}
	keyring(t, st, "after a refused Rotate", es2, rs, es1r, gone)

	// A next key whose ID is taken fails the whole step: no key is retired.
	taken := newKey("rs", "ES256", t0.Add(3*time.Hour))
	rotated, err = st.Keys.Rotate(ctx, taken, t0.Add(72*time.Hour), t0.Add(100*time.Hour))
	is(t, "Rotate to a taken ID", err, valet.ErrExists)
	if rotated {
		t.Error("Rotate to a taken ID returned true")
	}
	keyring(t, st, "after a failed Rotate", es2, rs, es1r, gone)

	// A microsecond later es-2 is old enough; es-1 keeps its first retirement.
	rotated, err = st.Keys.Rotate(ctx, es3, t0.Add(72*time.Hour), es2.CreatedAt.Add(time.Microsecond))
	ok(t, "Rotate again", err)
	if !rotated {
		t.Fatal("Rotate with the newest key created a microsecond before createdBefore returned false")
	}
	keyring(t, st, "after a second Rotate", es3, retired(es2, es3.NotBefore, t0.Add(72*time.Hour)), rs, es1r, gone)
}

// rotateRace has n nodes run a scheduled rotation at once, each with a next
// key of its own, and checks that exactly one rotated; it returns the
// winner's key.
func rotateRace(t *testing.T, st valet.Store, removeAt, createdBefore time.Time) *valet.SigningKey {
	t.Helper()
	ctx := t.Context()
	const n = 20
	warm(t, n, func() error { return st.Ping(ctx) })
	next := make([]*valet.SigningKey, n)
	for i := range next {
		next[i] = newKey(fmt.Sprintf("next-%02d", i), "ES256", t0.Add(time.Hour))
	}
	rotated := make([]bool, n)
	errs := make([]error, n)
	race(n, func(i int) { rotated[i], errs[i] = st.Keys.Rotate(ctx, next[i], removeAt, createdBefore) })
	winner := -1
	for i := range n {
		ok(t, fmt.Sprintf("Rotate %d", i), errs[i])
		if rotated[i] {
			if winner >= 0 {
				t.Fatalf("Rotate %d and %d both returned true", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("none of %d concurrent Rotate calls returned true", n)
	}
	return next[winner]
}

// testKeysRotateOnce: of many nodes rotating on one schedule, exactly one
// makes a new key; the others see it as the newest and change nothing.
func testKeysRotateOnce(t *testing.T, st valet.Store) {
	ctx := t.Context()
	old, rs := newKey("old", "ES256", t0), newKey("rs", "RS256", t0.Add(-time.Minute))
	ok(t, "Create", st.Keys.Create(ctx, old))
	ok(t, "Create", st.Keys.Create(ctx, rs))
	removeAt := t0.Add(48 * time.Hour)
	winner := rotateRace(t, st, removeAt, t0.Add(30*time.Minute))
	keyring(t, st, "after concurrent Rotates", winner, retired(old, winner.NotBefore, removeAt), rs)
}

// testKeysRotateFirstKey: with no key of the algorithm, Rotate inserts next
// whatever createdBefore says, and racing nodes still make only one.
func testKeysRotateFirstKey(t *testing.T, st valet.Store) {
	ctx := t.Context()
	rs := newKey("rs", "RS256", t0.Add(2*time.Hour))
	ok(t, "Create", st.Keys.Create(ctx, rs))
	es := newKey("es", "ES256", t0)
	rotated, err := st.Keys.Rotate(ctx, es, t0.Add(48*time.Hour), time.Time{})
	ok(t, "Rotate", err)
	if !rotated {
		t.Fatal("Rotate of the first ES256 key returned false")
	}
	keyring(t, st, "after the first Rotate", rs, es)

	// Once the only ES256 key is removed, racing nodes make one first key.
	ok(t, "Retire", st.Keys.Retire(ctx, "es", t0, t0))
	n, err := st.Keys.DeleteExpired(ctx, t0)
	ok(t, "DeleteExpired", err)
	if n != 1 {
		t.Fatalf("DeleteExpired = %d, want 1", n)
	}
	winner := rotateRace(t, st, t0.Add(48*time.Hour), t0)
	keyring(t, st, "after concurrent first Rotates", rs, winner)
}
