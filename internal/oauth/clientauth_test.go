package oauth

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/valetauth/valet"
)

// basic builds the header value of RFC 6749 §2.3.1: both parts
// form-urlencoded, then Basic.
func basic(id, secret string) string {
	return "Basic " + b64(url.QueryEscape(id)+":"+url.QueryEscape(secret))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func tokenRequest(target string, auth []string, form url.Values) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, a := range auth {
		r.Header.Add("Authorization", a)
	}
	return r
}

func TestClientCredentials(t *testing.T) {
	type want struct {
		creds  Credentials
		code   string // "" for success
		header bool   // WWW-Authenticate expected
	}
	ok := func(id, secret, method string) want {
		return want{creds: Credentials{ID: id, Secret: secret, Method: method, HasSecret: secret != ""}}
	}
	reqErr := want{code: InvalidRequest}
	basicErr := want{code: InvalidClient, header: true}
	bodyErr := want{code: InvalidClient}
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name   string
		target string
		auth   []string
		form   url.Values
		want   want
	}{
		{"basic", "/token", []string{basic("conf1", "S1")}, form("grant_type", "authorization_code"), ok("conf1", "S1", valet.AuthSecretBasic)},
		{"basic, matching body client_id", "/token", []string{basic("conf1", "S1")}, form("client_id", "conf1"), ok("conf1", "S1", valet.AuthSecretBasic)},
		{"post", "/token", nil, form("client_id", "conf1", "client_secret", "S1"), ok("conf1", "S1", valet.AuthSecretPost)},
		{"none", "/token", nil, form("client_id", "pub1"), ok("pub1", "", valet.AuthNone)},
		{"nothing", "/token", nil, form("grant_type", "client_credentials"), ok("", "", "")},
		{"nothing, nil form", "/token", nil, nil, ok("", "", "")},
		{"other query parameters", "/token?foo=bar", nil, form("client_id", "pub1"), ok("pub1", "", valet.AuthNone)},
		{"bearer header is not client authentication", "/token", []string{"Bearer abc"}, form("client_id", "pub1"), ok("pub1", "", valet.AuthNone)},

		// CA-04: encoding of client_secret_basic.
		{"scheme lower case", "/token", []string{"basic " + b64("conf1:S1")}, nil, ok("conf1", "S1", valet.AuthSecretBasic)},
		{"scheme upper case", "/token", []string{"BASIC " + b64("conf1:S1")}, nil, ok("conf1", "S1", valet.AuthSecretBasic)},
		{"several spaces", "/token", []string{"Basic   " + b64("conf1:S1")}, nil, ok("conf1", "S1", valet.AuthSecretBasic)},
		{"plus is a space", "/token", []string{"Basic " + b64("my+client:a+b")}, nil, ok("my client", "a b", valet.AuthSecretBasic)},
		{"encoded plus", "/token", []string{"Basic " + b64("c%2B1:s%2Bx")}, nil, ok("c+1", "s+x", valet.AuthSecretBasic)},
		{"encoded colon in id", "/token", []string{basic("urn:client:1", "pw")}, nil, ok("urn:client:1", "pw", valet.AuthSecretBasic)},
		{"first colon splits", "/token", []string{"Basic " + b64("conf1:a:b")}, nil, ok("conf1", "a:b", valet.AuthSecretBasic)},
		{"secret with every special character", "/token", []string{basic("conf1", `%&+=:;/?#[]@!$'()*, "\`+"é")}, nil, ok("conf1", `%&+=:;/?#[]@!$'()*, "\`+"é", valet.AuthSecretBasic)},
		{"empty password", "/token", []string{"Basic " + b64("pub1:")}, nil, ok("pub1", "", valet.AuthSecretBasic)},
		{"no credentials", "/token", []string{"Basic"}, nil, basicErr},
		{"only spaces", "/token", []string{"Basic    "}, nil, basicErr},
		{"not base64", "/token", []string{"Basic conf1:S1"}, nil, basicErr},
		{"base64url alphabet", "/token", []string{"Basic " + strings.NewReplacer("+", "-", "/", "_").Replace(b64("a?>:~~~?"))}, nil, basicErr},
		{"missing padding", "/token", []string{"Basic " + strings.TrimRight(b64("conf1:S1"), "=")}, nil, basicErr},
		{"newline inside", "/token", []string{"Basic " + b64("conf1:S1")[:4] + "\n" + b64("conf1:S1")[4:]}, nil, basicErr},
		{"trailing garbage", "/token", []string{"Basic " + b64("conf1:S1") + " x"}, nil, basicErr},
		{"no colon", "/token", []string{"Basic " + b64("conf1")}, nil, basicErr},
		{"empty id", "/token", []string{"Basic " + b64(":S1")}, nil, basicErr},
		{"empty both", "/token", []string{"Basic " + b64(":")}, nil, basicErr},
		{"bad escape in id", "/token", []string{"Basic " + b64("conf%zz:S1")}, nil, basicErr},
		{"bad escape in secret", "/token", []string{"Basic " + b64("conf1:S%1")}, nil, basicErr},
		{"NUL in id", "/token", []string{"Basic " + b64("conf1%00:S1")}, nil, basicErr},
		{"raw NUL in id", "/token", []string{"Basic " + b64("conf1\x00:S1")}, nil, basicErr},
		{"newline in secret", "/token", []string{"Basic " + b64("conf1:S1%0A")}, nil, basicErr},
		{"DEL in id", "/token", []string{"Basic " + b64("conf1\x7f:S1")}, nil, basicErr},
		{"invalid UTF-8 in id", "/token", []string{"Basic " + b64("conf1%ff:S1")}, nil, basicErr},
		{"too long", "/token", []string{"Basic " + b64("conf1:"+strings.Repeat("s", 5000))}, nil, basicErr},
		{"two Authorization headers", "/token", []string{basic("conf1", "S1"), basic("conf2", "S2")}, nil, reqErr},

		// CA-03: credential placement.
		{"a. basic and client_secret", "/token", []string{basic("conf1", "S1")}, form("client_secret", "S1"), reqErr},
		{"b. basic and client_assertion", "/token", []string{basic("conf1", "S1")}, form("client_assertion", "eyJ.x.y"), reqErr},
		{"b. basic and client_assertion_type", "/token", []string{basic("conf1", "S1")}, form("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), reqErr},
		{"c. query credentials", "/token?client_id=conf1&client_secret=S1", nil, nil, reqErr},
		{"c. query and body credentials", "/token?client_id=conf1&client_secret=S1", nil, form("client_id", "conf1", "client_secret", "S1"), reqErr},
		{"c. query client_id with basic", "/token?client_id=conf1", []string{basic("conf1", "S1")}, nil, reqErr},
		{"c. empty query client_secret", "/token?client_secret=", []string{basic("conf1", "S1")}, nil, reqErr},
		{"c. query assertion", "/token?client_assertion=x", nil, nil, reqErr},
		{"d. basic user differs from body client_id", "/token", []string{basic("conf1", "S1")}, form("client_id", "conf2"), reqErr},
		{"d. case differs", "/token", []string{basic("conf1", "S1")}, form("client_id", "CONF1"), reqErr},
		{"repeated client_id", "/token", nil, form("client_id", "conf1", "client_id", "conf2"), reqErr},
		{"repeated client_secret", "/token", nil, form("client_id", "conf1", "client_secret", "a", "client_secret", "b"), reqErr},

		// Body-only failures: invalid_client without a Basic challenge.
		{"client_secret without client_id", "/token", nil, form("client_secret", "S1"), bodyErr},
		{"client_assertion", "/token", nil, form("client_id", "jwt1", "client_assertion", "eyJ.x.y"), bodyErr},
		{"control character in body client_id", "/token", nil, form("client_id", "conf1\x00"), bodyErr},
		{"invalid UTF-8 in body client_id", "/token", nil, form("client_id", "conf1\xff"), bodyErr},
	}
	for _, tt := range tests {
		r := tokenRequest(tt.target, tt.auth, nil)
		got, err := ClientCredentials(r, tt.form)
		if tt.want.code == "" {
			if err != nil || got != tt.want.creds {
				t.Errorf("%s: ClientCredentials = %+v, %v; want %+v", tt.name, got, err, tt.want.creds)
			}
			continue
		}
		e := wantCode(t, tt.name, err, tt.want.code)
		if got != (Credentials{}) {
			t.Errorf("%s: returned %+v with its error", tt.name, got)
		}
		wantStatus := 400
		if tt.want.code == InvalidClient {
			wantStatus = 401
		}
		if e.Status() != wantStatus {
			t.Errorf("%s: status %d, want %d", tt.name, e.Status(), wantStatus)
		}
		if h := e.Header.Get("WWW-Authenticate"); (h != "") != tt.want.header || (h != "" && h != `Basic realm="valet"`) {
			t.Errorf("%s: WWW-Authenticate %q, want present=%v", tt.name, h, tt.want.header)
		}
		for _, secret := range []string{"S1", "S2"} {
			if strings.Contains(e.Description, secret) {
				t.Errorf("%s: description %q contains the secret", tt.name, e.Description)
			}
		}
	}
}

func TestClientCredentialsQueryOnlyOnPost(t *testing.T) {
	// Credentials in the URI are refused on POST; other methods never reach a
	// credentialed endpoint (ParseForm answers 405) and are not judged here.
	r := httptest.NewRequest(http.MethodGet, "/token?client_id=conf1", nil)
	if got, err := ClientCredentials(r, nil); err != nil || got != (Credentials{}) {
		t.Errorf("GET: ClientCredentials = %+v, %v", got, err)
	}
}

func TestInvalidClientfWritesChallenge(t *testing.T) {
	// Through WriteJSON, as the endpoints send it (pin P1).
	w := httptest.NewRecorder()
	WriteJSON(w, InvalidClientf(true, "bad %s", "secret"))
	if w.Code != 401 || w.Header().Get("WWW-Authenticate") != `Basic realm="valet"` {
		t.Errorf("basic: status %d, WWW-Authenticate %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	if !strings.Contains(w.Body.String(), `"error":"invalid_client"`) || !strings.Contains(w.Body.String(), "bad secret") {
		t.Errorf("basic: body %s", w.Body)
	}
	w = httptest.NewRecorder()
	WriteJSON(w, InvalidClientf(false, "unknown client"))
	if w.Code != 401 || w.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("body: status %d, WWW-Authenticate %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

func wellFormed(s string) bool { return utf8.ValidString(s) && !strings.ContainsFunc(s, isControl) }

// FuzzClientSecretBasic is catalogue R10 F5: the Basic header parser never
// panics and refuses malformed input with invalid_client and a challenge,
// and any id and secret round-trip through the form-urlencoding of RFC 6749
// §2.3.1.
func FuzzClientSecretBasic(f *testing.F) {
	f.Add("Basic "+b64("conf1:S1"), "conf1", "S1")
	f.Add("basic "+b64("a%3Ab:c:d"), "urn:x", "p:w")
	f.Add("Basic "+b64(":"), "a b", "+%")
	f.Add("Basic !!!", "é", "\x00")
	f.Add("Basic", "", "")
	f.Add("Basic "+b64("x%zz:y"), "id", "")
	f.Add("Bearer abc", "id", "secret")
	f.Fuzz(func(t *testing.T, header, id, secret string) {
		r := httptest.NewRequest(http.MethodPost, "/token", nil)
		r.Header["Authorization"] = []string{header}
		got, err := ClientCredentials(r, nil)
		if err != nil {
			e := wantCode(t, "header "+header, err, InvalidClient)
			if e.Status() != 401 || e.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("header %q: status %d, WWW-Authenticate %q", header, e.Status(), e.Header.Get("WWW-Authenticate"))
			}
		} else if got.ID != "" {
			if got.Method != valet.AuthSecretBasic || got.HasSecret != (got.Secret != "") ||
				!wellFormed(got.ID) || !wellFormed(got.Secret) {
				t.Fatalf("header %q: accepted %+v", header, got)
			}
		} else if got != (Credentials{}) {
			t.Fatalf("header %q: %+v without an ID", header, got)
		}

		r.Header["Authorization"] = []string{basic(id, secret)}
		got, err = ClientCredentials(r, nil)
		// Each part on its own: "\xdf" and "\x80" are invalid UTF-8, but
		// "\xdf\x80" is U+07C0 (the fuzzer's first find).
		valid := id != "" && wellFormed(id) && wellFormed(secret) &&
			len(basic(id, secret)) <= len("Basic ")+maxBasicCredentials
		if !valid {
			if err == nil {
				t.Fatalf("accepted id %q secret %q", id, secret)
			}
			return
		}
		if err != nil || got.ID != id || got.Secret != secret {
			t.Fatalf("round trip of %q, %q: got %+v, %v", id, secret, got, err)
		}
	})
}
