package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// The tests below cover the multi-row INSERTs of the access-token batcher:
// a batch is written in chunks of up to accessChunkMax rows, one statement
// each, and a chunk that fails is written again row by row.

// writeBatch queues toks on a paused batcher, writes them as one batch and
// returns each Create's error and how many INSERTs the batch ran.
func writeBatch(t *testing.T, db *DB, toks []*valet.AccessToken) (errs []error, stmts int64) {
	t.Helper()
	b, resume := pauseBatcher(t, db)
	defer resume() // the next pauseBatcher closes b, which waits for run
	batch, wait := queue(t.Context(), db.Store(), b, toks)
	before := b.stmtsRun.Load()
	b.write(batch)
	errs = wait()
	return errs, b.stmtsRun.Load() - before
}

func countAccess(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.r.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM access_tokens").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestInsertAccessRows(t *testing.T) {
	if insertAccessRows[1] != insertAccess {
		t.Errorf("insertAccessRows[1] = %q, want insertAccess %q", insertAccessRows[1], insertAccess)
	}
	for n := 1; n <= accessChunkMax; n++ {
		if got := strings.Count(insertAccessRows[n], "?"); got != 10*n {
			t.Errorf("insertAccessRows[%d] has %d placeholders, want %d", n, got, 10*n)
		}
	}
}

// TestAccessBatchChunks writes batches of several sizes, some larger than a
// chunk: every row is stored and reads back, with one INSERT a chunk, or one
// a row past accessChunksMax chunks.
func TestAccessBatchChunks(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	benchClient(t, st, "c")
	for _, n := range []int{2, 5, accessChunkMax, accessChunkMax + 1, accessChunksMax * accessChunkMax, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var toks []*valet.AccessToken
			for i := range n {
				toks = append(toks, benchToken(fmt.Sprintf("tok-%d-%d", n, i), "c"))
			}
			errs, stmts := writeBatch(t, db, toks)
			for i, err := range errs {
				if err != nil {
					t.Errorf("Create(%s) = %v, want success", toks[i].Digest, err)
				}
			}
			for _, tok := range toks {
				checkStored(t, st, tok)
			}
			want := int64((n + accessChunkMax - 1) / accessChunkMax)
			if want > accessChunksMax {
				want = int64(n)
			}
			if stmts != want {
				t.Errorf("a batch of %d rows ran %d INSERTs, want %d", n, stmts, want)
			}
		})
	}
}

// TestAccessBatchChunkRowErrors writes a batch of several chunks, some with
// rows that fail: a token of a deleted client (ErrNotFound), a digest
// already stored, one taken by a row of an earlier chunk and one taken
// earlier in the same chunk (ErrExists). Each bad row gets its own error,
// mapped as a lone Create maps it, and every other row is stored.
func TestAccessBatchChunkRowErrors(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	benchClient(t, st, "c")
	benchClient(t, st, "gone")
	old := benchToken("old", "c")
	if err := st.Access.Create(t.Context(), old); err != nil {
		t.Fatal(err)
	}

	const n = 96 // chunks of rows 0-31, 32-63, 64-95
	var toks []*valet.AccessToken
	for i := range n {
		toks = append(toks, benchToken(fmt.Sprintf("tok-%d", i), "c"))
	}
	want := make([]error, n)
	toks[5] = benchToken("orphan", "gone")
	want[5] = valet.ErrNotFound
	toks[20] = benchToken("old", "c")
	want[20] = valet.ErrExists
	toks[70] = benchToken(toks[40].Digest, "c") // row 40's chunk has no error
	toks[70].ID = "other"
	want[70] = valet.ErrExists
	toks[90] = benchToken(toks[85].Digest, "c")
	toks[90].ID = "other"
	want[90] = valet.ErrExists

	b, _ := pauseBatcher(t, db)
	batch, wait := queue(t.Context(), st, b, toks)
	// Straight in the table: Clients.Delete would wait for the paused
	// batcher to write the client's rows first (forget).
	if _, err := db.exec(t.Context(), db.ws, `DELETE FROM clients WHERE id = 'gone'`); err != nil {
		t.Fatal(err)
	}
	before := b.stmtsRun.Load()
	b.write(batch)
	errs := wait()
	stmts := b.stmtsRun.Load() - before

	for i, tok := range toks {
		switch err := errs[i]; {
		case want[i] == nil && err != nil:
			t.Errorf("Create %d (%s) = %v, want success", i, tok.Digest, err)
		case want[i] == nil:
			checkStored(t, st, tok)
		case !errors.Is(err, want[i]):
			t.Errorf("Create %d (%s) = %v, want %v", i, tok.Digest, err, want[i])
		case !strings.HasPrefix(err.Error(), opCreateAccess+": "):
			t.Errorf("Create %d (%s) = %q, want it to name the operation as a lone Create does", i, tok.Digest, err)
		}
	}
	if _, err := st.Access.Get(t.Context(), "orphan"); !errors.Is(err, valet.ErrNotFound) {
		t.Errorf("Get(orphan) = %v, want ErrNotFound", err)
	}
	checkStored(t, st, old)      // not overwritten by the duplicate
	checkStored(t, st, toks[40]) // the first of its digest kept
	checkStored(t, st, toks[85])
	if got, want := countAccess(t, db), 1+n-4; got != want {
		t.Errorf("%d access tokens stored, want %d", got, want)
	}
	// The clean chunk went in as one INSERT, the two others failed and were
	// written again row by row: 3 + 32 + 32.
	if stmts != 67 {
		t.Errorf("the batch ran %d INSERTs, want 67", stmts)
	}
}

// TestAccessBatchChunkOtherError gives a row of the second chunk an error
// that is not a constraint violation: that row fails alone, the first chunk
// is stored as one INSERT, and every other row is stored too.
func TestAccessBatchChunkOtherError(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	benchClient(t, st, "c")
	b, _ := pauseBatcher(t, db)

	const n, bad = accessChunksMax * accessChunkMax, 40
	var toks []*valet.AccessToken
	for i := range n {
		toks = append(toks, benchToken(fmt.Sprintf("tok-%d", i), "c"))
	}
	batch, wait := queue(t.Context(), st, b, toks)
	batch[bad].args[1] = unconvertible{}
	before := b.stmtsRun.Load()
	b.write(batch)
	errs := wait()
	stmts := b.stmtsRun.Load() - before

	for i, err := range errs {
		switch {
		case i == bad && (err == nil || errors.Is(err, valet.ErrExists) || errors.Is(err, valet.ErrNotFound)):
			t.Errorf("Create(%s) = %v, want a conversion error", toks[i].Digest, err)
		case i != bad && err != nil:
			t.Errorf("Create(%s) = %v, want success", toks[i].Digest, err)
		case i != bad:
			checkStored(t, st, toks[i])
		}
	}
	if got := countAccess(t, db); got != n-1 {
		t.Errorf("%d access tokens stored, want %d", got, n-1)
	}
	// The first chunk in one INSERT; the second failed, and its rows and
	// all after it went in one by one: up to the bad row, then again all
	// the others, as its failure may have rolled them back.
	if want := int64(1 + 1 + (bad - accessChunkMax + 1) + (n - accessChunkMax - 1)); stmts != want {
		t.Errorf("the batch ran %d INSERTs, want %d", stmts, want)
	}
}

// TestAccessBatchStmtCache writes batches of every size up to past a
// chunk, twice: the write connection's cache holds one INSERT per chunk
// size, reused, and stays within its bound.
func TestAccessBatchStmtCache(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	benchClient(t, st, "c")
	cachedInserts := func() (n int) {
		db.ws.stmts.Range(func(q, _ any) bool {
			if strings.HasPrefix(q.(string), "INSERT INTO access_tokens ") {
				n++
			}
			return true
		})
		return n
	}
	var counts []int
	for pass := range 2 {
		for size := 1; size <= 2*accessChunkMax+3; size++ {
			var toks []*valet.AccessToken
			for i := range size {
				toks = append(toks, benchToken(fmt.Sprintf("tok-%d-%d-%d", pass, size, i), "c"))
			}
			errs, _ := writeBatch(t, db, toks)
			for i, err := range errs {
				if err != nil {
					t.Fatalf("batch of %d: Create %d = %v", size, i, err)
				}
			}
		}
		counts = append(counts, cachedInserts())
	}
	if counts[0] != accessChunkMax || counts[1] != accessChunkMax {
		t.Errorf("the write cache holds %v access-token INSERTs after each pass, want %d: one for each of 1 to %d rows", counts, accessChunkMax, accessChunkMax)
	}
	if n := db.ws.n.Load(); n > maxCachedStmts {
		t.Errorf("write cache holds %d statements, more than its bound %d", n, maxCachedStmts)
	}
}

// BenchmarkAccessWriteBatch writes batches of a fixed size through the
// batcher's write, as run does: in chunks ("multi"), without the
// foreign-key check ("multi-nofk", to measure it; the schema needs it), and
// one INSERT a row in one transaction ("rows", the former path). ns/op is
// per row.
func BenchmarkAccessWriteBatch(b *testing.B) {
	for _, size := range []int{5, 32, 96, 256} {
		for _, mode := range []struct {
			name string
			rows int
			nofk bool
		}{{"rows", 1, false}, {"multi", 0, false}, {"multi-nofk", 0, true}} {
			b.Run(fmt.Sprintf("%d/%s", size, mode.name), func(b *testing.B) {
				db := openTB(b, "sqlite://"+b.TempDir()+"/valet.db")
				benchClient(b, db.Store(), "bench")
				if mode.nofk {
					// The write pool's one connection keeps the setting.
					if _, err := db.w.ExecContext(context.Background(), "PRAGMA foreign_keys = OFF"); err != nil {
						b.Fatal(err)
					}
				}
				q := db.accessQ // idle: nothing else calls Create
				q.chunkRows = mode.rows
				run := time.Now().UnixNano()
				reqs := make([]*accessReq, size)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i += size {
					for j := range reqs {
						tok := benchToken(benchDigest("w-%d-%d", run, i+j), "bench")
						reqs[j] = &accessReq{ctx: context.Background(), args: accessArgs(tok), res: make(chan error, 1)}
					}
					q.write(reqs)
					for _, r := range reqs {
						if err := <-r.res; err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}

// BenchmarkAccessCreateChunks is BenchmarkAccessCreate on SQLite, with the
// batches written in chunks ("multi") or one INSERT a row ("rows").
func BenchmarkAccessCreateChunks(b *testing.B) {
	for _, mode := range []struct {
		name string
		rows int
	}{{"rows", 1}, {"multi", 0}} {
		b.Run(mode.name, func(b *testing.B) {
			db := openTB(b, "sqlite://"+b.TempDir()+"/valet.db")
			st := db.Store()
			benchClient(b, st, "bench")
			db.accessQ.chunkRows = mode.rows // before any Create: run reads it
			var next atomic.Int64
			run := time.Now().UnixNano()
			parallel(b, func(pb *testing.PB) {
				for pb.Next() {
					t := benchToken(benchDigest("new-%d-%d", run, next.Add(1)), "bench")
					if err := st.Access.Create(context.Background(), t); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(db.accessQ.stmtsRun.Load())/float64(b.N), "inserts/op")
		})
	}
}
