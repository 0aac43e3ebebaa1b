package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// rowCount counts the access_tokens rows written to the file.
func rowCount(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.w.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM access_tokens").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestQueuedAccessFoundBeforeCommit: a queued Create returns before its
// row is written, and from then on Get finds the token, through the queued
// store and through the plain one alike; once written, Get reads the row.
func TestQueuedAccessFoundBeforeCommit(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	benchClient(t, st, "c")
	b, resume := pauseBatcher(t, db)
	q := db.QueuedAccess(nil)
	tok := benchToken("queued", "c")
	if err := q.Create(t.Context(), tok); err != nil { // the batcher is paused: no write yet
		t.Fatalf("queued Create: %v", err)
	}
	if n := rowCount(t, db); n != 0 {
		t.Fatalf("%d rows written while the batcher is paused", n)
	}
	for name, s := range map[string]valet.AccessTokenStore{"queued": q, "plain": st.Access} {
		got, err := s.Get(t.Context(), tok.Digest)
		if err != nil || !reflect.DeepEqual(got, tok) {
			t.Errorf("%s Get before the commit = %+v, %v; want %+v", name, got, err, tok)
		}
	}
	// What Get returns is a copy: changing it changes nothing queued.
	got, _ := q.Get(t.Context(), tok.Digest)
	got.Scopes[0] = "admin"
	if again, _ := q.Get(t.Context(), tok.Digest); again.Scopes[0] != "read" {
		t.Errorf("a caller's change reached the queued token: %v", again.Scopes)
	}
	if err := q.Create(t.Context(), benchToken("queued", "c")); !errors.Is(err, valet.ErrExists) {
		t.Errorf("queued Create of a queued digest = %v, want ErrExists", err)
	}

	resume()
	// A plain Create waits for its commit, so it returns after the queued
	// row, which it follows in the queue, is written.
	if err := st.Access.Create(t.Context(), benchToken("after", "c")); err != nil {
		t.Fatal(err)
	}
	if n := rowCount(t, db); n != 2 {
		t.Fatalf("%d rows written, want 2", n)
	}
	// The writer answers a row before it settles its batch; a flush is
	// answered after.
	if err := b.flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b.lookup(tok.Digest) != nil {
		t.Error("a written token is still pending")
	}
	checkStored(t, st, tok)
}

// TestQueuedAccessCloseWrites: Close writes what is queued before it
// closes the file, so a clean stop loses no token.
func TestQueuedAccessCloseWrites(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "valet.db")
	db := openOnly(t, url)
	benchClient(t, db.Store(), "c")
	db.accessQ.close()
	db.accessQ = newAccessBatcher(db) // paused: Close must write the queue itself
	q := db.QueuedAccess(nil)
	var toks []*valet.AccessToken
	for i := range 300 { // more than one batch
		tok := benchToken(fmt.Sprintf("tok-%d", i), "c")
		toks = append(toks, tok)
		if err := q.Create(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	go db.accessQ.run()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Create(t.Context(), benchToken("late", "c")); err == nil {
		t.Error("a Create after Close succeeded")
	}
	again := open(t, url)
	for _, tok := range toks {
		checkStored(t, again.Store(), tok)
	}
}

// TestQueuedAccessRefusedRow: a queued token whose row is refused on a
// constraint (its client was deleted meanwhile) is dropped, onDrop is told,
// and the tokens after it are still queued.
func TestQueuedAccessRefusedRow(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	benchClient(t, st, "c")
	dropped := make(chan error, 1)
	q := db.QueuedAccess(func(n int, err error) {
		if n != 1 {
			t.Errorf("onDrop told of %d tokens, want 1", n)
		}
		dropped <- err
	})
	if err := q.Create(t.Context(), benchToken("orphan", "gone")); err != nil {
		t.Fatalf("queued Create = %v: a queued row's error is not its caller's", err)
	}
	if err := <-dropped; !errors.Is(err, valet.ErrNotFound) {
		t.Errorf("onDrop got %v, want ErrNotFound", err)
	}
	if _, err := q.Get(t.Context(), "orphan"); !errors.Is(err, valet.ErrNotFound) {
		t.Errorf("Get of a dropped token = %v, want ErrNotFound", err)
	}
	if db.accessQ.failing.Load() {
		t.Error("a constraint on one row made the writer failing")
	}
}

// TestQueuedAccessFailingWaits: after a queued row fails for a reason that
// is not its own (here every INSERT fails, as on a full disk), Creates wait
// for their commit and return its error, so /token answers 503 instead of
// tokens that will never be found, until a row is written again.
func TestQueuedAccessFailingWaits(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	benchClient(t, st, "c")
	dropped := make(chan error, 1)
	q := db.QueuedAccess(func(n int, err error) { dropped <- err })
	mend := breakInserts(t, db)

	if err := q.Create(t.Context(), benchToken("first", "c")); err != nil {
		t.Fatalf("first queued Create = %v", err)
	}
	if err := <-dropped; err == nil || errors.Is(err, valet.ErrExists) || errors.Is(err, valet.ErrNotFound) {
		t.Fatalf("onDrop got %v, want the INSERT's failure", err)
	}
	if !db.accessQ.failing.Load() {
		t.Fatal("the writer is not failing after a failed row")
	}
	if err := q.Create(t.Context(), benchToken("second", "c")); err == nil {
		t.Fatal("a Create while the writer fails returned nil: its token would never be found")
	}

	mend()
	if err := q.Create(t.Context(), benchToken("third", "c")); err != nil {
		t.Fatalf("Create once writes succeed again = %v", err)
	}
	// The writer answers a batch's callers before it settles the batch:
	// give it a moment to record that the row was written.
	for deadline := time.Now().Add(5 * time.Second); db.accessQ.failing.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("still failing after a row was written")
		}
	}
	checkStored(t, st, benchToken("third", "c"))
	for _, d := range []string{"first", "second"} {
		if _, err := st.Access.Get(t.Context(), d); !errors.Is(err, valet.ErrNotFound) {
			t.Errorf("Get(%s) = %v, want ErrNotFound", d, err)
		}
	}
}

// TestQueuedAccessBounded: past accessQueuedMax tokens queued, a Create
// waits for its commit instead of queuing more.
func TestQueuedAccessBounded(t *testing.T) {
	db := open(t, sqliteURL(t))
	benchClient(t, db.Store(), "c")
	b, resume := pauseBatcher(t, db)
	q := db.QueuedAccess(nil)
	for i := range accessQueuedMax {
		if err := q.Create(t.Context(), benchToken(fmt.Sprintf("tok-%d", i), "c")); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- q.Create(t.Context(), benchToken("over", "c")) }()
	// The Create over the bound queues a request that waits for its answer:
	// no pending token, and it has not returned.
	for {
		b.mu.Lock()
		n := len(b.queue)
		b.mu.Unlock()
		if n == accessQueuedMax+1 {
			break
		}
		<-b.wake
	}
	select { // what was taken above, run needs
	case b.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-done:
		t.Fatalf("Create over the bound returned %v before its commit", err)
	default:
	}
	if b.lookup("over") != nil {
		t.Error("the token over the bound is pending")
	}
	resume()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := rowCount(t, db); n != accessQueuedMax+1 {
		t.Errorf("%d rows, want %d", n, accessQueuedMax+1)
	}
}

// TestQueuedAccessPostgres: PostgreSQL has no queue; every node must find a
// token the moment it is issued.
func TestQueuedAccessPostgres(t *testing.T) {
	db := open(t, freshSchema(t, postgresURL(t)))
	if q := db.QueuedAccess(nil); q != nil {
		t.Errorf("QueuedAccess on PostgreSQL = %T, want nil", q)
	}
}

// TestQueuedAccessLingerEnds: with only queued rows, the writer waits for
// more before a commit; a caller that waits for its commit, a chunk's
// worth of rows, or Close ends the wait at once. The wait here is an hour,
// so the test passes only if one of them ends it.
func TestQueuedAccessLingerEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, db *DB, q valet.AccessTokenStore)
	}{
		{"a caller waits", func(t *testing.T, db *DB, q valet.AccessTokenStore) {
			go db.Store().Access.Create(t.Context(), benchToken("waits", "c"))
		}},
		{"a chunk is queued", func(t *testing.T, db *DB, q valet.AccessTokenStore) {
			for i := range accessChunkMax - 1 {
				if err := q.Create(t.Context(), benchToken(fmt.Sprintf("more-%d", i), "c")); err != nil {
					t.Error(err)
				}
			}
		}},
		{"close", func(t *testing.T, db *DB, q valet.AccessTokenStore) {
			go db.accessQ.close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := open(t, sqliteURL(t))
			benchClient(t, db.Store(), "c")
			b, resume := pauseBatcher(t, db)
			b.lingerFor = time.Hour
			q := db.QueuedAccess(nil)
			if err := q.Create(t.Context(), benchToken("first", "c")); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { b.linger(); close(done) }()
			tc.end(t, db, q)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("linger did not end")
			}
			resume()
		})
	}
}

// TestQueuedAccessRemainderWritten: rows left over when a batch is cut at
// accessBatchMax, fewer than a chunk, with no caller waiting and nothing
// queued after them, are still written.
func TestQueuedAccessRemainderWritten(t *testing.T) {
	db := open(t, sqliteURL(t))
	benchClient(t, db.Store(), "c")
	_, resume := pauseBatcher(t, db)
	q := db.QueuedAccess(nil)
	n := accessBatchMax + accessChunkMax/2
	for i := range n {
		if err := q.Create(t.Context(), benchToken(fmt.Sprintf("tok-%d", i), "c")); err != nil {
			t.Fatal(err)
		}
	}
	resume()
	deadline := time.Now().Add(30 * time.Second)
	for rowCount(t, db) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d queued rows written after 30 s", rowCount(t, db), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestQueuedAccessDropToldOnce: in a batch that also holds a caller who
// gave up, a dropped queued token is told once, as one.
func TestQueuedAccessDropToldOnce(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	benchClient(t, st, "c")
	var calls []int
	var mu sync.Mutex
	b, resume := pauseBatcher(t, db)
	q := db.QueuedAccess(func(n int, err error) { mu.Lock(); calls = append(calls, n); mu.Unlock() })
	ctx, cancel := context.WithCancel(t.Context())
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- st.Access.Create(ctx, benchToken("gave-up", "c")) }()
	for { // its request is queued
		b.mu.Lock()
		queued := len(b.queue)
		b.mu.Unlock()
		if queued == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("Create whose context ended = %v", err)
	}
	if err := q.Create(t.Context(), benchToken("orphan", "gone")); err != nil {
		t.Fatal(err)
	}
	resume()
	// Waiting Creates after them: the second is answered in a later batch
	// than the first, so once it returns the batch of the orphan is settled.
	for _, d := range []string{"last", "later"} {
		if err := st.Access.Create(t.Context(), benchToken(d, "c")); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 || calls[0] != 1 {
		t.Errorf("onDrop calls = %v, want one, of one token", calls)
	}
}

// breakInserts makes every INSERT into access_tokens fail, other than on a
// constraint (as a full disk would), until the returned function mends it:
// a trigger whose statement names a missing table, resolved when it runs.
func breakInserts(t *testing.T, db *DB) (mend func()) {
	t.Helper()
	exec := func(stmt string) {
		t.Helper()
		if _, err := db.w.ExecContext(t.Context(), stmt); err != nil {
			t.Fatal(err)
		}
	}
	exec("CREATE TRIGGER broken AFTER INSERT ON access_tokens BEGIN INSERT INTO missing VALUES (1); END")
	return func() { exec("DROP TRIGGER broken") }
}
