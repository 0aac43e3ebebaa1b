//go:build unix

// The access-token journal is used only where the lock file can be locked
// (lockfile_unix.go): elsewhere every test below would test nothing.

package sqlstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// journalOf returns db's access-token journal, failing t when it has none.
func journalOf(t *testing.T, db *DB) *accessJournal {
	t.Helper()
	if db.accessQ == nil || db.accessQ.journal == nil {
		t.Fatal("the SQLite database has no access-token journal")
	}
	return db.accessQ.journal
}

// segments lists the journal segments beside the database at path.
func segments(t *testing.T, path string) []string {
	t.Helper()
	entries, err := os.ReadDir(journalDir(path))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var segs []string
	for _, e := range entries {
		if _, ok := segmentNumber(e.Name()); ok {
			segs = append(segs, e.Name())
		}
	}
	return segs
}

// journalSegment returns a segment holding the records of toks.
func journalSegment(toks ...*valet.AccessToken) []byte {
	b := slices.Clone(journalMagic)
	for _, tok := range toks {
		b = appendJournalRecord(b, accessArgs(tok))
	}
	return b
}

// writeSegment puts segment number n, holding data, in the journal of the
// database at path, as a process that stopped would have left it.
func writeSegment(t *testing.T, path string, n uint64, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(journalDir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(journalDir(path), segmentName(n))
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// closedDB creates a migrated database with the client "c", closes it and
// returns its path.
func closedDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "valet.db")
	db := openOnly(t, "sqlite://"+path)
	benchClient(t, db.Store(), "c")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// inTable reports whether the access_tokens table holds digest.
func inTable(t *testing.T, db *DB, digest string) bool {
	t.Helper()
	var n int
	if err := db.r.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM access_tokens WHERE digest = ?", digest).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func checkNotFound(t *testing.T, st valet.Store, digest string) {
	t.Helper()
	if got, err := st.Access.Get(t.Context(), digest); !errors.Is(err, valet.ErrNotFound) {
		t.Errorf("Get(%s) = %+v, %v; want ErrNotFound", digest, got, err)
	}
}

// TestJournalKill9 pins what the journal is for: a token whose Create
// returned nil survives the process being killed before the batch writer
// inserted it. The child process (this test binary, run again) holds the
// one write connection, so that none of its tokens reaches the table; it
// reports each token acknowledged, and is killed; the next Open must
// replay them all from the journal, and delete its segments.
func TestJournalKill9(t *testing.T) {
	if path := os.Getenv("VALET_TEST_JOURNAL_KILL"); path != "" {
		journalKillChild(t, path)
		return
	}
	path := filepath.Join(t.TempDir(), "valet.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestJournalKill9$")
	cmd.Env = append(os.Environ(), "VALET_TEST_JOURNAL_KILL="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// The child blocks reading stdin, so that it ends if this test does.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A child that never says "done" must not hang the test, nor outlive it.
	stop := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer stop.Stop()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var acked []string
	rows, done := -1, false
	for sc := bufio.NewScanner(stdout); !done && sc.Scan(); {
		kind, arg, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "ack":
			acked = append(acked, arg)
		case "rows":
			rows, _ = strconv.Atoi(arg)
		case "error":
			t.Errorf("child: %s", arg)
		case "done":
			done = true
		}
	}
	if !done {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("the child stopped before it was done:\n%s", stderr.String())
	}
	if len(acked) != journalKillTokens || rows != 0 {
		t.Fatalf("the child acknowledged %d tokens, %d of them in the table; want %d and none", len(acked), rows, journalKillTokens)
	}
	if len(segments(t, path)) == 0 {
		t.Fatal("the child's journal holds no segment")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("the child exited cleanly; want it killed")
	}

	db := open(t, "sqlite://"+path)
	st := db.Store()
	for _, d := range acked {
		checkStored(t, st, benchToken(d, "c"))
		if !inTable(t, db, d) {
			t.Errorf("the acknowledged token %s is not in the table after the replay", d)
		}
	}
	if n := rowCount(t, db); n != len(acked) {
		t.Errorf("%d rows after the replay, want %d", n, len(acked))
	}
	if segs := segments(t, path); len(segs) != 0 {
		t.Errorf("segments left after the replay: %v", segs)
	}
}

const journalKillTokens = 4 * 25

// journalKillChild is TestJournalKill9's child: it issues tokens that
// cannot reach the table, prints each one acknowledged, then waits to be
// killed.
func journalKillChild(t *testing.T, path string) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	journalOf(t, db)
	st := db.Store()
	benchClient(t, st, "c")
	// Held until the process dies: the batcher cannot insert anything.
	conn, err := db.w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // one line at a time on stdout
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	// A Create that waits for its commit never gets it: it gives up, and
	// the parent reports its error, instead of waiting to be killed.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range journalKillTokens / 4 {
				d := benchDigest("kill-%d-%d", g, i)
				if err := st.Access.Create(cctx, benchToken(d, "c")); err != nil {
					say("error %v", err)
					continue
				}
				say("ack %s", d)
			}
		})
	}
	wg.Wait()
	var rows int
	if err := db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM access_tokens").Scan(&rows); err != nil {
		say("error %v", err)
	}
	say("rows %d", rows)
	say("done")
	_, _ = io.Copy(io.Discard, os.Stdin) // until killed, or the parent is gone
	runtime.KeepAlive(conn)
	os.Exit(0)
}

// TestJournalTornTail pins the replay of a segment whose last write was cut
// short: the whole records before the damaged one are inserted, the
// damaged one is not, nor anything after it in its segment, and the
// segments are deleted, together with one cut short before its header was
// whole.
func TestJournalTornTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(rec []byte) []byte
		after  bool // a whole record follows the damaged one
	}{
		{"cut short", func(rec []byte) []byte { return rec[:len(rec)-1] }, false},
		{"bad checksum", func(rec []byte) []byte { rec[len(rec)-1] ^= 1; return rec }, false},
		{"bad record then a whole one", func(rec []byte) []byte { rec[len(rec)-1] ^= 1; return rec }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := closedDB(t)
			toks := []*valet.AccessToken{benchToken("one", "c"), benchToken("two", "c"), benchToken("torn", "c")}
			seg := append(journalSegment(toks[0], toks[1]), tc.damage(appendJournalRecord(nil, accessArgs(toks[2])))...)
			late := benchToken("after the damage", "c")
			if tc.after {
				seg = appendJournalRecord(seg, accessArgs(late))
			}
			writeSegment(t, path, 1, seg)
			writeSegment(t, path, 2, journalMagic[:len(journalMagic)/2])

			db := open(t, "sqlite://"+path)
			st := db.Store()
			checkStored(t, st, toks[0])
			checkStored(t, st, toks[1])
			checkNotFound(t, st, toks[2].Digest)
			checkNotFound(t, st, late.Digest)
			if segs := segments(t, path); len(segs) != 0 {
				t.Errorf("segments left after the replay: %v", segs)
			}
		})
	}
}

// TestJournalBadHeader pins that a file named like a segment but not one
// stops Open, with an error naming it, and is left where it is; once it is
// moved away, Open succeeds (the failed one let go of the database and of
// the journal's lock).
func TestJournalBadHeader(t *testing.T) {
	for name, data := range map[string][]byte{
		"long":  []byte("something else entirely, and longer than the header\n"),
		"short": []byte("short"), // not a header cut short either
	} {
		t.Run(name, func(t *testing.T) { testJournalBadHeader(t, data) })
	}
}

func testJournalBadHeader(t *testing.T, data []byte) {
	path := closedDB(t)
	bad := writeSegment(t, path, 1, data)
	db, err := Open(t.Context(), "sqlite://"+path)
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded with a foreign file among the segments")
	}
	if !strings.Contains(err.Error(), bad) {
		t.Errorf("Open: %v; want the error to name %s", err, bad)
	}
	if got, err := os.ReadFile(bad); err != nil || !bytes.Equal(got, data) {
		t.Errorf("the foreign file after Open: %q, %v; want it left as it was", got, err)
	}
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}
	journalOf(t, open(t, "sqlite://"+path))
}

// TestJournalReplaySkips pins what the replay leaves out: an expired row,
// a row whose client is gone, and a row whose digest the table already
// holds (the table's row stays as it was); the rows after them are still
// inserted.
func TestJournalReplaySkips(t *testing.T) {
	path := filepath.Join(t.TempDir(), "valet.db")
	db := openOnly(t, "sqlite://"+path)
	benchClient(t, db.Store(), "c")
	orig := benchToken("dup", "c")
	if err := db.Store().Access.Create(t.Context(), orig); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil { // writes orig into the table
		t.Fatal(err)
	}

	now := time.Now().UTC().Truncate(time.Microsecond)
	expired := benchToken("expired", "c")
	expired.CreatedAt, expired.ExpiresAt = now.Add(-2*time.Hour), now.Add(-time.Hour)
	orphan := benchToken("orphan", "gone")
	dup := benchToken("dup", "c")
	dup.ID = "another"
	fresh := benchToken("fresh", "c")
	writeSegment(t, path, 1, journalSegment(expired, orphan, dup, fresh))

	db = open(t, "sqlite://"+path)
	st := db.Store()
	checkStored(t, st, orig)
	checkStored(t, st, fresh)
	checkNotFound(t, st, expired.Digest)
	checkNotFound(t, st, orphan.Digest)
	if n := rowCount(t, db); n != 2 {
		t.Errorf("%d rows after the replay, want 2", n)
	}
	if segs := segments(t, path); len(segs) != 0 {
		t.Errorf("segments left after the replay: %v", segs)
	}
}

// TestJournalRecordDecode pins the record format: accessArgs round-trips,
// with and without an auth time (nil), and decodeJournalRecord refuses
// (returns 0 for) anything but a whole, intact record of 10 values.
func TestJournalRecordDecode(t *testing.T) {
	withAuth := benchToken("with-auth", "c")
	withAuth.AuthTime = benchNow.Add(-time.Minute)
	withAuth.GrantID, withAuth.Subject = "grant", "sübject \x00 \"quoted\""
	withAuth.Scopes, withAuth.Audience = []string{"read", "write"}, nil
	for _, tok := range []*valet.AccessToken{benchToken("no-auth", "c"), withAuth} {
		args := accessArgs(tok)
		rec := appendJournalRecord(nil, args)
		row, n := decodeJournalRecord(append(slices.Clone(rec), rec...)) // another record follows
		if n != len(rec) || !reflect.DeepEqual(row, args) {
			t.Errorf("%s: decoded %#v (%d bytes), want %#v (%d bytes)", tok.Digest, row, n, args, len(rec))
		}
		for i := range rec {
			if _, n := decodeJournalRecord(rec[:i]); n != 0 {
				t.Errorf("%s cut to %d of its %d bytes: decoded %d bytes, want 0", tok.Digest, i, len(rec), n)
			}
		}
	}
	if args := accessArgs(benchToken("no-auth", "c")); args[7] != nil {
		t.Fatalf("accessArgs gives a zero auth time as %#v, want nil", args[7])
	}

	// frame makes a record of any payload, with its right length and CRC.
	frame := func(p []byte) []byte {
		b := binary.AppendUvarint(nil, uint64(len(p)))
		b = binary.BigEndian.AppendUint32(b, crc32.Checksum(p, journalCRC))
		return append(b, p...)
	}
	args := accessArgs(benchToken("x", "c"))
	rec := appendJournalRecord(nil, args)
	_, hdr := binary.Uvarint(rec)
	payloadOf := func(rec []byte) []byte { _, n := binary.Uvarint(rec); return rec[n+4:] }
	flip := func(i int) []byte { b := slices.Clone(rec); b[i] ^= 0x80; return b }
	// Nine values, then a tenth of an unknown type.
	badTag := append(slices.Clone(payloadOf(appendJournalRecord(nil, args[:9]))), journalInt+1)
	// Ten values, longer in all than a record may be.
	long := slices.Clone(args)
	long[6] = strings.Repeat("a", journalRecordMax)
	for name, b := range map[string][]byte{
		"empty":               nil,
		"flipped CRC":         flip(hdr),
		"flipped payload":     flip(len(rec) - 1),
		"huge length":         binary.AppendUvarint(nil, 1<<62),
		"ten values too long": appendJournalRecord(nil, long),
		"overlong uvarint":    bytes.Repeat([]byte{0xff}, 11),
		"unknown tag":         frame(badTag),
		"9 values":            appendJournalRecord(nil, args[:9]),
		"11 values":           appendJournalRecord(nil, append(slices.Clone(args), "extra")),
		"string past payload": frame(append([]byte{journalString}, binary.AppendUvarint(nil, 100)...)),
		"truncated varint":    frame([]byte{journalInt, 0x80}),
	} {
		if row, n := decodeJournalRecord(b); n != 0 {
			t.Errorf("%s: decoded %#v (%d bytes), want 0", name, row, n)
		}
	}
}

// TestJournalWriteFailure pins a failed journal write: the Create waits for
// its commit instead, and its token is in the table when it returns; the
// next Create opens a new segment, is journaled there, and all survive a
// reopen.
func TestJournalWriteFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "valet.db")
	db := openOnly(t, "sqlite://"+path)
	st := db.Store()
	benchClient(t, st, "c")
	j := journalOf(t, db)
	before, lost, after := benchToken("before", "c"), benchToken("committed", "c"), benchToken("after", "c")
	if err := st.Access.Create(t.Context(), before); err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	if j.f == nil {
		j.mu.Unlock()
		t.Fatal("no active segment after a journaled Create")
	}
	failed := j.seg
	_ = j.f.Close() // the next write fails
	j.mu.Unlock()

	if err := st.Access.Create(t.Context(), lost); err != nil {
		t.Errorf("Create while the journal cannot be written = %v, want it committed instead", err)
	}
	if !inTable(t, db, lost.Digest) {
		t.Error("the Create the journal could not take returned before its row was in the table")
	}
	if err := st.Access.Create(t.Context(), after); err != nil {
		t.Fatalf("Create after a failed journal write: %v", err)
	}
	// The segments up to the failed one may be deleted at any moment, as
	// their rows are settled; the active one stays until Close.
	journaled := false
	for _, name := range segments(t, path) {
		if n, _ := segmentNumber(name); n <= failed {
			continue
		}
		rows, err := readSegment(filepath.Join(journalDir(path), name))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			journaled = journaled || r[0] == after.Digest
		}
	}
	if !journaled {
		t.Errorf("the Create after the failed write is not in a segment after %s", segmentName(failed))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	st = open(t, "sqlite://"+path).Store()
	checkStored(t, st, before)
	checkStored(t, st, after)
	checkStored(t, st, lost)
}

// TestJournalCloseAndSecondDB pins the journal's directory: it holds a
// segment while the database is open and none after a clean Close; a
// second database of this process on the same file has no journal, and
// its Creates are in the table when they return.
func TestJournalCloseAndSecondDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "valet.db")
	first := openOnly(t, "sqlite://"+path)
	benchClient(t, first.Store(), "c")
	journalOf(t, first)
	one := benchToken("one", "c")
	if err := first.Store().Access.Create(t.Context(), one); err != nil {
		t.Fatal(err)
	}
	if len(segments(t, path)) == 0 {
		t.Error("no journal segment after a Create")
	}

	second := open(t, "sqlite://"+path)
	if second.accessQ.journal != nil {
		t.Fatal("a second database on the file has a journal too")
	}
	two := benchToken("two", "c")
	if err := second.Store().Access.Create(t.Context(), two); err != nil {
		t.Fatal(err)
	}
	if !inTable(t, second, two.Digest) {
		t.Error("the second database's Create returned before its row was in the table")
	}
	checkStored(t, first.Store(), two)

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if segs := segments(t, path); len(segs) != 0 {
		t.Errorf("segments after a clean Close: %v; want none", segs)
	}
	checkStored(t, second.Store(), one)
}

// TestJournalDeletedClient pins the client checks of a journaled Create,
// which answers before its insert could fail on the foreign key: a Create
// for an unknown client fails with ErrNotFound, one made while the
// client's deletion is under way too, and Clients.Delete returns only once
// the client's tokens still queued are in the table, where the cascade
// removes them: then Get no longer finds them.
func TestJournalDeletedClient(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	benchClient(t, st, "c")
	if err := st.Access.Create(t.Context(), benchToken("nobody's", "nobody")); !errors.Is(err, valet.ErrNotFound) {
		t.Errorf("Create for an unknown client = %v, want ErrNotFound", err)
	}

	// A batcher that writes nothing until resumed, with a journal: the
	// tokens stay queued, and in pending.
	b, resume := pauseBatcher(t, db)
	j, _, segs, err := openAccessJournal(db.path)
	if err != nil || j == nil || len(segs) != 0 {
		t.Fatalf("openAccessJournal = %v, %v, %v; want a journal without segments", j, segs, err)
	}
	b.journal = j
	// A Create that waited for its commit would wait for ever: it gives up
	// instead, and the test fails.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var toks []*valet.AccessToken
	for i := range 3 {
		tok := benchToken(fmt.Sprintf("tok-%d", i), "c")
		toks = append(toks, tok)
		if err := st.Access.Create(ctx, tok); err != nil {
			t.Fatal(err)
		}
		checkStored(t, st, tok)
	}

	deleted := make(chan error, 1)
	go func() { deleted <- st.Clients.Delete(context.WithoutCancel(t.Context()), "c") }()
	// Delete must wait for the queued tokens: its barrier joins the queue.
	for !slices.ContainsFunc(snapshotQueue(b), func(r *accessReq) bool { return r.barrier }) {
		select {
		case err := <-deleted:
			t.Fatalf("Clients.Delete returned (%v) while the client's tokens were queued", err)
		case <-b.wake:
		}
	}
	// A Create made meanwhile is not journaled: it waits for its commit,
	// which comes before or after the deletion's; either way its token is
	// gone once Delete returns.
	during := make(chan error, 1)
	go func() { during <- st.Access.Create(ctx, benchToken("during", "c")) }()
	for !slices.ContainsFunc(snapshotQueue(b), func(r *accessReq) bool { return r.args != nil && r.args[0] == "during" }) {
		<-b.wake
	}
	resume()
	select {
	case b.wake <- struct{}{}: // the wake-up taken above
	default:
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if err := <-during; err != nil && !errors.Is(err, valet.ErrNotFound) {
		t.Errorf("Create while the client was being deleted = %v, want nil (then cascaded) or ErrNotFound", err)
	}
	for _, tok := range toks {
		checkNotFound(t, st, tok.Digest)
	}
	checkNotFound(t, st, "during")
	if n := rowCount(t, db); n != 0 {
		t.Errorf("%d rows left after the client's deletion", n)
	}
}

// TestJournalCreateRacingDelete pins the client check a journaled Create
// makes again once its record is written: one that found its client, then
// waited to write while Clients.Delete ran to its end, fails with
// ErrNotFound instead of answering for a row the foreign key will refuse.
func TestJournalCreateRacingDelete(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	benchClient(t, st, "c")
	j := journalOf(t, db)
	if err := st.Access.Create(t.Context(), benchToken("first", "c")); err != nil { // "c" is now known
		t.Fatal(err)
	}
	// The batch holding "first" may answer the first barrier before it
	// tells the journal its row is in; the second barrier comes after.
	for range 2 {
		if err := db.accessQ.flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}

	j.mu.Lock() // the next append waits
	locked := true
	defer func() {
		if locked {
			j.mu.Unlock()
		}
	}()
	created := make(chan error, 1)
	go func() { created <- st.Access.Create(t.Context(), benchToken("late", "c")) }()
	waitForStack(t, "(*accessJournal).append") // past its client check
	if err := st.Clients.Delete(t.Context(), "c"); err != nil {
		t.Fatal(err)
	}
	j.mu.Unlock()
	locked = false
	if err := <-created; !errors.Is(err, valet.ErrNotFound) {
		t.Errorf("Create whose client was deleted while it wrote the journal = %v, want ErrNotFound", err)
	}
	checkNotFound(t, st, "late")
}

// waitForStack waits until a goroutine's stack holds fn.
func waitForStack(t *testing.T, fn string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if bytes.Contains(buf[:runtime.Stack(buf, true)], []byte(fn)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine reached %s", fn)
		}
	}
}

// snapshotQueue returns a copy of b's queue.
func snapshotQueue(b *accessBatcher) []*accessReq {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.queue)
}

// TestJournalLargeToken pins that a token whose record would pass
// journalRecordMax, which a replay would refuse as corrupt, is not
// journaled but committed before Create returns, and that the next token
// is journaled again.
func TestJournalLargeToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "valet.db")
	db := open(t, "sqlite://"+path)
	st := db.Store()
	benchClient(t, st, "c")
	large := benchToken("large", "c")
	large.Audience = []string{"https://api.example/" + strings.Repeat("a", journalRecordMax)}
	if err := st.Access.Create(t.Context(), large); err != nil {
		t.Fatalf("Create of a large token: %v", err)
	}
	if !inTable(t, db, large.Digest) {
		t.Error("the large token is not in the table when Create returns: it was answered before its commit")
	}
	checkStored(t, st, large)
	small := benchToken("small", "c")
	if err := st.Access.Create(t.Context(), small); err != nil {
		t.Fatal(err)
	}
	if len(segments(t, path)) == 0 {
		t.Error("no segment after a token of ordinary size: it was not journaled")
	}
	checkStored(t, st, small)
}

// TestJournalRetry pins what becomes of a journaled row whose insert fails
// for a reason not its own (a trigger that breaks every INSERT stands in
// for a full disk): its Create was answered, so the row stays found in
// memory and is written once inserts work again; and if its client is
// deleted meanwhile, it is dropped with the client's other tokens.
func TestJournalRetry(t *testing.T) {
	db := open(t, sqliteURL(t))
	st := db.Store()
	benchClient(t, st, "c")
	benchClient(t, st, "d")
	journalOf(t, db)
	waitFailing := func(want bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); db.accessQ.failing.Load() != want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the writer's failing = %v, want %v", !want, want)
			}
		}
	}

	mend := breakInserts(t, db)
	kept := benchToken("kept", "c")
	if err := st.Access.Create(t.Context(), kept); err != nil {
		t.Fatalf("journaled Create = %v", err)
	}
	waitFailing(true)
	checkStored(t, st, kept) // from memory: the insert failed
	if inTable(t, db, kept.Digest) {
		t.Fatal("the row is in the table although every insert fails")
	}
	mend()
	// While failing, a Create waits for its commit; its success queues the
	// failed row again.
	if err := st.Access.Create(t.Context(), benchToken("next", "c")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !inTable(t, db, kept.Digest); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the failed row was not written once inserts worked again")
		}
	}
	waitFailing(false)

	mend = breakInserts(t, db)
	orphan := benchToken("orphan", "d")
	if err := st.Access.Create(t.Context(), orphan); err != nil {
		t.Fatalf("journaled Create = %v", err)
	}
	waitFailing(true)
	if err := st.Clients.Delete(t.Context(), "d"); err != nil {
		t.Fatal(err)
	}
	checkNotFound(t, st, orphan.Digest)
	mend()
	checkStored(t, st, kept)
}
