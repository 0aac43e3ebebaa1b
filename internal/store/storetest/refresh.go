package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

func testRefreshCreateGet(t *testing.T, st valet.Store) {
	ctx := t.Context()
	c, u := seed(t, st)
	full := &valet.RefreshToken{}
	fill(t, full, "full")
	full.ClientID, full.UserID = c.ID, u.ID
	ok(t, "Create", st.Refresh.Create(ctx, full))
	got, err := st.Refresh.Get(ctx, full.Digest)
	ok(t, "Get", err)
	same(t, "Get", full, got)

	is(t, "Create with a taken digest", st.Refresh.Create(ctx, newRefresh(full.Digest, "f", c.ID, u.ID, t0)), valet.ErrExists)
	_, err = st.Refresh.Get(ctx, "nope")
	is(t, "Get(unknown)", err, valet.ErrNotFound)
}

// testRefreshRotateOnce has many callers present one token at once, each
// with a next token of its own: exactly one wins, and only its next exists.
func testRefreshRotateOnce(t *testing.T, st valet.Store) {
	ctx := t.Context()
	c, u := seed(t, st)
	old := newRefresh("old", "fam", c.ID, u.ID, t0)
	ok(t, "Create", st.Refresh.Create(ctx, old))

	const n = 50
	rotatedAt := t0.Add(time.Minute)
	warm(t, n, func() error { return st.Ping(ctx) })
	next := make([]*valet.RefreshToken, n)
	oks := make([]bool, n)
	errs := make([]error, n)
	for i := range next {
		next[i] = newRefresh(fmt.Sprintf("next-%02d", i), "fam", c.ID, u.ID, rotatedAt)
	}
	race(n, func(i int) { oks[i], errs[i] = st.Refresh.Rotate(ctx, "old", next[i]) })

	winner := -1
	for i := range n {
		ok(t, fmt.Sprintf("Rotate %d", i), errs[i])
		if oks[i] {
			if winner >= 0 {
				t.Fatalf("Rotate %d and %d both returned true", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("none of %d concurrent Rotate calls returned true", n)
	}
	for i := range n {
		got, err := st.Refresh.Get(ctx, next[i].Digest)
		if i == winner {
			ok(t, "Get(winner's next)", err)
			same(t, "winner's next", next[i], got)
		} else if err == nil {
			t.Errorf("loser %d's next token was inserted", i)
		} else {
			is(t, fmt.Sprintf("Get(loser %d's next)", i), err, valet.ErrNotFound)
		}
	}
	want := *old
	want.UsedAt = rotatedAt
	got, err := st.Refresh.Get(ctx, "old")
	ok(t, "Get(old)", err)
	same(t, "old token after Rotate", &want, got)

	rotated, err := st.Refresh.Rotate(ctx, "old", newRefresh("late", "fam", c.ID, u.ID, rotatedAt.Add(time.Second)))
	ok(t, "Rotate of a used token", err)
	if rotated {
		t.Error("Rotate of a used token returned true")
	}
}

func testRefreshRotateRefused(t *testing.T, st valet.Store) {
	ctx := t.Context()
	c, u := seed(t, st)
	used := newRefresh("used", "f1", c.ID, u.ID, t0)
	used.UsedAt = t0.Add(time.Minute)
	revoked := newRefresh("revoked", "f2", c.ID, u.ID, t0)
	revoked.RevokedAt = t0.Add(time.Minute)
	expired := newRefresh("expired", "f3", c.ID, u.ID, t0)
	expired.ExpiresAt = t0.Add(time.Hour)
	for _, tok := range []*valet.RefreshToken{used, revoked, expired} {
		ok(t, "Create", st.Refresh.Create(ctx, tok))
	}
	for _, old := range []*valet.RefreshToken{used, revoked, expired, {Digest: "unknown"}} {
		next := newRefresh("next-of-"+old.Digest, "f", c.ID, u.ID, t0.Add(time.Hour)) // expired's expiry instant
		rotated, err := st.Refresh.Rotate(ctx, old.Digest, next)
		ok(t, "Rotate("+old.Digest+")", err)
		if rotated {
			t.Errorf("Rotate(%s) returned true", old.Digest)
		}
		_, err = st.Refresh.Get(ctx, next.Digest)
		is(t, "Get(next of refused "+old.Digest+")", err, valet.ErrNotFound)
		if old.Digest == "unknown" {
			continue
		}
		got, err := st.Refresh.Get(ctx, old.Digest)
		ok(t, "Get", err)
		same(t, old.Digest+" token after a refused Rotate", old, got)
	}
}

func testRefreshRevokeFamily(t *testing.T, st valet.Store) {
	ctx := t.Context()
	c, u := seed(t, st)
	f1, f2, f3 := newRefresh("f1", "F", c.ID, u.ID, t0), newRefresh("f2", "F", c.ID, u.ID, t0), newRefresh("f3", "F", c.ID, u.ID, t0)
	f2.UsedAt = t0
	f3.RevokedAt = t0.Add(-time.Hour)
	g1 := newRefresh("g1", "G", c.ID, u.ID, t0)
	for _, tok := range []*valet.RefreshToken{f1, f2, f3, g1} {
		ok(t, "Create", st.Refresh.Create(ctx, tok))
	}
	revokedAt := t0.Add(time.Minute)
	n, err := st.Refresh.RevokeFamily(ctx, "F", revokedAt)
	ok(t, "RevokeFamily", err)
	if n != 2 {
		t.Errorf("RevokeFamily = %d, want 2 (one of three was already revoked)", n)
	}
	for _, tok := range []*valet.RefreshToken{f1, f2, f3, g1} {
		want := *tok
		if tok.FamilyID == "F" && tok.RevokedAt.IsZero() {
			want.RevokedAt = revokedAt
		}
		got, err := st.Refresh.Get(ctx, tok.Digest)
		ok(t, "Get", err)
		same(t, tok.Digest+" after RevokeFamily(F)", &want, got)
	}
	rotated, err := st.Refresh.Rotate(ctx, "f1", newRefresh("f1-next", "F", c.ID, u.ID, revokedAt))
	ok(t, "Rotate of a revoked token", err)
	if rotated {
		t.Error("Rotate of a token of a revoked family returned true")
	}
	n, err = st.Refresh.RevokeFamily(ctx, "F", revokedAt)
	ok(t, "RevokeFamily again", err)
	if n != 0 {
		t.Errorf("RevokeFamily again = %d, want 0", n)
	}
	n, err = st.Refresh.RevokeFamily(ctx, "unknown", revokedAt)
	ok(t, "RevokeFamily(unknown)", err)
	if n != 0 {
		t.Errorf("RevokeFamily(unknown) = %d, want 0", n)
	}
}

func testRefreshRevokeFor(t *testing.T, st valet.Store) {
	ctx := t.Context()
	c1, u := seed(t, st)
	c2, v := newClient("client-2", t0), newUser("user-2", "bob", t0)
	ok(t, "Create client", st.Clients.Create(ctx, c2))
	ok(t, "Create user", st.Users.Create(ctx, v))
	hit := []*valet.RefreshToken{
		newRefresh("a", "F1", c1.ID, u.ID, t0),
		newRefresh("b", "F1", c1.ID, u.ID, t0),
		newRefresh("c", "F2", c1.ID, u.ID, t0),
	}
	missed := []*valet.RefreshToken{
		newRefresh("d", "F3", c2.ID, u.ID, t0), // same user, other client
		newRefresh("e", "F4", c1.ID, v.ID, t0), // same client, other user
	}
	for _, tok := range append(slices.Clone(hit), missed...) {
		ok(t, "Create", st.Refresh.Create(ctx, tok))
	}
	revokedAt := t0.Add(time.Minute)
	families, err := st.Refresh.RevokeFor(ctx, u.ID, c1.ID, revokedAt)
	ok(t, "RevokeFor", err)
	if want := []string{"F1", "F2"}; !slices.Equal(sorted(families), want) {
		t.Errorf("RevokeFor = %v, want %v", families, want)
	}
	for _, tok := range hit {
		got, err := st.Refresh.Get(ctx, tok.Digest)
		ok(t, "Get", err)
		if !got.RevokedAt.Equal(revokedAt) {
			t.Errorf("token %s: RevokedAt = %v, want %v", tok.Digest, got.RevokedAt, revokedAt)
		}
	}
	for _, tok := range missed {
		got, err := st.Refresh.Get(ctx, tok.Digest)
		ok(t, "Get", err)
		same(t, "token "+tok.Digest+" of another user or client", tok, got)
	}
	families, err = st.Refresh.RevokeFor(ctx, u.ID, c1.ID, revokedAt)
	ok(t, "RevokeFor again", err)
	if len(families) != 0 {
		t.Errorf("RevokeFor again = %v, want no families", families)
	}
}

func testRefreshDeleteExpired(t *testing.T, st valet.Store) {
	ctx := t.Context()
	c, u := seed(t, st)
	for i, ttl := range []time.Duration{time.Hour, 2 * time.Hour, 48 * time.Hour} {
		tok := newRefresh(fmt.Sprintf("tok-%d", i), "fam", c.ID, u.ID, t0)
		tok.ExpiresAt = t0.Add(ttl)
		ok(t, "Create", st.Refresh.Create(ctx, tok))
	}
	n, err := st.Refresh.DeleteExpired(ctx, t0.Add(2*time.Hour))
	ok(t, "DeleteExpired", err)
	if n != 2 {
		t.Errorf("DeleteExpired = %d, want 2 (expiry is inclusive)", n)
	}
	for _, digest := range []string{"tok-0", "tok-1"} {
		_, err := st.Refresh.Get(ctx, digest)
		is(t, "Get("+digest+") after DeleteExpired", err, valet.ErrNotFound)
	}
	_, err = st.Refresh.Get(ctx, "tok-2")
	ok(t, "Get(live token) after DeleteExpired", err)
}
