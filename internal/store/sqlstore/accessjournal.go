package sqlstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The access-token journal makes an opaque access token issued on SQLite
// durable before /token answers, without a SQLite commit of its own.
//
// A commit of the batch writer writes a WAL frame for each B-tree page it
// changes, a few pages whatever the number of rows, and the rows of one
// commit are only those whose requests arrived while the previous commit
// was written: a handful. Instead, Create appends the row to a journal
// beside the database, in one write system call for every row that arrives
// meanwhile (append), and answers; the batch writer inserts it in
// multi-row INSERTs of up to accessChunkMax rows moments later, and until
// then Get finds it in memory (accessBatcher.pending).
//
// The journal is written as SQLite's WAL is at synchronous=NORMAL, without
// fsync: a process that dies (kill -9, a crash, the OOM killer) loses
// nothing it acknowledged, since the rows are in the kernel's page cache,
// and the next Open inserts them (replayJournal) before anything reads the
// table; a power cut may lose the last of them, as it may lose SQLite's
// last commits.
//
// Layout: the directory journalDir(path) beside the database holds a lock
// file and segments named by a 16-digit hexadecimal number, in the order
// they were written. A segment starts with journalMagic; then come
// records: the payload's length (uvarint), its CRC-32C (4 bytes,
// big-endian), and the payload, the 10 values of accessArgs, each a tag
// byte (journalNil, journalString with a uvarint length, journalInt with a
// varint). A segment is deleted once each of its rows is in the table or
// was refused there on a constraint (settled). The active segment is
// closed after journalSegmentMax bytes, and, past journalTidyMin bytes,
// whenever its last row is settled. A write that fails may leave part of
// a record: its segment is closed at once, so that a torn record is always
// the last of its segment, and replay stops there.
//
// The lock file is locked with flock, which one open file holds: the first
// DB of this process on a file uses the journal. Another DB on the same file
// (tests open two) writes its tokens straight into the table, as one
// without a journal does.
type accessJournal struct {
	dir  string
	lock *os.File

	mu sync.Mutex // guards everything below
	// f is the active segment, nil until the next append opens segment
	// seg; size is how many bytes it holds.
	f    *os.File
	seg  uint64
	size int64
	// buf holds the records of the next write, which cur describes.
	buf []byte
	cur *journalWrite
	// writing is set while an appender writes: others queue their records
	// in buf and wait for cur to be written. spare is the buffer of the
	// last write, kept for the next.
	writing bool
	spare   []byte
	// outstanding counts each segment's rows not yet settled.
	outstanding map[uint64]int
	closed      bool
}

// journalWrite is one write of the journal, which several appends share.
type journalWrite struct {
	rows int
	done chan struct{} // closed once seg and err are set
	seg  uint64
	err  error
}

func newJournalWrite() *journalWrite { return &journalWrite{done: make(chan struct{})} }

var journalMagic = []byte("valet access-token journal 1\n")

const (
	// journalSegmentMax is the size after which a segment is closed: about
	// 25,000 rows, what the replay of one segment inserts.
	journalSegmentMax = 8 << 20
	// journalTidyMin is the size from which the active segment is closed
	// and deleted as soon as each of its rows is settled. Below it the
	// segment stays open: a quiet server does not create and delete a file
	// for every token, and a replay finds its settled rows already in the
	// table.
	journalTidyMin = 1 << 20
	// journalRecordMax bounds a record (with its length and checksum); a
	// larger length read back is corruption. A token that large (a few
	// thousand scopes or audiences) waits for its commit instead.
	journalRecordMax = 64 << 10
)

const (
	journalNil byte = iota
	journalString
	journalInt
)

var journalCRC = crc32.MakeTable(crc32.Castagnoli)

// errJournalRecordTooLarge answers an append whose record would pass
// journalRecordMax, which a replay would take for corruption.
var errJournalRecordTooLarge = errors.New("the access token is too large for a journal record")

// journalDir is where the journal of the SQLite database at path lives.
func journalDir(path string) string { return path + "-tokens" }

// openAccessJournal locks the journal of the database at path, creating its
// directory, and returns it with the rows of the segments found there,
// which the caller inserts (replayJournal) before any append. It returns a
// nil journal and no error when another DB of this process holds it.
func openAccessJournal(path string) (j *accessJournal, found [][]any, segs []string, err error) {
	dir := journalDir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("create the access-token journal directory %s: %w; it must be writable, like the database's", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open the access-token journal: %w", err)
	}
	held, err := lockFile(lock)
	if err != nil || !held {
		_ = lock.Close()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("lock the access-token journal %s: %w", dir, err)
		}
		return nil, nil, nil, nil
	}
	j = &accessJournal{dir: dir, lock: lock, cur: newJournalWrite(), outstanding: map[uint64]int{}, seg: 1}
	entries, err := os.ReadDir(dir)
	if err != nil {
		j.release()
		return nil, nil, nil, fmt.Errorf("read the access-token journal %s: %w", dir, err)
	}
	for _, e := range entries {
		n, ok := segmentNumber(e.Name())
		if !ok {
			continue
		}
		segs = append(segs, filepath.Join(dir, e.Name()))
		j.seg = max(j.seg, n+1)
	}
	slices.Sort(segs) // fixed-width names: their order is the numbers'
	for _, s := range segs {
		rows, err := readSegment(s)
		if err != nil {
			j.release()
			return nil, nil, nil, err
		}
		found = append(found, rows...)
	}
	return j, found, segs, nil
}

func segmentName(n uint64) string { return fmt.Sprintf("%016x", n) }

func segmentNumber(name string) (uint64, bool) {
	if len(name) != 16 || strings.ToLower(name) != name {
		return 0, false
	}
	n, err := strconv.ParseUint(name, 16, 64)
	return n, err == nil
}

// readSegment returns the rows of one segment, up to its first record that
// is not whole: the tail of a write cut short.
func readSegment(path string) ([][]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the access-token journal: %w", err)
	}
	if len(data) < len(journalMagic) && string(data) == string(journalMagic[:len(data)]) {
		return nil, nil // created, and cut short before its header was whole
	}
	if len(data) < len(journalMagic) || string(data[:len(journalMagic)]) != string(journalMagic) {
		return nil, fmt.Errorf("%s is not an access-token journal segment of this version of Valet: move it out of the directory if it does not belong there, or start the version that wrote it", path)
	}
	var rows [][]any
	for rest := data[len(journalMagic):]; len(rest) > 0; {
		row, n := decodeJournalRecord(rest)
		if n == 0 {
			break
		}
		rows = append(rows, row)
		rest = rest[n:]
	}
	return rows, nil
}

// appendJournalRecord appends the record of one row's values.
func appendJournalRecord(b []byte, args []any) []byte {
	var payload [512]byte
	p := payload[:0]
	for _, a := range args {
		switch v := a.(type) {
		case nil:
			p = append(p, journalNil)
		case string:
			p = append(p, journalString)
			p = binary.AppendUvarint(p, uint64(len(v)))
			p = append(p, v...)
		case int64:
			p = append(p, journalInt)
			p = binary.AppendVarint(p, v)
		default:
			panic(fmt.Sprintf("sqlstore: an access token value of type %T", a))
		}
	}
	b = binary.AppendUvarint(b, uint64(len(p)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(p, journalCRC))
	return append(b, p...)
}

// decodeJournalRecord returns the row of the record at the start of b and
// its length, or 0 when b does not start with a whole, intact record.
func decodeJournalRecord(b []byte) ([]any, int) {
	size, n := binary.Uvarint(b)
	if n <= 0 || size > journalRecordMax || uint64(len(b)-n) < 4+size {
		return nil, 0
	}
	sum := binary.BigEndian.Uint32(b[n:])
	p := b[n+4 : n+4+int(size)]
	if crc32.Checksum(p, journalCRC) != sum {
		return nil, 0
	}
	row := make([]any, 0, 10)
	for len(p) > 0 {
		tag := p[0]
		p = p[1:]
		switch tag {
		case journalNil:
			row = append(row, nil)
		case journalString:
			l, m := binary.Uvarint(p)
			if m <= 0 || l > uint64(len(p)-m) {
				return nil, 0
			}
			row = append(row, string(p[m:m+int(l)]))
			p = p[m+int(l):]
		case journalInt:
			v, m := binary.Varint(p)
			if m <= 0 {
				return nil, 0
			}
			row = append(row, v)
			p = p[m:]
		default:
			return nil, 0
		}
	}
	if len(row) != 10 {
		return nil, 0
	}
	return row, n + 4 + int(size)
}

// append writes one row's record and returns its segment, once the record
// is in the kernel: then a crash of this process no longer loses it. The
// first of the appenders that arrive together writes the records of all of
// them, in one system call; the others wait for it.
func (j *accessJournal) append(args []any) (uint64, error) {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return 0, errClosed
	}
	before := len(j.buf)
	j.buf = appendJournalRecord(j.buf, args)
	if len(j.buf)-before > journalRecordMax {
		j.buf = j.buf[:before]
		j.mu.Unlock()
		return 0, errJournalRecordTooLarge
	}
	mine := j.cur
	mine.rows++
	if j.writing {
		j.mu.Unlock()
		<-mine.done
		return mine.seg, mine.err
	}
	j.writing = true
	for len(j.buf) > 0 {
		w, buf := j.cur, j.buf
		j.cur, j.buf, j.spare = newJournalWrite(), j.spare[:0], nil
		w.seg, w.err = j.writeLocked(buf, w.rows)
		if cap(buf) <= 1<<20 {
			j.spare = buf[:0]
		}
		close(w.done)
	}
	j.writing = false
	if j.closed {
		j.closeActiveLocked() // close left it to this appender
	}
	j.mu.Unlock()
	return mine.seg, mine.err
}

// writeLocked writes buf, the records of rows rows, to the active segment,
// opening one if needed. It is called with mu held, and releases it for
// the write itself, which writing makes this caller's alone.
func (j *accessJournal) writeLocked(buf []byte, rows int) (uint64, error) {
	if j.closed {
		// close ran while an earlier write of this loop was in flight:
		// no new segment in a journal that is no longer locked.
		return 0, errClosed
	}
	if j.f == nil {
		f, err := os.OpenFile(filepath.Join(j.dir, segmentName(j.seg)), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return 0, fmt.Errorf("create an access-token journal segment in %s: %w", j.dir, err)
		}
		j.f, j.size = f, 0
		buf = append(slices.Clip(journalMagic), buf...) // one write with the first records
	}
	f, seg := j.f, j.seg
	j.mu.Unlock()
	n, err := f.Write(buf)
	j.mu.Lock()
	j.size += int64(n)
	if err == nil {
		j.outstanding[seg] += rows
	}
	if err != nil || j.size >= journalSegmentMax {
		// A failed write may have left part of a record: nothing more goes
		// into this segment, so that a torn record is always its last.
		j.closeActiveLocked()
	}
	if err != nil {
		return 0, fmt.Errorf("write the access-token journal in %s: %w", j.dir, err)
	}
	return seg, nil
}

// closeActiveLocked closes the active segment, deleting it if none of its
// rows waits; the next append opens a new one.
func (j *accessJournal) closeActiveLocked() {
	if j.f == nil {
		return
	}
	_ = j.f.Close()
	j.f = nil
	if j.outstanding[j.seg] == 0 {
		delete(j.outstanding, j.seg)
		_ = os.Remove(filepath.Join(j.dir, segmentName(j.seg)))
	}
	j.seg++
}

// settled tells the journal that n rows of segment seg are in the table,
// or were refused there on a constraint: a replay no longer needs them. A
// segment none of whose rows waits is deleted, the active one only past
// journalTidyMin bytes, and not while an append writes to it.
func (j *accessJournal) settled(seg uint64, n int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	left := j.outstanding[seg] - n
	if left > 0 {
		j.outstanding[seg] = left
		return
	}
	delete(j.outstanding, seg)
	switch {
	case seg != j.seg || j.f == nil:
		_ = os.Remove(filepath.Join(j.dir, segmentName(seg)))
	case !j.writing && j.size >= journalTidyMin:
		j.closeActiveLocked()
	}
}

// close ends the journal, after the batcher wrote what it could: segments
// with no row waiting are deleted; the others stay for the next Open's
// replay. The lock file stays: removed, a DB opening the journal meanwhile
// could lock the old file while a third locked a new one.
func (j *accessJournal) close() {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return
	}
	j.closed = true
	if !j.writing {
		j.closeActiveLocked()
	} // else the appender finds closed, and its file is closed below
	j.mu.Unlock()
	j.release()
}

// release unlocks the journal.
func (j *accessJournal) release() {
	_ = unlockFile(j.lock)
	_ = j.lock.Close()
}

// replayJournal inserts the rows found in the journal at Open, unless
// expired, and deletes its segments: rows already in the table (most of
// them, written before the process stopped) are skipped, and so are rows
// whose client was deleted meanwhile, as their insert would have been.
func (db *DB) replayJournal(ctx context.Context, rows [][]any, segs []string) error {
	now := time.Now().UnixMicro()
	const per = 1000 // rows a transaction
	for len(rows) > 0 {
		chunk := rows[:min(per, len(rows))]
		rows = rows[len(chunk):]
		if err := db.replayChunk(ctx, chunk, now); err != nil {
			if strings.Contains(err.Error(), "no such table") {
				return fmt.Errorf("the access-token journal in %s holds tokens, but the database %s has no access_tokens table: it is not the database the journal was written for; move the journal directory away to start without those tokens", filepath.Dir(segs[0]), db.path)
			}
			return fmt.Errorf("insert the access tokens of the journal in %s: %w; the journal is kept: start again once the database can be written", filepath.Dir(segs[0]), err)
		}
	}
	for _, s := range segs {
		if err := os.Remove(s); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove a replayed access-token journal segment: %w", err)
		}
	}
	return nil
}

func (db *DB) replayChunk(ctx context.Context, rows [][]any, now int64) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO access_tokens (`+accessColumns+`) VALUES `+accessRow)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, r := range rows {
		if exp, ok := r[9].(int64); ok && exp <= now {
			continue // expired: it would be swept
		}
		if _, err := stmt.ExecContext(ctx, r...); err != nil && !isConstraint(err) {
			return err
		}
	}
	return tx.Commit()
}
