package explorer

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
)

// Exchange is one request an app sent and the answer it got.
type Exchange struct {
	Request Message
	// Response is nil when no answer came; Err then says why.
	Response *Message
	Err      string
}

// Recorder is an http.RoundTripper that sends each request with Base and
// keeps a masked copy of the request and of the response. Put it in the
// Transport of the http.Client an app makes its calls with. It is safe for
// concurrent use.
type Recorder struct {
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper

	mu        sync.Mutex
	exchanges []Exchange
}

// maxCapturedBody is how much of a body is read into the copy; the rest
// still reaches the caller, unrecorded.
const maxCapturedBody = 1 << 20

// RoundTrip sends req and records it and its answer. The request and
// response bodies are read into memory (up to 1 MiB) and handed on intact.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	base := r.Base
	if base == nil {
		base = http.DefaultTransport
	}
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("explorer: read the request body: %w", err)
		}
		reqBody = b
		// RoundTrip must not change the caller's request: send a copy
		// whose body is what was read.
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		req.ContentLength = int64(len(b))
	}
	ex := Exchange{Request: outgoing(req, reqBody)}

	resp, err := base.RoundTrip(req)
	if err != nil {
		ex.Err = err.Error()
		r.add(ex)
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCapturedBody+1))
	if err != nil {
		resp.Body.Close()
		ex.Err = "reading the answer: " + err.Error()
		r.add(ex)
		return nil, err
	}
	truncated := len(b) > maxCapturedBody
	if truncated {
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
		b = b[:maxCapturedBody]
	} else {
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	m := Message{
		Line:    resp.Proto + " " + resp.Status,
		Headers: headerFields("", resp.Header),
	}
	if resp.Proto == "" {
		m.Line = "HTTP/1.1 " + resp.Status
	}
	m.setBody(resp.Header.Get("Content-Type"), b, truncated)
	ex.Response = &m
	r.add(ex)
	return resp, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

func (r *Recorder) add(ex Exchange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exchanges = append(r.exchanges, ex)
}

// Exchanges returns what was recorded so far, oldest first.
func (r *Recorder) Exchanges() []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.exchanges)
}

// Last returns the latest exchange, or false when there is none.
func (r *Recorder) Last() (Exchange, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.exchanges) == 0 {
		return Exchange{}, false
	}
	return r.exchanges[len(r.exchanges)-1], true
}

// outgoing describes a request as the client sends it. The transport adds
// Content-Length, User-Agent and Accept-Encoding itself; Content-Length is
// shown, the other two say nothing about OAuth and are left out.
func outgoing(req *http.Request, body []byte) Message {
	proto := req.Proto
	if proto == "" {
		proto = "HTTP/1.1"
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	h := req.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if len(body) > 0 {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	m := Message{
		Line:    req.Method + " " + MaskURL(req.URL.RequestURI()) + " " + proto,
		Headers: headerFields(host, h),
	}
	if req.URL.RawQuery != "" {
		m.Params, m.ParamsIn = Pairs(req.URL.RawQuery), "query"
	}
	m.setBody(req.Header.Get("Content-Type"), body, false)
	return m
}
