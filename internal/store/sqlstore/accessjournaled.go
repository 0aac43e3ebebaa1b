package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/valetauth/valet"
)

// What the accessBatcher checks before it journals a row (accessjournal.go),
// which Create answers before its insert could refuse it: the row's
// columns, its client, and the client deletions under way, whose cascade
// must find the client's rows in the table (forget).

// journalRow appends r to the journal, setting r.seg, when it may be
// answered before its commit; otherwise r waits for its commit, as
// without a journal. It fails only when r's client does not exist, or
// cannot be read.
func (b *accessBatcher) journalRow(ctx context.Context, r *accessReq, clientID string) error {
	if !journalable(r.args) {
		return nil
	}
	room, known, gen := b.journalRoom(clientID)
	if !room {
		return nil
	}
	if !known {
		var err error
		if known, err = b.checkClient(ctx, clientID, gen); err != nil || !known {
			return err
		}
	}
	// Durable once in the journal: answered then, like a queued row. If
	// the journal cannot take it (too large for a record, a failing file
	// system), the row waits for its commit.
	if seg, err := b.journal.append(r.args); err == nil {
		r.seg = seg
	}
	return nil
}

// journalable reports whether a row's insert can fail only on its client
// or its digest, which Create checks before it journals the row: the
// columns that may not be NULL have values.
func journalable(args []any) bool {
	return args[8] != nil && args[9] != nil // created_at, expires_at
}

// journalRoom reports whether a row may be answered before its commit (the
// writer is not failing, and pending is not full), whether its client is
// known to be in the table, and the count of deletions begun.
func (b *accessBatcher) journalRoom(clientID string) (room, known bool, gen uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.roomInPendingLocked(), b.known[clientID], b.forgets
}

func (b *accessBatcher) roomInPendingLocked() bool {
	return !b.failing.Load() && len(b.pending) < accessQueuedMax
}

// errClientGone answers a Create for a client that is not in the table, as
// the insert's foreign key would.
var errClientGone = fmt.Errorf("%w: it refers to a client that does not exist", valet.ErrNotFound)

// checkClient looks clientID up in the table, and records it as known
// unless a deletion began since gen was read (journalRoom): then the row
// waits for its commit, whose foreign key tells.
func (b *accessBatcher) checkClient(ctx context.Context, clientID string, gen uint64) (bool, error) {
	var one int
	err := b.db.queryRow(ctx, b.db.rs, `SELECT 1 FROM clients WHERE id = ?`, clientID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, wrap(opCreateAccess, errClientGone)
	}
	if err != nil {
		return false, wrap(opCreateAccess, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.forgets != gen || b.deleting[clientID] > 0 {
		return false, nil
	}
	b.known[clientID] = true
	return true, nil
}

// forget prepares the deletion of a client: its Creates are not journaled
// from now on, and the rows of it already queued are written, so that the
// deletion's cascade finds them in the table. The caller calls the
// function it returns once the deletion is over, telling whether it
// deleted the client: then the client's rows still in memory (to retry,
// see settle) are dropped, as the cascade dropped the others.
func (b *accessBatcher) forget(ctx context.Context, clientID string) (func(deleted bool), error) {
	b.mu.Lock()
	delete(b.known, clientID)
	b.deleting[clientID]++
	b.forgets++
	b.mu.Unlock()
	done := func(deleted bool) {
		b.mu.Lock()
		if b.deleting[clientID]--; b.deleting[clientID] == 0 {
			delete(b.deleting, clientID)
		}
		segs := map[uint64]int{}
		if deleted {
			b.retry = slices.DeleteFunc(b.retry, func(r *accessReq) bool {
				if r.args[3] != clientID {
					return false
				}
				delete(b.pending, r.digest)
				segs[r.seg]++
				return true
			})
		}
		b.mu.Unlock()
		for seg, n := range segs {
			b.journal.settled(seg, n)
		}
	}
	if err := b.flush(ctx); err != nil {
		done(false)
		return nil, err
	}
	return done, nil
}
