package server

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/valetauth/valet/internal/oauth"
)

// withDefaults wraps h with panic recovery, default headers and one access-log
// line per request. The log line names the method, the path (never the query,
// which carries codes, state and tokens), the status and the duration; no
// header or body is ever logged.
func withDefaults(h http.Handler, log *slog.Logger, access *AccessLog) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		reqID := requestID()
		rec.Header().Set("X-Content-Type-Options", "nosniff")
		rec.Header().Set("X-Request-Id", reqID)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic serving request", "request_id", reqID, "path", r.URL.Path,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if !rec.wrote {
					oauth.WriteJSON(rec, oauth.Internal(fmt.Errorf("panic: %v", p)))
				}
			}
			if access != nil {
				access.write(time.Now(), reqID, r.Method, r.URL.Path, rec.status(), time.Since(start))
				return
			}
			// LogAttrs: typed attributes, no boxing into []any on every request.
			log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("request_id", reqID),
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", rec.status()),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
		}()
		h.ServeHTTP(rec, r)
	})
}

// statusRecorder remembers the status a handler wrote, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.wrote {
		s.code, s.wrote = http.StatusOK, true
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) status() int {
	if !s.wrote {
		return http.StatusOK
	}
	return s.code
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// requestID returns 64 random bits in base64url (11 characters) naming one
// request in the logs and the X-Request-Id header. It is not a secret, so
// math/rand/v2's generator serves: a crypto/rand read per request was 1%
// of a token request's CPU.
func requestID() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return base64.RawURLEncoding.EncodeToString(b[:])
}
