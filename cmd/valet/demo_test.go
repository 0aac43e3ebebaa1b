package main

import (
	"bytes"
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// runningDemo is a demo started in-process on free loopback ports.
type runningDemo struct {
	demoInfo
	out, logs *syncBuffer
	// received holds every request FriendFinder's handler received, dumped
	// with headers and body.
	received *demoLog
	// tokens holds the raw answers of Valet's token endpoint to
	// FriendFinder, so that the tests know what must never be shown.
	tokens *demoLog
	stop   func() error
}

type demoLog struct {
	mu      sync.Mutex
	entries []string
}

func (l *demoLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, s)
}

func (l *demoLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.entries...)
}

// demoTokenSpy is FriendFinder's transport in tests: it keeps each token
// endpoint answer and each request body sent there.
type demoTokenSpy struct{ log *demoLog }

func (s demoTokenSpy) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/token") {
		return resp, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	s.log.add(req.Header.Get("Authorization") + "\n" + string(reqBody) + "\n" + string(b))
	return resp, nil
}

func startDemo(t *testing.T) *runningDemo {
	t.Helper()
	d := &runningDemo{out: &syncBuffer{}, logs: &syncBuffer{}, received: &demoLog{}, tokens: &demoLog{}}
	o := demoOptions{
		out: d.out, logOut: d.logs, logLevel: "debug",
		wrapFriendFinder: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				dump, err := httputil.DumpRequest(r, true)
				if err != nil {
					t.Errorf("dump a request to FriendFinder: %v", err)
				}
				d.received.add(string(dump))
				h.ServeHTTP(w, r)
			})
		},
		friendFinderHTTP: &http.Client{Transport: demoTokenSpy{d.tokens}, Timeout: 15 * time.Second},
	}
	ctx, cancel := context.WithCancel(context.Background())
	infoc := make(chan demoInfo, 1)
	errc := make(chan error, 1)
	go func() { errc <- runDemo(ctx, o, func(i demoInfo) { infoc <- i }) }()
	select {
	case d.demoInfo = <-infoc:
	case err := <-errc:
		cancel()
		t.Fatalf("the demo did not start: %v\nlogs:\n%s", err, d.logs)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("the demo did not start in 60 s; logs:\n%s", d.logs)
	}
	var once sync.Once
	var stopErr error
	d.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-errc:
			case <-time.After(30 * time.Second):
				t.Error("the demo did not stop within 30 s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := d.stop(); err != nil {
			t.Errorf("stop the demo: %v", err)
		}
	})
	return d
}

// browser plays ana's browser: a cookie jar, redirects taken one at a
// time so that each can be checked.
type demoBrowser struct {
	t    *testing.T
	http *http.Client
	// consents counts the consent pages answered.
	consents int
}

func newDemoBrowser(t *testing.T) *demoBrowser {
	jar, _ := cookiejar.New(nil)
	return &demoBrowser{t: t, http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type demoPage struct {
	*http.Response
	body string
}

func (b *demoBrowser) do(req *http.Request) demoPage {
	b.t.Helper()
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return demoPage{resp, string(body)}
}

func (b *demoBrowser) get(u string) demoPage {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

// post sends a form as a page of the target's own origin would.
func (b *demoBrowser) post(u string, form url.Values) demoPage {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", req.URL.Scheme+"://"+req.URL.Host)
	return b.do(req)
}

// location is where p redirects, resolved against the request's URL.
func (p demoPage) location(t *testing.T) *url.URL {
	t.Helper()
	if p.StatusCode != http.StatusFound && p.StatusCode != http.StatusSeeOther {
		t.Fatalf("%s %s answered %d, want a redirect:\n%s", p.Request.Method, p.Request.URL, p.StatusCode, p.body)
	}
	u, err := p.Location()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var demoHiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

func demoHidden(body string) url.Values {
	v := url.Values{}
	for _, m := range demoHiddenRE.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// atValet follows redirects from p through Valet's sign-in and consent
// pages, as ana, with the given decision, until Valet sends the browser
// back to an address under app, which it returns.
func (b *demoBrowser) atValet(p demoPage, d *runningDemo, app, decision string) *url.URL {
	b.t.Helper()
	for range 10 {
		switch {
		case p.StatusCode == http.StatusFound || p.StatusCode == http.StatusSeeOther:
			loc := p.location(b.t)
			if strings.HasPrefix(loc.String(), app) {
				return loc
			}
			if !strings.HasPrefix(loc.String(), d.Valet) {
				b.t.Fatalf("redirected to %s, outside Valet", loc)
			}
			p = b.get(loc.String())
		case p.StatusCode == http.StatusOK && strings.Contains(p.body, `action="/login"`):
			for _, want := range []string{`name="username"`, `name="password"`, `<label for="password">`} {
				if !strings.Contains(p.body, want) {
					b.t.Errorf("Valet's sign-in page lacks %s", want)
				}
			}
			f := demoHidden(p.body)
			f.Set("username", d.Username)
			f.Set("password", d.Password)
			p = b.post(d.Valet+"/login", f)
		case p.StatusCode == http.StatusOK && strings.Contains(p.body, `action="/consent"`):
			b.consents++
			f := demoHidden(p.body)
			f.Set("decision", decision)
			p = b.post(d.Valet+"/consent", f)
		default:
			b.t.Fatalf("unexpected answer at Valet: %d\n%s", p.StatusCode, p.body)
		}
	}
	b.t.Fatal("no way back to the app after 10 pages")
	return nil
}

func TestDemoFlags(t *testing.T) {
	cmd := newDemoCmd()
	cmd.SetArgs([]string{"--log-level", "loud"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("a bad --log-level: %v", err)
	}
	cmd = newDemoCmd()
	cmd.SetArgs([]string{"--mail-port", "70000"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--mail-port") {
		t.Errorf("a bad --mail-port: %v", err)
	}
}
