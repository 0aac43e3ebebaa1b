package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/admin"
	"github.com/valetauth/valet/internal/keys"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/store/sqlstore"
	"github.com/valetauth/valet/internal/token"
)

const cliToken = "vadm_cli-test-token-0123456789abcdef0123"

// cliEnv is an admin API on a temp SQLite store, and a data directory whose
// admin-token file holds its token, as `valet serve` leaves it.
type cliEnv struct {
	t      *testing.T
	url    string
	data   string
	store  valet.Store
	ring   *keys.Ring
	tokens *token.Issuer // mints access tokens the admin API can introspect
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	t.Setenv("VALET_ADMIN_TOKEN", "")
	ctx := t.Context()
	dir := t.TempDir()
	db, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(dir, "valet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st := db.Store()
	sealer, err := secret.NewSealer(bytes.Repeat([]byte{2}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ring := &keys.Ring{Store: st.Keys, Sealer: sealer, Now: time.Now}
	if err := ring.Init(ctx); err != nil {
		t.Fatal(err)
	}
	digester := secret.NewDigester(bytes.Repeat([]byte{1}, 32))
	tokens := &token.Issuer{URL: "https://auth.example.com", Keys: ring, AccessTTL: 10 * time.Minute, Now: time.Now}
	mux := http.NewServeMux()
	(&admin.Handler{Clients: st.Clients, Users: st.Users, Digester: digester, Token: cliToken,
		Keys: st.Keys, Rotator: ring,
		Introspector: &token.Introspector{Issuer: tokens, Access: st.Access, Refresh: st.Refresh,
			Revocations: st.Revocations, Digester: digester},
	}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "admin-token"), []byte(cliToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cliEnv{t: t, url: srv.URL, data: data, store: st, ring: ring, tokens: tokens}
}

// run runs valet with args against the env, stdin as standard input.
func (e *cliEnv) run(stdin string, args ...string) (stdout, stderr string, err error) {
	e.t.Helper()
	return runValet(e.t, stdin, append([]string{"--admin-url", e.url, "--data", e.data}, args...)...)
}

// ok runs valet and fails the test if it fails.
func (e *cliEnv) ok(stdin string, args ...string) string {
	e.t.Helper()
	out, errOut, err := e.run(stdin, args...)
	if err != nil {
		e.t.Fatalf("valet %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func runValet(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

// get fetches path from the admin API and decodes its JSON into a map.
func (e *cliEnv) get(path string) map[string]any {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(e.t.Context(), "GET", e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+cliToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		e.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return jsonMap(e.t, body)
}

func jsonMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%q is not a JSON object: %v", b, err)
	}
	return m
}

func TestClientCreateJSONIsTheAPIAnswer(t *testing.T) {
	e := newCLIEnv(t)
	out := e.ok("", "client", "create", "--name", "FriendFinder",
		"--redirect-uri", "https://friendfinder.example/callback", "--redirect-uri", "http://127.0.0.1:8400/cb",
		"--grant-type", "authorization_code", "--grant-type", "refresh_token",
		"--scope", "openid contacts.read", "--json")
	created := jsonMap(t, []byte(out))
	id, _ := created["client_id"].(string)
	if s, _ := created["client_secret"].(string); !strings.HasPrefix(s, "vcs_") || id == "" {
		t.Fatalf("client create --json: %s", out)
	}
	delete(created, "client_secret")
	delete(created, "client_secret_expires_at")
	fromAPI := e.get("/admin/clients/" + id)
	if !reflect.DeepEqual(created, fromAPI) {
		t.Errorf("create --json minus the secret\n%v\nis not what GET answers\n%v", created, fromAPI)
	}
	if fromAPI["scope"] != "openid contacts.read" || fromAPI["client_name"] != "FriendFinder" {
		t.Errorf("stored %v", fromAPI)
	}
	shown := jsonMap(t, []byte(e.ok("", "client", "show", id, "--json")))
	if !reflect.DeepEqual(shown, fromAPI) {
		t.Errorf("client show --json\n%v\nwant\n%v", shown, fromAPI)
	}
}

func TestClientCommands(t *testing.T) {
	e := newCLIEnv(t)
	out := e.ok("", "client", "create", "--name", "FriendFinder", "--redirect-uri", "https://friendfinder.example/callback")
	var id, clientSecret string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "client_id:" {
			id = f[1]
		} else if len(f) == 2 && f[0] == "client_secret:" {
			clientSecret = f[1]
		}
	}
	if id == "" || !strings.HasPrefix(clientSecret, "vcs_") || !strings.Contains(out, "shown only once") || !strings.Contains(out, "confidential") {
		t.Fatalf("client create:\n%s", out)
	}
	c, err := e.store.Clients.Get(t.Context(), id)
	if err != nil || c.Name != "FriendFinder" || c.Public() {
		t.Fatalf("stored %+v, %v", c, err)
	}

	out = e.ok("", "client", "create", "--name", "CLI tool", "--public", "--redirect-uri", "http://127.0.0.1:8400/cb")
	if strings.Contains(out, "client_secret") || strings.Contains(out, "shown only once") || !strings.Contains(out, "public") {
		t.Errorf("public client create:\n%s", out)
	}

	list := e.ok("", "client", "list")
	for _, s := range []string{"ID", "NAME", "TYPE", "GRANTS", "REDIRECT URIS", id, "FriendFinder", "confidential", "public", "https://friendfinder.example/callback"} {
		if !strings.Contains(list, s) {
			t.Errorf("client list lacks %q:\n%s", s, list)
		}
	}
	if strings.Contains(list, clientSecret) {
		t.Error("client list shows the secret")
	}
	var l admin.ClientList
	if err := json.Unmarshal([]byte(e.ok("", "client", "list", "--json")), &l); err != nil || len(l.Clients) != 2 {
		t.Errorf("client list --json: %+v %v", l, err)
	}

	show := e.ok("", "client", "show", id)
	if !strings.Contains(show, id) || !strings.Contains(show, "authorization_code") || strings.Contains(show, clientSecret) {
		t.Errorf("client show:\n%s", show)
	}

	e.ok("", "client", "delete", id)
	if _, err := e.store.Clients.Get(t.Context(), id); err == nil {
		t.Error("client delete left the client")
	}
	if _, _, err := e.run("", "client", "show", id); err == nil || !strings.Contains(err.Error(), "not_found") {
		t.Errorf("show after delete: %v", err)
	}
}

func TestClientCreateRefusals(t *testing.T) {
	e := newCLIEnv(t)
	_, _, err := e.run("", "client", "create", "--name", "Evil", "--redirect-uri", "javascript:alert(1)")
	if err == nil || !strings.Contains(err.Error(), "invalid_redirect_uri") || !strings.Contains(err.Error(), "redirect_uris") {
		t.Errorf("bad redirect URI: %v", err)
	}
	_, _, err = e.run("", "client", "create", "--name", "X", "--public", "--auth-method", "client_secret_post", "--redirect-uri", "https://x.example/cb")
	if err == nil || !strings.Contains(err.Error(), "--public") {
		t.Errorf("--public with --auth-method: %v", err)
	}
	if cs, _ := e.store.Clients.List(t.Context()); len(cs) != 0 {
		t.Errorf("refused creates stored %d clients", len(cs))
	}
	_, errOut, err := e.run("", "client", "create", "--name", "Old SPA", "--grant-type", "implicit", "--redirect-uri", "https://spa.example/cb")
	if err != nil || !strings.Contains(errOut, "warning: the implicit grant") {
		t.Errorf("implicit client: %v, stderr %q", err, errOut)
	}
}

func TestUserCommands(t *testing.T) {
	e := newCLIEnv(t)
	ctx := t.Context()
	out := e.ok("s3cret-passphrase\n", "user", "add", "--username", "ana", "--email", "ana@example.com", "--name", "Ana Lima", "--password-stdin")
	u, err := e.store.Users.GetByUsername(ctx, "ana")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "ana") || !strings.Contains(out, u.ID) {
		t.Errorf("user add:\n%s", out)
	}
	if !secret.CheckPassword(u.PasswordHash, "s3cret-passphrase") || u.Email != "ana@example.com" || u.Name != "Ana Lima" {
		t.Errorf("stored %+v; the password (without its newline) does not check", u)
	}

	if _, _, err := e.run("x\n", "user", "add", "--username", "ana", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "taken") {
		t.Errorf("duplicate user add: %v", err)
	}

	e.ok("new-passphrase\r\n", "user", "passwd", "ana", "--password-stdin")
	changed, _ := e.store.Users.GetByUsername(ctx, "ana")
	if changed.PasswordHash == u.PasswordHash || !secret.CheckPassword(changed.PasswordHash, "new-passphrase") {
		t.Error("user passwd did not set the new password")
	}

	out = e.ok("", "user", "add", "--username", "bo", "--password-stdin", "--json")
	var view admin.UserView
	if err := json.Unmarshal([]byte(out), &view); err != nil || view.Username != "bo" || view.HasPassword || strings.Contains(out, `"password":`) {
		t.Errorf("user add --json: %s (%v)", out, err)
	}

	list := e.ok("", "user", "list")
	for _, s := range []string{"USERNAME", "ana", "bo", u.ID, "ana@example.com"} {
		if !strings.Contains(list, s) {
			t.Errorf("user list lacks %q:\n%s", s, list)
		}
	}
	var l admin.UserList
	if err := json.Unmarshal([]byte(e.ok("", "user", "list", "--json")), &l); err != nil || len(l.Users) != 2 {
		t.Errorf("user list --json: %+v %v", l, err)
	}

	e.ok("", "user", "delete", "ana")
	if _, err := e.store.Users.GetByUsername(ctx, "ana"); err == nil {
		t.Error("user delete left the user")
	}
	for _, args := range [][]string{{"user", "delete", "ana"}, {"user", "passwd", "ana", "--password-stdin"}} {
		if _, _, err := e.run("x", args...); err == nil || !strings.Contains(err.Error(), `no user named "ana"`) {
			t.Errorf("%v on a deleted user: %v", args, err)
		}
	}
}

func TestPasswordNeedsATerminalOrStdinFlag(t *testing.T) {
	e := newCLIEnv(t)
	_, _, err := e.run("pw\n", "user", "add", "--username", "ana")
	if err == nil || !strings.Contains(err.Error(), "--password-stdin") {
		t.Errorf("user add without a terminal: %v", err)
	}
	if _, err := e.store.Users.GetByUsername(t.Context(), "ana"); err == nil {
		t.Error("the user was added anyway")
	}
}

func TestConnectionErrorsSayWhatToDo(t *testing.T) {
	e := newCLIEnv(t)

	// No server at the address.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	_, _, err := runValet(t, "", "--admin-url", gone.URL, "--data", e.data, "client", "list")
	want := "cannot reach the admin API at " + gone.URL + ": is `valet serve` running? set --admin-url or VALET_ADMIN_URL"
	if err == nil || err.Error() != want {
		t.Errorf("no server:\n got %v\nwant %s", err, want)
	}

	// No token anywhere.
	empty := t.TempDir()
	_, _, err = runValet(t, "", "--admin-url", e.url, "--data", empty, "user", "list")
	want = "no admin token: set VALET_ADMIN_TOKEN, or run this on the server's machine with --data pointing at its data directory (" +
		filepath.Join(empty, "admin-token") + " not found)"
	if err == nil || err.Error() != want {
		t.Errorf("no token:\n got %v\nwant %s", err, want)
	}

	// A token the server does not know.
	if err := os.WriteFile(filepath.Join(empty, "admin-token"), []byte("  vadm_stale\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = runValet(t, "", "--admin-url", e.url, "--data", empty, "client", "list")
	if err == nil || !strings.HasPrefix(err.Error(), "the admin API refused the token: ") || !strings.Contains(err.Error(), filepath.Join(empty, "admin-token")) {
		t.Errorf("wrong token: %v", err)
	}

	// VALET_ADMIN_TOKEN wins over the file, for better and for worse.
	t.Setenv("VALET_ADMIN_TOKEN", cliToken)
	if _, _, err := runValet(t, "", "--admin-url", e.url, "--data", empty, "client", "list"); err != nil {
		t.Errorf("VALET_ADMIN_TOKEN: %v", err)
	}
	t.Setenv("VALET_ADMIN_TOKEN", "vadm_wrong")
	_, _, err = e.run("", "client", "list")
	if err == nil || !strings.Contains(err.Error(), "the admin API refused the token") || !strings.Contains(err.Error(), "VALET_ADMIN_TOKEN") {
		t.Errorf("wrong VALET_ADMIN_TOKEN: %v", err)
	}
}
