package explorer_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/valetauth/valet/demo/explorer"
)

func TestMask(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"short", "[masked]"},
		{"exactly12chr", "[masked]"},
		{"ac_0123456789abcdef", "ac_012…[masked]"},
		{"ñandú-ñandú-ñandú", "ñandú-…[masked]"},
	} {
		if got := explorer.Mask(c.in); got != c.want {
			t.Errorf("Mask(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestMaskPairs(t *testing.T) {
	in := "grant_type=authorization_code&code=ac_abcdefghijklmnop&redirect_uri=https%3A%2F%2Fff.example%2Fcb" +
		"&code_verifier=verifier-verifier-verifier&client_secret=sec%2Fret-secret-secret&password=hunter2-hunter2&state=keep-me"
	got := explorer.MaskPairs(in)
	want := "grant_type=authorization_code&code=ac_abc…[masked]&redirect_uri=https%3A%2F%2Fff.example%2Fcb" +
		"&code_verifier=verifi…[masked]&client_secret=sec/re…[masked]&password=[masked]&state=keep-me"
	if got != want {
		t.Errorf("MaskPairs:\n got %s\nwant %s", got, want)
	}
	params := explorer.Pairs(in)
	if len(params) != 7 || params[2] != (explorer.Field{Name: "redirect_uri", Value: "https://ff.example/cb"}) ||
		params[1].Value != "ac_abc…[masked]" || params[5].Value != "[masked]" || params[6].Value != "keep-me" {
		t.Errorf("Pairs = %v", params)
	}
}

func TestMaskURL(t *testing.T) {
	got := explorer.MaskURL("https://ff.example/cb?code=ac_abcdefghijklmnop&state=s1#access_token=eyJhbGciOiJFUzI1NiJ9.x.y&token_type=Bearer")
	want := "https://ff.example/cb?code=ac_abc…[masked]&state=s1#access_token=eyJhbG…[masked]&token_type=Bearer"
	if got != want {
		t.Errorf("MaskURL:\n got %s\nwant %s", got, want)
	}
}

func TestMaskJSON(t *testing.T) {
	in := `{"access_token":"eyJhbGciOiJFUzI1NiJ9.e30.sig","token_type":"Bearer","expires_in":600,` +
		`"refresh_token":"rt_0123456789abcdef","nested":{"id_token":"eyJ0eXAiOiJKV1QifQ.e30.s"},"scope":"contacts.read"}`
	got := explorer.MaskJSON([]byte(in))
	for _, secret := range []string{"eyJhbGciOiJFUzI1NiJ9.e30.sig", "rt_0123456789abcdef", "eyJ0eXAiOiJKV1QifQ"} {
		if strings.Contains(got, secret) {
			t.Errorf("MaskJSON left %q:\n%s", secret, got)
		}
	}
	for _, want := range []string{`"access_token": "eyJhbG…[masked]"`, `"refresh_token": "rt_012…[masked]"`,
		`"id_token": "eyJ0eX…[masked]"`, `"scope": "contacts.read"`, "\n  \"token_type\""} {
		if !strings.Contains(got, want) {
			t.Errorf("MaskJSON lacks %q:\n%s", want, got)
		}
	}
	// Member order is kept.
	if strings.Index(got, "access_token") > strings.Index(got, "scope") {
		t.Error("MaskJSON reordered the members")
	}
	// Not JSON: masked all the same.
	if got := explorer.MaskJSON([]byte(`oops "access_token":"abcdefghijklmnopq"`)); strings.Contains(got, "abcdefghijklmnopq") {
		t.Errorf("MaskJSON on broken JSON: %s", got)
	}
}

func TestRecorder(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if string(b) != "grant_type=authorization_code&code=ac_abcdefghijklmnop" {
			t.Errorf("the server got body %q", b)
		}
		if u, p, _ := r.BasicAuth(); u != "ff" || p != "a-client-secret-of-some-length" {
			t.Errorf("the server got credentials %q %q", u, p)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "sid=0123456789abcdef; HttpOnly")
		io.WriteString(w, `{"access_token":"at_0123456789abcdef","token_type":"Bearer"}`)
	}))
	defer srv.Close()
	rec := &explorer.Recorder{}
	client := &http.Client{Transport: rec}
	req, _ := http.NewRequest("POST", srv.URL+"/token?x=1", strings.NewReader("grant_type=authorization_code&code=ac_abcdefghijklmnop"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("ff", "a-client-secret-of-some-length")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != `{"access_token":"at_0123456789abcdef","token_type":"Bearer"}` {
		t.Errorf("the caller got body %q", b)
	}

	ex, ok := rec.Last()
	if !ok || len(rec.Exchanges()) != 1 || ex.Response == nil {
		t.Fatalf("recorded %v", rec.Exchanges())
	}
	text := ex.Request.Text() + "\n" + ex.Response.Text()
	for _, secret := range []string{"ac_abcdefghijklmnop", "at_0123456789abcdef", "0123456789abcdef;",
		base64.StdEncoding.EncodeToString([]byte("ff:a-client-secret-of-some-length"))} {
		if strings.Contains(text, secret) {
			t.Errorf("the record shows %q:\n%s", secret, text)
		}
	}
	u, _ := url.Parse(srv.URL)
	for _, want := range []string{
		"POST /token?x=1 HTTP/1.1\nHost: " + u.Host + "\nAuthorization: Basic ZmY6YS…[masked]\nContent-Length: 54\n",
		"code=ac_abc…[masked]",
		"HTTP/1.1 200 OK",
		`"access_token": "at_012…[masked]"`,
		"Set-Cookie: sid=012345…[masked]; HttpOnly",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the record lacks %q:\n%s", want, text)
		}
	}
	if ex.Request.ParamsIn != "form body" || ex.Request.Param("grant_type") != "authorization_code" {
		t.Errorf("request params %v in %q", ex.Request.Params, ex.Request.ParamsIn)
	}
	if got := ex.Response.Header("set-cookie"); !strings.HasPrefix(got, "sid=012345…") {
		t.Errorf("Header(set-cookie) = %q", got)
	}
}

func TestRecorderFailure(t *testing.T) {
	rec := &explorer.Recorder{}
	_, err := (&http.Client{Transport: rec}).Get("http://127.0.0.1:1/")
	ex, _ := rec.Last()
	if err == nil || ex.Response != nil || ex.Err == "" || ex.Request.Line != "GET / HTTP/1.1" {
		t.Errorf("a failed request: err %v, recorded %+v", err, ex)
	}
}

func TestIncomingAndRedirect(t *testing.T) {
	r := httptest.NewRequest("GET", "/callback?code=ac_abcdefghijklmnop&state=st&iss=https%3A%2F%2Fvalet.example", nil)
	r.Header.Set("Cookie", "friendfinder_session=0123456789abcdefghij; theme=dark-mode-on")
	m := explorer.Incoming(r, nil)
	if m.Line != "GET /callback?code=ac_abc…[masked]&state=st&iss=https%3A%2F%2Fvalet.example HTTP/1.1" {
		t.Errorf("line %q", m.Line)
	}
	if got := m.Header("Cookie"); got != "friendfinder_session=012345…[masked]; theme=[masked]" {
		t.Errorf("cookie %q", got)
	}
	if m.Param("iss") != "https://valet.example" || m.ParamsIn != "query" {
		t.Errorf("params %v", m.Params)
	}

	m = explorer.Redirect(http.StatusSeeOther, "https://ff.example/cb#access_token=at_0123456789abcdef&state=st")
	if m.Line != "HTTP/1.1 303 See Other" || m.Header("Location") != "https://ff.example/cb#access_token=at_012…[masked]&state=st" ||
		m.ParamsIn != "fragment" || m.Param("access_token") != "at_012…[masked]" {
		t.Errorf("redirect %+v", m)
	}
}

func TestDecodeJWT(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	raw := enc(`{"alg":"ES256","typ":"at+jwt"}`) + "." +
		enc(`{"iss":"https://valet.example","aud":["https://mail.example"],"scope":"contacts.read","exp":1700000000,"custom":true}`) + ".c2ln"
	d, err := explorer.DecodeJWT(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d.Header, `"typ": "at+jwt"`) || !strings.Contains(d.Claims, `"custom": true`) {
		t.Errorf("decoded %+v", d)
	}
	want := []explorer.Claim{
		{Name: "iss", Value: "https://valet.example"},
		{Name: "aud", Value: "https://mail.example"},
		{Name: "scope", Value: "contacts.read"},
		{Name: "exp", Value: "1700000000 (2023-11-14 22:13:20 UTC)"},
	}
	if len(d.Explained) != len(want) {
		t.Fatalf("explained %+v", d.Explained)
	}
	for i, c := range want {
		if d.Explained[i].Name != c.Name || d.Explained[i].Value != c.Value || d.Explained[i].Meaning == "" {
			t.Errorf("claim %d = %+v, want %+v", i, d.Explained[i], c)
		}
	}
	for _, bad := range []string{"at_opaque", "a.b", "!!.e30.x", enc("{}") + "." + enc("[1]") + ".x"} {
		if _, err := explorer.DecodeJWT(bad); err == nil {
			t.Errorf("DecodeJWT(%q) succeeded", bad)
		}
	}
}
