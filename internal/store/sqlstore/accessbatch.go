package sqlstore

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valetauth/valet"
)

// batchYields is how many times the batcher yields to the scheduler before
// it takes its queue.
const batchYields = 3

// accessBatchMax bounds how many tokens one transaction inserts.
const accessBatchMax = 256

// accessQueuedMax bounds the tokens queued and not yet written (see
// QueuedAccess): past it, a Create waits for its commit, so a writer that
// falls behind slows the issuers down instead of holding more in memory.
const accessQueuedMax = 4096

// errClosed answers a Create made after the database closed.
var errClosed = errors.New("the database is closed")

// accessBatcher is SQLite's group commit for access tokens, the one row the
// client-credentials grant writes. Opaque tokens are issued one INSERT each,
// and on the single write connection every INSERT was its own commit. One
// goroutine, run, takes the first queued insert, then every other one
// already waiting (up to accessBatchMax), and writes them (accesswrite.go) with as few
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
//
// A caller either waits for its row's answer (Create) or, through
// QueuedAccess, returns once the row is queued; a queued row is in pending
// until it is written, where Get finds it.
type accessBatcher struct {
	db *DB
	mu sync.Mutex // guards queue, pending, closed and onDrop
	// queue holds the requests not yet taken by run, in arrival order.
	queue []*accessReq
	// pending holds the tokens of queued requests (see QueuedAccess) until
	// their row is written or refused, by digest.
	pending map[string]*valet.AccessToken
	closed  bool
	// wake, of capacity 1, tells run that queue is not empty or that the
	// batcher is closing.
	wake chan struct{}
	// waiters counts the requests in queue whose caller waits for the
	// answer; full, of capacity 1, tells a lingering run that one came, or
	// that the queue holds a chunk's worth of rows.
	waiters int
	full    chan struct{}
	// lingerFor is accessLinger, longer in tests.
	lingerFor time.Duration
	done      chan struct{} // closed when run returns
	// failing is set when the last queued row met an error other than a
	// constraint's (a full disk, a lock held past busy_timeout): until a row
	// is written again, queued Creates wait for their commit, so the failure
	// reaches the caller instead of tokens that will never be found.
	failing atomic.Bool
	// onDrop, when set, is told once a batch how many of its queued tokens
	// were not written, and the first error: their callers have returned,
	// and the tokens read as unknown.
	onDrop func(n int, err error)
	// args holds the arguments of one multi-row INSERT, and live the rows
	// of a batch still to write; only the goroutine writing a batch uses
	// them.
	args []any
	live []*accessReq
	// stmtsRun counts the INSERTs of batches run, for the tests.
	stmtsRun atomic.Int64
	// chunkRows, when set, lowers the most rows of one INSERT from
	// accessChunkMax, for tests and benchmarks; 1 writes a batch one INSERT
	// a row, in one transaction, the former path.
	chunkRows int
	// journal, when not nil, makes a Create durable before its commit
	// (accessjournal.go). retry holds journaled rows whose insert failed
	// other than on a constraint: they stay in pending, and are queued
	// again after the next row is written.
	journal *accessJournal
	retry   []*accessReq
	// known holds the clients a journaled Create found in the table, and
	// deleting those whose deletion is under way (accessjournaled.go): a journaled
	// row is answered before its insert could fail on a deleted client,
	// so Create checks for the client first, as the insert would.
	known    map[string]bool
	deleting map[string]int
	// forgets counts the deletions begun (forget): a client checkClient
	// read while one ran is not recorded as known.
	forgets uint64
}

type accessReq struct {
	ctx  context.Context
	args []any
	// digest is the pending key of a queued request, whose caller has
	// returned; empty when the caller waits on res.
	digest string
	// res carries the answer; buffered, so that run never waits for a
	// caller that gave up.
	res chan error
	// err is the answer too, for run's own use after the batch (settle).
	err error
	// seg is the journal segment holding the row, 0 when not journaled.
	seg uint64
	// barrier marks a request with no row, answered once every row queued
	// before it is written (see flush).
	barrier bool
}

// answer gives r its row's outcome; write calls it once for every request.
func (r *accessReq) answer(err error) {
	r.err = err
	r.res <- err
}

// newAccessBatcher returns a batcher whose run is not started: the tests
// start it when they choose.
func newAccessBatcher(db *DB) *accessBatcher {
	return &accessBatcher{db: db, pending: map[string]*valet.AccessToken{},
		known: map[string]bool{}, deleting: map[string]int{},
		wake: make(chan struct{}, 1), full: make(chan struct{}, 1), done: make(chan struct{}),
		lingerFor: accessLinger}
}

// startAccessBatcher returns a running batcher, journaling into j when not
// nil.
func startAccessBatcher(db *DB, j *accessJournal) *accessBatcher {
	b := newAccessBatcher(db)
	b.journal = j
	go b.run()
	return b
}

// create queues one insert. Unless queued, it waits for the answer; a caller
// whose context ends returns at once, with the context's error; its row may
// or may not be written, and an unused row just expires. A queued insert
// returns nil at once, unless the queue is full or the last queued row
// failed: then it waits like the others.
func (b *accessBatcher) create(ctx context.Context, t *valet.AccessToken, queued bool) error {
	if err := ctx.Err(); err != nil {
		return wrap(opCreateAccess, err)
	}
	r := &accessReq{ctx: ctx, args: accessArgs(t), res: make(chan error, 1)}
	if !queued && b.journal != nil {
		if err := b.journalRow(ctx, r, t.ClientID); err != nil {
			return err
		}
	}
	b.mu.Lock()
	if b.closed || r.seg != 0 && !b.known[t.ClientID] {
		closed := b.closed
		b.mu.Unlock()
		// A journaled row stays in the journal, for the next Open, whose
		// insert refuses it if its client is gone: an error does not
		// promise that nothing was written.
		if closed {
			return wrap(opCreateAccess, errClosed)
		}
		// Its client's deletion began after the row was journaled.
		b.journal.settled(r.seg, 1)
		return wrap(opCreateAccess, errClientGone)
	}
	if r.seg != 0 || queued && b.roomInPendingLocked() {
		if _, dup := b.pending[t.Digest]; dup {
			b.mu.Unlock()
			if r.seg != 0 {
				b.journal.settled(r.seg, 1) // the row will be refused
			}
			return wrap(opCreateAccess, valet.ErrExists)
		}
		// The row outlives the request that issued it.
		r.ctx, r.digest = context.WithoutCancel(ctx), t.Digest
		if r.seg != 0 {
			// The plain store's caller may reuse t once Create returns.
			t = cloneAccess(t)
		}
		b.pending[t.Digest] = t // a queued Create's caller's own (QueuedAccess); Get hands out copies
	}
	b.queue = append(b.queue, r)
	if r.digest == "" {
		b.waiters++
	}
	full := r.digest == "" || len(b.queue) == accessChunkMax
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default: // run is already told
	}
	if full {
		select {
		case b.full <- struct{}{}:
		default:
		}
	}
	if r.digest != "" {
		return nil
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

// flush returns once every row queued before it was written, or refused:
// a statement on access_tokens that follows sees them in the table. Rows
// to retry (see settle) stay in memory.
func (b *accessBatcher) flush(ctx context.Context) error {
	r := &accessReq{ctx: ctx, barrier: true, res: make(chan error, 1)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil // close wrote the queue
	}
	b.queue = append(b.queue, r)
	b.waiters++
	b.mu.Unlock()
	for _, c := range []chan struct{}{b.wake, b.full} {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	select {
	case err := <-r.res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lookup returns a copy of the queued, not yet written token under digest,
// or nil.
func (b *accessBatcher) lookup(digest string) *valet.AccessToken {
	b.mu.Lock()
	t := b.pending[digest]
	b.mu.Unlock()
	if t == nil {
		return nil
	}
	return cloneAccess(t)
}

func cloneAccess(t *valet.AccessToken) *valet.AccessToken {
	c := *t
	// As the table gives them back: microseconds, in UTC.
	for _, at := range []*time.Time{&c.AuthTime, &c.CreatedAt, &c.ExpiresAt} {
		if !at.IsZero() {
			*at = time.UnixMicro(at.UnixMicro()).UTC()
		}
	}
	c.Scopes = slices.Clone(t.Scopes)
	c.Audience = slices.Clone(t.Audience)
	return &c
}

// close writes every request queued, stops run and waits for it. Creates
// made after it fail with errClosed.
func (b *accessBatcher) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	for _, c := range []chan struct{}{b.wake, b.full} {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	<-b.done
	if b.journal != nil {
		b.journal.close()
	}
}

// take removes and returns up to accessBatchMax requests from the head of
// the queue, and whether the batcher is closed.
func (b *accessBatcher) take(batch []*accessReq) ([]*accessReq, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(b.queue), accessBatchMax)
	batch = append(batch[:0], b.queue[:n]...)
	for _, r := range batch {
		if r.digest == "" {
			b.waiters--
		}
	}
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	return batch, b.closed
}

func (b *accessBatcher) run() {
	defer close(b.done)
	batch := make([]*accessReq, 0, accessBatchMax)
	for {
		<-b.wake
		// A few passes of the scheduler let request goroutines that are
		// already runnable queue their inserts too: each commit costs about
		// the same page writes whatever it carries. In valet bench one pass
		// took rows per commit from 2.2 to 5 and cc-opaque from 41% to 43%
		// of the baseline, three passes to 46-49%; more measured no better.
		// No timer: when nothing else is runnable the passes cost nothing,
		// and an insert that arrives alone still goes straight in.
		for first := true; ; first = false {
			for range batchYields {
				runtime.Gosched()
			}
			if first {
				b.linger()
			}
			var closed bool
			batch, closed = b.take(batch)
			if len(batch) == 0 {
				if closed {
					return
				}
				break
			}
			b.write(batch)
			b.settle(batch)
			clear(batch) // let the answered requests go
			// Take the rest at once only when it is worth a commit: a
			// chunk's worth of rows, a caller waiting, or Close. Otherwise
			// wait for more, as for rows that come later; rows left from a
			// batch cut at accessBatchMax may have told wake before the
			// batch was taken, so wake is told again.
			b.mu.Lock()
			left := len(b.queue)
			again := left >= accessChunkMax || b.waiters > 0 || b.closed
			b.mu.Unlock()
			if !again {
				if left > 0 {
					select {
					case b.wake <- struct{}{}:
					default:
					}
				}
				break
			}
		}
	}
}

// accessLinger is how long run waits for more rows when no caller waits
// for the ones queued.
const accessLinger = 2 * time.Millisecond

// linger waits up to accessLinger for a chunk's worth of rows, when every
// request queued is a queued one: nobody waits for their commit, and a
// commit costs about the same whether it carries one row or a chunk. A
// caller that waits, a full chunk or Close ends it at once.
func (b *accessBatcher) linger() {
	b.mu.Lock()
	wait := b.waiters == 0 && len(b.queue) < accessChunkMax && !b.closed
	b.mu.Unlock()
	if !wait {
		return
	}
	t := time.NewTimer(b.lingerFor)
	defer t.Stop()
	select {
	case <-b.full:
	case <-t.C:
	}
}

// settle records whether the writer is failing, from every row of a
// written batch, and takes the queued ones out of pending. A journaled row
// whose insert failed other than on a constraint stays in pending, and is
// queued again (retry) once another row was written: it was acknowledged,
// and the journal still holds it.
func (b *accessBatcher) settle(batch []*accessReq) {
	wrote := false
	for _, r := range batch {
		switch err := r.err; {
		case r.barrier:
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			// Its caller gave up before the write: says nothing of the disk.
		default:
			// A constraint is the row's own (its client was deleted); any
			// other error may be every row's.
			b.failing.Store(err != nil && !isConstraint(err))
			wrote = wrote || err == nil
		}
	}
	var dropped int
	var first error
	segs := map[uint64]int{}
	b.mu.Lock()
	onDrop := b.onDrop
	for _, r := range batch {
		if r.digest == "" {
			continue
		}
		if r.seg != 0 {
			if r.err != nil && !isConstraint(r.err) {
				b.retry = append(b.retry, &accessReq{ctx: r.ctx, args: r.args, digest: r.digest,
					seg: r.seg, res: make(chan error, 1)})
				continue
			}
			segs[r.seg]++
		}
		delete(b.pending, r.digest)
		if r.err != nil && r.seg == 0 { // a journaled row refused was its client's deletion's
			if dropped++; first == nil {
				first = r.err
			}
		}
	}
	if wrote && len(b.retry) > 0 && !b.closed {
		b.queue = append(b.retry, b.queue...)
		b.retry = nil
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
	for seg, n := range segs {
		b.journal.settled(seg, n)
	}
	for _, r := range batch {
		if r.barrier {
			// The rows queued before it are in the table, or refused and
			// out of pending (see flush).
			r.answer(nil)
		}
	}
	if dropped > 0 && onDrop != nil {
		onDrop(dropped, first)
	}
}
