package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// Memory is a process's resident memory as Linux reports it in
// /proc/PID/status, in bytes.
type Memory struct {
	RSS  int64 `json:"vmrss_bytes"` // VmRSS: resident now
	Peak int64 `json:"vmhwm_bytes"` // VmHWM: the most ever resident
}

// ReadMemory reads the resident memory of process pid; 0 means this process.
func ReadMemory(pid int) (Memory, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Memory{}, fmt.Errorf("resident memory: %w (it is read from /proc, on Linux only)", err)
	}
	return parseStatus(b)
}

// parseStatus reads VmRSS and VmHWM, which the kernel writes in kB.
func parseStatus(b []byte) (Memory, error) {
	var m Memory
	var found int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(name) {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.Peak
		default:
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return Memory{}, fmt.Errorf("resident memory: unexpected %s line %q", name, sc.Text())
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("resident memory: %s: %v", name, err)
		}
		*dst = kb << 10
		found++
	}
	if found != 2 {
		return Memory{}, fmt.Errorf("resident memory: no VmRSS and VmHWM lines in the process status")
	}
	return m, nil
}

// MemorySampler reads a process's memory now and then while a load runs,
// and keeps the largest resident size it saw: VmHWM alone would include
// start-up, and VmRSS at the end would miss a peak.
type MemorySampler struct {
	// Read returns the current memory, as ReadMemory does; required.
	Read func() (Memory, error)

	mu   sync.Mutex
	max  int64
	last Memory
	err  error
}

// Run samples every interval until ctx ends.
func (s *MemorySampler) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.Sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sample takes one reading.
func (s *MemorySampler) Sample() {
	m, err := s.Read()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.err = err
		return
	}
	s.last = m
	s.max = max(s.max, m.RSS)
}

// Result returns the largest RSS sampled, the last reading (whose Peak is
// VmHWM) and the last error, if every reading failed.
func (s *MemorySampler) Result() (maxRSS int64, last Memory, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.max == 0 {
		return 0, Memory{}, s.err
	}
	return s.max, s.last, nil
}
