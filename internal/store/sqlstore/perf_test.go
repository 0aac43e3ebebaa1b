package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/valetauth/valet"
)

// The tests below cover the two SQLite fast paths: the prepared-statement
// cache and the group commit of access.Create. None of them times anything:
// a batch is formed by receiving the queued requests in the test itself.

// pauseBatcher replaces db's batcher with one whose goroutine has not
// started, so that the test can take the queued requests itself and write
// them as one batch. resume starts its goroutine, which Close needs.
func pauseBatcher(t *testing.T, db *DB) (b *accessBatcher, resume func()) {
	t.Helper()
	db.accessQ.close()
	b = newAccessBatcher(db)
	db.accessQ = b
	var once sync.Once
	resume = func() { once.Do(func() { go b.run() }) }
	t.Cleanup(resume)
	return b, resume
}

// createAll starts a Create for each token and returns a function that
// waits for all of them and returns their errors, in order.
func createAll(ctx context.Context, st valet.Store, toks []*valet.AccessToken) (wait func() []error) {
	errs := make([]error, len(toks))
	var wg sync.WaitGroup
	for i, tok := range toks {
		wg.Go(func() { errs[i] = st.Access.Create(ctx, tok) })
	}
	return func() []error { wg.Wait(); return errs }
}

// queue starts a Create for each token in turn and takes its request off
// the paused batcher b, as run would, so that the batch holds them in order.
func queue(ctx context.Context, st valet.Store, b *accessBatcher, toks []*valet.AccessToken) (batch []*accessReq, wait func() []error) {
	var waits []func() []error
	for _, tok := range toks {
		waits = append(waits, createAll(ctx, st, []*valet.AccessToken{tok}))
		batch = append(batch, takeOne(b))
	}
	return batch, func() []error {
		var errs []error
		for _, w := range waits {
			errs = append(errs, w()...)
		}
		return errs
	}
}

// takeOne waits for a request to be queued on the paused batcher b and
// takes it off the queue, as run would.
func takeOne(b *accessBatcher) *accessReq {
	for {
		b.mu.Lock()
		if len(b.queue) > 0 {
			r := b.queue[0]
			b.queue = b.queue[1:]
			b.mu.Unlock()
			return r
		}
		b.mu.Unlock()
		<-b.wake
	}
}

func checkStored(t *testing.T, st valet.Store, tok *valet.AccessToken) {
	t.Helper()
	got, err := st.Access.Get(t.Context(), tok.Digest)
	if err != nil {
		t.Errorf("Get(%s) after its Create succeeded: %v", tok.Digest, err)
		return
	}
	if !reflect.DeepEqual(got, tok) {
		t.Errorf("Get(%s) = %+v, want %+v", tok.Digest, got, tok)
	}
}

// TestAccessCreateConcurrent runs many Creates at once through the real
// batcher: every one is stored and reads back as written.
func TestAccessCreateConcurrent(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	benchClient(t, st, "c")
	var toks []*valet.AccessToken
	for i := range 400 {
		toks = append(toks, benchToken(fmt.Sprintf("tok-%d", i), "c"))
	}
	for i, err := range createAll(t.Context(), st, toks)() {
		if err != nil {
			t.Errorf("Create %d: %v", i, err)
		}
	}
	for _, tok := range toks {
		checkStored(t, st, tok)
	}
}

// TestAccessBatchRowErrors writes one batch in which some rows fail: a
// token of a deleted client (ErrNotFound), a digest already stored and one
// taken earlier in the same batch (ErrExists). Each failure goes to its own
// caller, mapped as a lone Create maps it, and the other rows commit: in
// SQLite a failed INSERT is undone alone, not the transaction.
func TestAccessBatchRowErrors(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	benchClient(t, st, "c")
	benchClient(t, st, "gone")
	old := benchToken("old", "c")
	if err := st.Access.Create(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	b, _ := pauseBatcher(t, db)

	toks := []*valet.AccessToken{
		benchToken("a", "c"),
		benchToken("orphan", "gone"),
		benchToken("b", "c"),
		benchToken("old", "c"), // stored before the batch
		benchToken("c", "c"),
		benchToken("a", "c"), // taken by the first row of this batch
		benchToken("d", "c"),
	}
	want := []error{nil, valet.ErrNotFound, nil, valet.ErrExists, nil, valet.ErrExists, nil}
	toks[5].ID = "other"
	batch, wait := queue(t.Context(), st, b, toks)
	// Straight in the table: Clients.Delete would wait for the paused
	// batcher to write the client's rows first (forget).
	if _, err := db.exec(t.Context(), db.ws, `DELETE FROM clients WHERE id = 'gone'`); err != nil {
		t.Fatal(err)
	}
	b.write(batch)
	errs := wait()

	for i, tok := range toks {
		switch err := errs[i]; {
		case want[i] == nil && err != nil:
			t.Errorf("Create(%s) = %v, want success", tok.Digest, err)
		case want[i] == nil:
			checkStored(t, st, tok)
		case !errors.Is(err, want[i]):
			t.Errorf("Create(%s) = %v, want %v", tok.Digest, err, want[i])
		case !strings.HasPrefix(err.Error(), opCreateAccess+": "):
			t.Errorf("Create(%s) = %q, want it to name the operation as a lone Create does", tok.Digest, err)
		}
	}
	if _, err := st.Access.Get(t.Context(), "orphan"); !errors.Is(err, valet.ErrNotFound) {
		t.Errorf("Get(orphan) = %v, want ErrNotFound", err)
	}
	checkStored(t, st, old)     // not overwritten by the duplicate
	checkStored(t, st, toks[0]) // the first "a" kept, with its client
	var n int
	if err := db.r.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM access_tokens").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("%d access tokens stored, want 5: old, a, b, c, d", n)
	}
}

// unconvertible is an argument database/sql refuses to send, for an error of
// one row that is not a constraint violation.
type unconvertible struct{}

// TestAccessBatchOtherError gives one row of a batch an error that is not a
// constraint violation, after which SQLite may have rolled the transaction
// back: that row fails alone and the others are written again and stored.
func TestAccessBatchOtherError(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	benchClient(t, st, "c")
	b, _ := pauseBatcher(t, db)

	toks := []*valet.AccessToken{benchToken("a", "c"), benchToken("bad", "c"), benchToken("b", "c"), benchToken("a", "c")}
	toks[3].ID = "other"
	batch, wait := queue(t.Context(), st, b, toks)
	for _, r := range batch {
		if r.args[0] == "bad" {
			r.args[1] = unconvertible{}
		}
	}
	b.write(batch)
	errs := wait()

	if err := errs[1]; err == nil || errors.Is(err, valet.ErrExists) || errors.Is(err, valet.ErrNotFound) {
		t.Errorf("Create(bad) = %v, want a conversion error", err)
	}
	for _, i := range []int{0, 2} {
		if errs[i] != nil {
			t.Errorf("Create(%s) = %v, want success", toks[i].Digest, errs[i])
		}
	}
	// Rolled back with the bad row, then written again: still a duplicate.
	if !errors.Is(errs[3], valet.ErrExists) {
		t.Errorf("second Create(a) = %v, want ErrExists", errs[3])
	}
	checkStored(t, st, toks[0])
	checkStored(t, st, toks[2])
	if _, err := st.Access.Get(t.Context(), "bad"); !errors.Is(err, valet.ErrNotFound) {
		t.Errorf("Get(bad) = %v, want ErrNotFound", err)
	}
}

// TestAccessCreateCancelled: a caller whose context ends returns its error;
// a row whose caller gave up before its batch was written is skipped.
func TestAccessCreateCancelled(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	benchClient(t, st, "c")

	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := st.Access.Create(ctx, benchToken("early", "c")); !errors.Is(err, context.Canceled) {
			t.Errorf("Create with an ended context = %v, want context.Canceled", err)
		}
		if _, err := st.Access.Get(t.Context(), "early"); !errors.Is(err, valet.ErrNotFound) {
			t.Errorf("Get(early) = %v, want ErrNotFound", err)
		}
	})

	t.Run("waiting", func(t *testing.T) {
		// The writer is busy, so the Create waits until its context ends.
		conn, err := db.w.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- st.Access.Create(ctx, benchToken("waiting", "c")) }()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Create whose context ended while it waited = %v, want context.Canceled", err)
		}
		conn.Close()
		// The writer is free again and Create works.
		if err := st.Access.Create(t.Context(), benchToken("after", "c")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("queued", func(t *testing.T) {
		b, resume := pauseBatcher(t, db)
		ctx, cancel := context.WithCancel(t.Context())
		toks := []*valet.AccessToken{benchToken("q1", "c"), benchToken("q2", "c")}
		batch1, wait1 := queue(ctx, st, b, toks[:1])
		batch2, wait2 := queue(t.Context(), st, b, toks[1:])
		cancel()
		b.write(append(batch1, batch2...))
		if err := wait1()[0]; !errors.Is(err, context.Canceled) {
			t.Errorf("Create(q1), cancelled while queued = %v, want context.Canceled", err)
		}
		if err := wait2()[0]; err != nil {
			t.Errorf("Create(q2) = %v", err)
		}
		if _, err := st.Access.Get(t.Context(), "q1"); !errors.Is(err, valet.ErrNotFound) {
			t.Errorf("Get(q1) = %v, want ErrNotFound: its caller gave up before the batch was written", err)
		}
		checkStored(t, st, toks[1])
		resume()
	})
}

// TestAccessCloseWithWaiters closes the database while Creates wait on the
// busy writer: Close returns, every Create returns, and each that reported
// success is in the file.
func TestAccessCloseWithWaiters(t *testing.T) {
	url := sqliteURL(t)
	db := openOnly(t, url)
	st := db.Store()
	benchClient(t, st, "c")
	conn, err := db.w.Conn(t.Context()) // the writer is busy
	if err != nil {
		t.Fatal(err)
	}
	var toks []*valet.AccessToken
	for i := range 50 {
		toks = append(toks, benchToken(fmt.Sprintf("tok-%d", i), "c"))
	}
	wait := createAll(t.Context(), st, toks)
	closed := make(chan error)
	go func() { closed <- db.Close() }()
	conn.Close()
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	errs := wait()
	if err := st.Access.Create(t.Context(), benchToken("late", "c")); err == nil {
		t.Error("Create after Close succeeded")
	}

	db = open(t, url)
	st = db.Store()
	stored := 0
	for i, tok := range toks {
		if errs[i] != nil {
			if !strings.Contains(errs[i].Error(), "closed") {
				t.Errorf("Create(%s) = %v, want success or a closed database", tok.Digest, errs[i])
			}
			continue
		}
		stored++
		checkStored(t, st, tok)
	}
	t.Logf("%d of %d Creates stored before Close", stored, len(toks))
}

// TestStmtCache checks that the hot queries are prepared once per pool and
// that the statements keep working when the read pool replaces its
// connections.
func TestStmtCache(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	ctx := t.Context()
	benchClient(t, st, "c")
	tok := benchToken("tok", "c")
	if err := st.Access.Create(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := db.accessQ.flush(ctx); err != nil { // Get reads the table, not the journaled row
		t.Fatal(err)
	}
	use := func() {
		t.Helper()
		if _, err := st.Clients.Get(ctx, "c"); err != nil {
			t.Fatal(err)
		}
		checkStored(t, st, tok)
		if _, err := st.Refresh.Get(ctx, "no-such-digest"); !errors.Is(err, valet.ErrNotFound) {
			t.Fatalf("Refresh.Get = %v, want ErrNotFound", err)
		}
	}
	use()
	snapshot := func(c *stmtCache) map[string]*sql.Stmt {
		m := map[string]*sql.Stmt{}
		c.stmts.Range(func(q, s any) bool { m[q.(string)] = s.(*sql.Stmt); return true })
		return m
	}
	before := snapshot(db.rs)
	// The three reads of use, and the journaled Create's look-up of its client.
	if len(before) != 4 || int(db.rs.n.Load()) != 4 {
		t.Fatalf("read cache holds %d statements (count %d), want 4: %v", len(before), db.rs.n.Load(), before)
	}
	if len(snapshot(db.ws)) == 0 {
		t.Error("the write cache is empty after Creates")
	}

	// Churn the read pool: every connection is closed after use, while
	// goroutines query at once, so the statements are prepared again on new
	// connections.
	db.r.SetMaxIdleConns(0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := st.Clients.Get(ctx, "c"); err != nil {
					t.Error(err)
					return
				}
				if _, err := st.Access.Get(ctx, "tok"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if closed := db.r.Stats().MaxIdleClosed; closed == 0 {
		t.Error("no reader connection was closed; the test did not churn the pool")
	}
	db.r.SetMaxIdleConns(4)
	use()
	after := snapshot(db.rs)
	if len(after) != len(before) {
		t.Errorf("the read cache holds %d statements, then %d; want the same ones reused", len(before), len(after))
	}
	for q, st := range before {
		if after[q] != st {
			t.Errorf("the statement of %q was replaced; want it reused", q)
		}
	}
}

// TestStmtCacheBound queries with more distinct texts than the cache holds:
// every answer is right and the cache stops growing at its bound.
func TestStmtCacheBound(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	if err := st.Revocations.Add(t.Context(), "r", benchNow); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range maxCachedStmts + 10 {
		ids = append(ids, fmt.Sprintf("id-%d", i))
		revoked, err := st.Revocations.AnyRevoked(t.Context(), append(ids, "r")...)
		if err != nil || !revoked {
			t.Fatalf("AnyRevoked of %d ids = %v, %v; want true", len(ids)+1, revoked, err)
		}
	}
	if n := db.rs.n.Load(); n > maxCachedStmts {
		t.Errorf("read cache holds %d statements, more than its bound %d", n, maxCachedStmts)
	}
}

// TestStmtCacheClose: Close closes every cached statement, and a query after
// Close fails instead of reopening anything.
func TestStmtCacheClose(t *testing.T) {
	db := openOnly(t, sqliteURL(t))
	st := db.Store()
	benchClient(t, st, "c")
	if _, err := st.Clients.Get(t.Context(), "c"); err != nil {
		t.Fatal(err)
	}
	var stmts []*sql.Stmt
	for _, c := range []*stmtCache{db.rs, db.ws} {
		c.stmts.Range(func(_, s any) bool { stmts = append(stmts, s.(*sql.Stmt)); return true })
	}
	if len(stmts) < 2 {
		t.Fatalf("%d cached statements, want the client's SELECT and INSERT at least", len(stmts))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		var x any
		if err := s.QueryRowContext(t.Context(), "c").Scan(&x); err == nil || !strings.Contains(err.Error(), "statement is closed") {
			t.Errorf("a cached statement after Close: %v, want it closed", err)
		}
	}
	if n := db.rs.n.Load() + db.ws.n.Load(); n != 0 {
		t.Errorf("%d statements still cached after Close", n)
	}
	if _, err := st.Clients.Get(t.Context(), "c"); err == nil {
		t.Error("Get after Close succeeded")
	}
}
