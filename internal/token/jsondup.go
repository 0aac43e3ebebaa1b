package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
)

// uniqueMembers reports whether b is a JSON object none of whose members
// shares its name with another. RFC 7519 §4 lets a parser reject a JWT with
// duplicate claim names or take the last one; encoding/json takes the last,
// so two readers could see two different tokens in one. Valet rejects
// (catalogue JW-03, pinned), for claims and for the protected header alike.
// Only the top level matters: that is where the claims are.
func uniqueMembers(b []byte) bool {
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	seen := make(map[string]struct{}, 16)
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return false
		}
		name, ok := t.(string)
		if !ok {
			return false
		}
		if _, dup := seen[name]; dup {
			return false
		}
		seen[name] = struct{}{}
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return false
		}
	}
	if t, err := d.Token(); err != nil || t != json.Delim('}') {
		return false
	}
	_, err := d.Token()
	return err == io.EOF // nothing after the object
}

// protectedHeader returns the decoded protected header of a compact JWS,
// or nil when it is not base64url.
func protectedHeader(raw string) []byte {
	i := strings.IndexByte(raw, '.')
	if i < 0 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(raw[:i])
	if err != nil {
		return nil
	}
	return b
}
