package server

import (
	"encoding/json"
	"io"
	"strconv"
	"sync"
	"time"
)

// AccessLog writes the one line per request of withDefaults straight to W,
// in the shape slog's handlers give it (logfmt, or JSON with JSON set):
//
//	time=2026-11-27T00:00:57.123Z level=INFO msg=request request_id=… method=POST path=/token status=200 duration_ms=0.81
//
// slog's generic record handling was 8% of the CPU of a token request in
// valet bench; this writes the same fields into one reused buffer. Other
// log lines still go through slog.
type AccessLog struct {
	W    io.Writer
	JSON bool
}

var accessBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func (a *AccessLog) write(now time.Time, reqID, method, path string, status int, d time.Duration) {
	bp := accessBufs.Get().(*[]byte)
	b := (*bp)[:0]
	ms := float64(d.Microseconds()) / 1000
	if a.JSON {
		b = append(b, `{"time":"`...)
		b = now.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","level":"INFO","msg":"request","request_id":`...)
		b = appendJSONString(b, reqID)
		b = append(b, `,"method":`...)
		b = appendJSONString(b, method)
		b = append(b, `,"path":`...)
		b = appendJSONString(b, path)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, `,"duration_ms":`...)
		b = strconv.AppendFloat(b, ms, 'g', -1, 64)
		b = append(b, "}\n"...)
	} else {
		b = append(b, "time="...)
		b = appendRFC3339Millis(b, now)
		b = append(b, " level=INFO msg=request request_id="...)
		b = appendLogfmt(b, reqID)
		b = append(b, " method="...)
		b = appendLogfmt(b, method)
		b = append(b, " path="...)
		b = appendLogfmt(b, path)
		b = append(b, " status="...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, " duration_ms="...)
		b = strconv.AppendFloat(b, ms, 'g', -1, 64)
		b = append(b, '\n')
	}
	_, _ = a.W.Write(b) // a logger has nowhere to report its own failure
	*bp = b
	accessBufs.Put(bp)
}

// appendRFC3339Millis writes t as slog's text handler does: RFC 3339 with
// exactly three digits of milliseconds.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	const prefix = len("2006-01-02T15:04:05.000")
	n := len(b)
	// RFC3339Nano trims trailing zeros; a tenth of a millisecond keeps
	// four digits, of which the fourth is then dropped.
	b = t.Truncate(time.Millisecond).Add(time.Millisecond/10).AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefix], b[n+prefix+1:]...)
}

// plain reports whether s can be written unquoted in both formats: it is
// not empty and holds only characters no reader of logfmt or JSON could
// take for syntax. A request's method and path are the client's choice, so
// anything else is quoted.
func plain(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '/' || c == '-' || c == '_' || c == '.' || c == '~' || c == ':' || c == '@' || c == '+' || c == ',' || c == ';' || c == '%':
		default:
			return false
		}
	}
	return true
}

func appendLogfmt(b []byte, s string) []byte {
	if plain(s) {
		return append(b, s...)
	}
	return strconv.AppendQuote(b, s)
}

func appendJSONString(b []byte, s string) []byte {
	if plain(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s) // escapes quotes, controls, <>&, U+2028; invalid UTF-8 becomes U+FFFD
	return append(b, q...)
}
