package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet/internal/token"
)

// mint returns a fresh JWT access token of the env's issuer.
func (e *cliEnv) mint() string {
	e.t.Helper()
	raw, _, err := e.tokens.Access(token.AccessRequest{Subject: "ana", ClientID: "friendfinder",
		Audience: []string{"https://mail.example/api"}, Scopes: []string{"contacts.read"}})
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

func TestTokenIntrospect(t *testing.T) {
	e := newCLIEnv(t)
	raw := e.mint()
	out := e.ok("", "token", "introspect", raw)
	for _, s := range []string{"active:", "true", "access_token", "friendfinder", "ana", "contacts.read", "https://mail.example/api", "expires:", "(in "} {
		if !strings.Contains(out, s) {
			t.Errorf("token introspect lacks %q:\n%s", s, out)
		}
	}
	// "-" reads the token from standard input, keeping it off the command line.
	if got := e.ok(raw+"\n", "token", "introspect", "-"); got != out {
		t.Errorf("token introspect - :\n%s\nwant\n%s", got, out)
	}
	var in token.Introspection
	if err := json.Unmarshal([]byte(e.ok("", "token", "introspect", raw, "--json")), &in); err != nil || !in.Active || in.Subject != "ana" {
		t.Errorf("token introspect --json: %+v, %v", in, err)
	}

	out = e.ok("", "token", "introspect", "at_"+strings.Repeat("x", 43))
	if !strings.HasPrefix(out, "active: false") || strings.Contains(out, "ana") {
		t.Errorf("unknown token:\n%s", out)
	}
	if got := e.ok("", "token", "introspect", "garbage", "--json"); strings.TrimSpace(got) != `{"active":false}` {
		t.Errorf("garbage --json: %s", got)
	}
	if _, _, err := e.run("", "token", "introspect", "-"); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Errorf("empty standard input: %v", err)
	}
}

// jwt builds a compact JWS from a header and claims written by hand; the
// signature is junk, which decode must not care about.
func jwt(header, claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(claims)) + "." + enc([]byte("not a signature"))
}

func TestTokenDecode(t *testing.T) {
	e := newCLIEnv(t)
	raw := e.mint()
	out := e.ok("", "token", "decode", raw)
	if !strings.HasPrefix(out, "NOT VERIFIED:") {
		t.Errorf("token decode does not start by saying nothing was verified:\n%s", out)
	}
	for _, s := range []string{"Header:\n{\n  \"alg\": \"ES256\"", `"typ": "at+jwt"`, "Claims:\n{\n  \"iss\": \"https://auth.example.com\"",
		`"sub": "ana"`, `"scope": "contacts.read"`, "exp: ", "(in ", "iat: "} {
		if !strings.Contains(out, s) {
			t.Errorf("token decode lacks %q:\n%s", s, out)
		}
	}
	var decoded struct {
		Verified *bool
		Header   map[string]any
		Claims   map[string]any
	}
	if err := json.Unmarshal([]byte(e.ok(raw+"\n", "token", "decode", "-", "--json")), &decoded); err != nil ||
		decoded.Verified == nil || *decoded.Verified || decoded.Header["alg"] != "ES256" || decoded.Claims["sub"] != "ana" {
		t.Errorf("token decode --json: %+v, %v", decoded, err)
	}

	// Offline: no admin API, no admin token.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	forged := jwt(`{"alg":"none","typ":"at+jwt"}`, `{"sub":"admin","sub":"ana","name":"`+"\u202egnp.exe"+`","exp":1}`)
	out, errOut, err := runValet(t, "", "--admin-url", gone.URL, "--data", t.TempDir(), "token", "decode", forged)
	if err != nil {
		t.Fatalf("offline decode: %v", err)
	}
	if !strings.HasPrefix(out, "NOT VERIFIED:") || !strings.Contains(out, `"alg": "none"`) || !strings.Contains(out, "ago)") {
		t.Errorf("forged token:\n%s", out)
	}
	if strings.Contains(out, "\u202e") || !strings.Contains(out, `\u202e`) {
		t.Errorf("the bidi override reached the terminal unescaped:\n%q", out)
	}
	if !strings.Contains(errOut, `warning: "sub" appears more than once in the claims`) {
		t.Errorf("duplicate claim not flagged: %q", errOut)
	}
	if json.Valid([]byte(out)) {
		t.Error("sanity: the human output is not meant to be one JSON value")
	}

	for _, tc := range []struct{ token, want string }{
		{"at_" + strings.Repeat("A", 43), "opaque tokens can only be introspected"},
		{"rt_" + strings.Repeat("A", 43), "opaque tokens can only be introspected"},
		{"a.b.c.d.e", "encrypted JWT (JWE)"},
		{"just-some-text", "not a JWT"},
		{"!!!.e30.sig", "header are not base64url"},
		{jwt(`[1]`, `{}`), "header are not a JSON object"},
		{jwt(`{"alg":"ES256"}`, `plain text`), "claims are not a JSON object"},
	} {
		_, _, err := runValet(t, "", "token", "decode", tc.token)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("decode %.20q: %v, want %q", tc.token, err, tc.want)
		}
	}
}

func TestEscapeUnsafe(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":"plain ascii é ü 日本"}`:      `{"a":"plain ascii é ü 日本"}`,
		"{\"a\":\"\u202eevil\"}":          `{"a":"\u202eevil"}`,
		"{\"a\":\"zero\u200bwidth\"}":     `{"a":"zero\u200bwidth"}`,
		"{\"a\":\"c1 \u009b31m\"}":        `{"a":"c1 \u009b31m"}`,
		"{\"a\":\"bad \x9b byte\"}":       "{\"a\":\"bad \ufffd byte\"}",
		"{\"a\":\"bom \ufeff\"}":          `{"a":"bom \ufeff"}`,
		"{\"a\":\"\u2066isolate\u2069\"}": `{"a":"\u2066isolate\u2069"}`,
	} {
		if got := string(escapeUnsafe([]byte(in))); got != want {
			t.Errorf("escapeUnsafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnixTime(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for sec, want := range map[int64]string{
		0:                                "",
		now.Unix():                       "2026-03-01T12:00:00Z (now)",
		now.Add(90 * time.Second).Unix(): "2026-03-01T12:01:30Z (in 1m30s)",
		now.Add(-2 * time.Hour).Unix():   "2026-03-01T10:00:00Z (2h0m0s ago)",
	} {
		if got := unixTime(sec, now); got != want {
			t.Errorf("unixTime(%d) = %q, want %q", sec, got, want)
		}
	}
}
