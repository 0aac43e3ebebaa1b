package oauth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/valetauth/valet"
)

func TestParseScope(t *testing.T) {
	many := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("s%03d", i)
		}
		return strings.Join(s, " ")
	}
	tests := []struct {
		in   string
		want []string // nil with ok true: absent
		ok   bool
	}{
		{"", nil, true},
		{"openid", []string{"openid"}, true},
		{"profile openid", []string{"openid", "profile"}, true},
		{"openid profile openid", []string{"openid", "profile"}, true}, // IP-04: duplicates de-duplicated
		{"openid openid", []string{"openid"}, true},
		{"https://api.example/read urn:x:y !#$%&'()*+-./:;<=>?@[]^_`{|}~", []string{"!#$%&'()*+-./:;<=>?@[]^_`{|}~", "https://api.example/read", "urn:x:y"}, true},
		{strings.Repeat("a", 255), []string{strings.Repeat("a", 255)}, true},
		{many(50), strings.Split(many(50), " "), true},
		{many(50) + " s000 s049", strings.Split(many(50), " "), true},

		// IP-04: everything else is invalid_scope.
		{"openid  profile", nil, false},
		{" openid", nil, false},
		{"openid ", nil, false},
		{" ", nil, false},
		{"  ", nil, false},
		{"openid\tprofile", nil, false},
		{"openid\nprofile", nil, false},
		{"openid\r\nprofile", nil, false},
		{`open"id`, nil, false},
		{`open\id`, nil, false},
		{"openid,profile", nil, false},
		{"openid, profile", nil, false},
		{many(51), nil, false},
		{many(200), nil, false},
		{strings.Repeat("a", 256), nil, false},
		{strings.Repeat("a", 300), nil, false},
		{"openid " + strings.Repeat("a", 300), nil, false},
		{"op\x00enid", nil, false},
		{"open\x7fid", nil, false},
		{"opén", nil, false},
		{"open\u00a0id", nil, false},
		{"openid\v", nil, false},
		{strings.Repeat("a ", 10000) + "a", nil, false},
	}
	for _, tt := range tests {
		got, err := ParseScope(tt.in)
		if tt.ok {
			if err != nil || !slices.Equal(got, tt.want) || (tt.want == nil) != (got == nil) {
				t.Errorf("ParseScope(%.40q) = %q, %v; want %q, nil", tt.in, got, err, tt.want)
			}
			continue
		}
		if got != nil {
			t.Errorf("ParseScope(%.40q) = %q, want nil on error", tt.in, got)
		}
		checkScopeError(t, tt.in, err)
	}
}

// checkScopeError asserts err is invalid_scope with a description that needs
// no escaping and reflects none of the input's unsafe bytes.
func checkScopeError(t *testing.T, in string, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != InvalidScope {
		t.Fatalf("ParseScope(%.40q) error = %v, want *Error invalid_scope", in, err)
	}
	if e.Description == "" || SafeDescription(e.Description) != e.Description {
		t.Errorf("ParseScope(%.40q) description %q is empty or not RFC 6749 §4.1.2.1-safe", in, e.Description)
	}
}

func TestParseScopeDoesNotEchoInput(t *testing.T) {
	for _, in := range []string{
		"good <script>alert(1)</script>\"x",
		"good javascript:alert(1)\\",
		"good evil-payload-xyz,other",
		"good  evil-payload-xyz",
		"good\tevil-payload-xyz",
	} {
		_, err := ParseScope(in)
		checkScopeError(t, in, err)
		for _, frag := range []string{"<script>", "javascript", "evil-payload"} {
			if strings.Contains(err.(*Error).Description, frag) {
				t.Errorf("ParseScope(%q) description %q echoes %q", in, err.(*Error).Description, frag)
			}
		}
	}
}

func TestJoinScope(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{}, ""},
		{[]string{"openid"}, "openid"},
		{[]string{"profile", "openid", "email"}, "email openid profile"},
		{[]string{"b", "a", "b", "", "a"}, "a b"},
	}
	for _, tt := range tests {
		in := slices.Clone(tt.in)
		if got := JoinScope(tt.in); got != tt.want {
			t.Errorf("JoinScope(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if !slices.Equal(in, tt.in) {
			t.Errorf("JoinScope modified its argument: %q became %q", in, tt.in)
		}
	}
}

// FuzzParseScope is catalogue R10 F4: accepted tokens are NQCHAR, the
// canonical form is a fixed point, and order does not matter.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "openid", "openid profile", "openid  profile", " openid", "openid\tprofile",
		"openid\nprofile", `open"id`, `open\id`, "openid,profile", "openid openid", strings.Repeat("a", 300),
		"z y x w", "a\x00b", "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseScope(s)
		if err != nil {
			checkScopeError(t, s, err)
			return
		}
		if s == "" {
			if got != nil {
				t.Fatalf("ParseScope(\"\") = %q, want nil", got)
			}
			return
		}
		if len(got) == 0 || len(got) > MaxScopes {
			t.Fatalf("ParseScope(%q) returned %d scopes", s, len(got))
		}
		for i, tok := range got {
			if !valet.ValidScopeToken(tok) || strings.Contains(tok, ",") {
				t.Fatalf("ParseScope(%q) accepted token %q", s, tok)
			}
			if i > 0 && got[i-1] >= tok {
				t.Fatalf("ParseScope(%q) = %q: not sorted and distinct", s, got)
			}
		}
		// The input is exactly its tokens joined by single spaces.
		in := strings.Split(s, " ")
		for _, tok := range in {
			if !slices.Contains(got, tok) {
				t.Fatalf("ParseScope(%q) = %q lost token %q", s, got, tok)
			}
		}
		// normalize(normalize(x)) == normalize(x)
		norm := JoinScope(got)
		again, err := ParseScope(norm)
		if err != nil || !slices.Equal(again, got) || JoinScope(again) != norm {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, norm, again, err)
		}
		// Order-insensitive set equality.
		slices.Reverse(in)
		rev, err := ParseScope(strings.Join(in, " "))
		if err != nil || !slices.Equal(rev, got) {
			t.Fatalf("order matters: %q gave %q, reversed gave %q, %v", s, got, rev, err)
		}
	})
}
