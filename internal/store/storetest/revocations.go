package storetest

import (
	"testing"
	"time"

	"github.com/valetauth/valet"
)

func testRevocations(t *testing.T, st valet.Store) {
	ctx := t.Context()
	revoked := func(want bool, ids ...string) {
		t.Helper()
		got, err := st.Revocations.AnyRevoked(ctx, ids...)
		ok(t, "AnyRevoked", err)
		if got != want {
			t.Errorf("AnyRevoked(%q) = %v, want %v", ids, got, want)
		}
	}
	deleteExpired := func(now time.Time, want int) {
		t.Helper()
		n, err := st.Revocations.DeleteExpired(ctx, now)
		ok(t, "DeleteExpired", err)
		if n != want {
			t.Errorf("DeleteExpired(t0+%v) = %d, want %d", now.Sub(t0), n, want)
		}
	}

	revoked(false)
	revoked(false, "jti-1")
	ok(t, "Add", st.Revocations.Add(ctx, "jti-1", t0.Add(time.Hour)))
	ok(t, "Add", st.Revocations.Add(ctx, "fam-1", t0.Add(2*time.Hour)))
	revoked(true, "jti-1")
	revoked(true, "other", "fam-1")
	revoked(true, "fam-1", "jti-1")
	revoked(false, "other", "jti-2", "fam-2")

	// Adding again with an earlier expiry keeps the later one.
	ok(t, "Add with an earlier expiry", st.Revocations.Add(ctx, "jti-1", t0.Add(10*time.Minute)))
	deleteExpired(t0.Add(30*time.Minute), 0)
	revoked(true, "jti-1")

	// Adding again with a later expiry extends it.
	ok(t, "Add with a later expiry", st.Revocations.Add(ctx, "jti-1", t0.Add(3*time.Hour)))
	deleteExpired(t0.Add(2*time.Hour), 1) // fam-1, at its expiry instant
	revoked(false, "fam-1")
	revoked(true, "jti-1")
	deleteExpired(t0.Add(3*time.Hour), 1)
	revoked(false, "jti-1", "fam-1")
	deleteExpired(t0.Add(100*time.Hour), 0)
}
