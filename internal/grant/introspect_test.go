package grant_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/grant"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/store/sqltest"
	"github.com/valetauth/valet/internal/throttle"
	"github.com/valetauth/valet/internal/token"
)

// inactive is the one body of every inactive answer (catalogue IR-01b).
const inactive = "{\"active\":false}\n"

// introspect asks /introspect about tok as a, with a token_type_hint when given.
func (e *env) introspect(tok string, a auth, hint ...string) *result {
	e.t.Helper()
	f := url.Values{"token": {tok}}
	if len(hint) > 0 {
		f.Set("token_type_hint", hint[0])
	}
	return e.call("/introspect", f, a)
}

// active asserts that tok introspects active for the resource server rs1
// and returns the answer.
func (e *env) active(tok string) *result {
	e.t.Helper()
	r := e.introspect(tok, e.as("rs1"))
	if r.status != http.StatusOK || r.body["active"] != true {
		e.t.Fatalf("introspection: %d %s, want active", r.status, r.raw)
	}
	return r
}

// inactive asserts the exact inactive answer for tok.
func (e *env) inactive(tok string) {
	e.t.Helper()
	r := e.introspect(tok, e.as("rs1"))
	if r.status != http.StatusOK || string(r.raw) != inactive {
		e.t.Fatalf("introspection: %d %q, want exactly %q", r.status, r.raw, inactive)
	}
}

// members returns the names of the members of an introspection answer.
func members(r *result) []string { return slices.Sorted(maps.Keys(r.body)) }

// TestIntrospect_Active: the RFC 7662 members for every kind of token.
func TestIntrospect_Active(t *testing.T) {
	e := newEnv(t)
	access := []string{"active", "aud", "client_id", "exp", "iat", "iss", "jti", "scope", "sub", "token_type", "token_use"}
	user := append(slices.Clone(access), "auth_time", "grant_id")
	slices.Sort(user)

	for _, client := range []string{"conf1", "op1"} {
		c := e.newCode(client)
		ok := e.redeem(c)
		r := e.active(ok.str("access_token"))
		if got := members(r); !slices.Equal(got, user) {
			t.Errorf("%s access token: members %v, want %v", client, got, user)
		}
		if r.str("client_id") != client || r.str("sub") != userID || r.str("scope") != "openid profile" ||
			r.str("token_type") != "Bearer" || r.str("token_use") != "access_token" || r.str("iss") != issuer ||
			r.str("aud") != defaultAudience[0] || r.str("grant_id") != c.code.FamilyID {
			t.Errorf("%s access token: %s", client, r.raw)
		}
		if exp := int64(r.body["exp"].(float64)); time.Until(time.Unix(exp, 0)) < accessTTL-time.Minute {
			t.Errorf("%s access token: exp %d", client, exp)
		}
		// A refresh token introspects too, marked so that no resource server
		// takes it for an access token (catalogue JW-02b): no token_type
		// Bearer and no audience.
		r = e.active(ok.str("refresh_token"))
		if got := members(r); !slices.Equal(got, []string{"active", "auth_time", "client_id", "exp", "grant_id", "iat", "iss", "scope", "sub", "token_use"}) {
			t.Errorf("%s refresh token: members %v", client, got)
		}
		if r.str("token_use") != "refresh_token" || r.str("client_id") != client || r.str("grant_id") != c.code.FamilyID {
			t.Errorf("%s refresh token: %s", client, r.raw)
		}
	}
	// Client credentials (TE-04d at introspection): the client is the
	// subject, and no user or grant member appears.
	for _, client := range []string{"cc1", "cc2"} {
		r := e.active(e.token(url.Values{"grant_type": {"client_credentials"}}, e.as(client)).str("access_token"))
		if got := members(r); !slices.Equal(got, access) {
			t.Errorf("%s: members %v, want %v", client, got, access)
		}
		if r.str("sub") != client || r.str("client_id") != client {
			t.Errorf("%s: %s", client, r.raw)
		}
	}
}

// TestIR01a_CallerMustAuthenticate, and CA-01 at /introspect: no
// credentials, wrong ones, a public client and a bearer token are all 401
// invalid_client, and the answer says nothing about the token.
func TestIR01a_CallerMustAuthenticate(t *testing.T) {
	e := newEnv(t)
	at := e.redeem(e.newCode("conf1")).str("access_token")
	for name, c := range map[string]struct {
		a     auth
		basic bool
	}{
		"none":              {noAuth, false},
		"wrong basic":       {basic("rs1", "wrong"), true},
		"wrong post":        {post("cc2", "wrong"), false},
		"unknown client":    {basic("nobody", "x"), true},
		"public":            {public("pub1"), false},
		"public with basic": {basic("pub1", ""), true},
		"bearer":            {rawAuthorization("Bearer " + at), false},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.with(t).introspect(at, c.a)
			wantInvalidClient(t, r, c.basic)
			if _, ok := r.body["active"]; ok {
				t.Errorf("the answer discloses the token: %s", r.raw)
			}
		})
	}
	r := e.introspect(at, public("pub1"))
	if !strings.Contains(r.str("error_description"), "public clients cannot introspect") {
		t.Errorf("public client: %s", r.raw)
	}
}

// expiredJWT mints an access token that expired a minute ago, signed by the
// server's own key.
func (e *env) expiredJWT() string {
	e.t.Helper()
	past := &token.Issuer{URL: issuer, Keys: e.keys, AccessTTL: accessTTL,
		Now: func() time.Time { return time.Now().Add(-accessTTL - time.Minute) }}
	at, _, err := past.Access(token.AccessRequest{Subject: userID, ClientID: "conf1", Audience: defaultAudience})
	if err != nil {
		e.t.Fatal(err)
	}
	return at
}

// forgedJWT signs the claims of real with a key the server never had,
// under real's kid and under an unknown one.
func forgedJWT(t testing.TB, real string) []string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(real, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(header, &h); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, kid := range []string{h.Kid, "foreign"} {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
			(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		jws, err := s.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		c, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	// alg none: the real claims, no signature.
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`))
	return append(out, none+"."+parts[1]+".")
}

// TestIR01b_InactiveIsUniform: every kind of dead or foreign token gets the
// same bytes, and nothing else.
func TestIR01b_InactiveIsUniform(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	live := e.redeem(e.newCode("conf1"))

	// Revoked: a JWT and an opaque access token, and a refresh token's family.
	revokedJWT := e.redeem(e.newCode("conf1"))
	revokedOpaque := e.redeem(e.newCode("op1"))
	revokedFamily := e.redeem(e.newCode("conf2"))
	revokedOpaqueFamily := e.redeem(e.newCode("op1"))
	for _, rv := range []struct{ tok, client string }{
		{revokedJWT.str("access_token"), "conf1"},
		{revokedOpaque.str("access_token"), "op1"},
		{revokedFamily.str("refresh_token"), "conf2"},
		{revokedOpaqueFamily.str("refresh_token"), "op1"},
	} {
		e.wantRevoked(e.revoke(rv.tok, e.as(rv.client)))
	}
	// Expired: an opaque access token and a refresh token still in the store.
	now := time.Now()
	expiredOpaque := secret.Token("at_")
	if err := e.st.Access.Create(ctx, &valet.AccessToken{Digest: token.OpaqueKey(e.d, expiredOpaque),
		ID: secret.ID(""), ClientID: "op1", Subject: userID, CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	expiredRefresh := secret.Token("rt_")
	if err := e.st.Refresh.Create(ctx, &valet.RefreshToken{Digest: e.d.Digest(secret.PurposeRefresh, expiredRefresh),
		FamilyID: secret.ID("fam_"), ClientID: "conf1", UserID: userID, CreatedAt: now.Add(-48 * time.Hour), ExpiresAt: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Used: the first link of a rotated family.
	rotated := e.redeem(e.newCode("conf1")).str("refresh_token")
	e.refresh("conf1", rotated)
	rt := live.str("refresh_token")

	cases := map[string]string{
		"expired JWT":                 e.expiredJWT(),
		"revoked JWT":                 revokedJWT.str("access_token"),
		"JWT of a revoked family":     revokedFamily.str("access_token"),
		"expired opaque":              expiredOpaque,
		"revoked opaque":              revokedOpaque.str("access_token"),
		"opaque of a revoked family":  revokedOpaqueFamily.str("access_token"),
		"refresh of a revoked family": revokedFamily.str("refresh_token"),
		"expired refresh":             expiredRefresh,
		"used refresh":                rotated,
		"random":                      secret.Token(""),
		"random at_":                  secret.Token("at_"),
		"random rt_":                  secret.Token("rt_"),
		"1 char":                      "x",
		"three dots":                  "a.b.c.d",
		"overlong at_":                "at_" + strings.Repeat("a", 300),
		"refresh as at_":              "at_" + strings.TrimPrefix(rt, "rt_"), // JW-02: a foreign prefix finds nothing
		"code":                        e.newCode("conf1").value,
		"huge JWT":                    strings.Repeat("a", 20<<10) + ".b.c",
	}
	for i, f := range forgedJWT(t, live.str("access_token")) {
		cases[[]string{"JWT under the real kid, foreign key", "JWT under a foreign kid", "JWT with alg none"}[i]] = f
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) { e.with(t).inactive(tok) })
	}
	// The live tokens next to them are still active: the cases above are
	// inactive for their own reasons.
	e.active(live.str("access_token"))
	e.active(rt)
}

// TestIR01c_HintIsOnlyAHint: a wrong or unknown token_type_hint still finds
// the token (pin P19).
func TestIR01c_HintIsOnlyAHint(t *testing.T) {
	e := newEnv(t)
	ok := e.redeem(e.newCode("op1"))
	jwt := e.redeem(e.newCode("conf1")).str("access_token")
	for _, c := range []struct{ tok, hint string }{
		{jwt, "refresh_token"},
		{ok.str("access_token"), "refresh_token"},
		{ok.str("refresh_token"), "access_token"},
		{jwt, "foo"},
		{ok.str("refresh_token"), "id_token"},
	} {
		r := e.introspect(c.tok, e.as("rs1"), c.hint)
		if r.body["active"] != true {
			t.Errorf("hint %s: %s, want active", c.hint, r.raw)
		}
	}
}

// TestDS04_IntrospectionScanning: each inactive answer counts against the
// caller; over the budget, 429 with Retry-After. Active answers cost
// nothing, and another caller has its own budget.
func TestDS04_IntrospectionScanning(t *testing.T) {
	e := newEnvWith(t, sqltest.Backends()[0], func(h *grant.Handler) {
		h.IntrospectLimiter = &throttle.Limiter{Failures: 5, Per: time.Minute}
	})
	at := e.redeem(e.newCode("conf1")).str("access_token")
	for range 20 {
		e.active(at)
	}
	for range 5 {
		e.inactive(secret.Token("at_"))
	}
	for _, tok := range []string{secret.Token("at_"), at} {
		r := e.introspect(tok, e.as("rs1"))
		wantError(t, r, http.StatusTooManyRequests, oauth.RateLimited)
		if r.header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After: %v", r.header)
		}
	}
	r := e.introspect(at, e.as("cc1"))
	if r.body["active"] != true {
		t.Errorf("another caller was throttled: %s", r.raw)
	}
}

// TestIntrospect_Request: the method, a missing or repeated token.
func TestIntrospect_Request(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/introspect?token=x", nil)
	r := e.do(req, "", "")
	wantError(t, r, http.StatusMethodNotAllowed, oauth.InvalidRequest)
	if r.header.Get("Allow") != "POST" {
		t.Errorf("405 with Allow %q", r.header.Get("Allow"))
	}
	wantError(t, e.call("/introspect", url.Values{"token_type_hint": {"access_token"}}, e.as("rs1")), http.StatusBadRequest, oauth.InvalidRequest)
	wantError(t, e.call("/introspect", url.Values{"token": {"a", "b"}}, e.as("rs1")), http.StatusBadRequest, oauth.InvalidRequest)
}

// TestIntrospect_Outage: a token the server could not check is 503, never
// {"active":false}.
func TestIntrospect_Outage(t *testing.T) {
	o := &outage{}
	e := newEnv(t, o.wrap)
	jwt := e.redeem(e.newCode("conf1"))
	opaque := e.redeem(e.newCode("op1")).str("access_token")
	for op, tok := range map[string]string{
		"Clients.Get":             jwt.str("access_token"),
		"Revocations.AnyRevoked":  jwt.str("access_token"),
		"Access.Get":              opaque,
		"Refresh.Get":             jwt.str("refresh_token"),
		"Refresh.Get (not found)": secret.Token("rt_"),
	} {
		t.Run(op, func(t *testing.T) {
			e := e.with(t)
			o.op.Store(strings.TrimSuffix(op, " (not found)"))
			wantUnavailable(t, e.introspect(tok, e.as("rs1")))
			o.op.Store("")
		})
	}
}

// TestJW02_TokenTypeConfusion: only an access token introspects as one. A
// JWT the server signed for another purpose (an ID token, RS256 or under
// the access-token key with another typ), a client assertion, and a
// refresh token with its prefix swapped are inactive; a refresh token
// itself is active but marked token_use refresh_token, with no audience and
// no Bearer type, so no resource server takes it for an access token.
func TestJW02_TokenTypeConfusion(t *testing.T) {
	e := newEnv(t)
	ok := e.redeem(e.newCode("conf1"))
	now := time.Now().Unix()
	claims := fmt.Sprintf(`{"iss":%q,"sub":%q,"aud":%q,"client_id":"conf1","exp":%d,"iat":%d,"jti":%q}`,
		issuer, userID, defaultAudience[0], now+600, now, secret.ID(""))
	var cases []string
	for _, c := range []struct{ alg, typ string }{{"RS256", "JWT"}, {"ES256", "JWT"}, {"ES256", ""}, {"ES256", "at+jwt+x"}} {
		tok, err := e.keys.Sign(c.alg, c.typ, []byte(claims))
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, tok)
	}
	// d: a client assertion (RFC 7523) replayed as an access token.
	assertion := fmt.Sprintf(`{"iss":"conf1","sub":"conf1","aud":%q,"exp":%d,"iat":%d,"jti":"j1"}`, issuer, now+60, now)
	cases = append(cases, forgedJWT(t, ok.str("access_token")[:strings.Index(ok.str("access_token"), ".")]+"."+
		base64.RawURLEncoding.EncodeToString([]byte(assertion))+".x")...)
	// b: a refresh token under the access-token prefix.
	cases = append(cases, "at_"+strings.TrimPrefix(ok.str("refresh_token"), "rt_"))
	for i, tok := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) { e.with(t).inactive(tok) })
	}
	r := e.active(ok.str("refresh_token"))
	if r.str("token_use") != "refresh_token" || r.body["aud"] != nil || r.body["token_type"] != nil {
		t.Errorf("a refresh token introspects like an access token: %s", r.raw)
	}
	if r := e.active(ok.str("access_token")); r.str("token_use") != "access_token" || r.str("token_type") != "Bearer" {
		t.Errorf("access token: %s", r.raw)
	}
}
