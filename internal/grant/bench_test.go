package grant_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// benchServe runs the full handler for a POST of body to path as a, with
// no network: ParseForm, client authentication (the one store read), the
// grant or introspection, and the JSON response.
func benchServe(b *testing.B, e *env, path string, form url.Values, a auth) {
	req := httptest.NewRequest(http.MethodPost, path, nil)
	a(req, form)
	body := form.Encode()
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.ContentLength = int64(len(body))
	reader := strings.NewReader(body)
	b.ReportAllocs()
	for b.Loop() {
		reader.Reset(body)
		req.Body = io.NopCloser(reader)
		rec := httptest.NewRecorder()
		e.mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkClientCredentialsJWT issues an RFC 9068 access token to cc1:
// one client read, an HMAC of the secret, an ES256 signature, no write.
func BenchmarkClientCredentialsJWT(b *testing.B) {
	e := newEnv(b)
	benchServe(b, e, "/token", url.Values{"grant_type": {"client_credentials"}}, e.as("cc1"))
}

// BenchmarkClientCredentialsOpaque issues an opaque access token to cc2:
// one client read, an HMAC of the secret (client_secret_post), one insert.
func BenchmarkClientCredentialsOpaque(b *testing.B) {
	e := newEnv(b)
	benchServe(b, e, "/token", url.Values{"grant_type": {"client_credentials"}}, e.as("cc2"))
}

// BenchmarkIntrospectJWT introspects a live JWT access token as rs1: one
// client read, the ES256 verification once (then the Introspector's cache
// of verified tokens), one deny-list lookup (in memory on SQLite).
func BenchmarkIntrospectJWT(b *testing.B) {
	e := newEnv(b)
	at := e.token(url.Values{"grant_type": {"client_credentials"}}, e.as("cc1")).str("access_token")
	benchServe(b, e, "/introspect", url.Values{"token": {at}}, e.as("rs1"))
}

// BenchmarkIntrospectOpaque introspects a live opaque access token as rs1:
// one client read, the token read once (then the Introspector's cache),
// one deny-list lookup (in memory on SQLite).
func BenchmarkIntrospectOpaque(b *testing.B) {
	e := newEnv(b)
	at := e.token(url.Values{"grant_type": {"client_credentials"}}, e.as("cc2")).str("access_token")
	benchServe(b, e, "/introspect", url.Values{"token": {at}}, e.as("rs1"))
}
