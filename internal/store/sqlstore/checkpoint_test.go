package sqlstore

import (
	"fmt"
	"testing"

	"github.com/valetauth/valet"
)

// TestCheckpointer: the writer leaves the WAL to the checkpointer (its own
// checkpoint is only a backstop at walBackstopPages), and the
// checkpointer's PASSIVE checkpoint, on its query-only connection, copies
// every frame into the database.
func TestCheckpointer(t *testing.T) {
	db := open(t, sqliteURL(t))
	var pages int
	if err := db.w.QueryRowContext(t.Context(), "PRAGMA wal_autocheckpoint").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if pages != walBackstopPages {
		t.Fatalf("writer's wal_autocheckpoint = %d, want the backstop %d", pages, walBackstopPages)
	}
	if db.ckpt == nil {
		t.Fatal("a SQLite database has no checkpointer")
	}
	st := db.Store()
	benchClient(t, st, "c")
	toks := make([]*valet.AccessToken, 300)
	for i := range toks {
		toks[i] = benchToken(fmt.Sprintf("tok-%d", i), "c")
	}
	for i, err := range createAll(t.Context(), st, toks)() {
		if err != nil {
			t.Fatalf("Create %d: %v", i, err)
		}
	}
	frames, done, err := db.ckpt.checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if frames == 0 || done != frames {
		t.Fatalf("after 300 inserts the checkpoint copied %d of %d WAL frames, want all of them (and some)", done, frames)
	}
	for _, tok := range toks[:10] {
		checkStored(t, st, tok)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
