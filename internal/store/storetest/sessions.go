package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

func testSessionsCRUD(t *testing.T, st valet.Store) {
	ctx := t.Context()
	_, u := seed(t, st)
	full := &valet.Session{}
	fill(t, full, "full")
	full.UserID, full.ExpiresAt = u.ID, now().Add(time.Hour)
	ok(t, "Create", st.Sessions.Create(ctx, full))
	got, err := st.Sessions.Get(ctx, full.ID)
	ok(t, "Get", err)
	same(t, "Get", full, got)

	dup := newSession(full.ID, u.ID, now())
	is(t, "Create with a taken ID", st.Sessions.Create(ctx, dup), valet.ErrExists)
	got, err = st.Sessions.Get(ctx, full.ID)
	ok(t, "Get", err)
	same(t, "session after a refused Create", full, got)

	ok(t, "Delete", st.Sessions.Delete(ctx, full.ID))
	_, err = st.Sessions.Get(ctx, full.ID)
	is(t, "Get after Delete", err, valet.ErrNotFound)
	ok(t, "Delete of an unknown session", st.Sessions.Delete(ctx, full.ID))
	_, err = st.Sessions.Get(ctx, "nope")
	is(t, "Get(unknown)", err, valet.ErrNotFound)
}

// testSessionsExpiry relies on the wall clock, as Sessions.Get does: the
// live session expires an hour from now, the dead one a second ago.
func testSessionsExpiry(t *testing.T, st valet.Store) {
	ctx := t.Context()
	_, u := seed(t, st)
	n := now()
	live, dead := newSession("live", u.ID, n), newSession("dead", u.ID, n.Add(-time.Hour))
	dead.ExpiresAt = n.Add(-time.Second)
	ok(t, "Create", st.Sessions.Create(ctx, live))
	ok(t, "Create", st.Sessions.Create(ctx, dead))

	_, err := st.Sessions.Get(ctx, "dead")
	is(t, "Get(expired)", err, valet.ErrNotFound)
	_, err = st.Sessions.Get(ctx, "live")
	ok(t, "Get(live)", err)

	deleted, err := st.Sessions.DeleteExpired(ctx, n)
	ok(t, "DeleteExpired", err)
	if deleted != 1 {
		t.Errorf("DeleteExpired(now) = %d, want 1", deleted)
	}
	_, err = st.Sessions.Get(ctx, "live")
	ok(t, "Get(live) after DeleteExpired", err)
	deleted, err = st.Sessions.DeleteExpired(ctx, n)
	ok(t, "DeleteExpired", err)
	if deleted != 0 {
		t.Errorf("DeleteExpired(now) again = %d, want 0", deleted)
	}
	// At its expiry instant the live session is expired too.
	deleted, err = st.Sessions.DeleteExpired(ctx, live.ExpiresAt)
	ok(t, "DeleteExpired", err)
	if deleted != 1 {
		t.Errorf("DeleteExpired(live's expiry) = %d, want 1", deleted)
	}
	_, err = st.Sessions.Get(ctx, "live")
	is(t, "Get(live) after it was deleted", err, valet.ErrNotFound)
}

func testSessionsDeleteByUser(t *testing.T, st valet.Store) {
	ctx := t.Context()
	_, ana := seed(t, st)
	bob := newUser("user-2", "bob", t0)
	ok(t, "Create user", st.Users.Create(ctx, bob))
	n := now()
	for _, s := range []*valet.Session{newSession("a1", ana.ID, n), newSession("a2", ana.ID, n), newSession("b1", bob.ID, n)} {
		ok(t, "Create", st.Sessions.Create(ctx, s))
	}
	deleted, err := st.Sessions.DeleteByUser(ctx, ana.ID)
	ok(t, "DeleteByUser", err)
	if deleted != 2 {
		t.Errorf("DeleteByUser = %d, want 2", deleted)
	}
	for _, id := range []string{"a1", "a2"} {
		_, err := st.Sessions.Get(ctx, id)
		is(t, "Get("+id+") after DeleteByUser", err, valet.ErrNotFound)
	}
	_, err = st.Sessions.Get(ctx, "b1")
	ok(t, "Get(another user's session)", err)
	deleted, err = st.Sessions.DeleteByUser(ctx, "nope")
	ok(t, "DeleteByUser(unknown)", err)
	if deleted != 0 {
		t.Errorf("DeleteByUser(unknown) = %d, want 0", deleted)
	}
}

// testSessionsSIDUnique checks that no two sessions share a SID, the public
// "sid" that logout names a session by, including when many are created at
// once. A session may have no SID (""): any number of them.
func testSessionsSIDUnique(t *testing.T, st valet.Store) {
	ctx := t.Context()
	_, u := seed(t, st)
	n := now()
	first := newSession("s1", u.ID, n)
	ok(t, "Create", st.Sessions.Create(ctx, first))
	thief := newSession("s2", u.ID, n)
	thief.SID = first.SID
	is(t, "Create with a taken SID", st.Sessions.Create(ctx, thief), valet.ErrExists)
	_, err := st.Sessions.Get(ctx, "s2")
	is(t, "Get of a refused session", err, valet.ErrNotFound)
	got, err := st.Sessions.Get(ctx, "s1")
	ok(t, "Get", err)
	same(t, "session after a refused Create", first, got)

	for _, id := range []string{"none-1", "none-2"} {
		s := newSession(id, u.ID, n)
		s.SID = ""
		ok(t, "Create without a SID", st.Sessions.Create(ctx, s))
		got, err := st.Sessions.Get(ctx, id)
		ok(t, "Get", err)
		same(t, "session without a SID", s, got)
	}

	const racers = 20
	warm(t, racers, func() error { return st.Ping(ctx) })
	errs := make([]error, racers)
	race(racers, func(i int) {
		s := newSession(fmt.Sprintf("race-%d", i), u.ID, n)
		s.SID = "sid-raced"
		errs[i] = st.Sessions.Create(ctx, s)
	})
	created := 0
	for i, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, valet.ErrExists):
			t.Errorf("Create %d with a raced SID: err = %v, want nil or ErrExists", i, err)
		}
	}
	if created != 1 {
		t.Errorf("%d concurrent Creates with one SID: %d succeeded, want 1", racers, created)
	}
}
