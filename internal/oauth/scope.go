package oauth

import (
	"slices"
	"strings"

	"github.com/valetauth/valet"
)

// MaxScopes is the most distinct scope tokens one request may carry
// (catalogue pin P23: 50 scopes of at most 255 characters each).
const MaxScopes = 50

// maxScopeLen bounds the whole scope string before it is split: MaxScopes
// tokens of 255 bytes and the single spaces between them.
const maxScopeLen = MaxScopes*256 - 1

// ParseScope parses a scope parameter into its canonical form: the distinct
// tokens, sorted. An empty string means the parameter was absent and yields
// nil, nil (RFC 6749 §3.1: "parameters sent without a value MUST be treated as
// if they were omitted"). Anything else that is not a list of valid tokens
// separated by single spaces is an invalid_scope *Error.
//
// Descriptions name the offending byte by its offset and hex value, never by
// echoing the attacker's bytes.
func ParseScope(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > maxScopeLen {
		return nil, Errorf(InvalidScope, "scope is longer than %d bytes: at most %d scopes of at most 255 characters each", maxScopeLen, MaxScopes)
	}
	// RFC 6749 §3.3: scope = scope-token *( SP scope-token ),
	// scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b == ' ':
			if i == 0 || i == len(s)-1 || s[i-1] == ' ' {
				return nil, Errorf(InvalidScope, "scope has an empty token at offset %d: separate scopes with exactly one space, with none at the start or end", i)
			}
		case b == '\t' || b == '\n' || b == '\r':
			return nil, Errorf(InvalidScope, "scope contains whitespace byte 0x%02x at offset %d: separate scopes with exactly one space (RFC 6749 section 3.3)", b, i)
		case b == ',':
			// A comma is an NQCHAR, but "openid,profile" is always a client
			// that meant a list; refusing it beats granting a scope nobody has.
			return nil, Errorf(InvalidScope, "scope contains a comma at offset %d: scopes are separated by single spaces, not commas", i)
		case b < 0x21 || b > 0x7e || b == '"' || b == '\\':
			return nil, Errorf(InvalidScope, "scope contains byte 0x%02x at offset %d: scope tokens are printable ASCII without double quote or backslash (RFC 6749 section 3.3)", b, i)
		}
	}
	tokens := strings.Split(s, " ")
	for _, t := range tokens {
		if !valet.ValidScopeToken(t) {
			// Only the length can still be wrong here: the loop above checked every byte.
			return nil, Errorf(InvalidScope, "a scope token is %d characters long: at most 255 are allowed", len(t))
		}
	}
	// RFC 6749 §3.3: "The strings are order-insensitive", so a sorted set is
	// the canonical form and duplicates carry no meaning.
	slices.Sort(tokens)
	tokens = slices.Compact(tokens)
	if len(tokens) > MaxScopes {
		return nil, Errorf(InvalidScope, "%d distinct scopes requested: at most %d are allowed", len(tokens), MaxScopes)
	}
	return slices.Clip(tokens), nil
}

// JoinScope returns the canonical scope string for scopes: the distinct
// non-empty tokens, sorted and joined by single spaces (RFC 6749 §3.3), as
// sent in the "scope" member of a token response. It does not otherwise
// validate the tokens: they come from ParseScope or from storage.
func JoinScope(scopes []string) string {
	c := slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return s == "" })
	slices.Sort(c)
	c = slices.Compact(c)
	return strings.Join(c, " ")
}
