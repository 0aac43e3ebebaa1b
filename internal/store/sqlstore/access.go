package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/valetauth/valet"
)

// access is the valet.AccessTokenStore.
type access struct{ db *DB }

const accessColumns = "digest, id, grant_id, client_id, subject, scopes, audience, auth_time, created_at, expires_at"

const insertAccess = `INSERT INTO access_tokens (` + accessColumns + `) VALUES ` + accessRow

const accessRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// accessChunkMax is the most rows one INSERT of the accessBatcher carries;
// a larger batch is written in several. 32 rows are 320 host parameters,
// far below SQLite's limit of 32766, and the INSERTs of 2 to 32 rows, each
// prepared when a batch of its size first comes, are 31 statements of the
// write connection's stmtCache.
const accessChunkMax = 32

// accessChunksMax bounds the chunks of a batch. A larger batch, met only
// when the writer has fallen well behind, is written as before, one INSERT a
// row in one transaction: one commit then cost less than a commit a chunk
// (from about 100 rows on; 30% less at 256).
const accessChunksMax = 3

// insertAccessRows[n] inserts n access tokens; insertAccessRows[1] is
// insertAccess.
var insertAccessRows = func() (q [accessChunkMax + 1]string) {
	for n := 1; n <= accessChunkMax; n++ {
		q[n] = `INSERT INTO access_tokens (` + accessColumns + `) VALUES ` + strings.Repeat(accessRow+", ", n-1) + accessRow
	}
	return q
}()

const opCreateAccess = "create access token"

func accessArgs(t *valet.AccessToken) []any {
	return []any{t.Digest, t.ID, t.GrantID, t.ClientID, t.Subject, list(t.Scopes), list(t.Audience),
		micros(t.AuthTime), micros(t.CreatedAt), micros(t.ExpiresAt)}
}

// Create inserts the token. On SQLite, concurrent calls share one write
// transaction (see accessBatcher); each still gets its own row's error.
func (s *access) Create(ctx context.Context, t *valet.AccessToken) error {
	if s.db.accessQ != nil {
		return s.db.accessQ.create(ctx, accessArgs(t))
	}
	_, err := s.db.exec(ctx, s.db.ws, insertAccess, accessArgs(t)...)
	return wrap(opCreateAccess, err)
}

// Get does not filter on expiry: the contract leaves that to the caller,
// which checks ExpiresAt against its own clock.
func (s *access) Get(ctx context.Context, digest string) (*valet.AccessToken, error) {
	var t valet.AccessToken
	err := s.db.queryRow(ctx, s.db.rs, `SELECT `+accessColumns+` FROM access_tokens WHERE digest = ?`, digest).
		Scan(&t.Digest, &t.ID, &t.GrantID, &t.ClientID, &t.Subject, strs(&t.Scopes), strs(&t.Audience),
			at(&t.AuthTime), at(&t.CreatedAt), at(&t.ExpiresAt))
	if err != nil {
		return nil, wrap("get access token", err)
	}
	return &t, nil
}

func (s *access) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	return s.db.deleteInBatches(ctx, "delete expired access tokens",
		`DELETE FROM access_tokens WHERE digest IN (SELECT digest FROM access_tokens WHERE expires_at <= ? LIMIT ?)`, micros(now))
}

// batchYields is how many times the batcher yields to the scheduler before
// it drains its queue.
const batchYields = 3

// accessBatchMax bounds how many tokens one transaction inserts.
const accessBatchMax = 256

// errClosed answers a Create that was still queued when the database closed.
var errClosed = errors.New("the database is closed")

// accessBatcher is SQLite's group commit for access tokens, the one row the
// client-credentials grant writes. Opaque tokens are issued one INSERT each,
// and on the single write connection every INSERT was its own commit. One
// goroutine, run, takes the first queued insert, then every other one
// already waiting (up to accessBatchMax), and writes them with as few
// statements as it can: one INSERT of up to accessChunkMax rows, each its
// own transaction (see insertRows), or, past accessChunksMax of those, in
// one transaction. Nothing waits to fill a batch: a batch
// holds only what queued while the previous one was written, so a lone
// insert goes straight in.
//
// A multi-row INSERT that fails names no row, and writes none: its rows are
// then written in one transaction, one INSERT each (writeTx). There, a
// statement that fails on a constraint is undone alone and the transaction
// goes on, so one row's foreign-key violation (its client was deleted) or
// duplicate digest (in the table or earlier in the batch) is that caller's
// error, mapped by wrap as Create always did, and the other rows commit. Any
// other error of a row, after which SQLite may have rolled the whole
// transaction back, is that row's error too, and the rest is written again
// in a new transaction. A failed BEGIN or COMMIT is the error of every row
// it carried.
type accessBatcher struct {
	db *DB
	// reqs is unbuffered: a request is either received by run, which always
	// answers it, or never sent, so Close strands no one.
	reqs     chan *accessReq
	stop     chan struct{} // closed by close
	done     chan struct{} // closed when run returns
	stopOnce sync.Once
	// args holds the arguments of one multi-row INSERT; only the goroutine
	// writing a batch uses it.
	args []any
	// stmtsRun counts the INSERTs of batches run, for the tests.
	stmtsRun atomic.Int64
	// chunkRows, when set, lowers the most rows of one INSERT from
	// accessChunkMax, for tests and benchmarks; 1 writes a batch one INSERT
	// a row, in one transaction, the former path.
	chunkRows int
}

type accessReq struct {
	ctx  context.Context
	args []any
	// res carries the caller's answer; buffered, so that run never waits for
	// a caller that gave up.
	res chan error
}

func newAccessBatcher(db *DB) *accessBatcher {
	b := &accessBatcher{db: db, reqs: make(chan *accessReq), stop: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

// create queues one insert and waits for its answer. A caller whose context
// ends returns at once, with the context's error; its row may or may not be
// written, and an unused row just expires.
func (b *accessBatcher) create(ctx context.Context, args []any) error {
	if err := ctx.Err(); err != nil {
		return wrap(opCreateAccess, err)
	}
	r := &accessReq{ctx: ctx, args: args, res: make(chan error, 1)}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return wrap(opCreateAccess, ctx.Err())
	case <-b.stop:
		return wrap(opCreateAccess, errClosed)
	}
	select {
	case err := <-r.res:
		return err
	case <-ctx.Done():
		select {
		case err := <-r.res: // answered meanwhile: the row's fate is known
			return err
		default:
			return wrap(opCreateAccess, ctx.Err())
		}
	}
}

// close stops run, after the batch it is writing, and waits for it. Callers
// still queued get errClosed.
func (b *accessBatcher) close() {
	b.stopOnce.Do(func() { close(b.stop) })
	<-b.done
}

func (b *accessBatcher) run() {
	defer close(b.done)
	batch := make([]*accessReq, 0, accessBatchMax)
	for {
		select {
		case <-b.stop:
			return
		default:
		}
		select {
		case <-b.stop:
			return
		case r := <-b.reqs:
			batch = append(batch[:0], r)
		}
		// A few passes of the scheduler let request goroutines that are
		// already runnable queue their inserts too: each commit costs about
		// the same page writes whatever it carries. In valet bench one pass
		// took rows per commit from 2.2 to 5 and cc-opaque from 41% to 43%
		// of the baseline, three passes to 46-49%; more measured no better.
		// No timer: when nothing else is runnable the passes cost nothing,
		// and an insert that arrives alone still goes straight in.
		for range batchYields {
			runtime.Gosched()
		}
	drain:
		for len(batch) < accessBatchMax {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		b.write(batch)
		clear(batch) // let the answered requests go
	}
}

// write inserts the batch and answers every request in it.
func (b *accessBatcher) write(batch []*accessReq) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.res <- wrap(opCreateAccess, err) // its caller has returned; skip the row
			continue
		}
		live = append(live, r)
	}
	if len(live) == 1 {
		// Alone: a plain INSERT, its own transaction, under its caller's context.
		r := live[0]
		_, err := b.db.exec(r.ctx, b.db.ws, insertAccess, r.args...)
		r.res <- wrap(opCreateAccess, err)
		return
	}
	// Each chunk of the batch is one multi-row INSERT, its own transaction.
	// One that fails has written nothing; its rows, and after an error that
	// is not a constraint's all the rows not yet written, go in one
	// transaction, one INSERT each, as before, so that each gets its own
	// error and the others commit.
	most := accessChunkMax
	if b.chunkRows > 0 {
		most = min(most, b.chunkRows)
	}
	var slow []*accessReq
	rest := live
	if len(live) > accessChunksMax*most {
		slow, rest = live, nil
	}
	for len(rest) > 0 {
		chunk := rest[:min(len(rest), most)]
		rest = rest[len(chunk):]
		if len(chunk) == 1 {
			slow = append(slow, chunk...)
			continue
		}
		if err := b.insertRows(chunk); err != nil {
			slow = append(slow, chunk...)
			if !isConstraint(err) {
				// A lasting failure (a full disk, another process holding
				// the write lock past busy_timeout) is met once more, not
				// once a chunk.
				slow = append(slow, rest...)
				break
			}
			continue
		}
		for _, r := range chunk {
			r.res <- nil
		}
	}
	for len(slow) > 0 {
		slow = b.writeTx(slow)
	}
}

// writeTx inserts rows in one transaction and answers them, all but those
// it returns, to be written again: the rows of a transaction a row's
// non-constraint error may have rolled back. Each call answers at least one
// row, so that write's loop ends.
func (b *accessBatcher) writeTx(rows []*accessReq) (again []*accessReq) {
	// The batch is not any one caller's: one giving up must not undo the
	// others' rows. A wait for another process's write lock is bounded by
	// busy_timeout.
	ctx := context.Background()
	answer := func(rs []*accessReq, err error) {
		for _, r := range rs {
			r.res <- wrap(opCreateAccess, err)
		}
	}
	// Looked up before BEGIN: preparing it on the pool needs the one write
	// connection, which the transaction then holds.
	cached := b.db.ws.stmt(ctx, insertAccess)
	tx, err := b.db.w.BeginTx(ctx, nil)
	if err != nil {
		answer(rows, err)
		return nil
	}
	var stmt *sql.Stmt
	if cached != nil {
		stmt = tx.StmtContext(ctx, cached) // the connection's compiled statement
	} else if stmt, err = tx.PrepareContext(ctx, insertAccess); err != nil {
		_ = tx.Rollback()
		answer(rows, err)
		return nil
	}
	var stored []*accessReq
	for i, r := range rows {
		b.stmtsRun.Add(1)
		_, err := stmt.ExecContext(ctx, r.args...)
		switch {
		case err == nil:
			stored = append(stored, r)
		case isConstraint(err):
			// Undone alone; the transaction goes on.
			answer([]*accessReq{r}, err)
		default:
			// SQLite may have rolled back the transaction: this row fails,
			// the others are written again.
			_ = tx.Rollback()
			answer([]*accessReq{r}, err)
			return append(stored, rows[i+1:]...)
		}
	}
	if len(stored) == 0 {
		_ = tx.Rollback()
		return nil
	}
	answer(stored, tx.Commit())
	return nil
}

// insertRows inserts rows, 2 to accessChunkMax of them, in one INSERT,
// outside any transaction. In a transaction, an INSERT of several rows
// keeps a statement journal, a copy of every page it changes, to undo
// itself alone if a row fails; past 64 KiB SQLite spills it to a temporary
// file, and that cost more than the statements saved. On its own, the
// INSERT is undone with its transaction, so it needs none.
func (b *accessBatcher) insertRows(rows []*accessReq) error {
	b.args = b.args[:0]
	for _, r := range rows {
		b.args = append(b.args, r.args...)
	}
	defer clear(b.args) // let the tokens go
	b.stmtsRun.Add(1)
	// The batch is not any one caller's.
	_, err := b.db.exec(context.Background(), b.db.ws, insertAccessRows[len(rows)], b.args...)
	return err
}

// isConstraint reports a SQLite constraint violation, of any extended code:
// the statement is undone alone.
func isConstraint(err error) bool {
	return sqliteCode(err)&0xff == sqlite3.SQLITE_CONSTRAINT
}
