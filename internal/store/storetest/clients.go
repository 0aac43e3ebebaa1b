package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

func clientID(c *valet.Client) string { return c.ID }

func testClientsCRUD(t *testing.T, st valet.Store) {
	ctx := t.Context()
	full := &valet.Client{}
	fill(t, full, "full")
	full.ID, full.CreatedAt = "a", t0.Add(2*time.Hour)
	b, c := newClient("b", t0), newClient("c", t0.Add(time.Hour))
	for _, cl := range []*valet.Client{full, b, c} {
		ok(t, "Create "+cl.ID, st.Clients.Create(ctx, cl))
	}

	got, err := st.Clients.Get(ctx, "a")
	ok(t, "Get", err)
	same(t, "Get(a)", full, got)

	list, err := st.Clients.List(ctx)
	ok(t, "List", err)
	if want := []string{"b", "c", "a"}; !slices.Equal(ids(list, clientID), want) {
		t.Fatalf("List = %v, want %v (by creation time, oldest first)", ids(list, clientID), want)
	}
	same(t, "List[2]", full, list[2])

	want := *b
	want.Name, want.Scopes, want.UpdatedAt = "renamed", []string{"openid", "profile", "email"}, t0.Add(3*time.Hour)
	ok(t, "Update", st.Clients.Update(ctx, "b", func(cl *valet.Client) error {
		same(t, "Update's client", b, cl)
		cl.Name, cl.Scopes, cl.UpdatedAt = want.Name, append(cl.Scopes, "email"), want.UpdatedAt
		return nil
	}))
	got, err = st.Clients.Get(ctx, "b")
	ok(t, "Get after Update", err)
	same(t, "Get(b) after Update", &want, got)

	ok(t, "Delete", st.Clients.Delete(ctx, "c"))
	_, err = st.Clients.Get(ctx, "c")
	is(t, "Get after Delete", err, valet.ErrNotFound)
	list, err = st.Clients.List(ctx)
	ok(t, "List after Delete", err)
	if want := []string{"b", "a"}; !slices.Equal(ids(list, clientID), want) {
		t.Fatalf("List after Delete = %v, want %v", ids(list, clientID), want)
	}
}

func testClientsErrors(t *testing.T, st valet.Store) {
	ctx := t.Context()
	orig := newClient("a", t0)
	ok(t, "Create", st.Clients.Create(ctx, orig))
	dup := newClient("a", t0.Add(time.Hour))
	dup.Name = "impostor"
	is(t, "Create with a taken ID", st.Clients.Create(ctx, dup), valet.ErrExists)
	got, err := st.Clients.Get(ctx, "a")
	ok(t, "Get", err)
	same(t, "client after a refused Create", orig, got)

	_, err = st.Clients.Get(ctx, "nope")
	is(t, "Get(unknown)", err, valet.ErrNotFound)
	called := false
	err = st.Clients.Update(ctx, "nope", func(*valet.Client) error { called = true; return nil })
	is(t, "Update(unknown)", err, valet.ErrNotFound)
	if called {
		t.Error("Update(unknown) called its function")
	}
	is(t, "Delete(unknown)", st.Clients.Delete(ctx, "nope"), valet.ErrNotFound)
	ok(t, "Delete", st.Clients.Delete(ctx, "a"))
	is(t, "Delete twice", st.Clients.Delete(ctx, "a"), valet.ErrNotFound)
	list, err := st.Clients.List(ctx)
	ok(t, "List", err)
	if len(list) != 0 {
		t.Errorf("List of an emptied store = %v, want none", ids(list, clientID))
	}
}

func testClientsUpdateAbort(t *testing.T, st valet.Store) {
	ctx := t.Context()
	orig := newClient("a", t0)
	ok(t, "Create", st.Clients.Create(ctx, orig))
	err := st.Clients.Update(ctx, "a", func(c *valet.Client) error {
		c.Name, c.SecretDigest, c.Scopes = "changed", "changed", nil
		return errBoom
	})
	if err != errBoom {
		t.Errorf("Update returned %v, want the callback's error as is", err)
	}
	got, err := st.Clients.Get(ctx, "a")
	ok(t, "Get", err)
	same(t, "client after an aborted Update", orig, got)
}

// testClientsUpdateIsAtomic has many callers each add a scope at once; a
// read-modify-write that is not atomic loses some of them.
func testClientsUpdateIsAtomic(t *testing.T, st valet.Store) {
	ctx := t.Context()
	ok(t, "Create", st.Clients.Create(ctx, newClient("a", t0)))
	const n = 20
	warm(t, n, func() error { return st.Ping(ctx) })
	errs := make([]error, n)
	race(n, func(i int) {
		errs[i] = st.Clients.Update(ctx, "a", func(c *valet.Client) error {
			c.Scopes = append(c.Scopes, fmt.Sprintf("s%02d", i))
			return nil
		})
	})
	for i, err := range errs {
		ok(t, fmt.Sprintf("Update %d", i), err)
	}
	got, err := st.Clients.Get(ctx, "a")
	ok(t, "Get", err)
	want := []string{"openid", "profile"}
	for i := range n {
		want = append(want, fmt.Sprintf("s%02d", i))
	}
	if !slices.Equal(sorted(got.Scopes), sorted(want)) {
		t.Errorf("after %d concurrent Updates, Scopes = %v, want %v", n, sorted(got.Scopes), sorted(want))
	}
}

// testTimesRoundTripUTC stores times in another location and with
// nanoseconds, and expects them back in UTC, at microsecond precision, with
// the zero time kept zero.
func testTimesRoundTripUTC(t *testing.T, st valet.Store) {
	ctx := t.Context()
	c := newClient("a", time.Date(2031, 3, 4, 5, 6, 7, 123456789, zone))
	c.UpdatedAt = time.Time{}
	ok(t, "Create", st.Clients.Create(ctx, c))
	got, err := st.Clients.Get(ctx, "a")
	ok(t, "Get", err)
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt is in %v, want UTC", got.CreatedAt.Location())
	}
	if d := got.CreatedAt.Sub(c.CreatedAt).Abs(); d >= time.Microsecond || got.CreatedAt.Nanosecond()%1000 != 0 {
		t.Errorf("CreatedAt = %v, want %v at microsecond precision", got.CreatedAt, c.CreatedAt)
	}
	if !got.UpdatedAt.IsZero() {
		t.Errorf("zero UpdatedAt came back as %v", got.UpdatedAt)
	}

	// Times on either side of the Unix epoch, and far ahead, compare and
	// sort as times.
	for i, tm := range []time.Time{
		time.Date(1960, 1, 2, 3, 4, 5, 678901000, zone),
		time.Date(1970, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(2999, 12, 31, 23, 59, 59, 999999000, zone),
	} {
		u := newUser(fmt.Sprintf("u%d", i), fmt.Sprintf("user%d", i), tm)
		ok(t, "Create user", st.Users.Create(ctx, u))
		gu, err := st.Users.Get(ctx, u.ID)
		ok(t, "Get user", err)
		same(t, "user created at "+tm.String(), u, gu)
	}
	list, err := st.Users.List(ctx)
	ok(t, "List users", err)
	if want := []string{"u0", "u1", "u2"}; !slices.Equal(ids(list, func(u *valet.User) string { return u.ID }), want) {
		t.Errorf("users by creation time = %v, want %v", ids(list, func(u *valet.User) string { return u.ID }), want)
	}
}

// testClientsNilAndEmptyLists stores a client whose lists are all nil and one
// whose lists are all empty; each comes back as it went in. The lists are
// found by reflection, so that a list added to valet.Client later is checked
// too.
func testClientsNilAndEmptyLists(t *testing.T, st valet.Store) {
	ctx := t.Context()
	for _, empty := range []bool{false, true} {
		c := newClient(fmt.Sprintf("empty-%v", empty), t0)
		v := reflect.ValueOf(c).Elem()
		for i := range v.NumField() {
			if f := v.Field(i); f.Type() == reflect.TypeFor[[]string]() {
				if empty {
					f.Set(reflect.ValueOf([]string{}))
				} else {
					f.Set(reflect.Zero(f.Type()))
				}
			}
		}
		ok(t, "Create "+c.ID, st.Clients.Create(ctx, c))
		got, err := st.Clients.Get(ctx, c.ID)
		ok(t, "Get "+c.ID, err)
		same(t, "Get("+c.ID+")", c, got)
	}
}
