package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valetauth/valet/internal/store/sqlstore"
	"github.com/valetauth/valet/internal/store/sqltest"
)

// TestMain lets the test binary play the valet command, so that tests can
// run it as a real process (signals, exit codes) without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("VALET_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type running struct {
	public, admin string
	logs          *syncBuffer
	stop          func() error
}

// startServe runs serve in-process on free loopback ports.
func startServe(t *testing.T, c config) *running {
	t.Helper()
	d := defaultConfig()
	// Tests never take the default ports: free loopback ports only.
	if c.Addr == "" || c.Addr == d.Addr {
		c.Addr = "127.0.0.1:0"
	}
	if c.AdminAddr == "" || c.AdminAddr == d.AdminAddr {
		c.AdminAddr = "127.0.0.1:0"
	}
	if c.Issuer == "" {
		c.Issuer = d.Issuer
	}
	if c.LogFormat == "" {
		c.LogFormat = "json"
	}
	if c.LogLevel == "" {
		c.LogLevel = "debug"
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	readyc := make(chan [2]string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- serve(ctx, c, logs, func(p, a net.Addr) { readyc <- [2]string{p.String(), a.String()} })
	}()
	r := &running{logs: logs}
	select {
	case addrs := <-readyc:
		r.public, r.admin = "http://"+addrs[0], "http://"+addrs[1]
	case err := <-errc:
		cancel()
		t.Fatalf("serve failed to start: %v\nlogs:\n%s", err, logs)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("serve did not start in 60 s; logs:\n%s", logs)
	}
	var once sync.Once
	var stopErr error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-errc:
			case <-time.After(30 * time.Second):
				stopErr = fmt.Errorf("serve did not stop in 30 s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { r.stop() })
	return r
}

func get(t *testing.T, url, bearer string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeZeroConfig(t *testing.T) {
	data := filepath.Join(t.TempDir(), "valet-data")
	c := defaultConfig()
	c.Data = data
	r := startServe(t, c)

	for _, u := range []string{r.public + "/healthz", r.public + "/readyz", r.admin + "/healthz"} {
		if code, body := get(t, u, ""); code != 200 {
			t.Errorf("GET %s = %d %s", u, code, body)
		}
	}
	for _, name := range []string{"secret", "admin-token", "valet.db"} {
		fi, err := os.Stat(filepath.Join(data, name))
		if err != nil {
			t.Fatalf("%s was not created: %v", name, err)
		}
		if name != "valet.db" && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	token, _ := os.ReadFile(filepath.Join(data, "admin-token"))
	adminToken := strings.TrimSpace(string(token))
	if code, body := get(t, r.admin+"/admin/clients", adminToken); code != 200 {
		t.Errorf("admin API with the generated token = %d %s", code, body)
	}
	if code, _ := get(t, r.admin+"/admin/clients", adminToken+"x"); code != 401 {
		t.Errorf("admin API with a wrong token = %d, want 401", code)
	}
	if code, _ := get(t, r.public+"/admin/clients", adminToken); code != 404 {
		t.Errorf("admin API on the public listener = %d, want 404", code)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	logs := r.logs.String()
	secretFile, _ := os.ReadFile(filepath.Join(data, "secret"))
	for _, s := range []string{adminToken, strings.TrimSpace(string(secretFile))} {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain a secret value")
		}
	}
	if !strings.Contains(logs, "production deployments should set VALET_SECRET") {
		t.Errorf("no warning about generated secrets in the logs:\n%s", logs)
	}

	// A second start reuses the same secret and admin token.
	r2 := startServe(t, c)
	if code, _ := get(t, r2.admin+"/admin/clients", adminToken); code != 200 {
		t.Errorf("admin token changed across restarts: %d", code)
	}
	if strings.Contains(r2.logs.String(), "generated a new secret file") {
		t.Errorf("second start generated secrets again")
	}
}

func TestServeEnvSecrets(t *testing.T) {
	c := defaultConfig()
	c.Data = t.TempDir()
	c.Secret = strings.Repeat("ab", 32)
	c.AdminToken = "an-admin-token-of-at-least-32-characters"
	r := startServe(t, c)
	if code, _ := get(t, r.admin+"/admin/users", c.AdminToken); code != 200 {
		t.Errorf("configured admin token refused: %d", code)
	}
	for _, f := range []string{"secret", "admin-token"} {
		if _, err := os.Stat(filepath.Join(c.Data, f)); err == nil {
			t.Errorf("%s was written although it was configured", f)
		}
	}
}

func TestServePortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := defaultConfig()
	c.Data = t.TempDir()
	c.Addr = ln.Addr().String()
	c.AdminAddr = "127.0.0.1:0"
	err = serve(context.Background(), c, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "--addr") {
		t.Fatalf("serve on a busy port: %v; want an error naming --addr", err)
	}
}

func TestServeUnreachableDatabase(t *testing.T) {
	c := defaultConfig()
	c.Data = t.TempDir()
	c.Addr, c.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	c.DB = "postgres://valet:hunter2-password@127.0.0.1:1/valet?connect_timeout=2"
	err := serve(context.Background(), c, io.Discard, nil)
	if err == nil {
		t.Fatal("serve started with an unreachable database")
	}
	if strings.Contains(err.Error(), "hunter2-password") {
		t.Errorf("the error reveals the database password: %v", err)
	}
	t.Logf("error shown: %v", err)
}

func TestServeWrongSecretForDatabase(t *testing.T) {
	c := defaultConfig()
	c.Data = t.TempDir()
	c.Secret = strings.Repeat("ab", 32)
	r := startServe(t, c)
	r.stop()
	c.Secret = strings.Repeat("cd", 32)
	c.Addr, c.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	err := serve(context.Background(), c, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "VALET_SECRET") {
		t.Fatalf("start with another secret: %v; want an error that names VALET_SECRET", err)
	}
}

// TestServeSIGTERM runs valet as a real process and checks that SIGTERM makes
// it finish and exit 0.
func TestServeSIGTERM(t *testing.T) {
	data := t.TempDir()
	port := freePort(t)
	cmd := exec.Command(os.Args[0], "serve", "--data", data, "--addr", "127.0.0.1:"+port, "--admin-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "VALET_TEST_RUN_MAIN=1")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:" + port + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("valet did not start; output:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("valet exited with %v after SIGTERM; output:\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("valet did not exit within 30 s of SIGTERM")
	}
	if !strings.Contains(out.String(), "stopped") {
		t.Errorf("no shutdown log line; output:\n%s", out.String())
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestServeSeveralNodesOnPostgres starts three nodes at once on one empty
// PostgreSQL schema: all become ready, migrations run once, and exactly one
// signing key per algorithm is generated and shared.
func TestServeSeveralNodesOnPostgres(t *testing.T) {
	url := sqltest.FreshSchema(t, sqltest.PostgresURL(t))
	secretHex := strings.Repeat("5e", 32)
	var wg sync.WaitGroup
	nodes := make([]*running, 3)
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := defaultConfig()
			c.Data = t.TempDir()
			c.DB = url
			c.Secret = secretHex
			c.AdminToken = "shared-admin-token-for-all-the-nodes"
			nodes[i] = startServe(t, c)
		}()
	}
	wg.Wait()
	for _, n := range nodes {
		if n == nil {
			t.Fatal("a node failed to start")
		}
		if code, body := get(t, n.public+"/readyz", ""); code != 200 {
			t.Errorf("node not ready: %d %s", code, body)
		}
	}
	db, err := sqlstore.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys, err := db.Store().Keys.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	perAlg := map[string]int{}
	for _, k := range keys {
		perAlg[k.Algorithm]++
	}
	if perAlg["ES256"] != 1 || perAlg["RS256"] != 1 {
		t.Errorf("signing keys after three concurrent first starts: %v, want one ES256 and one RS256", perAlg)
	}
	// A user created through one node is seen by the others.
	req, _ := http.NewRequest("POST", nodes[0].admin+"/admin/users", strings.NewReader(`{"username":"ana","password":"pw-for-ana"}`))
	req.Header.Set("Authorization", "Bearer shared-admin-token-for-all-the-nodes")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("create user: %d", resp.StatusCode)
	}
	for _, n := range nodes[1:] {
		if code, body := get(t, n.admin+"/admin/users?username=ana", "shared-admin-token-for-all-the-nodes"); code != 200 || !strings.Contains(body, `"ana"`) {
			t.Errorf("another node does not see the user: %d %s", code, body)
		}
	}
}

// TestServeOpaqueTokensOutliveStop: with access_token_writes: queued,
// /token answers an opaque token before its row is committed;
// a token issued just before the server stops is still found after a
// restart, because serve writes the queue before it closes the database.
func TestServeOpaqueTokensOutliveStop(t *testing.T) {
	c := defaultConfig()
	c.Data = filepath.Join(t.TempDir(), "valet-data")
	c.AccessTokenWrites = "queued"
	r := startServe(t, c)
	raw, _ := os.ReadFile(filepath.Join(c.Data, "admin-token"))
	adminToken := strings.TrimSpace(string(raw))
	post := func(url, auth, ctype, body string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s = %d %s", url, resp.StatusCode, b)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("POST %s: %s: %v", url, b, err)
		}
		return m
	}
	client := post(r.admin+"/admin/clients", "Bearer "+adminToken, "application/json",
		`{"client_name":"Reports","grant_types":["client_credentials"],"scope":"reports.read","access_token_format":"opaque"}`)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(client["client_id"].(string)+":"+client["client_secret"].(string)))
	form := "application/x-www-form-urlencoded"

	tokens := make([]string, 64)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Go(func() {
			tok, _ := post(r.public+"/token", basic, form, "grant_type=client_credentials")["access_token"].(string)
			tokens[i] = tok
		})
	}
	wg.Wait()
	for i, tok := range tokens {
		if !strings.HasPrefix(tok, "at_") {
			t.Fatalf("token %d = %q, want an opaque token", i, tok)
		}
	}
	// Found at once, on this node, before any commit is waited for.
	if got := post(r.public+"/introspect", basic, form, "token="+tokens[len(tokens)-1]); got["active"] != true {
		t.Fatalf("introspection of a token just issued = %v", got)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	r2 := startServe(t, c)
	for i, tok := range tokens {
		if got := post(r2.public+"/introspect", basic, form, "token="+tok); got["active"] != true {
			t.Errorf("token %d after a restart: %v", i, got)
		}
	}
}
