package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

func newAccess(digest, clientID, subject string, now time.Time) *valet.AccessToken {
	return &valet.AccessToken{
		Digest:    digest,
		ID:        "jti-" + digest,
		GrantID:   "family-" + digest,
		ClientID:  clientID,
		Subject:   subject,
		Scopes:    []string{"openid", "profile"},
		Audience:  []string{"https://api.example"},
		AuthTime:  now,
		CreatedAt: now,
		ExpiresAt: now.Add(10 * time.Minute),
	}
}

func testAccessCRUD(t *testing.T, st valet.Store) {
	ctx := t.Context()
	c, u := seed(t, st)
	full := &valet.AccessToken{}
	fill(t, full, "full")
	full.ClientID, full.Subject = c.ID, u.ID
	ok(t, "Create", st.Access.Create(ctx, full))
	got, err := st.Access.Get(ctx, full.Digest)
	ok(t, "Get", err)
	same(t, "Get", full, got)

	// Client credentials: the subject is the client, there is no grant and no
	// auth time; a nil list and an empty one each come back as they went in.
	cc := newAccess("cc", c.ID, c.ID, t0)
	cc.GrantID, cc.AuthTime, cc.Scopes, cc.Audience = "", time.Time{}, nil, []string{}
	swapped := newAccess("swapped", c.ID, u.ID, t0)
	swapped.Scopes, swapped.Audience = []string{}, nil
	for _, tok := range []*valet.AccessToken{cc, swapped} {
		ok(t, "Create "+tok.Digest, st.Access.Create(ctx, tok))
		got, err := st.Access.Get(ctx, tok.Digest)
		ok(t, "Get "+tok.Digest, err)
		same(t, "Get("+tok.Digest+")", tok, got)
	}

	dup := newAccess(full.Digest, c.ID, u.ID, t0)
	if err := st.Access.Create(ctx, dup); err != nil {
		is(t, "Create with a taken digest", err, valet.ErrExists)
	} else {
		// A store that answers before its insert (see AccessTokenStore):
		// the insert refuses the row, after which Get finds the first one.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			got, err = st.Access.Get(ctx, full.Digest)
			ok(t, "Get", err)
			if got.ID == full.ID || time.Now().After(deadline) {
				break
			}
		}
	}
	got, err = st.Access.Get(ctx, full.Digest)
	ok(t, "Get", err)
	same(t, "token after a refused Create", full, got)

	_, err = st.Access.Get(ctx, "nope")
	is(t, "Get(unknown)", err, valet.ErrNotFound)
}

func testAccessDeleteExpired(t *testing.T, st valet.Store) {
	ctx := t.Context()
	c, u := seed(t, st)
	for i, ttl := range []time.Duration{time.Minute, 2 * time.Minute, 10 * time.Minute} {
		tok := newAccess(fmt.Sprintf("at-%d", i), c.ID, u.ID, t0)
		tok.ExpiresAt = t0.Add(ttl)
		ok(t, "Create", st.Access.Create(ctx, tok))
	}
	n, err := st.Access.DeleteExpired(ctx, t0.Add(2*time.Minute))
	ok(t, "DeleteExpired", err)
	if n != 2 {
		t.Errorf("DeleteExpired = %d, want 2 (expiry is inclusive)", n)
	}
	for _, digest := range []string{"at-0", "at-1"} {
		_, err := st.Access.Get(ctx, digest)
		is(t, "Get("+digest+") after DeleteExpired", err, valet.ErrNotFound)
	}
	_, err = st.Access.Get(ctx, "at-2")
	ok(t, "Get(live token) after DeleteExpired", err)
	n, err = st.Access.DeleteExpired(ctx, t0.Add(2*time.Minute))
	ok(t, "DeleteExpired again", err)
	if n != 0 {
		t.Errorf("DeleteExpired again = %d, want 0", n)
	}
}
