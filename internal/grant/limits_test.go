package grant_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/valetauth/valet/internal/oauth"
)

// TestDS02a_OversizedBodies: a 10 MiB form is 413 at every endpoint of the
// package, announced or chunked, before anything in it is looked at.
func TestDS02a_OversizedBodies(t *testing.T) {
	e := newEnv(t)
	body := "token=" + strings.Repeat("a", 10<<20)
	for _, path := range []string{"/token", "/revoke", "/introspect"} {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, nil)
		basic("conf1", e.secrets["conf1"])(req, url.Values{})
		wantError(t, e.do(req, "application/x-www-form-urlencoded", body), http.StatusRequestEntityTooLarge, oauth.InvalidRequest)

		// Chunked: no Content-Length to refuse up front.
		req, _ = http.NewRequest(http.MethodPost, e.srv.URL+path, io.MultiReader(strings.NewReader(body)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		basic("conf1", e.secrets["conf1"])(req, url.Values{})
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || req.ContentLength != 0 {
			t.Errorf("%s chunked: status %d (Content-Length %d), want 413", path, resp.StatusCode, req.ContentLength)
		}
	}
}

// TestLogsCarryNoTokens_IntrospectAndRevoke: introspection and revocation
// log identifiers, never the tokens (catalogue §3.5).
func TestLogsCarryNoTokens_IntrospectAndRevoke(t *testing.T) {
	e := newEnv(t)
	ok := e.redeem(e.newCode("conf1"))
	op := e.redeem(e.newCode("op1"))
	var canaries []string
	for _, r := range []*result{ok, op} {
		canaries = append(canaries, r.str("access_token"), r.str("refresh_token"))
	}
	for _, tok := range canaries {
		e.introspect(tok, e.as("rs1"))
		e.introspect(tok, basic("rs1", "wrong-secret-canary"))
		e.revoke(tok, e.as("conf2"))
	}
	for _, tok := range canaries {
		e.revoke(tok, e.as("conf1"))
		e.revoke(tok, e.as("op1"))
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "grant family revoked") || !strings.Contains(logs, "access token revoked") {
		t.Fatalf("revocations were not logged:\n%s", logs)
	}
	for _, s := range append(canaries, "wrong-secret-canary", e.secrets["rs1"]) {
		if strings.Contains(logs, s) {
			t.Errorf("a secret reached the log: %.12s...", s)
		}
	}
}
