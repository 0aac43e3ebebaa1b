package oauth

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const formType = "application/x-www-form-urlencoded"

func formRequest(method, target, contentType, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func manyParams(n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = fmt.Sprintf("p%d=v", i)
	}
	return strings.Join(p, "&")
}

func TestParseForm(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		target      string
		contentType string
		body        string
		want        url.Values // nil: error
		status      int
		desc        string // part of the error description
	}{
		{"token request", "POST", "/token", formType, "grant_type=authorization_code&code=X&redirect_uri=https%3A%2F%2Fclient.example%2Fcb",
			url.Values{"grant_type": {"authorization_code"}, "code": {"X"}, "redirect_uri": {"https://client.example/cb"}}, 0, ""},
		{"charset parameter", "POST", "/token", formType + "; charset=UTF-8", "a=1", url.Values{"a": {"1"}}, 0, ""},
		{"media type case", "POST", "/token", "Application/X-WWW-Form-URLEncoded", "a=1", url.Values{"a": {"1"}}, 0, ""},
		{"empty body", "POST", "/token", formType, "", url.Values{}, 0, ""},
		{"plus is space", "POST", "/token", formType, "scope=openid+profile", url.Values{"scope": {"openid profile"}}, 0, ""},
		// IP-02: empty values are absent, unknown parameters pass through.
		{"empty values dropped", "POST", "/token", formType, "scope=&state=&code=X&code_verifier", url.Values{"code": {"X"}}, 0, ""},
		{"unknown parameters kept", "POST", "/token", formType, "foo=bar&extra_param=1", url.Values{"foo": {"bar"}, "extra_param": {"1"}}, 0, ""},
		{"empty pairs skipped", "POST", "/token", formType, "&&a=1&&", url.Values{"a": {"1"}}, 0, ""},
		// IP-01g: the query is never merged.
		{"query ignored", "POST", "/token?grant_type=password&client_id=x", formType, "code=X", url.Values{"code": {"X"}}, 0, ""},
		{"1000 parameters", "POST", "/token", formType, manyParams(1000), nil, 0, ""},

		// IP-01e, pin P2.
		{"GET", "GET", "/token?grant_type=client_credentials", "", "", nil, 405, "POST"},
		{"PUT", "PUT", "/token", formType, "a=1", nil, 405, "POST"},
		{"lower-case post", "post", "/token", formType, "a=1", nil, 405, "POST"},
		// IP-01f.
		{"JSON", "POST", "/token", "application/json", `{"grant_type":"client_credentials"}`, nil, 400, "Content-Type"},
		{"multipart", "POST", "/token", "multipart/form-data; boundary=x", "--x\r\n", nil, 400, "Content-Type"},
		{"text/plain", "POST", "/token", "text/plain", "a=1", nil, 400, "Content-Type"},
		{"no content type", "POST", "/token", "", "a=1", nil, 400, "Content-Type"},
		{"malformed content type", "POST", "/token", formType + "; charset", "a=1", nil, 400, "Content-Type"},
		{"prefix of the media type", "POST", "/token", formType + "x", "a=1", nil, 400, "Content-Type"},
		// IP-01c, RFC 6749 §3.2.
		{"code twice", "POST", "/token", formType, "grant_type=authorization_code&code=a&code=b", nil, 400, "code"},
		{"grant_type twice", "POST", "/token", formType, "grant_type=authorization_code&grant_type=refresh_token", nil, 400, "grant_type"},
		{"same value twice", "POST", "/token", formType, "code=a&code=a", nil, 400, "code"},
		{"empty then value", "POST", "/token", formType, "scope=&scope=openid", nil, 400, "scope"},
		{"two empties", "POST", "/token", formType, "scope=&scope=", nil, 400, "scope"},
		{"encoded name twice", "POST", "/token", formType, "code=a&%63ode=b", nil, 400, "code"},
		{"several repeated, sorted", "POST", "/token", formType, "z=1&z=2&b=1&b=2", nil, 400, "b, z"},
		{"1001 parameters", "POST", "/token", formType, manyParams(1001), nil, 400, "1000"},
		{"malformed escape", "POST", "/token", formType, "code=%zz", nil, 400, "well-formed"},
		{"malformed escape hides a repeat", "POST", "/token", formType, "code=a&code=%zz", nil, 400, "well-formed"},
		{"semicolon separator", "POST", "/token", formType, "code=a;code=b", nil, 400, "well-formed"},
	}
	for _, tt := range tests {
		r := formRequest(tt.method, tt.target, tt.contentType, tt.body)
		got, err := ParseForm(httptest.NewRecorder(), r, 0)
		if tt.status == 0 {
			if tt.want == nil { // the 1000-parameter case: just success
				if err != nil || len(got) != 1000 {
					t.Errorf("%s: %d parameters, %v", tt.name, len(got), err)
				}
				continue
			}
			if err != nil || !maps.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("%s: ParseForm = %v, %v; want %v", tt.name, got, err, tt.want)
			}
			continue
		}
		e := wantCode(t, tt.name, err, InvalidRequest)
		if got != nil {
			t.Errorf("%s: returned %v with its error", tt.name, got)
		}
		if e.Status() != tt.status || !strings.Contains(e.Description, tt.desc) {
			t.Errorf("%s: status %d, description %q; want %d mentioning %q", tt.name, e.Status(), e.Description, tt.status, tt.desc)
		}
		if wantAllow := tt.status == 405; (e.Header.Get("Allow") == "POST") != wantAllow {
			t.Errorf("%s: Allow header %q", tt.name, e.Header.Get("Allow"))
		}
	}
}

func TestParseFormDoesNotEchoNames(t *testing.T) {
	r := formRequest("POST", "/token", formType, "%3Cscript%3E=1&%3Cscript%3E=2&a%0Ab=1&a%0Ab=2")
	_, err := ParseForm(httptest.NewRecorder(), r, 0)
	e := wantCode(t, "odd names", err, InvalidRequest)
	if strings.Contains(e.Description, "script") || strings.Contains(e.Description, "a\nb") {
		t.Errorf("description %q echoes a parameter name", e.Description)
	}
}

func TestParseFormLimit(t *testing.T) {
	const limit = 100
	body := "a=" + strings.Repeat("x", limit-2)
	for _, tt := range []struct {
		name    string
		body    string
		chunked bool // no Content-Length, so only the reader can notice
		status  int
	}{
		{"at the limit", body, false, 0},
		{"at the limit, chunked", body, true, 0},
		{"one over", body + "x", false, 413},
		{"one over, chunked", body + "x", true, 413},
		{"far over, chunked", body + strings.Repeat("x", 1<<20), true, 413},
	} {
		r := formRequest("POST", "/token", formType, tt.body)
		if tt.chunked {
			r.ContentLength = -1
			r.Body = io.NopCloser(strings.NewReader(tt.body))
		}
		got, err := ParseForm(httptest.NewRecorder(), r, limit)
		if tt.status == 0 {
			if err != nil || len(got.Get("a")) != limit-2 {
				t.Errorf("%s: ParseForm error %v", tt.name, err)
			}
			continue
		}
		if e := wantCode(t, tt.name, err, InvalidRequest); e.Status() != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, e.Status(), tt.status)
		}
	}
	// The default is MaxFormBytes (pin P23: 64 KiB).
	over := formRequest("POST", "/token", formType, "a="+strings.Repeat("x", MaxFormBytes))
	if _, err := ParseForm(httptest.NewRecorder(), over, 0); err == nil || From(err).Status() != 413 {
		t.Errorf("64 KiB + 2 with the default limit: %v", err)
	}
	at := formRequest("POST", "/token", formType, "a="+strings.Repeat("x", MaxFormBytes-2))
	if _, err := ParseForm(httptest.NewRecorder(), at, 0); err != nil {
		t.Errorf("64 KiB with the default limit: %v", err)
	}
}

// TestParseFormMemory checks R10 F1's allocation bound: parsing a full-size
// body allocates less than 4 times its size.
func TestParseFormMemory(t *testing.T) {
	body := manyParams(MaxParams - 1)
	body += "&z=" + strings.Repeat("x", MaxFormBytes-len(body)-3)
	var before, after runtime.MemStats
	const runs = 20
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		r := formRequest("POST", "/token", formType, body)
		if _, err := ParseForm(httptest.NewRecorder(), r, 0); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	perRun := (after.TotalAlloc - before.TotalAlloc) / runs
	if perRun > 4*uint64(len(body)) {
		t.Errorf("ParseForm of %d bytes allocated %d bytes", len(body), perRun)
	}
}

func TestSingleValues(t *testing.T) {
	got, err := SingleValues(url.Values{"client_id": {"conf1"}, "state": {""}, "scope": {"openid"}})
	if err != nil || !maps.Equal(got, map[string]string{"client_id": "conf1", "scope": "openid"}) {
		t.Errorf("SingleValues = %v, %v", got, err)
	}
	for _, q := range []url.Values{
		{"client_id": {"conf1", "conf2"}},                // IP-01a
		{"redirect_uri": {"https://a.example/", ""}},     // a repeat, even with an empty value
		{"scope": {"openid", "profile"}, "state": {"x"}}, // IP-01b
	} {
		got, err := SingleValues(q)
		wantCode(t, fmt.Sprint(q), err, InvalidRequest)
		if got != nil {
			t.Errorf("SingleValues(%v) returned %v with its error", q, got)
		}
	}
	many := url.Values{}
	for i := range MaxParams + 1 {
		many.Set(fmt.Sprint(i), "v")
	}
	if _, err := SingleValues(many); err == nil {
		t.Error("SingleValues accepted 1001 parameters")
	}
}

func TestParseQuery(t *testing.T) {
	got, err := ParseQuery("response_type=code&client_id=conf1&state=&scope=openid+profile&foo=bar")
	want := map[string]string{"response_type": "code", "client_id": "conf1", "scope": "openid profile", "foo": "bar"}
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("ParseQuery = %v, %v; want %v", got, err, want)
	}
	if got, err := ParseQuery(""); err != nil || len(got) != 0 {
		t.Errorf("ParseQuery(\"\") = %v, %v", got, err)
	}
	for _, q := range []string{
		"client_id=conf1&client_id=conf2",
		"client_id=conf1&client_id=%zz", // net/url's Query() would drop the second and see one
		"client_id=conf1;client_id=conf2",
		"state=" + strings.Repeat("x", MaxQueryBytes),
		manyParams(MaxParams + 1),
	} {
		got, err := ParseQuery(q)
		wantCode(t, q[:min(len(q), 40)], err, InvalidRequest)
		if got != nil {
			t.Errorf("ParseQuery(%.40q) returned %v with its error", q, got)
		}
	}
}

// FuzzParseForm is catalogue R10 F1: the body parser never panics and never
// answers 5xx; a repeated name is always invalid_request; an oversized body
// is 413; and an accepted body equals url.ParseQuery of it without the empty
// values.
func FuzzParseForm(f *testing.F) {
	const limit = 512
	f.Add("grant_type=authorization_code&code=X&redirect_uri=https%3A%2F%2Fclient.example%2Fcb", formType, false)
	f.Add("code=a&code=b", formType+"; charset=utf-8", true)
	f.Add("scope=&state=", formType, false)
	f.Add("a=%zz&a=1", formType, false)
	f.Add("a=1;b=2", formType, false)
	f.Add(`{"a":1}`, "application/json", false)
	f.Add("a=1", "multipart/form-data; boundary=x", false)
	f.Add(strings.Repeat("&", 2000), formType, true)
	f.Add(strings.Repeat("x", limit+1), formType, false)
	f.Add("=1&=2", formType, false)
	f.Fuzz(func(t *testing.T, body, contentType string, chunked bool) {
		r := formRequest("POST", "/token?client_id=q&a=q", "", body)
		r.Header["Content-Type"] = []string{contentType}
		if chunked {
			r.ContentLength = -1
			r.Body = io.NopCloser(strings.NewReader(body))
		}
		got, err := ParseForm(httptest.NewRecorder(), r, limit)
		mt, _, cterr := mime.ParseMediaType(contentType)
		ctOK := cterr == nil && mt == formType
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != InvalidRequest || (e.Status() != 400 && e.Status() != 413) {
				t.Fatalf("body %q: error %v, status %d", body, err, From(err).Status())
			}
			if len(body) > limit && ctOK && e.Status() != 413 {
				t.Fatalf("body of %d bytes: status %d, want 413", len(body), e.Status())
			}
			return
		}
		if !ctOK {
			t.Fatalf("accepted Content-Type %q", contentType)
		}
		if len(body) > limit {
			t.Fatalf("accepted %d bytes, limit %d", len(body), limit)
		}
		want, perr := url.ParseQuery(body)
		if perr != nil {
			t.Fatalf("accepted %q, which url.ParseQuery refuses: %v", body, perr)
		}
		for k, vs := range want {
			if len(vs) > 1 {
				t.Fatalf("accepted %q with %q repeated", body, k)
			}
			if vs[0] == "" {
				delete(want, k)
			}
		}
		if !maps.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("ParseForm(%q) = %v, url.ParseQuery gives %v", body, got, want)
		}
		// The same rules hold for a query string.
		m, err := ParseQuery(body)
		if err != nil || len(m) != len(want) {
			t.Fatalf("ParseQuery(%q) = %v, %v; ParseForm gave %v", body, m, err, got)
		}
		for k, v := range m {
			if want.Get(k) != v {
				t.Fatalf("ParseQuery(%q)[%q] = %q, want %q", body, k, v, want.Get(k))
			}
		}
	})
}

// BenchmarkParseForm parses a full-size body of MaxParams parameters.
func BenchmarkParseForm(b *testing.B) {
	body := manyParams(MaxParams - 1)
	body += "&z=" + strings.Repeat("x", MaxFormBytes-len(body)-3)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r := formRequest("POST", "/token", formType, body)
		if _, err := ParseForm(httptest.NewRecorder(), r, 0); err != nil {
			b.Fatal(err)
		}
	}
}
