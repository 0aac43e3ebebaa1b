package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

func keyID(k *valet.SigningKey) string { return k.ID }

func testKeysCreateList(t *testing.T, st valet.Store) {
	ctx := t.Context()
	full := &valet.SigningKey{}
	fill(t, full, "full")
	full.ID, full.CreatedAt = "k1", t0
	k2, k3 := newKey("k2", "ES256", t0.Add(time.Hour)), newKey("k3", "RS256", t0.Add(2*time.Hour))
	for _, k := range []*valet.SigningKey{k2, full, k3} {
		ok(t, "Create", st.Keys.Create(ctx, k))
	}
	list, err := st.Keys.List(ctx)
	ok(t, "List", err)
	if want := []string{"k3", "k2", "k1"}; !slices.Equal(ids(list, keyID), want) {
		t.Fatalf("List = %v, want %v (newest first)", ids(list, keyID), want)
	}
	same(t, "List[2]", full, list[2])
	same(t, "List[0]", k3, list[0])

	dup := newKey("k1", "ES256", t0.Add(3*time.Hour))
	is(t, "Create with a taken ID", st.Keys.Create(ctx, dup), valet.ErrExists)
	list, err = st.Keys.List(ctx)
	ok(t, "List", err)
	if len(list) != 3 {
		t.Errorf("List after a refused Create has %d keys, want 3", len(list))
	}
}

// testKeysCreateFirst has many nodes start at once, each with a key of its
// own for the same algorithm: exactly one key is inserted.
func testKeysCreateFirst(t *testing.T, st valet.Store) {
	ctx := t.Context()
	const n = 20
	warm(t, n, func() error { return st.Ping(ctx) })
	inserted := make([]bool, n)
	errs := make([]error, n)
	race(n, func(i int) {
		inserted[i], errs[i] = st.Keys.CreateFirst(ctx, newKey(fmt.Sprintf("es-%02d", i), "ES256", t0))
	})
	winner := -1
	for i := range n {
		ok(t, fmt.Sprintf("CreateFirst %d", i), errs[i])
		if inserted[i] {
			if winner >= 0 {
				t.Fatalf("CreateFirst %d and %d both inserted", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("none of %d concurrent CreateFirst calls inserted", n)
	}
	list, err := st.Keys.List(ctx)
	ok(t, "List", err)
	if want := []string{fmt.Sprintf("es-%02d", winner)}; !slices.Equal(ids(list, keyID), want) {
		t.Fatalf("List = %v, want only the winner's key %v", ids(list, keyID), want)
	}
	same(t, "the winner's key", newKey(fmt.Sprintf("es-%02d", winner), "ES256", t0), list[0])

	rs := newKey("rs", "RS256", t0.Add(time.Hour))
	first, err := st.Keys.CreateFirst(ctx, rs)
	ok(t, "CreateFirst(RS256)", err)
	if !first {
		t.Error("CreateFirst of the first RS256 key returned false")
	}
	// A retired key still counts: CreateFirst is for an empty keyring only.
	ok(t, "Retire", st.Keys.Retire(ctx, list[0].ID, t0.Add(time.Hour), t0.Add(2*time.Hour)))
	first, err = st.Keys.CreateFirst(ctx, newKey("es-late", "ES256", t0.Add(2*time.Hour)))
	ok(t, "CreateFirst(ES256) again", err)
	if first {
		t.Error("CreateFirst of a second ES256 key returned true")
	}
	list, err = st.Keys.List(ctx)
	ok(t, "List", err)
	if want := []string{"rs", fmt.Sprintf("es-%02d", winner)}; !slices.Equal(ids(list, keyID), want) {
		t.Errorf("List = %v, want %v", ids(list, keyID), want)
	}
}

func testKeysRetire(t *testing.T, st valet.Store) {
	ctx := t.Context()
	k1, k2 := newKey("k1", "ES256", t0), newKey("k2", "ES256", t0.Add(time.Hour))
	ok(t, "Create", st.Keys.Create(ctx, k1))
	ok(t, "Create", st.Keys.Create(ctx, k2))
	want := *k1
	want.RetiredAt, want.RemoveAt = t0.Add(2*time.Hour), t0.Add(26*time.Hour)
	ok(t, "Retire", st.Keys.Retire(ctx, "k1", want.RetiredAt, want.RemoveAt))
	list, err := st.Keys.List(ctx)
	ok(t, "List", err)
	if want := []string{"k2", "k1"}; !slices.Equal(ids(list, keyID), want) {
		t.Fatalf("List = %v, want %v", ids(list, keyID), want)
	}
	same(t, "retired key", &want, list[1])
	same(t, "the other key", k2, list[0])
	is(t, "Retire(unknown)", st.Keys.Retire(ctx, "nope", t0, t0), valet.ErrNotFound)
}

func testKeysDeleteExpired(t *testing.T, st valet.Store) {
	ctx := t.Context()
	gone, kept, later := newKey("gone", "ES256", t0), newKey("kept", "ES256", t0.Add(time.Hour)), newKey("later", "RS256", t0.Add(2*time.Hour))
	gone.RetiredAt, gone.RemoveAt = t0, t0.Add(time.Hour)
	later.RetiredAt, later.RemoveAt = t0, t0.Add(5*time.Hour)
	for _, k := range []*valet.SigningKey{gone, kept, later} {
		ok(t, "Create", st.Keys.Create(ctx, k))
	}
	n, err := st.Keys.DeleteExpired(ctx, t0.Add(time.Hour))
	ok(t, "DeleteExpired", err)
	if n != 1 {
		t.Errorf("DeleteExpired = %d, want 1", n)
	}
	list, err := st.Keys.List(ctx)
	ok(t, "List", err)
	if want := []string{"later", "kept"}; !slices.Equal(ids(list, keyID), want) {
		t.Fatalf("List after DeleteExpired = %v, want %v", ids(list, keyID), want)
	}
	// A key with no RemoveAt is published for ever, however late it is.
	n, err = st.Keys.DeleteExpired(ctx, t0.Add(1000*time.Hour))
	ok(t, "DeleteExpired", err)
	if n != 1 {
		t.Errorf("DeleteExpired much later = %d, want 1", n)
	}
	list, err = st.Keys.List(ctx)
	ok(t, "List", err)
	if want := []string{"kept"}; !slices.Equal(ids(list, keyID), want) {
		t.Errorf("List after DeleteExpired = %v, want %v", ids(list, keyID), want)
	}
}
