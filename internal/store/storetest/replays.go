package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// testReplaysUseOnce has many nodes accept one consent form at once: exactly
// one is first.
func testReplaysUseOnce(t *testing.T, st valet.Store) {
	ctx := t.Context()
	const n = 50
	warm(t, n, func() error { return st.Ping(ctx) })
	firsts := make([]bool, n)
	errs := make([]error, n)
	race(n, func(i int) { firsts[i], errs[i] = st.Replays.Use(ctx, "consent:abc", t0.Add(time.Hour)) })
	count := 0
	for i := range n {
		ok(t, fmt.Sprintf("Use %d", i), errs[i])
		if firsts[i] {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("%d of %d concurrent Use calls were first, want exactly 1", count, n)
	}
	first, err := st.Replays.Use(ctx, "consent:abc", t0.Add(2*time.Hour))
	ok(t, "Use again", err)
	if first {
		t.Error("Use of a used key returned true")
	}
	first, err = st.Replays.Use(ctx, "consent:other", t0.Add(time.Hour))
	ok(t, "Use of another key", err)
	if !first {
		t.Error("Use of a fresh key returned false")
	}
}

func testReplaysDeleteExpired(t *testing.T, st valet.Store) {
	ctx := t.Context()
	use := func(key string, exp time.Time, want bool) {
		t.Helper()
		first, err := st.Replays.Use(ctx, key, exp)
		ok(t, "Use", err)
		if first != want {
			t.Errorf("Use(%q) = %v, want %v", key, first, want)
		}
	}
	use("a", t0.Add(time.Minute), true)
	use("b", t0.Add(2*time.Minute), true)
	use("c", t0.Add(time.Hour), true)
	n, err := st.Replays.DeleteExpired(ctx, t0.Add(2*time.Minute))
	ok(t, "DeleteExpired", err)
	if n != 2 {
		t.Errorf("DeleteExpired = %d, want 2 (expiry is inclusive)", n)
	}
	// Deleted keys are forgotten; the live one is still remembered.
	use("c", t0.Add(time.Hour), false)
	use("a", t0.Add(3*time.Hour), true)
	n, err = st.Replays.DeleteExpired(ctx, t0.Add(2*time.Minute))
	ok(t, "DeleteExpired again", err)
	if n != 0 {
		t.Errorf("DeleteExpired again = %d, want 0", n)
	}
}
