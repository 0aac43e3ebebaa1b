package bearer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// decodeObject decodes a JSON object, refusing duplicate member names: RFC
// 7519 §4 lets a parser reject them or keep the last, and two parsers that
// choose differently can be made to disagree about a claim (catalogue JW-03
// pins: reject). Only the top level is checked; that is where the claims are.
func decodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	obj := map[string]any{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := t.(string)
		if _, dup := obj[name]; dup {
			return nil, fmt.Errorf("duplicate member %q", name)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		obj[name] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("data after the JSON object")
	}
	return obj, nil
}

// claimRules says which members the source of the claims must carry.
type claimRules struct {
	// jwt: RFC 9068 §2.2 makes iss, exp, aud, sub, client_id, iat and jti
	// REQUIRED. An introspection answer (RFC 7662 §2.2) may leave out all
	// but "active"; there "iss", when present, must still match.
	jwt bool
}

// tokenFromClaims checks the registered claims of a JWT payload or an
// introspection answer at now and builds the Token.
func (v *Verifier) tokenFromClaims(c map[string]any, rules claimRules) (*Token, *Error) {
	now := v.now()
	leeway := v.cfg.Leeway
	t := &Token{Claims: c}

	iss, ok := c["iss"]
	switch {
	case !ok && rules.jwt:
		return nil, invalid("the token has no issuer", nil)
	case ok && iss != v.cfg.Issuer:
		// RFC 9068 §4: the issuer "MUST exactly match the value of the iss claim".
		return nil, invalid("the token was issued by another issuer", fmt.Errorf("iss %q", fmt.Sprint(iss)))
	}

	// RFC 9068 §4: the resource server "MUST validate that the aud claim
	// contains a resource indicator value corresponding to an identifier the
	// resource server expects for itself" and reject the token otherwise.
	aud, err := audience(c["aud"])
	if err != nil {
		return nil, invalid("the token's audience is malformed", err)
	}
	if !contains(aud, v.cfg.Audience) {
		return nil, invalid("the token is not meant for this resource server", fmt.Errorf("aud %q, want %q", aud, v.cfg.Audience))
	}
	t.Audience = aud

	exp, ok, err := numericDate(c, "exp")
	switch {
	case err != nil:
		return nil, invalid("the token's expiry is malformed", err)
	case !ok:
		// Required by RFC 9068 and kept required for introspection: a token
		// that never expires is not what an access token should be.
		return nil, invalid("the token has no expiry", nil)
	case !now.Before(exp.Add(leeway)):
		// RFC 7519 §4.1.4: "the current date/time MUST be before the
		// expiration date/time", with "some small leeway".
		return nil, invalid("the token has expired", nil)
	}
	t.Expiry = exp

	nbf, ok, err := numericDate(c, "nbf")
	switch {
	case err != nil:
		return nil, invalid("the token's not-before time is malformed", err)
	case ok && now.Add(leeway).Before(nbf):
		// RFC 7519 §4.1.5.
		return nil, invalid("the token is not valid yet", nil)
	}

	iat, ok, err := numericDate(c, "iat")
	switch {
	case err != nil:
		return nil, invalid("the token's issue time is malformed", err)
	case !ok && rules.jwt:
		return nil, invalid("the token has no issue time", nil)
	case ok && now.Add(leeway).Before(iat):
		return nil, invalid("the token was issued in the future", nil)
	}
	t.IssuedAt = iat

	var sok, cok, jok bool
	t.Subject, sok = stringClaim(c, "sub")
	t.ClientID, cok = stringClaim(c, "client_id")
	t.ID, jok = stringClaim(c, "jti")
	if rules.jwt && (!sok || !cok || !jok || t.Subject == "" || t.ClientID == "" || t.ID == "") {
		return nil, invalid("the token lacks sub, client_id or jti", nil)
	}
	if s, ok := c["scope"]; ok {
		str, isStr := s.(string)
		if !isStr {
			return nil, invalid("the token's scope is malformed", nil)
		}
		t.Scopes = strings.Fields(str)
	}

	// A token bound to a key (RFC 9449 DPoP, RFC 8705 mTLS: "cnf") is no
	// bearer token; accepting it as one would undo the binding (catalogue
	// DP-01a; RFC 9449 §7.2).
	if _, bound := c["cnf"]; bound {
		return nil, invalid("the token is bound to a key and cannot be used as a bearer token", nil)
	}
	return t, nil
}

// audience reads "aud": a string or an array of strings (RFC 7519 §4.1.3).
func audience(v any) ([]string, error) {
	switch a := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{a}, nil
	case []any:
		out := make([]string, 0, len(a))
		for _, e := range a {
			s, ok := e.(string)
			if !ok {
				return nil, errors.New("aud array holds a non-string")
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, errors.New("aud is neither a string nor an array")
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// numericDate reads a NumericDate claim (RFC 7519 §2: seconds since the
// epoch, possibly fractional).
func numericDate(c map[string]any, name string) (time.Time, bool, error) {
	v, ok := c[name]
	if !ok {
		return time.Time{}, false, nil
	}
	f, isNum := v.(float64)
	if !isNum || math.IsNaN(f) || f < 0 || f > 1<<40 {
		return time.Time{}, false, fmt.Errorf("%s is not a NumericDate", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

func stringClaim(c map[string]any, name string) (string, bool) {
	s, ok := c[name].(string)
	return s, ok
}
