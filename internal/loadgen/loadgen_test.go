package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The tests assert counts and bounds, never speed: they pass on a slow machine.

func TestRunAccountsEveryStatus(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		body, _ := io.ReadAll(r.Body)
		// Worker 0's requests fail with 500, the others succeed.
		if strings.HasPrefix(string(body), "worker=0&") {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer srv.Close()

	var seq atomic.Int64
	res, err := Run(context.Background(), Config{
		Concurrency: 4,
		Duration:    300 * time.Millisecond,
		Warmup:      50 * time.Millisecond,
		NewRequest: func(worker int) (*http.Request, error) {
			body := "worker=" + strconv.Itoa(worker) + "&seq=" + strconv.FormatInt(seq.Add(1), 10)
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return req, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Statuses[200] == 0 || res.Statuses[500] == 0 {
		t.Fatalf("want both successes and failures, got %+v", res)
	}
	var sum int64
	for _, n := range res.Statuses {
		sum += n
	}
	if sum != res.Requests {
		t.Errorf("statuses add up to %d, requests %d", sum, res.Requests)
	}
	if res.Errors != res.Statuses[500] || res.ErrorsByStatus[500] != res.Statuses[500] || len(res.ErrorsByStatus) != 1 {
		t.Errorf("errors %d, by status %v; want exactly the %d answers with 500", res.Errors, res.ErrorsByStatus, res.Statuses[500])
	}
	if res.Requests > served.Load() {
		t.Errorf("counted %d requests, the server saw only %d", res.Requests, served.Load())
	}
	if !strings.Contains(res.FirstError, "500") || !strings.Contains(res.FirstError, "boom") {
		t.Errorf("first error %q does not say what the server answered", res.FirstError)
	}
	if !(0 < res.P50 && res.P50 <= res.P90 && res.P90 <= res.P99 && res.P99 <= res.Max) {
		t.Errorf("latencies out of order: p50 %v p90 %v p99 %v max %v", res.P50, res.P90, res.P99, res.Max)
	}
	if res.Elapsed != 300*time.Millisecond || res.RPS() != float64(res.Requests)/0.3 {
		t.Errorf("elapsed %v, rps %v for %d requests", res.Elapsed, res.RPS(), res.Requests)
	}
}

func TestRunChecksBodies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Answers 200 always, but only even workers get an active token.
		if r.FormValue("token")[len("tok-"):] == "0" {
			fmt.Fprint(w, `{"active":true}`)
			return
		}
		fmt.Fprint(w, `{"active":false}`)
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{
		Concurrency: 2,
		Duration:    200 * time.Millisecond,
		NewRequest: func(worker int) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("token=tok-"+strconv.Itoa(worker)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return req, err
		},
		Check: func(status int, body []byte) bool {
			return status == 200 && strings.Contains(string(body), `"active":true`)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Statuses[200] != res.Requests || res.ErrorsByStatus[200] == 0 || res.ErrorsByStatus[200] == res.Requests {
		t.Fatalf("want 200s only, some of them refused by Check: %+v", res)
	}
	if !strings.Contains(res.FirstError, `"active":false`) {
		t.Errorf("first error %q does not quote the body", res.FirstError)
	}
}

func TestRunKeepsConnectionsAlive(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	const workers = 8
	res, err := Run(context.Background(), Config{
		Concurrency: workers,
		Duration:    300 * time.Millisecond,
		NewRequest:  func(int) (*http.Request, error) { return http.NewRequest(http.MethodGet, srv.URL, nil) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Requests <= workers {
		t.Fatalf("want many error-free requests: %+v", res)
	}
	if n := conns.Load(); n > workers {
		t.Errorf("%d connections for %d workers and %d requests: connections are not reused", n, workers, res.Requests)
	}
}

func TestRunCountsRequestsWithoutAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	res, err := Run(context.Background(), Config{
		Concurrency: 2,
		Duration:    100 * time.Millisecond,
		NewRequest:  func(int) (*http.Request, error) { return http.NewRequest(http.MethodGet, "http://"+addr+"/", nil) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Statuses[0] != res.Requests || res.Errors != res.Requests || res.ErrorsByStatus[0] != res.Requests {
		t.Fatalf("every request should fail without an answer: %+v", res)
	}
	if !strings.Contains(res.FirstError, "refused") {
		t.Errorf("first error %q does not say the connection was refused", res.FirstError)
	}
}

func TestRunRefusesHostsThatAreNotLoopback(t *testing.T) {
	// Targets that lead nowhere even if the check were broken: a reserved
	// name that never resolves, a documentation address that is never
	// routed, a name that merely looks like loopback, and "any address".
	for _, target := range []string{"http://valet-bench.invalid/token", "http://192.0.2.1:8080/", "http://127.0.0.1.invalid/", "http://0.0.0.0:8080/"} {
		var built atomic.Int64
		res, err := Run(context.Background(), Config{
			Concurrency: 3,
			Duration:    2 * time.Second, // the refusal must end the run at once, long before
			Timeout:     time.Second,
			NewRequest: func(int) (*http.Request, error) {
				built.Add(1)
				return http.NewRequest(http.MethodGet, target, nil)
			},
		})
		if !errors.Is(err, ErrNotLoopback) || res != nil {
			t.Errorf("%s: got %v, %v; want ErrNotLoopback and no result", target, res, err)
		}
		if n := built.Load(); n > 3 {
			t.Errorf("%s: %d requests built; each worker should stop at its first", target, n)
		}
	}
}

func TestRunStopsWhenBuildingFails(t *testing.T) {
	res, err := Run(context.Background(), Config{
		Concurrency: 2,
		Duration:    10 * time.Second, // ended long before by the test
		NewRequest:  func(int) (*http.Request, error) { return nil, errors.New("no token") },
	})
	if err == nil || !strings.Contains(err.Error(), "no token") || res != nil {
		t.Fatalf("got %v, %v", res, err)
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	res, err := Run(ctx, Config{
		Concurrency: 2,
		Duration:    10 * time.Second, // ended long before by the test
		NewRequest: func(int) (*http.Request, error) {
			if n.Add(1) == 50 {
				cancel()
			}
			return http.NewRequest(http.MethodGet, srv.URL, nil)
		},
	})
	if !errors.Is(err, context.Canceled) || res == nil {
		t.Fatalf("got %v, %v; want the partial result and context.Canceled", res, err)
	}
	if res.Errors != 0 || res.Elapsed >= time.Minute {
		t.Errorf("cancelled requests counted as errors, or the window not cut: %+v", res)
	}
}

func TestConfigBounds(t *testing.T) {
	ok := func(int) (*http.Request, error) { return nil, nil }
	for _, c := range []Config{
		{Concurrency: 0, Duration: time.Second, NewRequest: ok},
		{Concurrency: MaxConcurrency + 1, Duration: time.Second, NewRequest: ok},
		{Concurrency: 1, Duration: 0, NewRequest: ok},
		{Concurrency: 1, Duration: time.Second, Warmup: -time.Second, NewRequest: ok},
		{Concurrency: 1, Duration: MaxDuration, Warmup: time.Second, NewRequest: ok},
		{Concurrency: 1, Duration: MaxDuration + time.Second, NewRequest: ok},
		{Concurrency: 1, Duration: time.Second, Timeout: -1, NewRequest: ok},
		{Concurrency: 1, Duration: time.Second},
	} {
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("Run accepted %+v", c)
		}
	}
	good := Config{Concurrency: MaxConcurrency, Duration: MaxDuration - time.Second, Warmup: time.Second, NewRequest: ok}
	if err := good.Validate(); err != nil {
		t.Errorf("the largest valid run was refused: %v", err)
	}
}

func TestCheckTarget(t *testing.T) {
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://127.9.8.7/token", true},
		{"http://localhost:8080", true},
		{"https://localhost:8443", false},
		{"http://LocalHost:1", true},
		{"http://[::1]:8080", true},
		{"http://[::ffff:127.0.0.1]:80", true},
		{"http://0.0.0.0:8080", false},
		{"http://10.0.0.1", false},
		{"http://[::ffff:10.0.0.1]:80", false},
		{"http://[fe80::1%25lo]:80", false},
		{"http://example.com", false},
		{"http://localhost.example.com", false},
		{"http://127.0.0.1.invalid", false},
		{"http://localhost.:8080", false},
		{"ftp://127.0.0.1/", false},
		{"127.0.0.1:8080", false},
		{"://", false},
	} {
		err := CheckTarget(c.url)
		if (err == nil) != c.ok {
			t.Errorf("CheckTarget(%q) = %v, want ok=%v", c.url, err, c.ok)
		}
	}
}

func TestDialerRefusesOtherHosts(t *testing.T) {
	var d loopbackDialer
	// Documentation addresses and a reserved name: were they dialled, the
	// test would time out or fail differently; the refusal comes first.
	for _, addr := range []string{"192.0.2.1:80", "valet-bench.invalid:80", "[2001:db8::1]:443"} {
		if _, err := d.DialContext(context.Background(), "tcp", addr); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("dial %s: %v, want ErrNotLoopback", addr, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	c, err := d.DialContext(context.Background(), "tcp", "localhost:"+port)
	if err != nil {
		t.Fatalf("dial localhost: %v", err)
	}
	c.Close()
}
