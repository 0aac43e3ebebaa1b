package explorer

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Decoded is what a JWT says: its header and claims, decoded from base64url
// but NOT verified. Anyone can decode a JWT; only the party that checks
// the signature with the issuer's keys (the API, with bearer) may trust it.
type Decoded struct {
	Header string // the header, as indented JSON
	Claims string // the claims, as indented JSON
	// Explained lists the registered claims present, each with what it
	// means, in a fixed order.
	Explained []Claim
}

// Claim is one claim of a token with its value as text and a plain
// sentence saying what it is for.
type Claim struct{ Name, Value, Meaning string }

// claimMeanings are the claims of RFC 9068 access tokens, in the order a
// person reads them.
var claimMeanings = []struct{ name, meaning string }{
	{"iss", "who issued it: the authorization server"},
	{"sub", "whom it speaks for: the person's ID at the authorization server, or the app itself"},
	{"client_id", "which app holds it"},
	{"aud", "which API it is for; any other API must refuse it"},
	{"scope", "what it allows, and nothing more"},
	{"exp", "when it stops working"},
	{"iat", "when it was issued"},
	{"jti", "its unique ID, so that it can be revoked or spotted if replayed"},
}

// DecodeJWT decodes the header and claims of a compact JWS. It checks
// nothing but the shape: the signature is not verified.
func DecodeJWT(raw string) (*Decoded, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errors.New("explorer: not a JWT (a JWT has three parts separated by dots)")
	}
	var d Decoded
	var claims map[string]any
	for i, dst := range []*string{&d.Header, &d.Claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, fmt.Errorf("explorer: JWT part %d is not base64url: %w", i+1, err)
		}
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			return nil, fmt.Errorf("explorer: JWT part %d is not JSON: %w", i+1, err)
		}
		*dst = out.String()
		if i == 1 {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			if err := dec.Decode(&claims); err != nil {
				return nil, fmt.Errorf("explorer: JWT claims are not a JSON object: %w", err)
			}
		}
	}
	for _, c := range claimMeanings {
		v, ok := claims[c.name]
		if !ok {
			continue
		}
		d.Explained = append(d.Explained, Claim{Name: c.name, Value: claimText(c.name, v), Meaning: c.meaning})
	}
	return &d, nil
}

// claimText shows a claim's value; times are shown as dates as well.
func claimText(name string, v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		if n, err := v.Int64(); err == nil && (name == "exp" || name == "iat" || name == "nbf") {
			return fmt.Sprintf("%d (%s)", n, time.Unix(n, 0).UTC().Format("2006-01-02 15:04:05 UTC"))
		}
		return v.String()
	case []any:
		s := make([]string, len(v))
		for i, e := range v {
			s[i] = claimText(name, e)
		}
		return strings.Join(s, ", ")
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}
