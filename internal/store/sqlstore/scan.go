package sqlstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// row is what a scan function reads from: *sql.Row or *sql.Rows.
type row interface {
	Scan(dest ...any) error
}

// micros is the stored form of a time: microseconds since the Unix epoch, or
// NULL for the zero time. Finer precision is truncated.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// timeDest scans a micros column back into a UTC time.
type timeDest struct{ t *time.Time }

// at returns the scan destination for a time column.
func at(t *time.Time) timeDest { return timeDest{t} }

func (d timeDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.t = time.Time{}
	case int64:
		*d.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("time column holds %T, want an integer of microseconds", src)
	}
	return nil
}

// list is the stored form of a string list: JSON, so that nil ("null") and
// empty ("[]") stay distinct.
func list(s []string) string {
	if s == nil {
		return "null"
	}
	// Scopes, audiences and grant types are plain ASCII: written directly,
	// they skip encoding/json's reflection (two of them on every opaque
	// token). Anything else goes through encoding/json, which escapes it.
	n := 2
	for _, v := range s {
		if !plainJSON(v) {
			b, _ := json.Marshal(s) // a []string always marshals
			return string(b)
		}
		n += len(v) + 3
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte('[')
	for i, v := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(v)
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}

// plainJSON reports whether encoding/json writes s between quotes as it is:
// printable ASCII other than the quote, the backslash and the characters it
// escapes for HTML (<, >, &).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// listDest scans a list column back into a []string.
type listDest struct{ s *[]string }

// strs returns the scan destination for a list column.
func strs(s *[]string) listDest { return listDest{s} }

func (d listDest) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("list column holds %T, want JSON text", src)
	}
	*d.s = nil
	return json.Unmarshal(b, d.s)
}

// object is the stored form of a map of JSON values: JSON, so that nil
// ("null") and empty ("{}") stay distinct. Unlike a list it can fail, on a
// value that is not JSON (a channel, NaN).
func object(m map[string]any) (string, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode JSON object: %w", err)
	}
	return string(b), nil
}

// objectDest scans an object column back into a map.
type objectDest struct{ m *map[string]any }

// obj returns the scan destination for an object column. Numbers come back
// as json.Number, exactly as written: a float64 would round an integer
// above 2^53, such as a 19-digit employee number.
func obj(m *map[string]any) objectDest { return objectDest{m} }

func (d objectDest) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("object column holds %T, want JSON text", src)
	}
	*d.m = nil
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(d.m)
}

// placeholders returns "?, ?, ?" for n values of an IN list.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
