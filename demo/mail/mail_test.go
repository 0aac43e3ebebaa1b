package mail_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet/demo/mail"
)

// issuer is a minimal authorization server: RFC 8414 metadata, a JWKS
// with one ES256 key, and RFC 9068 access tokens signed with it. Mail is
// tested against it the way it runs against Valet.
type issuer struct {
	srv *httptest.Server
	key *ecdsa.PrivateKey
}

func newIssuer(t *testing.T) *issuer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		pub, _ := key.PublicKey.Bytes() // 0x04 || X || Y
		b64 := base64.RawURLEncoding.EncodeToString
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
			"x": b64(pub[1:33]), "y": b64(pub[33:]),
		}}})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

// token signs an access token; claims override the defaults.
func (is *issuer) token(t *testing.T, aud, sub, scope string, claims map[string]any) string {
	t.Helper()
	now := time.Now()
	c := map[string]any{
		"iss": is.srv.URL, "sub": sub, "aud": aud, "client_id": "friendfinder", "scope": scope,
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "jti": "j-" + sub + scope,
	}
	for k, v := range claims {
		c[k] = v
	}
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(map[string]string{"alg": "ES256", "typ": "at+jwt", "kid": "k1"}) + "." + enc(c)
	h := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, is.key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func newMail(t *testing.T, is *issuer, url string) http.Handler {
	t.Helper()
	h, err := (&mail.Server{URL: url, Issuer: is.srv.URL,
		Mailboxes: map[string]*mail.Mailbox{"user-ana": mail.SampleMailbox("ana")}}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type answer struct {
	status int
	www    string
	body   string
}

func call(h http.Handler, path, token string) answer {
	req := httptest.NewRequest("GET", path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return answer{rec.Code, rec.Header().Get("WWW-Authenticate"), string(b)}
}

func TestMailScopes(t *testing.T) {
	is := newIssuer(t)
	const url = "https://mail.example"
	h := newMail(t, is, url)
	contacts := is.token(t, url, "user-ana", "contacts.read", nil)
	both := is.token(t, url, "user-ana", "contacts.read mail.read", nil)

	a := call(h, "/contacts", contacts)
	if a.status != 200 || !strings.Contains(a.body, "Bruno Costa") || strings.Contains(a.body, "statement") {
		t.Errorf("contacts.read at /contacts: %d %s", a.status, a.body)
	}
	a = call(h, "/messages", contacts)
	if a.status != 403 || !strings.Contains(a.www, `error="insufficient_scope"`) || !strings.Contains(a.www, `scope="mail.read"`) {
		t.Errorf("contacts.read at /messages: %d %q, want 403 insufficient_scope for mail.read", a.status, a.www)
	}
	if strings.Contains(a.body, "statement") {
		t.Error("a refused request got the messages")
	}
	a = call(h, "/messages", both)
	if a.status != 200 || !strings.Contains(a.body, "Your March statement") {
		t.Errorf("mail.read at /messages: %d %s", a.status, a.body)
	}
	if a := call(h, "/contacts", is.token(t, url, "someone-else", "contacts.read", nil)); a.status != 404 || !strings.Contains(a.body, "no_mailbox") {
		t.Errorf("a token for a subject without a mailbox: %d %s", a.status, a.body)
	}
}

func TestMailRefusesTokens(t *testing.T) {
	is := newIssuer(t)
	other := newIssuer(t)
	const url = "https://mail.example"
	h := newMail(t, is, url)
	for _, c := range []struct {
		name, token string
	}{
		{"another API's token", is.token(t, "https://calendar.example", "user-ana", "contacts.read", nil)},
		{"an expired token", is.token(t, url, "user-ana", "contacts.read", map[string]any{
			"iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix()})},
		{"another issuer's token", other.token(t, url, "user-ana", "contacts.read", map[string]any{"iss": is.srv.URL})},
		{"a token naming another issuer", is.token(t, url, "user-ana", "contacts.read", map[string]any{"iss": other.srv.URL})},
		{"garbage", "not-a-token"},
	} {
		a := call(h, "/contacts", c.token)
		if a.status != 401 || !strings.Contains(a.www, `error="invalid_token"`) || strings.Contains(a.body, "Bruno") {
			t.Errorf("%s: %d %q, want 401 invalid_token", c.name, a.status, a.www)
		}
	}
	a := call(h, "/contacts", "")
	if a.status != 401 || strings.Contains(a.www, "error=") ||
		!strings.Contains(a.www, `resource_metadata="https://mail.example/.well-known/oauth-protected-resource"`) {
		t.Errorf("no token: %d %q, want 401 without an error code, naming the metadata", a.status, a.www)
	}
}

func TestMailMetadata(t *testing.T) {
	is := newIssuer(t)
	// Under a path: the endpoints and the metadata follow RFC 9728 §3.1.
	h := newMail(t, is, "https://mail.example/api")
	a := call(h, "/.well-known/oauth-protected-resource/api", "")
	var m struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		Scopes               []string `json:"scopes_supported"`
	}
	if a.status != 200 || json.Unmarshal([]byte(a.body), &m) != nil || m.Resource != "https://mail.example/api" ||
		len(m.AuthorizationServers) != 1 || m.AuthorizationServers[0] != is.srv.URL || len(m.Scopes) != 2 {
		t.Errorf("metadata: %d %s", a.status, a.body)
	}
	tok := is.token(t, "https://mail.example/api", "user-ana", "contacts.read", nil)
	if a := call(h, "/api/contacts", tok); a.status != 200 {
		t.Errorf("/api/contacts: %d %s", a.status, a.body)
	}
	if a := call(h, "/contacts", tok); a.status != 404 {
		t.Errorf("/contacts outside the API's path: %d", a.status)
	}
}

func TestMailConfig(t *testing.T) {
	for _, u := range []string{"", "mail.example", "ftp://mail.example", "https://mail.example?x=1"} {
		if _, err := (&mail.Server{URL: u, Issuer: "https://valet.example"}).Handler(); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
	if _, err := (&mail.Server{URL: "https://mail.example", Issuer: "valet"}).Handler(); err == nil {
		t.Error("a relative issuer accepted")
	}
}
