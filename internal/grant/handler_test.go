package grant_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/valetauth/valet/internal/oauth"
)

// TestTE01_UnsupportedGrantType: unknown or wrongly cased grant types, a
// missing one, and client authentication checked first.
func TestTE01_UnsupportedGrantType(t *testing.T) {
	e := newEnv(t)
	for _, gt := range []string{"foo", "Authorization_Code", "AUTHORIZATION_CODE", "authorization_code ", "Password", "implicit", "CLIENT_CREDENTIALS"} {
		r := e.token(url.Values{"grant_type": {gt}}, e.as("conf1"))
		wantError(t, r, http.StatusBadRequest, oauth.UnsupportedGrantType)
		if strings.Contains(string(r.raw), "foo") {
			t.Errorf("the grant_type value is echoed: %s", r.raw)
		}
	}
	for _, f := range []url.Values{{"grant_type": {""}}, {}} {
		wantError(t, e.token(f, e.as("conf1")), http.StatusBadRequest, oauth.InvalidRequest)
	}
	// A bad secret wins over everything else.
	wantInvalidClient(t, e.token(url.Values{"grant_type": {"foo"}}, basic("conf1", "wrong")), true)
	wantInvalidClient(t, e.token(url.Values{}, basic("conf1", "wrong")), true)
	wantInvalidClient(t, e.token(url.Values{"grant_type": {"foo"}}, noAuth), false)
}

// TestTE02_UnauthorizedClient: a grant the server offers but the client did
// not register.
func TestTE02_UnauthorizedClient(t *testing.T) {
	e := newEnv(t)
	c := e.newCode("conf1")
	wantError(t, e.token(codeForm(c), e.as("cc1")), http.StatusBadRequest, oauth.UnauthorizedClient)

	// pub2 registered authorization_code only; its refresh attempt is refused
	// before the token is even looked at.
	rt, _ := e.refreshFor("pub1")
	wantError(t, e.token(refreshForm(rt), public("pub2")), http.StatusBadRequest, oauth.UnauthorizedClient)
	e.refresh("pub1", rt)
}

// TestIP01_DuplicatesMethodContentTypeAndQuery covers c, e, f and g.
func TestIP01_DuplicatesMethodContentTypeAndQuery(t *testing.T) {
	e := newEnv(t)
	c := e.newCode("conf1")

	t.Run("c duplicates", func(t *testing.T) {
		e := e.with(t)
		for _, p := range []string{"code", "grant_type", "code_verifier", "redirect_uri"} {
			f := codeForm(c)
			f.Add(p, f.Get(p))
			wantError(t, e.token(f, e.as("conf1")), http.StatusBadRequest, oauth.InvalidRequest)
		}
		f := codeForm(c)
		f.Add("code", "ac_other")
		wantError(t, e.token(f, e.as("conf1")), http.StatusBadRequest, oauth.InvalidRequest)
	})
	t.Run("e wrong method", func(t *testing.T) {
		e := e.with(t)
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			req, _ := http.NewRequest(m, e.srv.URL+"/token?"+codeForm(c).Encode(), nil)
			basic("conf1", e.secrets["conf1"])(req, nil)
			r := e.do(req, "", "")
			wantError(t, r, http.StatusMethodNotAllowed, oauth.InvalidRequest)
			if r.header.Get("Allow") != "POST" {
				t.Errorf("%s: Allow %q, want POST", m, r.header.Get("Allow"))
			}
		}
	})
	t.Run("f content type", func(t *testing.T) {
		e := e.with(t)
		send := func(ct, body string) *result {
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/token", nil)
			basic("conf1", e.secrets["conf1"])(req, nil)
			return e.do(req, ct, body)
		}
		js := `{"grant_type":"authorization_code","code":"` + c.value + `"}`
		wantError(t, send("application/json", js), http.StatusBadRequest, oauth.InvalidRequest)
		wantError(t, send("", codeForm(c).Encode()), http.StatusBadRequest, oauth.InvalidRequest)
		wantError(t, send("text/plain", codeForm(c).Encode()), http.StatusBadRequest, oauth.InvalidRequest)
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range codeForm(c) {
			mw.WriteField(k, v[0])
		}
		mw.Close()
		wantError(t, send(mw.FormDataContentType(), buf.String()), http.StatusBadRequest, oauth.InvalidRequest)
		// A charset parameter is fine.
		e.wantOK(send("application/x-www-form-urlencoded; charset=UTF-8", codeForm(e.newCode("conf1")).Encode()))
	})
	t.Run("g query parameters are ignored", func(t *testing.T) {
		e := e.with(t)
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/token?"+codeForm(c).Encode(), nil)
		basic("conf1", e.secrets["conf1"])(req, nil)
		wantError(t, e.do(req, "application/x-www-form-urlencoded", ""), http.StatusBadRequest, oauth.InvalidRequest)

		req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/token?code="+c.value, nil)
		basic("conf1", e.secrets["conf1"])(req, nil)
		f := codeForm(c)
		f.Del("code")
		wantError(t, e.do(req, "application/x-www-form-urlencoded", f.Encode()), http.StatusBadRequest, oauth.InvalidGrant)
	})
	t.Run("oversized body", func(t *testing.T) {
		e := e.with(t)
		f := codeForm(c)
		f.Set("padding", strings.Repeat("a", oauth.MaxFormBytes))
		r := e.token(f, e.as("conf1"))
		if r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", r.status)
		}
	})
	e.redeem(c)
}

// TestIP02d_UnknownParametersIgnored: unknown and empty parameters do not
// disturb a token request.
func TestIP02d_UnknownParametersIgnored(t *testing.T) {
	e := newEnv(t)
	f := codeForm(e.newCode("conf1"))
	f.Set("foo", "bar")
	f.Set("extra_param", "1")
	f.Set("nonce", "ignored")
	f.Set("refresh_token", "")
	f.Set("scope", "")
	e.wantOK(e.token(f, e.as("conf1")))

	rt, _ := e.refreshFor("conf1")
	f = refreshForm(rt)
	f.Set("code", "ac_unrelated")
	f.Set("foo", "bar")
	e.wantOK(e.token(f, e.as("conf1")))
}

// TestHD01_CacheHeadersOnEveryResponse: every kind of /token answer carries
// the no-store headers of catalogue §3.1. e.do checks each response; this
// test makes sure every kind is produced.
func TestHD01_CacheHeadersOnEveryResponse(t *testing.T) {
	e := newEnv(t)
	c := e.newCode("conf1")
	statuses := map[int]bool{}
	record := func(r *result) { statuses[r.status] = true }

	record(e.token(codeForm(c), basic("conf1", "wrong")))             // 401
	record(e.token(url.Values{"grant_type": {"foo"}}, e.as("conf1"))) // 400
	ok := e.redeem(c)                                                 // 200
	record(ok)
	record(e.token(refreshForm(ok.str("refresh_token")), e.as("conf1"))) // 200 refresh
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/token", nil)
	record(e.do(req, "", "")) // 405
	f := url.Values{"padding": {strings.Repeat("a", oauth.MaxFormBytes+1)}}
	record(e.token(f, e.as("conf1"))) // 413
	for _, s := range []int{200, 400, 401, 405, 413} {
		if !statuses[s] {
			t.Errorf("no %d response was checked", s)
		}
	}
	if ok.header.Get("Cache-Control") != "no-store" || ok.header.Get("Pragma") != "no-cache" {
		t.Errorf("the token response may be cached: %v", ok.header)
	}
}

// TestLogsCarryNoSecrets: after successes and failures of every kind, no
// client secret, code, verifier or token appears in the log (catalogue §3.5).
func TestLogsCarryNoSecrets(t *testing.T) {
	e := newEnv(t)
	var canaries []string
	for _, s := range e.secrets {
		canaries = append(canaries, s)
	}
	c := e.newCode("conf1")
	canaries = append(canaries, c.value, c.verifier)
	e.token(codeForm(c), basic("conf1", "wrong-secret-canary"))
	e.token(codeForm(c), e.as("conf2"))
	ok := e.redeem(c)
	e.token(codeForm(c), e.as("conf1")) // replay: logged as a security event
	canaries = append(canaries, "wrong-secret-canary", ok.str("access_token"), ok.str("refresh_token"))
	e.token(refreshForm(ok.str("refresh_token")), e.as("conf2"))

	logs := e.logs.String()
	revoked := false
	for _, line := range strings.Split(logs, "\n") {
		revoked = revoked || strings.Contains(line, "grant family revoked") && strings.Contains(line, c.code.FamilyID)
	}
	if !revoked {
		t.Fatalf("the replay was not logged as a security event with its family ID:\n%s", logs)
	}
	for _, s := range canaries {
		if strings.Contains(logs, s) {
			t.Errorf("a secret reached the log: %.12s...", s)
		}
	}
}
