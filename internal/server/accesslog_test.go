package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hostile are request paths and methods a client may send: each must come
// back from the line exactly, and never break it in two.
var hostile = []string{"/token", "", "/a b", `/"quoted"`, "/new\nline time=forged", "/back\\slash", "/eq=ual",
	"/ünïcode", "/\u2028sep", "/<script>&", "/\x00nul", "/bad\xffutf8", "/%2F%0A"}

func TestAccessLogJSON(t *testing.T) {
	var out bytes.Buffer
	a := &AccessLog{W: &out, JSON: true}
	now := time.Date(2026, 11, 27, 0, 0, 57, 123456789, time.UTC)
	for _, s := range hostile {
		out.Reset()
		a.write(now, "rid", s, s, 403, 812*time.Microsecond)
		line := out.String()
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("%q: not one line: %q", s, line)
		}
		var got struct {
			Time       time.Time `json:"time"`
			Level, Msg string
			RequestID  string  `json:"request_id"`
			Method     string  `json:"method"`
			Path       string  `json:"path"`
			Status     int     `json:"status"`
			DurationMS float64 `json:"duration_ms"`
		}
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("%q: %v in %s", s, err, line)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if !got.Time.Equal(now) || got.Level != "INFO" || got.Msg != "request" || got.RequestID != "rid" ||
			got.Method != want || got.Path != want || got.Status != 403 || got.DurationMS != 0.812 {
			t.Errorf("%q: read back %+v", s, got)
		}
	}
}

// logfmt reads a line of key=value pairs, values plain or Go-quoted.
var logfmtPair = regexp.MustCompile(`([a-z_]+)=("(?:[^"\\]|\\.)*"|[^ ]*)`)

func TestAccessLogText(t *testing.T) {
	var out bytes.Buffer
	a := &AccessLog{W: &out}
	now := time.Date(2026, 11, 27, 0, 0, 57, 0, time.UTC)
	for _, s := range hostile {
		out.Reset()
		a.write(now, "rid", s, s, 200, 1500*time.Microsecond)
		line := out.String()
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("%q: not one line: %q", s, line)
		}
		got := map[string]string{}
		rest := strings.TrimSuffix(line, "\n")
		for _, m := range logfmtPair.FindAllStringSubmatch(rest, -1) {
			v := m[2]
			if strings.HasPrefix(v, `"`) {
				u, err := strconv.Unquote(v)
				if err != nil {
					t.Fatalf("%q: bad quoting %s in %s", s, v, line)
				}
				v = u
			}
			got[m[1]] = v
		}
		if got["time"] != "2026-11-27T00:00:57.000Z" || got["level"] != "INFO" || got["msg"] != "request" ||
			got["request_id"] != "rid" || got["method"] != s || got["path"] != s || got["status"] != "200" ||
			got["duration_ms"] != "1.5" || len(got) != 8 {
			t.Errorf("%q: read back %v from %s", s, got, line)
		}
	}
}

// TestAccessLogThroughTheMiddleware: with an AccessLog the line is written
// there, once per request, and not through slog.
func TestAccessLogThroughTheMiddleware(t *testing.T) {
	var out bytes.Buffer
	h := withDefaults(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}), nil, &AccessLog{W: &out})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/token?code=secret", nil))
	line := out.String()
	if !strings.Contains(line, " method=POST path=/token status=418 ") || strings.Contains(line, "secret") ||
		!strings.Contains(line, "request_id="+rec.Header().Get("X-Request-Id")) {
		t.Fatalf("access line %q", line)
	}
}
