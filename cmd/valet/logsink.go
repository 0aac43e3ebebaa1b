package main

import (
	"io"
	"sync"
)

// logSink hands log lines to one goroutine that writes everything queued
// since its last write in one call. When the server is quiet that is one
// write per line, as before, within microseconds; under load it is one
// write for many lines, instead of a system call per request for the
// access log (3% of a request's CPU in valet bench). Lines keep their
// order. Close writes what is left and stops the goroutine; a line written
// after Close goes straight to the output.
type logSink struct {
	out io.Writer

	mu      sync.Mutex
	pending []byte
	closed  bool
	// wmu orders the writes to out: it is taken before mu is released,
	// so a batch taken first is written first.
	wmu  sync.Mutex
	wake chan struct{} // capacity 1: "there is something to write"
	done chan struct{}
}

// logSinkMax is how much may queue before a writer writes the queue
// itself, so that a stalled output slows the server down rather than
// growing memory.
const logSinkMax = 1 << 20

func newLogSink(out io.Writer) *logSink {
	s := &logSink{out: out, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.run()
	return s
}

// Write queues p. It never fails: an error of the output is the output's
// (a full disk, a closed terminal), and a logger has nowhere to report it.
func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	if s.closed {
		// Behind whatever is still queued, so lines keep their order.
		s.pending = append(s.pending, p...)
		s.flushLocked()
		return len(p), nil
	}
	s.pending = append(s.pending, p...)
	if len(s.pending) >= logSinkMax {
		s.flushLocked()
		return len(p), nil
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

// flushLocked writes the queue; it is called with mu held and releases it.
func (s *logSink) flushLocked() {
	buf := s.pending
	s.pending = nil
	s.wmu.Lock()
	s.mu.Unlock()
	if len(buf) > 0 {
		_, _ = s.out.Write(buf)
	}
	s.wmu.Unlock()
}

func (s *logSink) run() {
	defer close(s.done)
	for range s.wake {
		s.mu.Lock()
		closed := s.closed
		s.flushLocked()
		if closed {
			return
		}
	}
}

// Close writes every queued line and stops the goroutine.
func (s *logSink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // a wake-up is already queued; the goroutine will see closed
	}
	<-s.done
	return nil
}
