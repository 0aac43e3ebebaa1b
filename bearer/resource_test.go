package bearer_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/valetauth/valet/bearer"
)

// TestResourceMetadata checks the RFC 9728 document and where it lives.
func TestResourceMetadata(t *testing.T) {
	md := bearer.ResourceMetadata{
		Resource:             "https://mail.example",
		AuthorizationServers: []string{"https://valet.example"},
		ScopesSupported:      []string{"contacts.read"},
		ResourceName:         "Mail contacts API",
	}
	if got := md.URL(); got != "https://mail.example/.well-known/oauth-protected-resource" {
		t.Errorf("URL() = %s", got)
	}
	// RFC 9728 §3.1: the well-known path goes before the resource's path.
	if got := (bearer.ResourceMetadata{Resource: "https://mail.example/api/v1/"}).URL(); got != "https://mail.example/.well-known/oauth-protected-resource/api/v1" {
		t.Errorf("URL() with a path = %s", got)
	}

	h := md.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", md.URL(), nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "public, max-age=3600" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"resource":                 "https://mail.example",
		"authorization_servers":    []any{"https://valet.example"},
		"scopes_supported":         []any{"contacts.read"},
		"bearer_methods_supported": []any{"header"},
		"resource_name":            "Mail contacts API",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("document:\n got %v\nwant %v", got, want)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", md.URL(), nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}

	for _, bad := range []string{"", "mail.example", "https://mail.example/#frag", "ftp://mail.example"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handler accepted resource %q", bad)
				}
			}()
			bearer.ResourceMetadata{Resource: bad}.Handler()
		}()
	}
}
