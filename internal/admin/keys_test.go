package admin_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/admin"
	"github.com/valetauth/valet/internal/keys"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/token"

	"github.com/valetauth/valet/internal/testclock"
)

// keysEnv is an admin API with a keyring and an introspector on the env's
// store, all on one test clock.
type keysEnv struct {
	*env
	clock  *testclock.Clock
	ring   *keys.Ring
	tokens *token.Issuer
}

const issuer = "https://auth.example.com"

func newKeysEnv(t *testing.T) *keysEnv {
	t.Helper()
	e := newEnv(t)
	c := testclock.New(testEpoch)
	sealer, err := secret.NewSealer(secret.Bytes(32))
	if err != nil {
		t.Fatal(err)
	}
	ring := &keys.Ring{Store: e.store.Keys, Sealer: sealer, Now: c.Now}
	if err := ring.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	tokens := &token.Issuer{URL: issuer, Keys: ring, AccessTTL: 10 * time.Minute, Now: c.Now}
	e.url = serve(t, &admin.Handler{
		Clients: e.store.Clients, Users: e.store.Users, Digester: e.digester, Token: testToken,
		Keys: e.store.Keys, Rotator: ring,
		Introspector: &token.Introspector{Issuer: tokens, Access: e.store.Access, Refresh: e.store.Refresh,
			Revocations: e.store.Revocations, Digester: e.digester, Now: c.Now},
		Log: newTextLogger(e.logs), Now: c.Now,
	})
	return &keysEnv{env: e, clock: c, ring: ring, tokens: tokens}
}

// byAlg returns the keys of alg, newest first.
func byAlg(l []admin.KeyView, alg string) []admin.KeyView {
	var out []admin.KeyView
	for _, k := range l {
		if k.Algorithm == alg {
			out = append(out, k)
		}
	}
	return out
}

func statuses(l []admin.KeyView) []string {
	var out []string
	for _, k := range l {
		out = append(out, k.Status)
	}
	return out
}

func TestListKeysShowsNoKeyMaterial(t *testing.T) {
	e := newKeysEnv(t)
	r := e.do("GET", "/admin/keys", nil)
	l := decode[admin.KeyList](t, r, http.StatusOK)
	if len(l.Keys) != 2 || len(byAlg(l.Keys, "ES256")) != 1 || len(byAlg(l.Keys, "RS256")) != 1 {
		t.Fatalf("keys %+v", l.Keys)
	}
	for _, k := range l.Keys {
		if k.Status != admin.KeySigning || !k.CreatedAt.Equal(testEpoch) || !k.NotBefore.Equal(testEpoch) || k.RetiredAt != nil || k.RemoveAt != nil {
			t.Errorf("key %+v", k)
		}
	}
	var objects struct{ Keys []map[string]any }
	if err := json.Unmarshal(r.body, &objects); err != nil {
		t.Fatal(err)
	}
	for _, k := range objects.Keys {
		got := slices.Sorted(maps.Keys(k))
		if want := []string{"alg", "created_at", "kid", "not_before", "status"}; !slices.Equal(got, want) {
			t.Errorf("key members %v, want exactly %v", got, want)
		}
	}
	stored, err := e.store.Keys.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range stored {
		for _, material := range [][]byte{k.Sealed, k.Public} {
			for _, enc := range []string{base64.StdEncoding.EncodeToString(material), base64.RawURLEncoding.EncodeToString(material), string(material)} {
				if strings.Contains(string(r.body), enc[:min(len(enc), 24)]) {
					t.Errorf("GET /admin/keys carries key material of %s", k.ID)
				}
			}
		}
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
}

func TestRotateKeys(t *testing.T) {
	e := newKeysEnv(t)
	e.clock.Set(testEpoch.Add(24 * time.Hour))
	rot := decode[admin.KeyRotation](t, e.do("POST", "/admin/keys/rotate", map[string]any{"algorithm": "ES256"}), http.StatusOK)
	if !slices.Equal(rot.Rotated, []string{"ES256"}) || rot.Now {
		t.Errorf("rotated %v now %v", rot.Rotated, rot.Now)
	}
	es := byAlg(rot.Keys, "ES256")
	if len(es) != 2 || len(byAlg(rot.Keys, "RS256")) != 1 {
		t.Fatalf("keys after rotation %+v", rot.Keys)
	}
	next, old := es[0], es[1]
	notBefore := e.clock.Now().Add(keys.DefaultPrePublish)
	removeAt := notBefore.Add(keys.DefaultMaxTokenLifetime)
	if next.Status != admin.KeyPending || !next.NotBefore.Equal(notBefore) || next.RetiredAt != nil {
		t.Errorf("new key %+v, want pending until %v", next, notBefore)
	}
	if old.Status != admin.KeySigning || old.RetiredAt == nil || !old.RetiredAt.Equal(notBefore) || old.RemoveAt == nil || !old.RemoveAt.Equal(removeAt) {
		t.Errorf("old key %+v, want signing until %v and published until %v", old, notBefore, removeAt)
	}
	// The node that handled the call publishes the new key at once.
	if _, ok := e.ring.PublicKey(next.ID); !ok {
		t.Error("the ring does not publish the new key after the call")
	}

	for _, step := range []struct {
		at   time.Time
		want []string // ES256 statuses, newest first
	}{
		{notBefore, []string{admin.KeySigning, admin.KeyVerifying}},
		{removeAt, []string{admin.KeySigning, admin.KeyRemoved}},
	} {
		e.clock.Set(step.at)
		l := decode[admin.KeyList](t, e.do("GET", "/admin/keys", nil), http.StatusOK)
		if got := statuses(byAlg(l.Keys, "ES256")); !slices.Equal(got, step.want) {
			t.Errorf("at %v: ES256 statuses %v, want %v", step.at, got, step.want)
		}
	}

	// No algorithm: every algorithm.
	rot = decode[admin.KeyRotation](t, e.do("POST", "/admin/keys/rotate", map[string]any{}), http.StatusOK)
	if !slices.Equal(rot.Rotated, keys.Algorithms) || len(byAlg(rot.Keys, "RS256")) != 2 || len(byAlg(rot.Keys, "ES256")) != 3 {
		t.Errorf("rotate all: rotated %v, keys %+v", rot.Rotated, rot.Keys)
	}
	if !strings.Contains(e.logs.String(), "signing key rotation started") {
		t.Errorf("the rotation was not logged:\n%s", e.logs)
	}
}

func TestRotateKeysNow(t *testing.T) {
	e := newKeysEnv(t)
	before := decode[admin.KeyList](t, e.do("GET", "/admin/keys", nil), http.StatusOK)
	oldRS := byAlg(before.Keys, "RS256")[0]
	e.clock.Set(testEpoch.Add(time.Hour))
	rot := decode[admin.KeyRotation](t, e.do("POST", "/admin/keys/rotate", map[string]any{"algorithm": "RS256", "now": true}), http.StatusOK)
	rs := byAlg(rot.Keys, "RS256")
	if !rot.Now || !slices.Equal(rot.Rotated, []string{"RS256"}) || len(rs) != 2 {
		t.Fatalf("rotation %+v", rot)
	}
	if got := statuses(rs); !slices.Equal(got, []string{admin.KeySigning, admin.KeyRemoved}) || rs[1].ID != oldRS.ID {
		t.Errorf("RS256 statuses %v (%s, %s), want the new key signing and the old %s removed", got, rs[0].ID, rs[1].ID, oldRS.ID)
	}
	if _, ok := e.ring.PublicKey(oldRS.ID); ok {
		t.Error("the ring still publishes the replaced key")
	}
	if got := statuses(byAlg(rot.Keys, "ES256")); !slices.Equal(got, []string{admin.KeySigning}) {
		t.Errorf("ES256 statuses %v: RotateNow of RS256 touched ES256", got)
	}
	if !strings.Contains(e.logs.String(), "tokens signed by the old keys no longer verify") {
		t.Errorf("the emergency rotation was not logged as such:\n%s", e.logs)
	}
}

func TestRotateKeysRefusals(t *testing.T) {
	e := newKeysEnv(t)
	for _, tc := range []refusal{
		{"unknown algorithm", map[string]any{"algorithm": "HS256"}, 400, "invalid_request"},
		{"lower case", map[string]any{"algorithm": "es256"}, 400, "invalid_request"},
		{"none", map[string]any{"algorithm": "none"}, 400, "invalid_request"},
		{"unknown member", map[string]any{"alg": "ES256"}, 400, "invalid_request"},
		{"now as string", map[string]any{"now": "yes"}, 400, "invalid_request"},
		{"empty body", ``, 400, "invalid_request"},
	} {
		e.do("POST", "/admin/keys/rotate", tc.body).wantError(t, tc.status, tc.code)
	}
	if l, _ := e.store.Keys.List(t.Context()); len(l) != 2 {
		t.Errorf("refused rotations left %d keys, want 2", len(l))
	}
	r := e.do("PATCH", "/admin/keys", `{}`)
	r.wantError(t, http.StatusMethodNotAllowed, "invalid_request")
	if r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
	e.do("GET", "/admin/keys/rotate", nil).wantError(t, http.StatusMethodNotAllowed, "invalid_request")
	e.do("GET", "/admin/introspect", nil).wantError(t, http.StatusMethodNotAllowed, "invalid_request")
	for _, path := range []string{"/admin/keys", "/admin/keys/rotate", "/admin/introspect"} {
		e.send("POST", path, `{}`, http.Header{"Content-Type": {"application/json"}}).wantError(t, http.StatusUnauthorized, "invalid_token")
	}
	if l, _ := e.store.Keys.List(t.Context()); len(l) != 2 {
		t.Errorf("unauthenticated rotations left %d keys, want 2", len(l))
	}
}

// failing is a rotator and introspector whose database has gone away.
type failing struct{}

func (failing) Rotate(context.Context, string, bool) (bool, error) { return false, errDown }
func (failing) RotateNow(context.Context, string) error            { return errDown }
func (failing) Introspect(context.Context, string) (*token.Introspection, error) {
	return nil, errDown
}

// downKeys is a key store whose database has gone away.
type downKeys struct{ valet.KeyStore }

func (downKeys) List(context.Context) ([]*valet.SigningKey, error) { return nil, errDown }

func TestKeyAndIntrospectFailuresAreLoggedNotSent(t *testing.T) {
	e := newEnv(t)
	logs := &syncBuffer{}
	e.url = serve(t, &admin.Handler{Clients: e.store.Clients, Users: e.store.Users, Digester: e.digester, Token: testToken,
		Keys: downKeys{}, Rotator: failing{}, Introspector: failing{}, Log: newTextLogger(logs)})
	for _, rq := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/admin/keys", nil},
		{"POST", "/admin/keys/rotate", map[string]any{}},
		{"POST", "/admin/keys/rotate", map[string]any{"now": true}},
		{"POST", "/admin/introspect", map[string]any{"token": "at_whatever"}},
	} {
		r := e.do(rq.method, rq.path, rq.body)
		r.wantError(t, http.StatusInternalServerError, "server_error")
		if strings.Contains(string(r.body), "10.0.0.7") {
			t.Errorf("%s %s sent the cause: %s", rq.method, rq.path, r.body)
		}
	}
	if n := strings.Count(logs.String(), "10.0.0.7"); n != 4 {
		t.Errorf("the cause was logged %d times, want 4:\n%s", n, logs)
	}
	if strings.Contains(logs.String(), "at_whatever") {
		t.Error("the token was logged")
	}
}

func TestKeysAndRotatorGoTogether(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Register with Keys but no Rotator did not panic")
		}
	}()
	(&admin.Handler{Keys: downKeys{}, Token: testToken}).Register(http.NewServeMux())
}

func TestIntrospect(t *testing.T) {
	e := newKeysEnv(t)
	raw, _, err := e.tokens.Access(token.AccessRequest{Subject: "ana", ClientID: "friendfinder",
		Audience: []string{"https://mail.example/api"}, Scopes: []string{"contacts.read"}})
	if err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/admin/introspect", map[string]any{"token": raw})
	in := decode[token.Introspection](t, r, http.StatusOK)
	if !in.Active || in.Subject != "ana" || in.ClientID != "friendfinder" || in.Scope != "contacts.read" ||
		in.Issuer != issuer || in.TokenUse != token.UseAccess || !slices.Equal(in.Audience, []string{"https://mail.example/api"}) {
		t.Errorf("introspection %+v", in)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}

	// Expired, foreign and garbage tokens: exactly {"active":false}.
	e.clock.Set(testEpoch.Add(11 * time.Minute))
	for _, tok := range []string{raw, "at_" + strings.Repeat("A", 43), "not a token", raw[:len(raw)-4] + "AAAA"} {
		r := e.do("POST", "/admin/introspect", map[string]any{"token": tok})
		if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != `{"active":false}` {
			t.Errorf("introspect %.20q…: %d %s", tok, r.status, r.body)
		}
	}
	for _, body := range []any{map[string]any{"token": ""}, map[string]any{}, map[string]any{"token": 5}, map[string]any{"tok": raw}} {
		e.do("POST", "/admin/introspect", body).wantError(t, http.StatusBadRequest, "invalid_request")
	}
	e.noLeak(raw)
}

// TestGoClientKeys drives the new calls through the Go client the CLI uses.
func TestGoClientKeys(t *testing.T) {
	e := newKeysEnv(t)
	c := &admin.Client{BaseURL: e.url, Token: testToken}
	ctx := t.Context()
	list, raw, err := c.ListKeys(ctx)
	if err != nil || len(list) != 2 || !strings.Contains(string(raw), list[0].ID) {
		t.Fatalf("ListKeys %+v %s, %v", list, raw, err)
	}
	rot, _, err := c.RotateKeys(ctx, admin.KeyRotateInput{Algorithm: "ES256"})
	if err != nil || !slices.Equal(rot.Rotated, []string{"ES256"}) || len(rot.Keys) != 3 {
		t.Errorf("RotateKeys %+v, %v", rot, err)
	}
	var apiErr *admin.APIError
	if _, _, err := c.RotateKeys(ctx, admin.KeyRotateInput{Algorithm: "HS256"}); !errors.As(err, &apiErr) || apiErr.Code != "invalid_request" {
		t.Errorf("RotateKeys(HS256): %v", err)
	}
	tok, _, err := e.tokens.Access(token.AccessRequest{Subject: "ana", ClientID: "ff", Audience: []string{issuer}})
	if err != nil {
		t.Fatal(err)
	}
	in, _, err := c.Introspect(ctx, tok)
	if err != nil || !in.Active || in.Subject != "ana" {
		t.Errorf("Introspect %+v, %v", in, err)
	}
	if in, raw, err := c.Introspect(ctx, "nope"); err != nil || in.Active || strings.TrimSpace(string(raw)) != `{"active":false}` {
		t.Errorf("Introspect(nope) %+v %s, %v", in, raw, err)
	}
}
