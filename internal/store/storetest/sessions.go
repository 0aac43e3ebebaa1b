package storetest

import (
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
