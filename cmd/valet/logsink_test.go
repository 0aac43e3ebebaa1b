package main

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// countingWriter records what reaches the output and in how many writes.
type countingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.buf.Write(p)
}

// TestLogSinkKeepsEveryLineInOrder: lines from many goroutines all arrive,
// each whole, each goroutine's in its order, and Close waits for them.
func TestLogSinkKeepsEveryLineInOrder(t *testing.T) {
	out := &countingWriter{}
	s := newLogSink(out)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				fmt.Fprintf(s, "g%d line %04d\n", g, i)
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.buf.String(), "\n"), "\n")
	if len(lines) != 8*500 {
		t.Fatalf("%d lines arrived, want %d", len(lines), 8*500)
	}
	next := map[string]int{}
	for _, l := range lines {
		var g string
		var i int
		if _, err := fmt.Sscanf(l, "%s line %d", &g, &i); err != nil {
			t.Fatalf("torn line %q", l)
		}
		if i != next[g] {
			t.Fatalf("%s: line %d arrived when %d was due", g, i, next[g])
		}
		next[g]++
	}
	if out.writes >= len(lines) {
		t.Logf("%d writes for %d lines: no batching happened in this run", out.writes, len(lines))
	}
	// After Close a line still reaches the output, synchronously.
	fmt.Fprintln(s, "after close")
	if !strings.HasSuffix(out.buf.String(), "after close\n") {
		t.Error("a line written after Close was lost")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestLogSinkBatchesUnderLoad: lines queued while the goroutine is busy
// writing go out together, in fewer writes than lines.
func TestLogSinkBatchesUnderLoad(t *testing.T) {
	gate := make(chan struct{})
	out := &gatedWriter{gate: gate}
	s := newLogSink(out)
	fmt.Fprintln(s, "first") // the goroutine takes it and blocks in Write
	out.waitEntered()
	for i := range 100 {
		fmt.Fprintf(s, "queued %d\n", i)
	}
	close(gate)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.buf.String(), "\n"); got != 101 {
		t.Fatalf("%d lines arrived, want 101", got)
	}
	if out.writes > 3 {
		t.Fatalf("101 lines took %d writes; the 100 queued behind a busy write should go out together", out.writes)
	}
}

// gatedWriter holds its first write until gate closes.
type gatedWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	gate   chan struct{}
}

// waitEntered returns once the first write has begun.
func (g *gatedWriter) waitEntered() {
	for {
		g.mu.Lock()
		n := g.writes
		g.mu.Unlock()
		if n > 0 {
			return
		}
		runtime.Gosched()
	}
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	g.writes++
	first := g.writes == 1
	g.mu.Unlock()
	if first {
		<-g.gate
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}
