package grant_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/grant"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/store/sqltest"
	"github.com/valetauth/valet/internal/throttle"
)

const challenge = `Basic realm="valet"`

// wantInvalidClient asserts 401 invalid_client, with the Basic challenge
// exactly when the client used the Authorization header (pin P1).
func wantInvalidClient(t *testing.T, r *result, usedBasic bool) {
	t.Helper()
	wantError(t, r, http.StatusUnauthorized, oauth.InvalidClient)
	got := r.header.Get("WWW-Authenticate")
	if usedBasic && got != challenge {
		t.Errorf("WWW-Authenticate %q, want %q", got, challenge)
	}
	if !usedBasic && got != "" {
		t.Errorf("WWW-Authenticate %q sent although the client did not use the Authorization header", got)
	}
}

// TestCA01_WrongSecret: 401 invalid_client, the challenge only with Basic,
// and the code survives for the real client.
func TestCA01_WrongSecret(t *testing.T) {
	e := newEnv(t)

	c := e.newCode("conf1")
	wantInvalidClient(t, e.token(codeForm(c), basic("conf1", "wrong")), true)
	wantInvalidClient(t, e.token(codeForm(c), basic("conf1", e.secrets["conf1"]+"x")), true)
	e.redeem(c)

	p := e.newCode("post1")
	wantInvalidClient(t, e.token(codeForm(p), post("post1", "wrong")), false)
	e.redeem(p)
}

// TestCA02_NoClientEnumeration: an unknown client and a wrong secret are
// indistinguishable, and what the store holds is no usable credential.
func TestCA02_NoClientEnumeration(t *testing.T) {
	e := newEnv(t)
	c := e.newCode("conf1")
	for _, pair := range [][2]auth{
		{basic("conf1", "wrong"), basic("nosuchclient", "wrong")},
		{post("post1", "wrong"), post("nosuchclient", "wrong")},
		{basic("conf1", "wrong"), basic("post1", "wrong")},
	} {
		known, unknown := e.token(codeForm(c), pair[0]), e.token(codeForm(c), pair[1])
		if known.status != http.StatusUnauthorized || known.status != unknown.status ||
			string(known.raw) != string(unknown.raw) ||
			known.header.Get("WWW-Authenticate") != unknown.header.Get("WWW-Authenticate") {
			t.Errorf("wrong secret and unknown client differ:\n%d %s\n%d %s", known.status, known.raw, unknown.status, unknown.raw)
		}
	}

	// The secret digest from a database dump does not authenticate.
	stored, err := e.st.Clients.Get(context.Background(), "conf1")
	if err != nil {
		t.Fatal(err)
	}
	if stored.SecretDigest == "" || strings.Contains(stored.SecretDigest, e.secrets["conf1"]) {
		t.Fatal("the store should hold only the secret's keyed digest")
	}
	wantInvalidClient(t, e.token(codeForm(c), basic("conf1", stored.SecretDigest)), true)
	e.redeem(c)
}

// TestCA03_CredentialPlacement covers the catalogue's a-d.
func TestCA03_CredentialPlacement(t *testing.T) {
	e := newEnv(t)
	c := e.newCode("conf1")
	both := func(extra url.Values) auth {
		return func(r *http.Request, f url.Values) {
			basic("conf1", e.secrets["conf1"])(r, f)
			for k, v := range extra {
				f[k] = v
			}
		}
	}
	cases := map[string]auth{
		"a Basic and client_secret":    both(url.Values{"client_secret": {e.secrets["conf1"]}}),
		"b Basic and client_assertion": both(url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {"eyJ.eyJ.sig"}}),
		"d Basic conf1, body conf2":    both(url.Values{"client_id": {"conf2"}}),
	}
	for name, a := range cases {
		t.Run(name, func(t *testing.T) {
			wantError(t, e.with(t).token(codeForm(c), a), http.StatusBadRequest, oauth.InvalidRequest)
		})
	}
	t.Run("c credentials in the query", func(t *testing.T) {
		e := e.with(t)
		for _, withBody := range []bool{false, true} {
			q := url.Values{"client_id": {"post1"}, "client_secret": {e.secrets["post1"]}}
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/token?"+q.Encode(), nil)
			f := codeForm(c)
			if withBody {
				post("post1", e.secrets["post1"])(req, f)
			}
			wantError(t, e.do(req, "application/x-www-form-urlencoded", f.Encode()), http.StatusBadRequest, oauth.InvalidRequest)
		}
		if strings.Contains(e.logs.String(), e.secrets["post1"]) {
			t.Error("the client secret from the query reached the log")
		}
	})
	e.redeem(c)
}

// TestCA04_BasicEncodingEdgeCases: adversarial Authorization: Basic values.
func TestCA04_BasicEncodingEdgeCases(t *testing.T) {
	e := newEnv(t)
	enc := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	s1 := e.secrets["conf1"]
	bad := map[string]string{
		"not base64":              "Basic %%%not-base64%%%",
		"url-safe base64":         "Basic Y29uZjE6-_-_",
		"base64 without padding":  "Basic " + strings.TrimRight(base64.StdEncoding.EncodeToString([]byte("conf1:"+s1)), "="), // 53 bytes: one "=" dropped
		"no colon":                enc("conf1" + s1),
		"percent-encoded colon":   enc("conf1%3A" + s1 + ":" + s1),
		"plus is a space":         enc("conf1:" + s1 + "+"),
		"NUL in the id":           enc("conf1%00:" + s1),
		"raw NUL in the id":       enc("conf1\x00:" + s1),
		"empty id":                enc(":" + s1),
		"empty everything":        enc(":"),
		"scheme only":             "Basic",
		"bad percent-encoding":    enc("conf1:%zz"),
		"huge header":             enc("conf1:" + strings.Repeat("a", 10000)),
		"id with trailing space":  enc("conf1+:" + s1),
		"secret of another":       enc("conf1:" + e.secrets["conf2"]),
		"case-changed id":         enc("CONF1:" + s1),
		"control char in secret":  enc("conf1:" + s1 + "%0A"),
		"invalid UTF-8 in the id": enc("conf1%FF:" + s1),
	}
	c := e.newCode("conf1")
	for name, h := range bad {
		t.Run(name, func(t *testing.T) {
			wantInvalidClient(t, e.with(t).token(codeForm(c), rawAuthorization(h)), true)
		})
	}
	// What RFC 6749 §2.3.1 and RFC 9110 §11.1 do allow.
	e.wantOK(e.token(codeForm(c), rawAuthorization("basic "+base64.StdEncoding.EncodeToString([]byte("conf1:"+s1)))))
	e.wantOK(e.token(codeForm(e.newCode("conf1")), rawAuthorization("Basic   "+base64.StdEncoding.EncodeToString([]byte("conf1:"+s1)))))

	// A secret with characters that need form encoding: "+", ":", "%", space.
	odd := "s3cr:t+with %and space"
	if err := e.st.Clients.Update(context.Background(), "conf2", func(c *valet.Client) error {
		c.SecretDigest = e.d.Digest(secret.PurposeClientSecret, odd)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.wantOK(e.token(codeForm(e.newCode("conf2")), basic("conf2", odd)))
	wantInvalidClient(t, e.token(codeForm(e.newCode("conf2")), rawAuthorization(enc("conf2:"+odd))), true)
}

// TestCA05_AuthMethodDowngradeAndClientTypeConfusion covers a-c.
func TestCA05_AuthMethodDowngradeAndClientTypeConfusion(t *testing.T) {
	e := newEnv(t)
	c := e.newCode("conf1")
	p := e.newCode("post1")
	u := e.newCode("pub1")

	// a: a right secret over the method the client did not register.
	wantInvalidClient(t, e.token(codeForm(c), post("conf1", e.secrets["conf1"])), false)
	wantInvalidClient(t, e.token(codeForm(p), basic("post1", e.secrets["post1"])), true)
	// b: a confidential client posing as public, by body or by an empty Basic password.
	wantInvalidClient(t, e.token(codeForm(c), public("conf1")), false)
	wantInvalidClient(t, e.token(codeForm(c), basic("conf1", "")), true)
	// c: a public client that sends a secret (pin P13).
	wantInvalidClient(t, e.token(codeForm(u), post("pub1", "anything")), false)
	wantInvalidClient(t, e.token(codeForm(u), basic("pub1", "anything")), true)

	// None of that used the codes up.
	e.redeem(c)
	e.redeem(p)
	// A public client may identify itself with an empty Basic password, as
	// golang.org/x/oauth2 does.
	e.wantOK(e.token(codeForm(u), basic("pub1", "")))
}

// TestDS04_FailedClientAuthentication: after its budget of failures, a
// client ID from one address gets 429 with Retry-After, at /token and at
// /introspect alike, even with the right secret; another client is not
// affected, and the budget comes back with time.
func TestDS04_FailedClientAuthentication(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	e := newEnvWith(t, sqltest.Backends()[0], func(h *grant.Handler) {
		h.ClientAuthLimiter = &throttle.Limiter{Failures: 3, Per: time.Minute, Now: clock}
	})
	cc := url.Values{"grant_type": {"client_credentials"}}
	for range 3 {
		wantInvalidClient(t, e.token(cc, basic("cc1", "wrong")), true)
	}
	for _, r := range []*result{
		e.token(cc, basic("cc1", "wrong")),
		e.token(cc, e.as("cc1")),
		e.introspect("x", basic("cc1", "wrong")),
	} {
		wantError(t, r, http.StatusTooManyRequests, oauth.RateLimited)
		if r.header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After: %v", r.header)
		}
	}
	if r := e.token(cc, e.as("cc2")); r.status != http.StatusOK {
		t.Errorf("another client was throttled: %d %s", r.status, r.raw)
	}
	now = now.Add(time.Minute)
	if r := e.token(cc, e.as("cc1")); r.status != http.StatusOK {
		t.Errorf("the budget did not come back: %d %s", r.status, r.raw)
	}
}
