package oauth

import (
	"strings"

	"github.com/valetauth/valet"
)

// maxRedirectURILen bounds a requested redirect URI. Registration allows 2000
// characters (valet.ValidateRedirectURI); the loopback rule can add a port.
const maxRedirectURILen = 2048

// MatchRedirectURI reports whether requested is one of the registered redirect
// URIs and returns the URI to redirect to (requested itself).
//
// The comparison is byte for byte, with no RFC 3986 §6.2.2 normalisation of
// case, percent-encoding, dot segments, default ports or trailing dots
// (RFC 9700 §4.1.3, catalogue pin P8). The one exception is RFC 8252 §7.3: when
// the registered URI is http on a loopback IP literal (127.0.0.1, [::1]), a
// requested URI that differs from it only in the port, present or absent,
// matches. Nothing is parsed with net/url; the authority is split off by hand
// so that no parser's leniency can widen a match.
func MatchRedirectURI(registered []string, requested string) (string, bool) {
	if !plausibleURI(requested) {
		return "", false
	}
	// RFC 9700 §4.1.3: "The authorization server MUST ensure that the two URIs
	// are equal; see [RFC3986], Section 6.2.1, Simple String Comparison".
	for _, r := range registered {
		if r == requested {
			return requested, true
		}
	}
	req, ok := splitLoopback(requested)
	if !ok {
		return "", false
	}
	for _, r := range registered {
		reg, ok := splitLoopback(r)
		// RFC 8252 §7.3: "The authorization server MUST allow any port to be
		// specified at the time of the request for loopback IP redirect URIs".
		// Host literal, path and query must still be identical bytes.
		if ok && reg.host == req.host && reg.rest == req.rest {
			return requested, true
		}
	}
	return "", false
}

// ResolveRedirectURI decides the redirect URI of an authorization request
// (catalogue pin P9). A requested URI must match a registered one
// (MatchRedirectURI). An absent one is allowed only for a plain OAuth request
// from a client with exactly one registered URI (RFC 6749 §3.1.2.3); OpenID
// Connect requires the parameter (OIDC Core §3.1.2.1).
//
// An error is invalid_request, and the caller must show it on its own error
// page: it must never redirect to requested or to a registered URI (RFC 6749
// §4.1.2.1, catalogue RU-01). The description does not echo requested.
func ResolveRedirectURI(registered []string, requested string, openid bool) (string, error) {
	if requested != "" {
		if uri, ok := MatchRedirectURI(registered, requested); ok {
			return uri, nil
		}
		// RFC 6749 §4.1.2.1: "the authorization server ... MUST NOT
		// automatically redirect the user-agent to the invalid redirection URI."
		return "", Errorf(InvalidRequest, "redirect_uri does not match any redirect URI registered for this client (the comparison is exact)")
	}
	switch {
	case openid:
		// OIDC Core §3.1.2.1: redirect_uri "REQUIRED".
		return "", Errorf(InvalidRequest, "redirect_uri required: OpenID Connect requests (scope openid) must send it")
	case len(registered) == 0:
		return "", Errorf(InvalidRequest, "the client has no registered redirect URI")
	case len(registered) > 1:
		// RFC 6749 §3.1.2.3: "If multiple redirection URIs have been registered
		// ... the client MUST include a redirection URI with the authorization
		// request using the redirect_uri request parameter."
		return "", Errorf(InvalidRequest, "redirect_uri required: the client has registered more than one redirect URI")
	}
	return registered[0], nil
}

// plausibleURI refuses, before any comparison, what registration could never
// have accepted (valet.ValidateRedirectURI): empty or overlong values, spaces,
// controls, non-ASCII, backslashes, quotes, angle brackets and fragments.
func plausibleURI(s string) bool {
	if s == "" || len(s) > maxRedirectURILen {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b <= 0x20 || b >= 0x7f:
			return false
		case b == '\\' || b == '"' || b == '<' || b == '>' || b == '`' || b == '{' || b == '}' || b == '|' || b == '^' || b == '#':
			return false
		}
	}
	return true
}

// loopbackURI is an http URI on a loopback IP literal, cut into the pieces the
// RFC 8252 §7.3 rule compares.
type loopbackURI struct {
	host string // the host exactly as written: "127.0.0.1" or "[::1]"
	port string // the digits after the colon, or "" when absent
	rest string // path and query, byte for byte
}

// splitLoopback splits s when it is "http://" HOST [":" PORT] REST with HOST a
// loopback IP literal, PORT 1 to 65535 written without leading zeros, and
// REST empty or starting with "/" or "?". The authority must hold nothing
// else: no user info ("@"), no percent-encoding, no zone, no second colon.
func splitLoopback(s string) (loopbackURI, bool) {
	// RFC 8252 §7.3 covers "http" only, and Valet compares the scheme as
	// registered: "HTTP://" is not "http://" (catalogue pin P8).
	const scheme = "http://"
	if !plausibleURI(s) || !strings.HasPrefix(s, scheme) {
		return loopbackURI{}, false
	}
	s = s[len(scheme):]
	end := strings.IndexAny(s, "/?")
	if end < 0 {
		end = len(s)
	}
	authority, rest := s[:end], s[end:]
	// RFC 3986 §3.2: authority = [ userinfo "@" ] host [ ":" port ]. User info
	// is how http://127.0.0.1:80@evil.example/ hides its real host; "%" is how
	// http://127.0.0.1:80%2f@evil/ and zone identifiers hide theirs.
	if strings.ContainsAny(authority, "@%") {
		return loopbackURI{}, false
	}
	var u loopbackURI
	var inner, tail string
	if strings.HasPrefix(authority, "[") {
		j := strings.IndexByte(authority, ']')
		if j < 0 {
			return loopbackURI{}, false
		}
		inner, tail = authority[1:j], authority[j+1:]
		u.host = authority[:j+1]
		// IPv6 literals only: a bracketed IPv4 literal is not RFC 3986 syntax.
		if !strings.Contains(inner, ":") {
			return loopbackURI{}, false
		}
	} else {
		i := strings.IndexByte(authority, ':')
		if i < 0 {
			i = len(authority)
		}
		inner, tail = authority[:i], authority[i:]
		u.host = inner
	}
	// RFC 8252 §7.3 and §8.3: a loopback IP literal, never "localhost" or a
	// name such as 127.0.0.1.evil.example; valet.IsLoopbackIPHost also refuses
	// the shorthand forms 127.1, 0x7f.0.0.1 and 2130706433.
	if !valet.IsLoopbackIPHost(inner) {
		return loopbackURI{}, false
	}
	if tail != "" {
		port, ok := strings.CutPrefix(tail, ":")
		if !ok || !validPort(port) {
			return loopbackURI{}, false
		}
		u.port = port
	}
	u.rest = rest
	return u, true
}

// validPort reports whether p is a TCP port 1 to 65535 written in decimal
// without leading zeros, so that each port has a single spelling.
func validPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}
