package loadgen

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCeilingHandler(t *testing.T) {
	if len(CeilingBody) != 200 {
		t.Fatalf("the ceiling body is %d bytes, want 200", len(CeilingBody))
	}
	rec := httptest.NewRecorder()
	CeilingHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/token", strings.NewReader("grant_type=client_credentials")))
	if rec.Code != 200 || rec.Body.String() != string(CeilingBody) || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q %v", rec.Code, rec.Body, rec.Header())
	}
}
