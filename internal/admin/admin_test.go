package admin_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/admin"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/store/sqlstore"
)

const testToken = "vadm_test-admin-token-0123456789abcdef"

// env is an admin API on a real SQLite store in a temp dir.
type env struct {
	t        *testing.T
	url      string
	store    valet.Store
	digester *secret.Digester
	logs     *syncBuffer
	ticks    atomic.Int64
}

// testEpoch is the time of the test clock's first tick.
var testEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// tick is the test clock: a second later on every call, so that creation
// times are distinct and known.
func (e *env) tick() time.Time {
	return testEpoch.Add(time.Duration(e.ticks.Add(1)-1) * time.Second)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	db, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "valet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st := db.Store()
	e := &env{t: t, store: st, digester: secret.NewDigester(bytes.Repeat([]byte{7}, 32)), logs: &syncBuffer{}}
	e.url = serve(t, &admin.Handler{
		Clients:  st.Clients,
		Users:    st.Users,
		Digester: e.digester,
		Token:    testToken,
		Log:      newTextLogger(e.logs),
		Now:      e.tick,
	})
	return e
}

func serve(t *testing.T, h *admin.Handler) string {
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// response is an answer from the admin API.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorBody is the OAuth error shape.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// do sends body (a string is sent as is, anything else as JSON) with the
// admin token and Content-Type application/json.
func (e *env) do(method, path string, body any) response {
	e.t.Helper()
	return e.send(method, path, body, http.Header{"Authorization": {"Bearer " + testToken}, "Content-Type": {"application/json"}})
}

func (e *env) send(method, path string, body any, h http.Header) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// wantError checks an error answer: status, code and the no-store headers.
func (r response) wantError(t *testing.T, status int, code string) errorBody {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("status %d, body %q is not JSON: %v", r.status, r.body, err)
	}
	if r.status != status || b.Error != code {
		t.Fatalf("got %d %s (%s), want %d %s", r.status, b.Error, b.Description, status, code)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	return b
}

// decode checks the status and decodes the JSON body into a T.
func decode[T any](t *testing.T, r response, status int) T {
	t.Helper()
	var v T
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return v
}

// members returns the top-level member names of a JSON object.
func members(t *testing.T, body []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return m
}

// noLeak fails if any of the values appears in the server's log.
func (e *env) noLeak(values ...string) {
	e.t.Helper()
	logs := e.logs.String()
	for _, v := range append(values, testToken) {
		if v != "" && strings.Contains(logs, v) {
			e.t.Errorf("the log contains a secret value %q:\n%s", v, logs)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestAuthIsCheckedBeforeAnythingElse(t *testing.T) {
	e := newEnv(t)
	requests := []struct{ method, path string }{
		{"GET", "/admin/clients"},
		{"POST", "/admin/clients"},
		{"GET", "/admin/clients/unknown"},
		{"DELETE", "/admin/clients/unknown"},
		{"PATCH", "/admin/clients"}, // a wrong method
		{"GET", "/admin/users"},
		{"GET", "/admin/users/unknown"},
		{"PUT", "/admin/users/unknown"},
		{"GET", "/admin/no-such-thing"}, // an unknown path
	}
	headers := map[string]http.Header{
		"missing":      {},
		"wrong token":  {"Authorization": {"Bearer " + testToken + "x"}},
		"prefix":       {"Authorization": {"Bearer " + testToken[:len(testToken)-1]}},
		"empty":        {"Authorization": {"Bearer "}},
		"wrong scheme": {"Authorization": {"Basic " + testToken}},
		"no scheme":    {"Authorization": {testToken}},
	}
	for name, h := range headers {
		for _, rq := range requests {
			h := h.Clone()
			h.Set("Content-Type", "application/json")
			r := e.send(rq.method, rq.path, `{"client_name":"x","redirect_uris":["https://a.example/cb"]}`, h)
			r.wantError(t, http.StatusUnauthorized, "invalid_token")
			if got, want := r.header.Get("WWW-Authenticate"), `Bearer realm="valet-admin", error="invalid_token"`; got != want {
				t.Errorf("%s %s %s: WWW-Authenticate %q, want %q", name, rq.method, rq.path, got, want)
			}
		}
	}
	if l := decode[admin.ClientList](t, e.do("GET", "/admin/clients", nil), 200); len(l.Clients) != 0 {
		t.Errorf("an unauthenticated POST registered %d clients", len(l.Clients))
	}
	// The scheme is case-insensitive (RFC 7235 §2.1).
	r := e.send("GET", "/admin/clients", nil, http.Header{"Authorization": {"bearer " + testToken}})
	if r.status != http.StatusOK {
		t.Errorf("lower-case bearer: status %d, want 200", r.status)
	}
	e.noLeak()
}

func TestEmptyTokenRefusesEverything(t *testing.T) {
	e := newEnv(t)
	url := serve(t, &admin.Handler{Clients: e.store.Clients, Users: e.store.Users, Digester: e.digester})
	for _, auth := range []string{"Bearer ", "Bearer"} {
		req, _ := http.NewRequest("GET", url+"/admin/clients", nil)
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%q with no token configured: status %d, want 401", auth, resp.StatusCode)
		}
	}
}

func TestWrongMethodAndUnknownPath(t *testing.T) {
	e := newEnv(t)
	for path, allow := range map[string]string{
		"/admin/clients":     "GET, HEAD, POST",
		"/admin/clients/abc": "DELETE, GET, HEAD, PUT",
		"/admin/users":       "GET, HEAD, POST",
		"/admin/users/abc":   "DELETE, GET, HEAD, PUT",
	} {
		r := e.do("PATCH", path, `{}`)
		r.wantError(t, http.StatusMethodNotAllowed, "invalid_request")
		if got := r.header.Get("Allow"); got != allow {
			t.Errorf("PATCH %s: Allow %q, want %q", path, got, allow)
		}
	}
	e.do("GET", "/admin/keys", nil).wantError(t, http.StatusNotFound, "not_found")
	e.do("GET", "/admin/clients/a/b", nil).wantError(t, http.StatusNotFound, "not_found")
}

func newTextLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
