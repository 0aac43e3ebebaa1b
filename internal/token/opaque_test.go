package token

import (
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet/internal/secret"
)

// TestOpaqueKeysSortByIssueTime: the store keys of tokens issued one after
// another sort one after another (what keeps a batch of inserts on the last
// page of the index), even where the base64url of the times does not.
func TestOpaqueKeysSortByIssueTime(t *testing.T) {
	d := secret.NewDigester(secret.Bytes(32))
	start := time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC)
	prev := ""
	// Steps chosen so that the base64url characters cross '9' → 'A' →
	// '_' → 'a', whose ASCII order is not base64's.
	for _, step := range []time.Duration{0, time.Millisecond, 61 * time.Millisecond, 4 * time.Second, 5 * time.Minute, 17 * time.Hour, 400 * 24 * time.Hour} {
		now := start.Add(step)
		raw := newOpaque(now)
		if len(raw) != opaqueLen || !strings.HasPrefix(raw, accessPrefix) {
			t.Fatalf("token %q: want %d characters starting with %s", raw, opaqueLen, accessPrefix)
		}
		key := OpaqueKey(d, raw)
		if !strings.HasSuffix(key, "."+d.Digest(secret.PurposeAccess, raw)) {
			t.Fatalf("key %q does not end with the token's keyed digest", key)
		}
		if key <= prev {
			t.Fatalf("the key of a token issued at %v (%q) does not sort after the previous one (%q)", now, key, prev)
		}
		prev = key
	}
}

// TestOpaqueKeyOfOtherShapes: a token of the earlier format (no issue time)
// is keyed by its bare digest, and a value whose time part is not base64url
// still gets a key (which nothing is stored under), never a panic.
func TestOpaqueKeyOfOtherShapes(t *testing.T) {
	d := secret.NewDigester(secret.Bytes(32))
	old := secret.Token(accessPrefix)
	if got := OpaqueKey(d, old); got != d.Digest(secret.PurposeAccess, old) {
		t.Errorf("earlier format: key %q, want the bare digest", got)
	}
	for _, raw := range []string{
		accessPrefix + "!!!!!!!!" + strings.Repeat("A", 43),
		accessPrefix + strings.Repeat("é", 4) + strings.Repeat("A", 43),
		"", accessPrefix,
	} {
		if got := OpaqueKey(d, raw); got != d.Digest(secret.PurposeAccess, raw) {
			t.Errorf("%q: key %q, want the bare digest", raw, got)
		}
	}
}
