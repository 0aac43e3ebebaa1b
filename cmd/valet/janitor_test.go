package main

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/store/sqlstore"
)

// TestJanitorCoversEveryTable: every store with a DeleteExpired is swept,
// so no table grows without bound (access_tokens once was not).
func TestJanitorCoversEveryTable(t *testing.T) {
	want := 0
	st := reflect.TypeFor[valet.Store]()
	for i := range st.NumField() {
		if f := st.Field(i); f.Type.Kind() == reflect.Interface {
			if _, ok := f.Type.MethodByName("DeleteExpired"); ok {
				want++
			}
		}
	}
	if got := len(expirers(testStore(t))); got != want || want == 0 {
		t.Fatalf("the janitor sweeps %d tables; the store has %d with DeleteExpired", got, want)
	}
}

// TestJanitorDeletesExpiredAccessTokens runs the janitor on a real store.
func TestJanitorDeletesExpiredAccessTokens(t *testing.T) {
	ctx := context.Background()
	st := testStore(t)
	now := time.Now()
	if err := st.Clients.Create(ctx, &valet.Client{ID: "c", TokenEndpointAuthMethod: valet.AuthSecretBasic, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []*valet.AccessToken{
		{Digest: "expired", ID: "t1", ClientID: "c", Subject: "c", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)},
		{Digest: "live", ID: "t2", ClientID: "c", Subject: "c", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
	} {
		if err := st.Access.Create(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	jctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { janitor(jctx, st, slog.New(slog.DiscardHandler), 10*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := st.Access.Get(ctx, "expired")
		if errors.Is(err, valet.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the janitor never deleted the expired access token (last: %v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := st.Access.Get(ctx, "live"); err != nil {
		t.Fatalf("the janitor deleted a live access token: %v", err)
	}
}

// testStore is a migrated SQLite store in a temporary directory.
func testStore(t *testing.T) valet.Store {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "valet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db.Store()
}
