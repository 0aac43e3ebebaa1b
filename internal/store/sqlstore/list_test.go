package sqlstore

import (
	"encoding/json"
	"testing"
)

// TestListMatchesEncodingJSON: the direct encoding of plain lists writes
// exactly what encoding/json writes, and anything else goes through it.
func TestListMatchesEncodingJSON(t *testing.T) {
	for _, s := range [][]string{
		nil, {}, {""}, {"openid"}, {"contacts.read", "mail.read"}, {"https://api.example/x?y=1"},
		{`quo"te`}, {`back\slash`}, {"<script>"}, {"a&b"}, {"tab\there"}, {"nl\n"}, {"\x7f"},
		{"ünïcode"}, {"\u2028"}, {"bad\xffutf8"}, {"plain", "then\"not"},
	} {
		want, _ := json.Marshal(s)
		if got := list(s); got != string(want) {
			t.Errorf("list(%q) = %s, want %s", s, got, want)
		}
	}
}
