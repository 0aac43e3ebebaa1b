package oauth

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHD03_ErrorDescriptionCharset: error_description keeps only the
// characters RFC 6749 §5.2 allows (%x20-21 / %x23-5B / %x5D-7E): no CR, LF
// or TAB, no quote or backslash, no non-ASCII, and it is bounded; the JSON
// error body carries it so.
func TestHD03_ErrorDescriptionCharset(t *testing.T) {
	hostile := "line\r\nSet-Cookie: x=1\t\"quoted\" back\\slash ünï \u2028 <script>" + strings.Repeat("y", 600)
	got := SafeDescription(hostile)
	if len(got) > 500 {
		t.Errorf("description of %d bytes, want at most 500", len(got))
	}
	for _, r := range got {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			t.Fatalf("description keeps %q: %q", r, got)
		}
	}
	if !strings.HasPrefix(got, "line??Set-Cookie: x=1??quoted? back?slash") {
		t.Errorf("allowed characters were changed: %q", got)
	}

	rec := httptest.NewRecorder()
	WriteJSON(rec, Errorf(InvalidRequest, "%s", hostile))
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Error != InvalidRequest || body.Description != got {
		t.Errorf("error body %s, want the safe description", rec.Body)
	}
}
