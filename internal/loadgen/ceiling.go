package loadgen

import (
	"io"
	"net/http"
	"strings"
)

// CeilingBody is the answer of CeilingHandler: a 200-byte JSON object shaped
// like a token response.
var CeilingBody = []byte(ceilingJSON())

func ceilingJSON() string {
	const head, tail = `{"access_token":"`, `","token_type":"Bearer","expires_in":600}`
	return head + strings.Repeat("x", 200-len(head)-len(tail)) + tail
}

// CeilingHandler is the bare net/http handler whose speed is the ceiling a
// server on this machine can reach: it reads the request body and answers
// 200 with CeilingBody and the headers a token response carries, and does
// nothing else. Comparing a server with it, in the same run, gives a ratio
// that holds from one machine to another.
func CeilingHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Cache-Control"] = []string{"no-store"}
		w.WriteHeader(http.StatusOK)
		w.Write(CeilingBody)
	})
}
