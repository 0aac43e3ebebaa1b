package bearer_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/valetauth/valet/bearer"
)

// TestRequireChallenges checks the RFC 6750 §3 answers, header by header.
func TestRequireChallenges(t *testing.T) {
	as := newFakeAS(t)
	v := as.verifier()
	raw := as.valid()
	const noError = `Bearer realm="https://mail.example", resource_metadata="` + resourceMeta + `"`

	tests := []struct {
		name      string
		auth      string
		scopes    []string
		status    int
		challenge string
		errorCode string
	}{
		// §3.1: without credentials "the resource server SHOULD NOT include
		// an error code or other error information".
		{"no Authorization header", "", nil, 401, noError, "unauthorized"},
		{"Basic scheme", "Basic bWFpbDpzZWNyZXQ=", nil, 401, noError, "unauthorized"},
		{"DPoP scheme", "DPoP " + raw, nil, 401, noError, "unauthorized"},
		{"scheme glued to the token", "Bearer" + raw, nil, 401, noError, "unauthorized"},
		{"Bearer without a token", "Bearer", nil, 401, "", "invalid_token"},
		{"Bearer and spaces", "Bearer   ", nil, 401, "", "invalid_token"},
		{"two tokens", "Bearer " + raw + " " + raw, nil, 401, "", "invalid_token"},
		{"lower-case scheme", "bearer " + raw, []string{"contacts.read"}, 200, "", ""},
		{"upper-case scheme", "BEARER " + raw, []string{"contacts.read"}, 200, "", ""},
		{"several spaces", "Bearer  " + raw, nil, 200, "", ""},
		{"no scope required", "Bearer " + raw, nil, 200, "", ""},
		{"every scope present", "Bearer " + raw, []string{"contacts.read", "openid"}, 200, "", ""},
		{"a scope missing", "Bearer " + raw, []string{"contacts.read", "contacts.write"}, 403,
			`Bearer realm="https://mail.example", error="insufficient_scope", error_description="the token lacks a required scope", scope="contacts.read contacts.write", resource_metadata="` + resourceMeta + `"`,
			"insufficient_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, tok := call(v, tt.auth, tt.scopes...)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d; %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status == 200 {
				if tok == nil || tok.Subject != "user-ana" {
					t.Fatalf("FromContext in the handler: %+v", tok)
				}
				return
			}
			if tok != nil {
				t.Fatal("the handler ran")
			}
			ch := rec.Header().Get("WWW-Authenticate")
			if tt.challenge != "" && ch != tt.challenge {
				t.Errorf("WWW-Authenticate:\n got %s\nwant %s", ch, tt.challenge)
			}
			if tt.errorCode == "invalid_token" {
				wantInvalidToken(t, rec)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != tt.errorCode || body["error_description"] == "" {
				t.Errorf("body %s, want error %q", rec.Body, tt.errorCode)
			}
			if rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("headers %v", rec.Header())
			}
		})
	}
}

// TestTokenOnlyFromHeader: a token in the query string or a form body is not
// read (RFC 6750 §2.2–2.3 are optional; RFC 9700 §4.3.2), and a request
// with two Authorization headers is invalid_request (§3.1).
func TestTokenOnlyFromHeader(t *testing.T) {
	as := newFakeAS(t)
	v := as.verifier()
	raw := as.valid()
	ran := false
	h := v.Require()(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true }))

	req := httptest.NewRequest("GET", "https://mail.example/contacts?access_token="+raw, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 401 || ran || strings.Contains(rec.Header().Get("WWW-Authenticate"), "error=") {
		t.Errorf("query token: %d %s", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}

	req = httptest.NewRequest("POST", "https://mail.example/contacts", strings.NewReader(url.Values{"access_token": {raw}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 401 || ran || strings.Contains(rec.Header().Get("WWW-Authenticate"), "error=") {
		t.Errorf("form token: %d %s", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}

	req = httptest.NewRequest("GET", "https://mail.example/contacts", nil)
	req.Header.Add("Authorization", "Bearer "+raw)
	req.Header.Add("Authorization", "Bearer "+raw)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 400 || ran || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_request"`) {
		t.Errorf("two headers: %d %s", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}

// TestChallengeWithoutResourceMetadata: resource_metadata appears only when
// configured, and the realm defaults to the audience unless set.
func TestChallengeWithoutResourceMetadata(t *testing.T) {
	as := newFakeAS(t)
	v := as.verifier(func(c *bearer.Config) { c.ResourceMetadataURL, c.Realm = "", `mail "contacts"` })
	rec, _ := call(v, "")
	if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer realm="mail contacts"` {
		t.Fatalf("WWW-Authenticate = %s", got)
	}
}

// TestFromContextOutsideRequire: no token in a plain context.
func TestFromContextOutsideRequire(t *testing.T) {
	if tok, ok := bearer.FromContext(context.Background()); ok || tok != nil {
		t.Fatal("a token in an empty context")
	}
}

// TestRequirePanicsOnBadScope: a scope with a space is two scopes; a typo
// at wiring time should not silently protect nothing.
func TestRequirePanicsOnBadScope(t *testing.T) {
	as := newFakeAS(t)
	v := as.verifier()
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	v.Require("contacts.read contacts.write")
}
