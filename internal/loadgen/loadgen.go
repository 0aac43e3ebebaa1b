package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of a run: a benchmark that outlives them is a mistake.
const (
	MaxDuration    = 5 * time.Minute // warm-up plus measured window
	MaxConcurrency = 1024
	// MaxBody is how much of an answer is kept for Config.Check; the rest is
	// read and dropped, so that the connection can be reused.
	MaxBody = 1 << 20
)

// Config describes one run.
type Config struct {
	// Concurrency is the number of workers, each with one request in flight
	// at a time, each on its own kept-alive connection; 1 to MaxConcurrency.
	Concurrency int
	// Duration is the length of the measured window; Warmup, which may be
	// zero, runs the same load before it, uncounted, so that connections,
	// caches and the heap have settled. Together at most MaxDuration.
	Duration, Warmup time.Duration
	// NewRequest builds worker's next request (workers are numbered from 0).
	// Workers call it concurrently, each from its own goroutine. The URL
	// must be http:// on a loopback host; the request's context is not
	// used: Timeout bounds each request and the end of the run interrupts it.
	NewRequest func(worker int) (*http.Request, error)
	// Check says whether an answer is a success, from its status and its
	// body (at most MaxBody bytes of it). Nil means a 2xx status.
	Check func(status int, body []byte) bool
	// Timeout bounds one request; zero means 10 seconds.
	Timeout time.Duration
	// CPUOf names the processes whose CPU time is the measurement's own: 0
	// for this process, and the server's process ID when it runs apart.
	// With it, Result.OtherCPU says how much of the machine other processes
	// took during the window (Linux only). Nil measures nothing.
	CPUOf []int
}

// Result is what a run measured. Counts and latencies cover only the
// requests that completed inside the measured window.
type Result struct {
	Concurrency int
	Elapsed     time.Duration // the measured window
	Requests    int64         // requests completed, successful or not
	Errors      int64         // requests that failed: no answer, or Check said no
	// Statuses counts answers by HTTP status; 0 counts requests that got no
	// answer (connection refused, timeout).
	Statuses map[int]int64
	// ErrorsByStatus counts the failed requests by status, 0 as above.
	ErrorsByStatus map[int]int64
	// FirstError describes the first failure of the run, for a person.
	FirstError string
	// Latency from sending the request to reading the last byte of the
	// answer, over all completed requests; within 1% (see histogram).
	P50, P90, P99, Max time.Duration
	// OtherCPU is the share of the machine's CPU time, 0 to 1, that went to
	// processes other than Config.CPUOf during the window, or to the
	// hypervisor (steal): above a few percent, the figures measure the
	// neighbours too. -1 when it was not measured.
	OtherCPU float64
}

// RPS is the number of completed requests per second of the window.
func (r *Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Validate checks c and says what to change.
func (c *Config) Validate() error {
	switch {
	case c.Concurrency < 1 || c.Concurrency > MaxConcurrency:
		return fmt.Errorf("concurrency %d: want 1 to %d", c.Concurrency, MaxConcurrency)
	case c.Duration <= 0:
		return fmt.Errorf("duration %v: want a positive duration, such as 10s", c.Duration)
	case c.Warmup < 0:
		return fmt.Errorf("warm-up %v: want zero or a positive duration", c.Warmup)
	case c.Duration+c.Warmup > MaxDuration:
		return fmt.Errorf("duration %v plus warm-up %v: want at most %v in all", c.Duration, c.Warmup, MaxDuration)
	case c.Timeout < 0:
		return fmt.Errorf("timeout %v: want zero (10 s) or a positive duration", c.Timeout)
	case c.NewRequest == nil:
		return errors.New("NewRequest is nil: nothing to send")
	}
	return nil
}

// Run sends load as c describes and returns what it measured. It returns an
// error, with no result, when c is invalid or a request names a host that is
// not loopback (the run stops at the first); when ctx ends early it returns
// what was measured so far with ctx's error.
func Run(ctx context.Context, c Config) (*Result, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	start := time.Now()
	r := &run{
		cfg:     c,
		timeout: timeout,
		from:    start.Add(c.Warmup),
		until:   start.Add(c.Warmup + c.Duration),
	}
	// Requests still in flight when the window closes do not count; they get
	// a moment to finish so that their connections close cleanly, then are
	// cancelled.
	rctx, cancel := context.WithDeadline(ctx, r.until.Add(min(timeout, time.Second)))
	defer cancel()
	r.cancel = cancel

	workers := make([]*worker, c.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{run: r, id: i, statuses: map[int]int64{}, failed: map[int]int64{}}
		workers[i] = w
		wg.Go(func() {
			defer w.closeConn()
			w.loop(rctx)
		})
	}
	otherCPU := -1.0
	if c.CPUOf != nil {
		otherCPU = r.otherCPU(rctx, c.CPUOf)
	}
	wg.Wait()

	if err := r.fatal.Load(); err != nil {
		return nil, *err
	}
	res := &Result{
		OtherCPU:       otherCPU,
		Concurrency:    c.Concurrency,
		Elapsed:        c.Duration,
		Statuses:       map[int]int64{},
		ErrorsByStatus: map[int]int64{},
	}
	if now := time.Now(); now.Before(r.until) {
		res.Elapsed = max(now.Sub(r.from), 0) // cut short by ctx
	}
	var h histogram
	for _, w := range workers {
		h.merge(&w.hist)
		res.Requests += w.requests
		res.Errors += w.errors
		for s, n := range w.statuses {
			res.Statuses[s] += n
		}
		for s, n := range w.failed {
			res.ErrorsByStatus[s] += n
		}
	}
	if msg := r.firstError.Load(); msg != nil {
		res.FirstError = *msg
	}
	res.P50, res.P90, res.P99, res.Max = h.quantile(0.50), h.quantile(0.90), h.quantile(0.99), time.Duration(h.max)
	return res, ctx.Err()
}

// otherCPU reads the CPU times at both ends of the window and returns
// otherShare of them, or -1 when ctx ends first or /proc cannot be read.
func (r *run) otherCPU(ctx context.Context, pids []int) float64 {
	var at [2]cpuTimes
	for i, t := range []time.Time{r.from, r.until} {
		select {
		case <-ctx.Done():
			return -1
		case <-time.After(time.Until(t)):
		}
		var err error
		if at[i], err = readCPU(pids); err != nil {
			return -1
		}
	}
	return otherShare(at[0], at[1])
}

// run is the state the workers of one Run share.
type run struct {
	cfg         Config
	timeout     time.Duration
	from, until time.Time // the measured window
	cancel      context.CancelFunc
	fatal       atomic.Pointer[error]
	firstError  atomic.Pointer[string]
}

// worker sends one request at a time and keeps its own counts, merged when
// the run ends, so that workers share nothing on the hot path.
type worker struct {
	*run
	id       int
	hist     histogram
	requests int64
	errors   int64
	statuses map[int]int64
	failed   map[int]int64
	body     bytes.Buffer
	okHost   string // the last URL host that passed the loopback check

	// The worker's own kept-alive connection, to addr; nil until the first
	// request, and again after an error or a "Connection: close".
	conn     net.Conn
	addr     string
	br       *bufio.Reader
	bw       *bufio.Writer
	stopConn func() bool // unregisters the conn's context.AfterFunc
}

func (w *worker) loop(ctx context.Context) {
	for ctx.Err() == nil {
		req, err := w.cfg.NewRequest(w.id)
		if err != nil {
			w.stop(fmt.Errorf("building a request: %w", err))
			return
		}
		if req.URL.Host != w.okHost {
			if err := checkHost(req.URL.Hostname()); err != nil {
				w.stop(err)
				return
			}
			w.okHost = req.URL.Host
		}
		begin := time.Now()
		status, ok, reason := w.send(ctx, req)
		end := time.Now()
		if ctx.Err() != nil || end.After(w.until) {
			return // stopped, or the window closed, while this request was in flight
		}
		if end.Before(w.from) {
			continue // warm-up
		}
		w.hist.record(end.Sub(begin))
		w.requests++
		w.statuses[status]++
		if !ok {
			w.errors++
			w.failed[status]++
			if reason != "" {
				w.firstError.CompareAndSwap(nil, &reason)
			}
		}
	}
}

// stop ends the whole run with err.
func (w *worker) stop(err error) {
	w.fatal.CompareAndSwap(nil, &err)
	w.cancel()
}

// send sends req on the worker's connection and reads the whole answer.
// status is 0 when there was no answer. reason says why a request failed,
// but only while the run has no first error yet: a run where every request
// fails formats one message.
//
// Each worker writes and reads its connection itself, with the standard
// library's HTTP/1.1 serialisation (http.Request.Write, http.ReadResponse)
// but without http.Transport: the Transport's two goroutines per connection
// and its channel hand-offs cost the generator about as much CPU as a bare
// server spends on the request, CPU that a generator sharing the machine
// takes from the server it measures.
func (w *worker) send(ctx context.Context, req *http.Request) (status int, ok bool, reason string) {
	explain := w.firstError.Load() == nil
	fail := func(status int, format string, args ...any) (int, bool, string) {
		w.closeConn()
		if !explain {
			return status, false, ""
		}
		return status, false, fmt.Sprintf(format, args...)
	}
	if err := w.connect(ctx, req); err != nil {
		return fail(0, "%s %s: %v", req.Method, req.URL, err)
	}
	w.conn.SetDeadline(time.Now().Add(w.timeout))
	err := req.Write(w.bw)
	if err == nil {
		err = w.bw.Flush()
	}
	if err != nil {
		return fail(0, "%s %s: %v", req.Method, req.URL, err)
	}
	resp, err := http.ReadResponse(w.br, req)
	if err != nil {
		return fail(0, "%s %s: %v", req.Method, req.URL, err)
	}
	w.body.Reset()
	_, err = w.body.ReadFrom(io.LimitReader(resp.Body, MaxBody))
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	if err != nil {
		return fail(resp.StatusCode, "reading the answer of %s %s: %v", req.Method, req.URL.Path, err)
	}
	if resp.Close {
		w.closeConn()
	}
	if w.cfg.Check != nil {
		ok = w.cfg.Check(resp.StatusCode, w.body.Bytes())
	} else {
		ok = resp.StatusCode >= 200 && resp.StatusCode < 300
	}
	if !ok {
		if !explain {
			return resp.StatusCode, false, ""
		}
		return resp.StatusCode, false, fmt.Sprintf("%s %s answered %d: %s", req.Method, req.URL.Path, resp.StatusCode, excerpt(w.body.Bytes()))
	}
	return resp.StatusCode, true, ""
}

// connect makes sure the worker has a connection to req's host, through the
// loopback-only dialer. The end of ctx interrupts whatever the connection is
// doing, so that a run never waits out a request's timeout.
func (w *worker) connect(ctx context.Context, req *http.Request) error {
	if req.URL.Scheme != "http" {
		return fmt.Errorf("the load generator speaks plain http to this machine, not %q", req.URL.Scheme)
	}
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	if w.conn != nil && w.addr == addr {
		return nil
	}
	w.closeConn()
	dctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	c, err := (&loopbackDialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return err
	}
	w.conn, w.addr = c, addr
	w.br, w.bw = bufio.NewReaderSize(c, 16<<10), bufio.NewWriterSize(c, 16<<10)
	w.stopConn = context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	return nil
}

func (w *worker) closeConn() {
	if w.conn == nil {
		return
	}
	w.stopConn()
	w.conn.Close()
	w.conn = nil
}

// excerpt returns the start of an answer body, printable, for an error message.
func excerpt(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(bytes.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, b))
}
