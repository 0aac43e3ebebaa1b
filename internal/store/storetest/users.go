package storetest

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

func userID(u *valet.User) string { return u.ID }

func testUsersCRUD(t *testing.T, st valet.Store) {
	ctx := t.Context()
	full := &valet.User{}
	fill(t, full, "full")
	full.ID, full.Username, full.CreatedAt = "u1", "ana", t0.Add(time.Hour)
	bob := newUser("u2", "bob", t0)
	ok(t, "Create", st.Users.Create(ctx, full))
	ok(t, "Create", st.Users.Create(ctx, bob))

	got, err := st.Users.Get(ctx, "u1")
	ok(t, "Get", err)
	same(t, "Get(u1)", full, got)
	got, err = st.Users.GetByUsername(ctx, "ana")
	ok(t, "GetByUsername", err)
	same(t, "GetByUsername(ana)", full, got)

	list, err := st.Users.List(ctx)
	ok(t, "List", err)
	if want := []string{"u2", "u1"}; !slices.Equal(ids(list, userID), want) {
		t.Fatalf("List = %v, want %v (by creation time, oldest first)", ids(list, userID), want)
	}
	same(t, "List[1]", full, list[1])

	want := *full
	want.Username, want.Email, want.UpdatedAt = "ana2", "ana2@example.com", t0.Add(2*time.Hour)
	want.EmailVerified, want.Claims = false, map[string]any{"locale": "pt-BR"}
	ok(t, "Update", st.Users.Update(ctx, "u1", func(u *valet.User) error {
		same(t, "Update's user", full, u)
		u.Username, u.Email, u.UpdatedAt = want.Username, want.Email, want.UpdatedAt
		u.EmailVerified, u.Claims = want.EmailVerified, map[string]any{"locale": "pt-BR"}
		return nil
	}))
	got, err = st.Users.GetByUsername(ctx, "ana2")
	ok(t, "GetByUsername(new name)", err)
	same(t, "user after Update", &want, got)
	_, err = st.Users.GetByUsername(ctx, "ana")
	is(t, "GetByUsername(old name)", err, valet.ErrNotFound)

	ok(t, "Delete", st.Users.Delete(ctx, "u2"))
	_, err = st.Users.Get(ctx, "u2")
	is(t, "Get after Delete", err, valet.ErrNotFound)
	_, err = st.Users.GetByUsername(ctx, "bob")
	is(t, "GetByUsername after Delete", err, valet.ErrNotFound)
	is(t, "Delete twice", st.Users.Delete(ctx, "u2"), valet.ErrNotFound)
	list, err = st.Users.List(ctx)
	ok(t, "List after Delete", err)
	if want := []string{"u1"}; !slices.Equal(ids(list, userID), want) {
		t.Errorf("List after Delete = %v, want %v", ids(list, userID), want)
	}
}

func testUsersErrors(t *testing.T, st valet.Store) {
	ctx := t.Context()
	ana, bob := newUser("u1", "ana", t0), newUser("u2", "bob", t0)
	ok(t, "Create", st.Users.Create(ctx, ana))
	ok(t, "Create", st.Users.Create(ctx, bob))

	is(t, "Create with a taken ID", st.Users.Create(ctx, newUser("u1", "carl", t0)), valet.ErrExists)
	is(t, "Create with a taken username", st.Users.Create(ctx, newUser("u3", "ana", t0)), valet.ErrExists)
	_, err := st.Users.GetByUsername(ctx, "carl")
	is(t, "GetByUsername of a refused user", err, valet.ErrNotFound)
	_, err = st.Users.Get(ctx, "u3")
	is(t, "Get of a refused user", err, valet.ErrNotFound)

	err = st.Users.Update(ctx, "u2", func(u *valet.User) error { u.Username, u.Name = "ana", "Bob as Ana"; return nil })
	is(t, "Update to a taken username", err, valet.ErrExists)
	got, err := st.Users.Get(ctx, "u2")
	ok(t, "Get", err)
	same(t, "user after a refused rename", bob, got)

	_, err = st.Users.Get(ctx, "nope")
	is(t, "Get(unknown)", err, valet.ErrNotFound)
	_, err = st.Users.GetByUsername(ctx, "nope")
	is(t, "GetByUsername(unknown)", err, valet.ErrNotFound)
	called := false
	err = st.Users.Update(ctx, "nope", func(*valet.User) error { called = true; return nil })
	is(t, "Update(unknown)", err, valet.ErrNotFound)
	if called {
		t.Error("Update(unknown) called its function")
	}
	is(t, "Delete(unknown)", st.Users.Delete(ctx, "nope"), valet.ErrNotFound)
}

func testUsersUpdateAbort(t *testing.T, st valet.Store) {
	ctx := t.Context()
	orig := newUser("u1", "ana", t0)
	ok(t, "Create", st.Users.Create(ctx, orig))
	err := st.Users.Update(ctx, "u1", func(u *valet.User) error {
		u.Username, u.PasswordHash = "mallory", ""
		return errBoom
	})
	if err != errBoom {
		t.Errorf("Update returned %v, want the callback's error as is", err)
	}
	got, err := st.Users.Get(ctx, "u1")
	ok(t, "Get", err)
	same(t, "user after an aborted Update", orig, got)
	_, err = st.Users.GetByUsername(ctx, "mallory")
	is(t, "GetByUsername(aborted name)", err, valet.ErrNotFound)
}

// testUsersClaims checks what the claims map keeps: nil and empty each come
// back as they went in, as lists do, and a value that is not JSON is refused
// rather than dropped.
func testUsersClaims(t *testing.T, st valet.Store) {
	ctx := t.Context()
	none, empty := newUser("u1", "ana", t0), newUser("u2", "bob", t0)
	none.Claims, empty.Claims = nil, map[string]any{}
	for _, u := range []*valet.User{none, empty} {
		ok(t, "Create "+u.ID, st.Users.Create(ctx, u))
		got, err := st.Users.Get(ctx, u.ID)
		ok(t, "Get "+u.ID, err)
		same(t, "Get("+u.ID+")", u, got)
	}
	ok(t, "Update", st.Users.Update(ctx, "u2", func(u *valet.User) error { u.Claims = nil; return nil }))
	got, err := st.Users.Get(ctx, "u2")
	ok(t, "Get", err)
	if got.Claims != nil {
		t.Errorf("Claims set to nil came back as %#v", got.Claims)
	}

	bad := newUser("u3", "carl", t0)
	bad.Claims = map[string]any{"score": math.NaN()}
	err = st.Users.Create(ctx, bad)
	if err == nil || errors.Is(err, valet.ErrExists) || errors.Is(err, valet.ErrNotFound) {
		t.Errorf("Create with a claim that is not JSON: err = %v, want an unexpected error", err)
	}
	_, err = st.Users.Get(ctx, "u3")
	is(t, "Get of a user whose claims were refused", err, valet.ErrNotFound)
	err = st.Users.Update(ctx, "u1", func(u *valet.User) error {
		u.Name, u.Claims = "changed", map[string]any{"score": math.Inf(1)}
		return nil
	})
	if err == nil || errors.Is(err, valet.ErrExists) || errors.Is(err, valet.ErrNotFound) {
		t.Errorf("Update to a claim that is not JSON: err = %v, want an unexpected error", err)
	}
	got, err = st.Users.Get(ctx, "u1")
	ok(t, "Get", err)
	same(t, "user after an Update that was refused", none, got)
}
