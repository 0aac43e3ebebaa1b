package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

func testCodesCreateGet(t *testing.T, st valet.Store) {
	ctx := t.Context()
	c, u := seed(t, st)
	full := &valet.AuthCode{}
	fill(t, full, "full")
	full.ClientID, full.UserID, full.ExpiresAt = c.ID, u.ID, t0.Add(time.Hour)
	ok(t, "Create", st.Codes.Create(ctx, full))

	got, err := st.Codes.Get(ctx, full.Digest, t0)
	ok(t, "Get", err)
	same(t, "Get", full, got)
	_, err = st.Codes.Get(ctx, full.Digest, full.ExpiresAt.Add(-time.Microsecond))
	ok(t, "Get a microsecond before expiry", err)
	_, err = st.Codes.Get(ctx, full.Digest, full.ExpiresAt)
	is(t, "Get at expiry", err, valet.ErrNotFound)
	_, err = st.Codes.Get(ctx, "nope", t0)
	is(t, "Get(unknown)", err, valet.ErrNotFound)

	dup := newCode(full.Digest, c.ID, u.ID, t0)
	is(t, "Create with a taken digest", st.Codes.Create(ctx, dup), valet.ErrExists)
}

// testCodesConsumeOnce is the single-use gate: of many concurrent redemptions
// exactly one is first, and every other sees the code as that one used it.
func testCodesConsumeOnce(t *testing.T, st valet.Store) {
	ctx := t.Context()
	c, u := seed(t, st)
	code := newCode("code", c.ID, u.ID, t0)
	ok(t, "Create", st.Codes.Create(ctx, code))

	const n = 50
	type result struct {
		code  *valet.AuthCode
		first bool
		err   error
	}
	warm(t, n, func() error { return st.Ping(ctx) })
	results := make([]result, n)
	at := func(i int) time.Time { return t0.Add(time.Duration(i+1) * time.Microsecond) }
	race(n, func(i int) {
		r := &results[i]
		r.code, r.first, r.err = st.Codes.Consume(ctx, "code", at(i))
	})

	winner := -1
	for i, r := range results {
		ok(t, fmt.Sprintf("Consume %d", i), r.err)
		if r.code == nil || r.code.Digest != "code" {
			t.Fatalf("Consume %d returned code %+v, want the code", i, r.code)
		}
		if r.first {
			if winner >= 0 {
				t.Fatalf("Consume %d and %d both returned first == true", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("none of %d concurrent Consume calls returned first == true", n)
	}
	used := at(winner)
	for i, r := range results {
		if !r.code.UsedAt.Equal(used) {
			t.Errorf("Consume %d returned UsedAt %v, want the winner's %v", i, r.code.UsedAt, used)
		}
	}
	want := *code
	want.UsedAt = used
	same(t, "the winner's code", &want, results[winner].code)
	got, err := st.Codes.Get(ctx, "code", t0)
	ok(t, "Get", err)
	same(t, "Get after Consume", &want, got)

	again, first, err := st.Codes.Consume(ctx, "code", t0.Add(time.Minute))
	ok(t, "Consume again", err)
	if first || again == nil || !again.UsedAt.Equal(used) {
		t.Errorf("Consume again = %+v, %v; want the code used at %v and first == false", again, first, used)
	}
}

func testCodesConsumeRefused(t *testing.T, st valet.Store) {
	ctx := t.Context()
	c, u := seed(t, st)
	_, _, err := st.Codes.Consume(ctx, "nope", t0)
	is(t, "Consume(unknown)", err, valet.ErrNotFound)

	unused := newCode("unused", c.ID, u.ID, t0)
	ok(t, "Create", st.Codes.Create(ctx, unused))
	got, first, err := st.Codes.Consume(ctx, "unused", unused.ExpiresAt)
	is(t, "Consume at expiry", err, valet.ErrNotFound)
	if first || got != nil {
		t.Errorf("Consume at expiry returned %+v, %v; want nil, false", got, first)
	}
	got, err = st.Codes.Get(ctx, "unused", t0)
	ok(t, "Get", err)
	same(t, "code after a refused Consume", unused, got)

	used := newCode("used", c.ID, u.ID, t0)
	ok(t, "Create", st.Codes.Create(ctx, used))
	_, first, err = st.Codes.Consume(ctx, "used", t0)
	ok(t, "Consume", err)
	if !first {
		t.Fatal("the first Consume of a fresh code returned first == false")
	}
	_, _, err = st.Codes.Consume(ctx, "used", used.ExpiresAt)
	is(t, "Consume of a used code at expiry", err, valet.ErrNotFound)
}

func testCodesDeleteExpired(t *testing.T, st valet.Store) {
	ctx := t.Context()
	c, u := seed(t, st)
	for i, ttl := range []time.Duration{time.Minute, 2 * time.Minute, 10 * time.Minute} {
		code := newCode(fmt.Sprintf("code-%d", i), c.ID, u.ID, t0)
		code.ExpiresAt = t0.Add(ttl)
		ok(t, "Create", st.Codes.Create(ctx, code))
	}
	n, err := st.Codes.DeleteExpired(ctx, t0.Add(2*time.Minute))
	ok(t, "DeleteExpired", err)
	if n != 2 {
		t.Errorf("DeleteExpired = %d, want 2 (expiry is inclusive)", n)
	}
	// Get at t0, before any expiry, tells deleted from expired.
	for _, digest := range []string{"code-0", "code-1"} {
		_, err := st.Codes.Get(ctx, digest, t0)
		is(t, "Get("+digest+") after DeleteExpired", err, valet.ErrNotFound)
	}
	_, err = st.Codes.Get(ctx, "code-2", t0)
	ok(t, "Get(live code) after DeleteExpired", err)
}
