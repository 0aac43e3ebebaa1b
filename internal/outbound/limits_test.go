package outbound

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBodyLimit(t *testing.T) {
	var size int
	var mu sync.Mutex
	tg := newTarget(t, func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		n := size
		mu.Unlock()
		w.Write([]byte(`"` + strings.Repeat("a", n-2) + `"`))
	})
	setSize := func(n int) { mu.Lock(); size = n; mu.Unlock() }

	t.Run("configured", func(t *testing.T) {
		c := allowing(t, tg)
		c.MaxBodyBytes = 10

		setSize(10)
		status, body, err := c.PostForm(t.Context(), tg.URL, url.Values{"a": {"b"}})
		if err != nil || status != http.StatusOK || len(body) != 10 {
			t.Errorf("at the limit: PostForm = %d, %d bytes, %v", status, len(body), err)
		}
		setSize(11)
		if _, _, err := c.PostForm(t.Context(), tg.URL, nil); !errors.Is(err, ErrBodyTooLarge) {
			t.Errorf("past the limit: PostForm err = %v, want ErrBodyTooLarge", err)
		}
		var s string
		if err := c.GetJSON(t.Context(), tg.URL, &s); !errors.Is(err, ErrBodyTooLarge) {
			t.Errorf("past the limit: GetJSON err = %v, want ErrBodyTooLarge", err)
		}
		resp, err := get(t, c, tg.URL)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(resp.Body); !errors.Is(err, ErrBodyTooLarge) || len(b) != 10 {
			t.Errorf("past the limit: Do body read %d bytes, err %v; want 10, ErrBodyTooLarge", len(b), err)
		}
	})

	t.Run("default", func(t *testing.T) {
		c := allowing(t, tg)
		setSize(DefaultMaxBodyBytes)
		var s string
		if err := c.GetJSON(t.Context(), tg.URL, &s); err != nil {
			t.Errorf("at the default limit: %v", err)
		}
		setSize(DefaultMaxBodyBytes + 1)
		if err := c.GetJSON(t.Context(), tg.URL, &s); !errors.Is(err, ErrBodyTooLarge) {
			t.Errorf("past the default limit: err = %v, want ErrBodyTooLarge", err)
		}
	})
}

// newStallingTarget starts a target that, after optionally sending its
// headers and the start of a body, waits until the client goes away or the
// test ends.
func newStallingTarget(t *testing.T, sendHeaders bool) *target {
	release := make(chan struct{})
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		if sendHeaders {
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(`{"keys":[`))
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		case <-time.After(30 * time.Second):
			// Should a timeout under test be gone, end the response so
			// that the test fails instead of hanging.
		}
	})
	t.Cleanup(func() { close(release) }) // before the server's Close
	return tg
}

func TestResponseHeaderTimeout(t *testing.T) {
	tg := newStallingTarget(t, false)
	c := allowing(t, tg)
	c.ResponseHeaderTimeout = 50 * time.Millisecond // Timeout stays at 10 s

	_, err := get(t, c, tg.URL)
	var ue *url.Error
	if !errors.As(err, &ue) || !ue.Timeout() || !strings.Contains(err.Error(), "awaiting response headers") {
		t.Fatalf("err = %v, want the response header timeout", err)
	}
}

func TestWholeRequestTimeout(t *testing.T) {
	tg := newStallingTarget(t, true) // headers arrive, the body never ends
	c := allowing(t, tg)
	c.Timeout = 100 * time.Millisecond

	var v any
	if err := c.GetJSON(t.Context(), tg.URL, &v); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("GetJSON err = %v, want context.DeadlineExceeded", err)
	}
	if _, _, err := c.PostForm(t.Context(), tg.URL, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("PostForm err = %v, want context.DeadlineExceeded", err)
	}
}

func TestConcurrencyPerHost(t *testing.T) {
	entered := make(chan struct{}, 10)
	release := make(chan struct{})
	slow := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the server's Close
	other := newTarget(t, okHandler)
	c := allowing(t, slow)
	c.AllowedPorts = append(c.AllowedPorts, other.port(t))
	c.MaxConcurrentPerHost = 1

	first := make(chan error, 1)
	go func() {
		status, _, err := c.PostForm(context.Background(), slow.URL, nil)
		if err == nil && status != http.StatusOK {
			err = errors.New("status " + http.StatusText(status))
		}
		first <- err
	}()
	<-entered // the first request holds the host's only slot

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := c.PostForm(ctx, slow.URL, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second request to the busy host: err = %v, want to wait until its deadline", err)
	}
	if n := slow.reqs.Load(); n != 1 {
		t.Errorf("busy host saw %d requests, want 1", n)
	}
	// Another host is not held up.
	if _, _, err := c.PostForm(t.Context(), other.URL, nil); err != nil {
		t.Errorf("request to another host: %v", err)
	}

	once.Do(func() { close(release) })
	if err := <-first; err != nil {
		t.Fatalf("first request: %v", err)
	}
	if _, _, err := c.PostForm(t.Context(), slow.URL, nil); err != nil {
		t.Errorf("request after the first one ended: %v", err)
	}
}

// A caller that never closes a body loses its connection when Timeout ends,
// so the host's slot comes back.
func TestUnclosedBodyFreedAtTimeout(t *testing.T) {
	var n atomic.Int32
	release := make(chan struct{})
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) > 1 {
			return // only the first response stalls
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		case <-time.After(30 * time.Second):
		}
	})
	t.Cleanup(func() { close(release) }) // before the server's Close
	c := allowing(t, tg)
	c.MaxConcurrentPerHost = 1
	c.Timeout = time.Second

	req, _ := http.NewRequest(http.MethodGet, tg.URL, nil)
	resp, err := c.Do(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	// Read until the deadline; never Close.
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("reading the stalled body: %v, want context.DeadlineExceeded", err)
	}
	if _, _, err := c.PostForm(t.Context(), tg.URL, nil); err != nil {
		t.Errorf("next request to the host: %v", err)
	}
}
