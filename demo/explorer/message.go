package explorer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Message is one HTTP request or response as the explorer shows it, with
// every secret already masked.
type Message struct {
	// Line is the request line ("POST /token HTTP/1.1") or the status line
	// ("HTTP/1.1 200 OK").
	Line string
	// Headers are the header fields, Host first and the others sorted.
	Headers []Field
	// Body is the body as sent, JSON indented for reading.
	Body string
	// Params are the parameters of the query, the form body or the
	// fragment, decoded, in the order they were sent; ParamsIn says which.
	Params   []Field
	ParamsIn string
}

// Field is one header field or parameter.
type Field struct{ Name, Value string }

// Param returns the value of the first parameter named name, masked as
// shown, or "".
func (m *Message) Param(name string) string {
	for _, f := range m.Params {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// Header returns the value of the first header field named name, masked as
// shown, or "".
func (m *Message) Header(name string) string {
	for _, f := range m.Headers {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Text is the whole message as it would look on the wire: the start line,
// the header fields and, after a blank line, the body.
func (m *Message) Text() string {
	var b strings.Builder
	b.WriteString(m.Line)
	b.WriteByte('\n')
	for _, h := range m.Headers {
		b.WriteString(h.Name)
		b.WriteString(": ")
		b.WriteString(h.Value)
		b.WriteByte('\n')
	}
	if m.Body != "" {
		b.WriteByte('\n')
		b.WriteString(m.Body)
	}
	return strings.TrimRight(b.String(), "\n")
}

// secretParams are the parameters and JSON members whose values are
// credentials: whoever reads one in full could use it.
var secretParams = []string{
	"access_token", "refresh_token", "id_token", "code", "code_verifier",
	"client_secret", "client_assertion", "password", "token", "assertion",
	"subject_token", "actor_token", "device_code",
}

// IsSecret reports whether a parameter or JSON member named name carries a
// credential and is masked.
func IsSecret(name string) bool { return slices.Contains(secretParams, name) }

// secretHeaders are the header fields whose values are credentials.
var secretHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"}

// prefixLen is how much of a secret is shown: enough to match a value
// across steps ("the code of step 2 is the code of step 3"), far too little
// to use it.
const prefixLen = 6

// Masked is the mark left where a secret was cut.
const Masked = "…[masked]"

// Mask returns the first few characters of secret followed by Masked. A
// short secret is masked entirely.
func Mask(secret string) string {
	if secret == "" {
		return ""
	}
	if utf8.RuneCountInString(secret) <= 2*prefixLen {
		return "[masked]"
	}
	n := 0
	for i := range secret {
		if n == prefixLen {
			return secret[:i] + Masked
		}
		n++
	}
	return "[masked]"
}

// maskParam masks the value of the secret parameter name. A password is
// masked entirely: a person's password is short, and even a prefix helps
// a guesser. Generated secrets keep their prefix.
func maskParam(name, value string) string {
	if name == "password" && value != "" {
		return "[masked]"
	}
	return Mask(value)
}

// maskHeader masks the value of a credential header field: the
// Authorization scheme stays, and each cookie keeps its name.
func maskHeader(name, value string) string {
	switch http.CanonicalHeaderKey(name) {
	case "Authorization", "Proxy-Authorization":
		scheme, cred, ok := strings.Cut(value, " ")
		if !ok {
			return Mask(value)
		}
		return scheme + " " + Mask(strings.TrimSpace(cred))
	case "Cookie":
		parts := strings.Split(value, ";")
		for i, p := range parts {
			n, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			parts[i] = n + "=" + Mask(v)
		}
		return strings.Join(parts, "; ")
	case "Set-Cookie":
		nv, attrs, _ := strings.Cut(value, ";")
		n, v, _ := strings.Cut(nv, "=")
		if attrs != "" {
			attrs = ";" + attrs
		}
		return n + "=" + Mask(v) + attrs
	}
	return value
}

// headerFields lists h with secrets masked: host first when given, then
// the fields in sorted order, one line per value.
func headerFields(host string, h http.Header) []Field {
	var out []Field
	if host != "" {
		out = append(out, Field{"Host", host})
	}
	names := make([]string, 0, len(h))
	for n := range h {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		for _, v := range h[n] {
			if slices.Contains(secretHeaders, http.CanonicalHeaderKey(n)) {
				v = maskHeader(n, v)
			}
			out = append(out, Field{n, v})
		}
	}
	return out
}

// MaskPairs masks the secret values of an application/x-www-form-urlencoded
// string (a query, a form body, an implicit-grant fragment) and keeps
// everything else byte for byte, in order. A masked value is left
// unescaped, for reading.
func MaskPairs(s string) string {
	if s == "" {
		return ""
	}
	parts := strings.Split(s, "&")
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		name, err := url.QueryUnescape(k)
		if !ok || err != nil || !IsSecret(name) {
			continue
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		parts[i] = k + "=" + maskParam(name, v)
	}
	return strings.Join(parts, "&")
}

// Pairs decodes an application/x-www-form-urlencoded string into its
// parameters, in order, with secret values masked.
func Pairs(s string) []Field {
	var out []Field
	for p := range strings.SplitSeq(s, "&") {
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			value = v
		}
		if IsSecret(name) {
			value = maskParam(name, value)
		}
		out = append(out, Field{name, value})
	}
	return out
}

// MaskURL masks the secret parameters of u's query and fragment.
func MaskURL(u string) string {
	rest, frag, hasFrag := strings.Cut(u, "#")
	base, query, hasQuery := strings.Cut(rest, "?")
	out := base
	if hasQuery {
		out += "?" + MaskPairs(query)
	}
	if hasFrag {
		out += "#" + MaskPairs(frag)
	}
	return out
}

// jsonSecretRE finds string members of a JSON object whose names are in
// secretParams; the value is the second group, still JSON-escaped.
var jsonSecretRE = regexp.MustCompile(`"(` + strings.Join(secretParams, "|") + `)"(\s*:\s*)"((?:[^"\\]|\\.)*)"`)

// MaskJSON masks the values of the secret members of a JSON text, at any
// depth, and indents it for reading. What is not valid JSON is masked the
// same way and returned unindented.
func MaskJSON(b []byte) string {
	masked := jsonSecretRE.ReplaceAllFunc(b, func(m []byte) []byte {
		g := jsonSecretRE.FindSubmatch(m)
		var v string
		if json.Unmarshal(append(append([]byte{'"'}, g[3]...), '"'), &v) != nil {
			v = string(g[3])
		}
		q, _ := json.Marshal(maskParam(string(g[1]), v))
		return fmt.Appendf(nil, `"%s"%s%s`, g[1], g[2], q)
	})
	var out bytes.Buffer
	if json.Indent(&out, masked, "", "  ") != nil {
		return string(masked)
	}
	return out.String()
}

// maxShownBody bounds the body kept per message: the explorer is for
// reading, and a large body says nothing more.
const maxShownBody = 16 << 10

// setBody formats a captured body by its media type and sets the message's
// Body (and Params, for a form).
func (m *Message) setBody(contentType string, b []byte, truncated bool) {
	if len(b) == 0 {
		return
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/x-www-form-urlencoded":
		m.Body = MaskPairs(string(b))
		m.Params, m.ParamsIn = Pairs(string(b)), "form body"
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		m.Body = MaskJSON(b)
	case strings.HasPrefix(mt, "text/") || utf8.Valid(b):
		m.Body = MaskPairs(string(b))
	default:
		m.Body = fmt.Sprintf("[%d bytes of %s]", len(b), mt)
	}
	if len(m.Body) > maxShownBody {
		m.Body, truncated = m.Body[:maxShownBody], true
	}
	if truncated {
		m.Body += "\n[… the rest is not shown]"
	}
}

// Incoming describes a request a server received, such as the browser
// arriving at an app's redirect URI. body is the request body the handler
// read, or nil.
func Incoming(r *http.Request, body []byte) Message {
	m := Message{
		Line:    r.Method + " " + MaskURL(r.URL.RequestURI()) + " " + r.Proto,
		Headers: headerFields(r.Host, r.Header),
	}
	if r.URL.RawQuery != "" {
		m.Params, m.ParamsIn = Pairs(r.URL.RawQuery), "query"
	}
	m.setBody(r.Header.Get("Content-Type"), body, false)
	return m
}

// Redirect describes a redirect a server sent a browser: the status line
// and the Location, whose query (or fragment) becomes the parameters.
func Redirect(status int, location string) Message {
	m := Message{
		Line:    fmt.Sprintf("HTTP/1.1 %d %s", status, http.StatusText(status)),
		Headers: []Field{{"Location", MaskURL(location)}},
	}
	rest, frag, _ := strings.Cut(location, "#")
	if _, query, ok := strings.Cut(rest, "?"); ok && query != "" {
		m.Params, m.ParamsIn = Pairs(query), "query"
	} else if frag != "" {
		m.Params, m.ParamsIn = Pairs(frag), "fragment"
	}
	return m
}
