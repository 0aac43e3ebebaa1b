package sqlstore

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// hostile values must be stored as data, never read as SQL.
var hostile = []string{
	"'; DROP TABLE clients; --",
	"Robert'); DROP TABLE users;--",
	`" OR "1"="1`,
	"? $1 $2 %s %v \\ \\\\ ' '' \" `",
	"NUL\x00byte",
	"ünïcødé ☃ 🙂 中文 עברית \u202eevil",
	strings.Repeat("long ", 2000),
}

func TestHostileValues(t *testing.T) {
	backends(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		st := db.Store()
		at := time.Date(2031, 1, 2, 3, 4, 5, 6000, time.UTC)
		stored := 0
		for i, v := range hostile {
			c := &valet.Client{ID: v, SecretDigest: v, Name: v, RedirectURIs: []string{v}, GrantTypes: []string{v},
				ResponseTypes: []string{}, Scopes: []string{v, v}, TokenEndpointAuthMethod: v, ClientURI: v, CreatedAt: at}
			u := &valet.User{ID: v, Username: v, Email: v, Name: v, PasswordHash: v, CreatedAt: at}
			errC, errU := st.Clients.Create(ctx, c), st.Users.Create(ctx, u)
			if db.Dialect() == dialectPostgres && strings.ContainsRune(v, 0) {
				// PostgreSQL's text cannot hold NUL: refused, never truncated.
				for _, err := range []error{errC, errU} {
					if err == nil || errors.Is(err, valet.ErrExists) || errors.Is(err, valet.ErrNotFound) {
						t.Errorf("Create with NUL in a text column: err = %v, want an unexpected error", err)
					}
				}
				// The JSON metadata column escapes NUL, so it round-trips there.
				c.ID, c.SecretDigest = fmt.Sprintf("nul-%d", i), "digest"
				errC = st.Clients.Create(ctx, c)
				u = nil
			}
			if errC != nil {
				t.Fatalf("Create client %q: %v", v, errC)
			}
			stored++
			got, err := st.Clients.Get(ctx, c.ID)
			if err != nil {
				t.Fatalf("Get client %q: %v", c.ID, err)
			}
			if !reflect.DeepEqual(got, c) {
				t.Errorf("client %q came back as\n%+v\nwant\n%+v", v, got, c)
			}
			if u == nil {
				continue
			}
			if errU != nil {
				t.Fatalf("Create user %q: %v", v, errU)
			}
			gotU, err := st.Users.GetByUsername(ctx, v)
			if err != nil {
				t.Fatalf("GetByUsername %q: %v", v, err)
			}
			if !reflect.DeepEqual(gotU, u) {
				t.Errorf("user %q came back as\n%+v\nwant\n%+v", v, gotU, u)
			}
			ok, err := st.Revocations.AnyRevoked(ctx, v, "x", v)
			if err != nil || ok {
				t.Errorf("AnyRevoked(%q) = %v, %v; want false", v, ok, err)
			}
		}
		list, err := st.Clients.List(ctx)
		if err != nil {
			t.Fatalf("List clients: %v", err)
		}
		if len(list) != stored {
			t.Errorf("List returned %d clients, want %d", len(list), stored)
		}
	})
}

// TestSQLiteTwoProcesses opens one file twice in this process, the nearest
// to two processes that unix-excl still allows (a second process is
// refused: TestSQLiteOneProcess): each DB's writer then waits on the other
// through busy_timeout, and the single-use gates still hold.
func TestSQLiteTwoProcesses(t *testing.T) {
	u := sqliteURL(t)
	a, b := open(t, u).Store(), open(t, u).Store()
	ctx := t.Context()
	now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.Clients.Create(ctx, &valet.Client{ID: "c", CreatedAt: now}))
	must(a.Users.Create(ctx, &valet.User{ID: "u", Username: "u", CreatedAt: now}))
	must(a.Codes.Create(ctx, &valet.AuthCode{Digest: "code", ClientID: "c", UserID: "u", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(a.Refresh.Create(ctx, &valet.RefreshToken{Digest: "old", ClientID: "c", UserID: "u", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))

	const n, updates = 50, 8
	var (
		wg              sync.WaitGroup
		mu              sync.Mutex
		firsts, rotated int
		keys, rotations int
		errs            []error
	)
	start := make(chan struct{})
	for i := range n {
		st := a
		if i%2 == 1 {
			st = b
		}
		wg.Go(func() {
			<-start
			_, first, err1 := st.Codes.Consume(ctx, "code", now)
			ok, err2 := st.Refresh.Rotate(ctx, "old", &valet.RefreshToken{
				Digest: fmt.Sprintf("next-%d", i), ClientID: "c", UserID: "u", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
			// These two read before they write, in one transaction: the
			// case where a deferred SQLite transaction fails with SQLITE_BUSY.
			inserted, err3 := st.Keys.CreateFirst(ctx, &valet.SigningKey{
				ID: fmt.Sprintf("k%d", i), Algorithm: "ES256", Sealed: []byte{1}, Public: []byte{2}, CreatedAt: now})
			// Rotate reads, retires and inserts: only the first of them
			// sees CreateFirst's key as older than now+1µs.
			rotatedKey, err5 := st.Keys.Rotate(ctx, &valet.SigningKey{
				ID: fmt.Sprintf("r%d", i), Algorithm: "ES256", Sealed: []byte{1}, Public: []byte{2},
				CreatedAt: now.Add(time.Hour), NotBefore: now.Add(time.Hour)}, now.Add(48*time.Hour), now.Add(time.Microsecond))
			var err4 error
			for j := 0; j < updates && err4 == nil; j++ {
				err4 = st.Clients.Update(ctx, "c", func(c *valet.Client) error {
					c.Scopes = append(c.Scopes, fmt.Sprint(i, j))
					return nil
				})
			}
			mu.Lock()
			defer mu.Unlock()
			if first {
				firsts++
			}
			if ok {
				rotated++
			}
			if inserted {
				keys++
			}
			if rotatedKey {
				rotations++
			}
			for _, err := range []error{err1, err2, err3, err4, err5} {
				if err != nil {
					errs = append(errs, err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d errors, the first: %v", len(errs), errs[0])
	}
	if firsts != 1 || rotated != 1 || keys != 1 || rotations != 1 {
		t.Errorf("across two processes: %d first consumptions, %d refresh rotations, %d first keys and %d key rotations, want 1 of each",
			firsts, rotated, keys, rotations)
	}
	c, err := b.Clients.Get(ctx, "c")
	must(err)
	if len(c.Scopes) != n*updates {
		t.Errorf("after %d Updates across two processes the client has %d scopes, want %d", n*updates, len(c.Scopes), n*updates)
	}
}
