package sqlstore

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestDenyMirrorServesFromMemory: once loaded, the deny-list is answered
// without reading the database, and this process's Adds show at once.
func TestDenyMirrorServesFromMemory(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	ctx := t.Context()
	if db.deny == nil {
		t.Fatal("a SQLite database has no deny-list copy")
	}
	if err := st.Revocations.Add(ctx, "jti-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if revoked, err := st.Revocations.AnyRevoked(ctx, "jti-1"); err != nil || !revoked {
		t.Fatalf("AnyRevoked(jti-1) = %v, %v before the readers closed", revoked, err)
	}
	// With the readers gone, only the copy can answer.
	if err := db.r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Revocations.Add(ctx, "fam-2", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for ids, want := range map[string]bool{"jti-1": true, "fam-2": true, "other": false} {
		if revoked, err := st.Revocations.AnyRevoked(ctx, "x", ids); err != nil || revoked != want {
			t.Errorf("AnyRevoked(x, %s) = %v, %v; want %v from memory", ids, revoked, err, want)
		}
	}
}

// TestDenyMirrorSeesAnotherProcess: a revocation written to the same file
// by another DB of this process (no other process may open it) reaches this one's copy through the
// periodic summary check.
func TestDenyMirrorSeesAnotherProcess(t *testing.T) {
	url := sqliteURL(t)
	a, b := open(t, url), open(t, url)
	ctx := t.Context()
	if revoked, err := a.Store().Revocations.AnyRevoked(ctx, "jti-b"); err != nil || revoked {
		t.Fatalf("before: %v, %v", revoked, err)
	}
	if err := b.Store().Revocations.Add(ctx, "jti-b", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The refresh runs every second; allow for a slow machine.
	deadline := time.Now().Add(15 * time.Second)
	for {
		revoked, err := a.Store().Revocations.AnyRevoked(ctx, "jti-b")
		if err != nil {
			t.Fatal(err)
		}
		if revoked {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("another process's revocation never reached this process's copy")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDenyMirrorConcurrent: Adds, lookups, deletions and refreshes at once
// (run with -race); every Add is seen once it returns.
func TestDenyMirrorConcurrent(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 40 {
				id := fmt.Sprintf("id-%d-%d", w, i)
				if err := st.Revocations.Add(ctx, id, time.Now().Add(time.Hour)); err != nil {
					t.Error(err)
					return
				}
				if revoked, err := st.Revocations.AnyRevoked(ctx, "nope", id); err != nil || !revoked {
					t.Errorf("AnyRevoked(%s) right after Add = %v, %v", id, revoked, err)
					return
				}
				if i%10 == 0 {
					if _, err := st.Revocations.DeleteExpired(ctx, time.Now().Add(-time.Hour)); err != nil {
						t.Error(err)
					}
					if err := db.deny.refresh(ctx); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
}
