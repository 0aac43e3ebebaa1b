package oauth

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/valetauth/valet"
)

// BasicRealm is the realm of the WWW-Authenticate challenge sent with
// invalid_client when the client used HTTP Basic (RFC 7617 §2).
const BasicRealm = "valet"

// maxBasicCredentials bounds the base64 part of an Authorization: Basic
// header; real client ids and secrets are a small fraction of this.
const maxBasicCredentials = 4096

// Credentials is what a client presented to authenticate itself at a
// credentialed endpoint (token, revocation, introspection). It says nothing
// about whether they are right; the caller looks the client up and checks.
type Credentials struct {
	// ID is the client_id, "" when the request carried no client identity.
	ID string
	// Secret is the client secret as sent; "" when none was sent.
	Secret string
	// Method is valet.AuthSecretBasic, valet.AuthSecretPost or valet.AuthNone
	// (client_id alone in the body); "" when ID is "".
	Method string
	// HasSecret reports whether a non-empty secret was sent. A Basic header
	// with an empty password ("id:") has Method client_secret_basic and
	// HasSecret false.
	HasSecret bool
}

// ClientCredentials extracts the client's credentials from the Authorization
// header and the parsed form body (from ParseForm), enforcing RFC 6749 §2.3:
// one method per request, never in the URI, Basic encoded as §2.3.1 says.
//
// Conflicting or misplaced credentials are invalid_request. A malformed Basic
// header is invalid_client with a WWW-Authenticate challenge (InvalidClientf).
// A request with no credentials at all returns the zero Credentials and nil:
// whether that is allowed is the caller's decision. Authorization headers of
// other schemes (Bearer, DPoP) are not client authentication and are ignored.
func ClientCredentials(r *http.Request, form url.Values) (Credentials, error) {
	// RFC 6749 §2.3.1: the client credentials parameters "MUST NOT be
	// included in the request URI" (catalogue CA-03c).
	if r.Method == http.MethodPost && r.URL.RawQuery != "" { // no query: nothing to parse
		q := r.URL.Query()
		for _, p := range []string{"client_id", "client_secret", "client_assertion", "client_assertion_type"} {
			if q.Has(p) {
				return Credentials{}, Errorf(InvalidRequest, "%s must not be sent in the request URI: send client credentials in the Authorization header or the request body (RFC 6749 section 2.3.1)", p)
			}
		}
	}
	for _, p := range []string{"client_id", "client_secret", "client_assertion", "client_assertion_type"} {
		if len(form[p]) > 1 {
			return Credentials{}, Errorf(InvalidRequest, "%s is included more than once (RFC 6749 section 3.1)", p)
		}
	}
	bodyID, bodySecret := form.Get("client_id"), form.Get("client_secret")
	assertion := form.Get("client_assertion") != "" || form.Get("client_assertion_type") != ""

	auth, basic, err := basicAuthorization(r.Header)
	if err != nil {
		return Credentials{}, err
	}
	if basic {
		id, secret, err := parseBasic(auth)
		if err != nil {
			return Credentials{}, err
		}
		// RFC 6749 §2.3: "The client MUST NOT use more than one authentication
		// method in each request" (catalogue CA-03a, CA-03b).
		if bodySecret != "" {
			return Credentials{}, Errorf(InvalidRequest, "client_secret sent in the body as well as in the Authorization header: use one authentication method (RFC 6749 section 2.3)")
		}
		if assertion {
			return Credentials{}, Errorf(InvalidRequest, "client_assertion sent as well as an Authorization header: use one authentication method (RFC 6749 section 2.3)")
		}
		// The body may repeat the client_id, but never name another client
		// (catalogue CA-03d).
		if bodyID != "" && bodyID != id {
			return Credentials{}, Errorf(InvalidRequest, "client_id in the body differs from the client in the Authorization header")
		}
		return Credentials{ID: id, Secret: secret, Method: valet.AuthSecretBasic, HasSecret: secret != ""}, nil
	}
	if assertion {
		// RFC 6749 §5.2: invalid_client covers an "unsupported authentication method".
		return Credentials{}, InvalidClientf(false, "client assertions (private_key_jwt, client_secret_jwt) are not supported; use client_secret_basic")
	}
	if bodyID == "" {
		if bodySecret != "" {
			return Credentials{}, InvalidClientf(false, "client_secret sent without client_id")
		}
		return Credentials{}, nil
	}
	if !validClientID(bodyID) {
		return Credentials{}, InvalidClientf(false, "client_id contains control characters or is not valid UTF-8")
	}
	if bodySecret != "" {
		// RFC 6749 §2.3.1: client_secret_post, "NOT RECOMMENDED" but allowed.
		return Credentials{ID: bodyID, Secret: bodySecret, Method: valet.AuthSecretPost, HasSecret: true}, nil
	}
	return Credentials{ID: bodyID, Method: valet.AuthNone}, nil
}

// InvalidClientf returns an invalid_client error: always 401 (RFC 6749 §5.2,
// catalogue pin P1), with a WWW-Authenticate Basic challenge when the client
// authenticated with the Authorization header (basic true).
func InvalidClientf(basic bool, format string, args ...any) *Error {
	e := &Error{Code: InvalidClient, Description: fmt.Sprintf(format, args...), StatusCode: http.StatusUnauthorized}
	if basic {
		// RFC 6749 §5.2: "If the client attempted to authenticate via the
		// "Authorization" request header field, the authorization server MUST
		// respond with an HTTP 401 ... and include the "WWW-Authenticate"
		// response header field matching the authentication scheme used".
		e.Header = http.Header{"Www-Authenticate": {`Basic realm="` + BasicRealm + `"`}}
	}
	return e
}

// basicAuthorization returns the credentials part of an Authorization header
// using the Basic scheme, and whether there is one. The scheme is
// case-insensitive (RFC 9110 §11.1).
func basicAuthorization(h http.Header) (string, bool, error) {
	values := h.Values("Authorization")
	if len(values) == 0 {
		return "", false, nil
	}
	if len(values) > 1 {
		return "", false, Errorf(InvalidRequest, "more than one Authorization header")
	}
	// RFC 9110 §11.4: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ].
	scheme, rest, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", false, nil
	}
	return strings.TrimLeft(rest, " "), true, nil
}

// parseBasic decodes the credentials of an Authorization: Basic header.
// Failures are invalid_client with the Basic challenge.
func parseBasic(cred string) (id, secret string, err error) {
	bad := func(what string) (string, string, error) {
		return "", "", InvalidClientf(true, "malformed Authorization header: %s", what)
	}
	if cred == "" {
		return bad("no credentials after Basic")
	}
	if len(cred) > maxBasicCredentials {
		return bad("credentials too long")
	}
	// RFC 7617 §2: token68 in base64 (RFC 4648 §4, with padding). The stdlib
	// decoder skips CR and LF, so the alphabet is checked first.
	for i := 0; i < len(cred); i++ {
		if b := cred[i]; !isAlnum(b) && b != '+' && b != '/' && b != '=' {
			return bad("credentials are not base64")
		}
	}
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return bad("credentials are not base64")
	}
	// RFC 7617 §2: user-pass = user-id ":" password; the user-id cannot hold
	// a colon, so the first colon separates them.
	rawID, rawSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return bad("no colon between client_id and client_secret")
	}
	// RFC 6749 §2.3.1: "The client identifier is encoded using the
	// application/x-www-form-urlencoded encoding algorithm ... and the encoded
	// value is used as the username; the client password is encoded using the
	// same algorithm and used as the password."
	if id, err = url.QueryUnescape(rawID); err != nil {
		return bad("client_id is not form-urlencoded")
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return bad("client_secret is not form-urlencoded")
	}
	if id == "" {
		return bad("empty client_id")
	}
	if !validClientID(id) || !utf8.ValidString(secret) || strings.ContainsFunc(secret, isControl) {
		return bad("control characters or invalid UTF-8")
	}
	return id, secret, nil
}

// validClientID refuses client ids no registration could produce: invalid
// UTF-8 or control characters, NUL included.
func validClientID(id string) bool {
	return utf8.ValidString(id) && !strings.ContainsFunc(id, isControl)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }
