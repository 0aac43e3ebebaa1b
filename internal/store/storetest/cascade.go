package storetest

import (
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// grants creates, for the user and the client, a session (user only), a
// consent, a code and a refresh token, all named after tag.
func grants(t *testing.T, st valet.Store, tag, userID, clientID string) {
	t.Helper()
	ctx := t.Context()
	ok(t, "Create session", st.Sessions.Create(ctx, newSession("session-"+tag, userID, now())))
	ok(t, "Put consent", st.Consents.Put(ctx, &valet.Consent{UserID: userID, ClientID: clientID, Scopes: []string{"openid"}, GrantedAt: t0}))
	ok(t, "Create code", st.Codes.Create(ctx, newCode("code-"+tag, clientID, userID, t0)))
	ok(t, "Create refresh token", st.Refresh.Create(ctx, newRefresh("refresh-"+tag, "family-"+tag, clientID, userID, t0)))
}

// granted reports whether the consent, code and refresh token named after tag
// exist, and the session if session is set; want says whether they should.
func granted(t *testing.T, st valet.Store, tag, userID, clientID string, session, want bool) {
	t.Helper()
	ctx := t.Context()
	check := func(what string, err error) {
		t.Helper()
		if want {
			ok(t, what, err)
		} else {
			is(t, what, err, valet.ErrNotFound)
		}
	}
	if session {
		_, err := st.Sessions.Get(ctx, "session-"+tag)
		check("Get session-"+tag, err)
	}
	_, err := st.Consents.Get(ctx, userID, clientID)
	check("Get consent of "+tag, err)
	_, err = st.Codes.Get(ctx, "code-"+tag, t0)
	check("Get code-"+tag, err)
	_, err = st.Refresh.Get(ctx, "refresh-"+tag)
	check("Get refresh-"+tag, err)
}

func testCascadeClient(t *testing.T, st valet.Store) {
	ctx := t.Context()
	c1, u := seed(t, st)
	c2 := newClient("client-2", t0)
	ok(t, "Create client", st.Clients.Create(ctx, c2))
	grants(t, st, "c1", u.ID, c1.ID)
	grants(t, st, "c2", u.ID, c2.ID)

	// Access tokens of both kinds: for the user, and for the client itself
	// (client credentials), whose subject is no user.
	for _, c := range []*valet.Client{c1, c2} {
		ok(t, "Create access token", st.Access.Create(ctx, newAccess("user-"+c.ID, c.ID, u.ID, t0)))
		ok(t, "Create access token", st.Access.Create(ctx, newAccess("self-"+c.ID, c.ID, c.ID, t0)))
	}

	ok(t, "Delete client", st.Clients.Delete(ctx, c1.ID))
	granted(t, st, "c1", u.ID, c1.ID, false, false)
	granted(t, st, "c2", u.ID, c2.ID, false, true)
	for _, digest := range []string{"user-" + c1.ID, "self-" + c1.ID} {
		_, err := st.Access.Get(ctx, digest)
		is(t, "Get access token "+digest+" of a deleted client", err, valet.ErrNotFound)
	}
	for _, digest := range []string{"user-" + c2.ID, "self-" + c2.ID} {
		_, err := st.Access.Get(ctx, digest)
		ok(t, "Get access token "+digest+" of another client", err)
	}
	// Sessions belong to the user, not to a client.
	_, err := st.Sessions.Get(ctx, "session-c1")
	ok(t, "Get session after deleting a client", err)
	_, err = st.Users.Get(ctx, u.ID)
	ok(t, "Get user after deleting a client", err)
}

func testCascadeUser(t *testing.T, st valet.Store) {
	ctx := t.Context()
	c, u1 := seed(t, st)
	u2 := newUser("user-2", "bob", t0)
	ok(t, "Create user", st.Users.Create(ctx, u2))
	grants(t, st, "u1", u1.ID, c.ID)
	grants(t, st, "u2", u2.ID, c.ID)

	ok(t, "Delete user", st.Users.Delete(ctx, u1.ID))
	granted(t, st, "u1", u1.ID, c.ID, true, false)
	granted(t, st, "u2", u2.ID, c.ID, true, true)
	_, err := st.Clients.Get(ctx, c.ID)
	ok(t, "Get client after deleting a user", err)
}

// testUnknownReference expects rows naming a client or user that does not
// exist to be refused with ErrNotFound, so that nothing outlives the cascade
// of a concurrent delete.
func testUnknownReference(t *testing.T, st valet.Store) {
	ctx := t.Context()
	c, u := seed(t, st)
	is(t, "Create session of an unknown user", st.Sessions.Create(ctx, newSession("s", "nope", now())), valet.ErrNotFound)
	is(t, "Put consent for an unknown client", st.Consents.Put(ctx, &valet.Consent{UserID: u.ID, ClientID: "nope", GrantedAt: t0}), valet.ErrNotFound)
	is(t, "Create code of an unknown user", st.Codes.Create(ctx, newCode("code", c.ID, "nope", t0)), valet.ErrNotFound)
	is(t, "Create refresh token of an unknown client", st.Refresh.Create(ctx, newRefresh("rt", "f", "nope", u.ID, t0)), valet.ErrNotFound)
	is(t, "Create access token of an unknown client", st.Access.Create(ctx, newAccess("at", "nope", u.ID, t0)), valet.ErrNotFound)

	_, err := st.Sessions.Get(ctx, "s")
	is(t, "Get refused session", err, valet.ErrNotFound)
	_, err = st.Codes.Get(ctx, "code", t0)
	is(t, "Get refused code", err, valet.ErrNotFound)
	_, err = st.Refresh.Get(ctx, "rt")
	is(t, "Get refused refresh token", err, valet.ErrNotFound)
	_, err = st.Access.Get(ctx, "at")
	is(t, "Get refused access token", err, valet.ErrNotFound)

	old := newRefresh("old", "f", c.ID, u.ID, t0)
	ok(t, "Create", st.Refresh.Create(ctx, old))
	rotated, err := st.Refresh.Rotate(ctx, "old", newRefresh("next", "f", "nope", u.ID, t0.Add(time.Minute)))
	if rotated || err == nil {
		t.Errorf("Rotate to a token of an unknown client = %v, %v; want false and an error", rotated, err)
	}
	got, err := st.Refresh.Get(ctx, "old")
	ok(t, "Get", err)
	same(t, "token after a failed Rotate", old, got)
}
