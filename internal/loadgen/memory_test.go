package loadgen

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestParseStatus(t *testing.T) {
	m, err := parseStatus([]byte("Name:\tvalet\nVmPeak:\t 1000 kB\nVmHWM:\t    5000 kB\nVmRSS:\t    4096 kB\nThreads:\t7\n"))
	if err != nil || m.RSS != 4096<<10 || m.Peak != 5000<<10 {
		t.Fatalf("got %+v, %v", m, err)
	}
	for _, bad := range []string{"Name:\tvalet\n", "VmRSS:\t12 MB\nVmHWM:\t1 kB\n", "VmRSS:\tmany kB\nVmHWM:\t1 kB\n"} {
		if _, err := parseStatus([]byte(bad)); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
}

func TestReadMemoryOfThisProcess(t *testing.T) {
	m, err := ReadMemory(0)
	if err != nil {
		t.Skip("no /proc here:", err)
	}
	if m.RSS <= 0 || m.Peak < m.RSS {
		t.Fatalf("implausible memory %+v", m)
	}
}

func TestMemorySamplerKeepsTheLargest(t *testing.T) {
	readings := []Memory{{RSS: 10, Peak: 10}, {RSS: 30, Peak: 30}, {RSS: 20, Peak: 30}}
	i := 0
	s := &MemorySampler{Read: func() (Memory, error) {
		if i >= len(readings) {
			return Memory{}, errors.New("gone")
		}
		i++
		return readings[i-1], nil
	}}
	if _, _, err := s.Result(); err != nil {
		t.Fatal("an unsampled sampler has an error")
	}
	for range 4 {
		s.Sample()
	}
	maxRSS, last, err := s.Result()
	if maxRSS != 30 || last != readings[2] || err != nil {
		t.Fatalf("got %d %+v %v", maxRSS, last, err)
	}

	failing := &MemorySampler{Read: func() (Memory, error) { return Memory{}, errors.New("no /proc") }}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	failing.Run(ctx, time.Hour) // samples once, then sees ctx is done
	if _, _, err := failing.Result(); err == nil {
		t.Fatal("every reading failed, yet no error")
	}
}
