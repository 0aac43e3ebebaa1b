package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestParseCPU(t *testing.T) {
	a, err := parseProcStat([]byte("cpu  100 0 50 800 10 5 5 30 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	if err != nil || a.total != 1000 || a.busy != 180 {
		t.Fatalf("got %+v, %v; want total 1000, busy 180 (user, nice, system, steal)", a, err)
	}
	for _, bad := range []string{"", "intr 1 2 3", "cpu 1 2 3", "cpu 1 2 3 x 5 6 7 8"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
	// A command name with spaces and parentheses; utime 7, stime 3.
	n, err := parsePidStat([]byte("42 (my (odd) cmd) R 1 42 42 0 -1 4194304 101 0 0 0 7 3 0 0 20 0 1 0 442606"))
	if err != nil || n != 10 {
		t.Fatalf("got %d, %v; want 10", n, err)
	}
	if _, err := parsePidStat([]byte("42 (cmd) R 1 2")); err == nil {
		t.Error("parsed a short stat line")
	}
	// 1000 ticks pass: 180 busy, of which the measured processes took 120.
	b := cpuTimes{total: a.total + 1000, busy: a.busy + 180, own: a.own + 120}
	if got := otherShare(a, b); got < 0.0599 || got > 0.0601 {
		t.Errorf("otherShare = %v, want 0.06", got)
	}
	if got := otherShare(a, cpuTimes{total: a.total + 100, busy: a.busy + 10, own: a.own + 20}); got != 0 {
		t.Errorf("own time above busy time (tick rounding) gave %v, want 0", got)
	}
}

func TestRunMeasuresOtherCPU(t *testing.T) {
	if _, err := readCPU([]int{0}); err != nil {
		t.Skip("no /proc here:", err)
	}
	srv := httptest.NewServer(CeilingHandler())
	defer srv.Close()
	c := Config{Concurrency: 1, Duration: 200 * time.Millisecond,
		NewRequest: func(int) (*http.Request, error) { return http.NewRequest(http.MethodGet, srv.URL, nil) }}
	res, err := Run(context.Background(), c)
	if err != nil || res.OtherCPU != -1 {
		t.Fatalf("without CPUOf: %v, %v; want OtherCPU -1", res, err)
	}
	c.CPUOf = []int{0}
	res, err = Run(context.Background(), c)
	if err != nil || res.OtherCPU < 0 || res.OtherCPU > 1 {
		t.Fatalf("with CPUOf: %+v, %v; want OtherCPU in [0, 1]", res, err)
	}
}
