package sqlstore

import (
	"context"
	"database/sql"
	"strings"
)

// The accessBatcher's writes: how a batch taken from the queue goes into
// access_tokens, with as few statements and commits as each row's own
// error allows (accessbatch.go holds the queue, and when it is taken).

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

// write inserts the batch and answers every request in it.
func (b *accessBatcher) write(batch []*accessReq) {
	live := b.live[:0] // not batch's own array: settle reads batch after
	defer func() { clear(live); b.live = live[:0] }()
	for _, r := range batch {
		if r.barrier {
			continue // answered by settle, once the rows are out of pending
		}
		if err := r.ctx.Err(); err != nil {
			r.answer(wrap(opCreateAccess, err)) // its caller has returned; skip the row
			continue
		}
		live = append(live, r)
	}
	if len(live) == 1 {
		// Alone: a plain INSERT, its own transaction, under its caller's context.
		r := live[0]
		_, err := b.db.exec(r.ctx, b.db.ws, insertAccess, r.args...)
		r.answer(wrap(opCreateAccess, err))
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
			r.answer(nil)
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
			r.answer(wrap(opCreateAccess, err))
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
