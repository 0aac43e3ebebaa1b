package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

func testConsents(t *testing.T, st valet.Store) {
	ctx := t.Context()
	c1, u := seed(t, st)
	c2 := newClient("client-2", t0)
	ok(t, "Create client", st.Clients.Create(ctx, c2))

	_, err := st.Consents.Get(ctx, u.ID, c1.ID)
	is(t, "Get before Put", err, valet.ErrNotFound)
	full := &valet.Consent{}
	fill(t, full, "full")
	full.UserID, full.ClientID = u.ID, c1.ID
	ok(t, "Put", st.Consents.Put(ctx, full))
	got, err := st.Consents.Get(ctx, u.ID, c1.ID)
	ok(t, "Get", err)
	same(t, "Get", full, got)

	more := &valet.Consent{UserID: u.ID, ClientID: c1.ID, Scopes: []string{"openid", "profile", "email"}, GrantedAt: t0.Add(time.Hour)}
	ok(t, "Put again", st.Consents.Put(ctx, more))
	got, err = st.Consents.Get(ctx, u.ID, c1.ID)
	ok(t, "Get", err)
	same(t, "consent after a second Put", more, got)

	other := &valet.Consent{UserID: u.ID, ClientID: c2.ID, Scopes: []string{"openid"}, GrantedAt: t0}
	ok(t, "Put", st.Consents.Put(ctx, other))
	list, err := st.Consents.ListByUser(ctx, u.ID)
	ok(t, "ListByUser", err)
	slices.SortFunc(list, func(a, b *valet.Consent) int { return strings.Compare(a.ClientID, b.ClientID) })
	if len(list) != 2 {
		t.Fatalf("ListByUser returned %d consents, want 2", len(list))
	}
	same(t, "ListByUser[client-1]", more, list[0])
	same(t, "ListByUser[client-2]", other, list[1])
	list, err = st.Consents.ListByUser(ctx, "nope")
	ok(t, "ListByUser(unknown)", err)
	if len(list) != 0 {
		t.Errorf("ListByUser(unknown) returned %d consents, want none", len(list))
	}

	testConsentTouch(t, st, u.ID, c1.ID, more)

	ok(t, "Delete", st.Consents.Delete(ctx, u.ID, c1.ID))
	_, err = st.Consents.Get(ctx, u.ID, c1.ID)
	is(t, "Get after Delete", err, valet.ErrNotFound)
	is(t, "Delete twice", st.Consents.Delete(ctx, u.ID, c1.ID), valet.ErrNotFound)
	_, err = st.Consents.Get(ctx, u.ID, c2.ID)
	ok(t, "Get of the other consent", err)
}

// testConsentTouch checks that Touch moves LastUsedAt forward only, changes
// nothing else, and is a no-op for a consent that does not exist.
func testConsentTouch(t *testing.T, st valet.Store, userID, clientID string, c *valet.Consent) {
	ctx := t.Context()
	used := t0.Add(2 * time.Hour)
	ok(t, "Touch", st.Consents.Touch(ctx, userID, clientID, used))
	got, err := st.Consents.Get(ctx, userID, clientID)
	ok(t, "Get after Touch", err)
	want := *c
	want.LastUsedAt = used
	same(t, "consent after Touch", &want, got)

	ok(t, "Touch with an earlier time", st.Consents.Touch(ctx, userID, clientID, used.Add(-time.Minute)))
	got, err = st.Consents.Get(ctx, userID, clientID)
	ok(t, "Get after an earlier Touch", err)
	if !got.LastUsedAt.Equal(used) {
		t.Errorf("LastUsedAt after an earlier Touch = %v, want it kept at %v", got.LastUsedAt, used)
	}
	later := used.Add(time.Minute)
	ok(t, "Touch with a later time", st.Consents.Touch(ctx, userID, clientID, later))
	got, err = st.Consents.Get(ctx, userID, clientID)
	ok(t, "Get after a later Touch", err)
	if !got.LastUsedAt.Equal(later) {
		t.Errorf("LastUsedAt after a later Touch = %v, want %v", got.LastUsedAt, later)
	}

	ok(t, "Touch of an unknown consent", st.Consents.Touch(ctx, userID, "nope", later))
	ok(t, "Touch of an unknown user", st.Consents.Touch(ctx, "nope", clientID, later))
	if _, err := st.Consents.Get(ctx, userID, "nope"); err == nil {
		t.Errorf("Touch of an unknown consent created one")
	}
}
