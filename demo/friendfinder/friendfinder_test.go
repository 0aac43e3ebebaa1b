package friendfinder_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valetauth/valet/demo/friendfinder"
)

// fakes are a stand-in authorization server and Mail: enough to test
// FriendFinder's own checks without Valet. The story against the real
// Valet is cmd/valet's TestDemoStory.
type fakes struct {
	as, mail     *httptest.Server
	tokenCalls   atomic.Int32
	issuer       string // what the metadata claims
	messagesCode int    // what Mail answers at /messages
	challenge    string // the code_challenge of the last authorization request
}

func newFakes(t *testing.T) *fakes {
	f := &fakes{messagesCode: http.StatusForbidden}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		iss := f.issuer
		if iss == "" {
			iss = f.as.URL
		}
		json.NewEncoder(w).Encode(map[string]string{"issuer": iss,
			"authorization_endpoint": f.as.URL + "/authorize", "token_endpoint": f.as.URL + "/token"})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		f.tokenCalls.Add(1)
		if id, secret, ok := r.BasicAuth(); !ok || id != "ff" || secret != "ff-secret-ff-secret" {
			t.Errorf("token request without FriendFinder's Basic credentials")
		}
		sum := sha256.Sum256([]byte(r.FormValue("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != f.challenge {
			t.Errorf("the code_verifier does not match the challenge")
		}
		w.Header().Set("Content-Type", "application/json")
		enc := base64.RawURLEncoding.EncodeToString
		io.WriteString(w, `{"access_token":"`+enc([]byte(`{"alg":"none"}`))+"."+enc([]byte(`{"scope":"contacts.read","aud":"`+f.mail.URL+`"}`))+
			`.c2lnbmF0dXJl","token_type":"Bearer","expires_in":600,"scope":"contacts.read"}`)
	})
	f.as = httptest.NewServer(mux)
	t.Cleanup(f.as.Close)
	f.mail = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/contacts":
			io.WriteString(w, `{"owner":"ana","contacts":[{"name":"Bruno Costa","email":"bruno@mail.example"},{"name":"Chen Wei","email":"chen@mail.example"}]}`)
		case "/messages":
			if f.messagesCode == http.StatusForbidden {
				w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="mail.read"`)
			}
			w.WriteHeader(f.messagesCode)
			io.WriteString(w, `{"error":"insufficient_scope"}`)
		}
	}))
	t.Cleanup(f.mail.Close)
	return f
}

func (f *fakes) app(t *testing.T, lab bool) (*httptest.Server, error) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	cfg := friendfinder.Config{
		URL: "http://" + srv.Listener.Addr().String(), Issuer: f.as.URL,
		ClientID: "ff", ClientSecret: "ff-secret-ff-secret", MailURL: f.mail.URL,
	}
	if lab {
		cfg.Lab = &friendfinder.Lab{ClientID: "lab", ClientSecret: "lab-secret"}
	}
	app, err := friendfinder.New(context.Background(), cfg)
	if err != nil {
		srv.Close()
		return nil, err
	}
	srv.Config.Handler = app.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, nil
}

func client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t *testing.T, c *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(form.Encode()))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestNewChecksTheIssuer(t *testing.T) {
	f := newFakes(t)
	f.issuer = "https://evil.example"
	if _, err := f.app(t, false); err == nil || !strings.Contains(err.Error(), "evil.example") {
		t.Errorf("metadata naming another issuer: %v", err)
	}
}

func TestStartAndCallbackChecks(t *testing.T) {
	f := newFakes(t)
	ff, err := f.app(t, false)
	if err != nil {
		t.Fatal(err)
	}
	c := client()
	resp, body := do(t, c, "GET", ff.URL+"/", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `action="/start"`) || strings.Contains(body, "<script") {
		t.Errorf("home: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, `href="/grants"`) {
		t.Error("the home page links to the grants page, which is off without Config.Lab")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if resp, _ := do(t, c, "GET", ff.URL+"/grants", nil); resp.StatusCode != 404 {
		t.Errorf("/grants without a lab: %d", resp.StatusCode)
	}
	if resp, _ := do(t, c, "GET", ff.URL+"/static/friendfinder.css", nil); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	// A cross-site post cannot start a flow.
	req, _ := http.NewRequest("POST", ff.URL+"/start", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST /start: %v %v", resp.StatusCode, err)
	}

	resp, _ = do(t, c, "POST", ff.URL+"/start", nil)
	loc, _ := resp.Location()
	q := loc.Query()
	if resp.StatusCode != 303 || loc.Path != "/authorize" || q.Get("response_type") != "code" || q.Get("client_id") != "ff" ||
		q.Get("code_challenge_method") != "S256" || q.Get("scope") != "contacts.read" || q.Get("resource") != f.mail.URL ||
		q.Get("redirect_uri") != ff.URL+"/callback" || len(q.Get("state")) < 32 {
		t.Fatalf("POST /start: %d %s", resp.StatusCode, loc)
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "friendfinder_session" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie %+v", cookie)
	}
	state := q.Get("state")

	// Another browser, or another state: refused, and nothing is traded.
	if resp, _ := do(t, client(), "GET", ff.URL+"/callback?code=c&state="+state+"&iss="+url.QueryEscape(f.as.URL), nil); resp.StatusCode != 400 {
		t.Errorf("callback from another browser: %d", resp.StatusCode)
	}
	if resp, _ := do(t, c, "GET", ff.URL+"/callback?code=c&state=other&iss="+url.QueryEscape(f.as.URL), nil); resp.StatusCode != 400 {
		t.Errorf("callback with another state: %d", resp.StatusCode)
	}
	// The wrong issuer (RFC 9207): refused.
	if resp, body := do(t, c, "GET", ff.URL+"/callback?code=c&state="+state+"&iss=https%3A%2F%2Fevil.example", nil); resp.StatusCode != 400 || !strings.Contains(body, "wrong server") {
		t.Errorf("callback from the wrong issuer: %d", resp.StatusCode)
	}
	if n := f.tokenCalls.Load(); n != 0 {
		t.Errorf("the token endpoint was called %d times for refused callbacks", n)
	}
}

// TestResultWhenMailDoesNotRefuse: if Mail wrongly answers /messages,
// the page says so instead of claiming the mail is safe.
func TestResultWhenMailDoesNotRefuse(t *testing.T) {
	for _, c := range []struct {
		messages int
		want     string
	}{
		{http.StatusForbidden, "Mail refused with 403 insufficient_scope"},
		{http.StatusOK, "It should have refused with 403 insufficient_scope"},
	} {
		f := newFakes(t)
		f.messagesCode = c.messages
		ff, err := f.app(t, false)
		if err != nil {
			t.Fatal(err)
		}
		b := client()
		resp, _ := do(t, b, "POST", ff.URL+"/start", nil)
		loc, _ := resp.Location()
		f.challenge = loc.Query().Get("code_challenge")
		back := ff.URL + "/callback?code=ac_0123456789abcdef&state=" + loc.Query().Get("state") + "&iss=" + url.QueryEscape(f.as.URL)
		if resp, body := do(t, b, "GET", back, nil); resp.StatusCode != 303 {
			t.Fatalf("callback: %d %s", resp.StatusCode, body)
		}
		_, body := do(t, b, "GET", ff.URL+"/result", nil)
		for _, want := range []string{c.want, "1 of your 2 Mail contacts already use FriendFinder: Bruno Costa.", "Step 6</span>", "ac_012…[masked]"} {
			if !strings.Contains(body, want) {
				t.Errorf("Mail answering %d at /messages: the page lacks %q", c.messages, want)
			}
		}
		if strings.Contains(body, "ff-secret-ff-secret") || strings.Contains(body, "c2lnbmF0dXJl") {
			t.Error("the page shows the client secret or the token's signature")
		}
	}
}

func TestImplicitFinishChecksState(t *testing.T) {
	f := newFakes(t)
	ff, err := f.app(t, true)
	if err != nil {
		t.Fatal(err)
	}
	b := client()
	resp, _ := do(t, b, "POST", ff.URL+"/grants/implicit", nil)
	loc, _ := resp.Location()
	if loc.Query().Get("response_type") != "token" || loc.Query().Get("client_id") != "lab" || loc.Query().Get("code_challenge") != "" {
		t.Fatalf("implicit request %s", loc)
	}
	frag := url.Values{"access_token": {"at_0123456789abcdef"}, "state": {"not-the-state"}, "iss": {f.as.URL}}.Encode()
	if resp, _ := do(t, b, "POST", ff.URL+"/grants/implicit/finish", url.Values{"fragment": {frag}}); resp.StatusCode != 400 {
		t.Errorf("a fragment with another state: %d", resp.StatusCode)
	}
	// The implicit callback page has no inline script: CSP script-src 'self'.
	_, body := do(t, b, "GET", ff.URL+"/grants/implicit/callback", nil)
	if strings.Count(body, "<script") != 1 || !strings.Contains(body, `<script src="/static/fragment.js" defer></script>`) {
		t.Errorf("implicit callback page scripts:\n%s", body)
	}
}
