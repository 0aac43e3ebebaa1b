package grant_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/token"
)

// clientContext makes x/oauth2 use the test server's client.
func (e *env) clientContext() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, e.srv.Client())
}

// payloadClaims returns the claims of a JWT without verifying it, to see
// exactly which members it carries.
func payloadClaims(t testing.TB, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestClientCredentials_XOAuth2: golang.org/x/oauth2/clientcredentials gets
// a JWT with client_secret_basic and an opaque token with
// client_secret_post, for two RFC 8707 resources at once.
func TestClientCredentials_XOAuth2(t *testing.T) {
	e := newEnv(t)

	jwt := clientcredentials.Config{ClientID: "cc1", ClientSecret: e.secrets["cc1"], TokenURL: e.srv.URL + "/token",
		AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := jwt.Token(e.clientContext())
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "" || tok.TokenType != "Bearer" || time.Until(tok.Expiry) < accessTTL-time.Minute {
		t.Errorf("token %+v: want a Bearer token for %v without a refresh token", tok, accessTTL)
	}
	c := e.claims(tok.AccessToken)
	if c.Subject != "cc1" || c.ClientID != "cc1" || c.Scope != "api.read" || !slices.Equal(c.Audience, defaultAudience) {
		t.Errorf("claims %+v: want sub and client_id cc1, scope api.read, the default audience", c)
	}

	opaque := clientcredentials.Config{ClientID: "cc2", ClientSecret: e.secrets["cc2"], TokenURL: e.srv.URL + "/token",
		AuthStyle: oauth2.AuthStyleInParams, Scopes: []string{"api.write"},
		EndpointParams: url.Values{"resource": {"https://billing.example", "https://api.example"}}}
	tok, err = opaque.Token(e.clientContext())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.AccessToken, "at_") || tok.RefreshToken != "" {
		t.Fatalf("token %+v: want an opaque at_ token without a refresh token", tok)
	}
	stored, err := e.st.Access.Get(context.Background(), token.OpaqueKey(e.d, tok.AccessToken))
	if err != nil {
		t.Fatalf("the opaque token is not stored under its digest: %v", err)
	}
	if stored.Subject != "cc2" || stored.ClientID != "cc2" || stored.GrantID != "" || !stored.AuthTime.IsZero() ||
		!slices.Equal(stored.Scopes, []string{"api.write"}) ||
		!slices.Equal(stored.Audience, []string{"https://api.example", "https://billing.example"}) {
		t.Errorf("stored %+v", stored)
	}
	if stored.Digest == tok.AccessToken || stored.ID == "" {
		t.Errorf("stored token: digest %q, id %q", stored.Digest, stored.ID)
	}
}

// TestTE04_ClientCredentialsRules covers TE-04 a to d.
func TestTE04_ClientCredentialsRules(t *testing.T) {
	e := newEnv(t)
	cc := url.Values{"grant_type": {"client_credentials"}}

	t.Run("a public client", func(t *testing.T) {
		e := e.with(t)
		// pubcc is stored with client_credentials, which registration refuses.
		wantError(t, e.token(cc, public("pubcc")), http.StatusBadRequest, oauth.UnauthorizedClient)
	})
	t.Run("b scope beyond the client's", func(t *testing.T) {
		e := e.with(t)
		for _, scope := range []string{"api.write", "api.read api.write", "openid"} {
			f := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
			wantError(t, e.token(f, e.as("cc1")), http.StatusBadRequest, oauth.InvalidScope)
		}
		f := url.Values{"grant_type": {"client_credentials"}, "scope": {"api.read"}}
		e.wantOK(e.token(f, e.as("cc1")))
		// No scope asked for: every scope the client registered, canonical.
		r := e.token(cc, e.as("cc2"))
		e.wantOK(r)
		if r.str("scope") != "api.read api.write" {
			t.Errorf("scope %q, want the registered scopes", r.str("scope"))
		}
	})
	t.Run("c no refresh token", func(t *testing.T) {
		e := e.with(t)
		for _, id := range []string{"cc1", "cc2"} {
			r := e.token(cc, e.as(id))
			e.wantOK(r)
			if _, ok := r.body["refresh_token"]; ok {
				t.Errorf("%s got a refresh token: %s", id, r.raw)
			}
		}
	})
	t.Run("d subject is the client, no user claims", func(t *testing.T) {
		e := e.with(t)
		r := e.token(cc, e.as("cc1"))
		e.wantOK(r)
		claims := payloadClaims(t, r.str("access_token"))
		keys := slices.Sorted(maps.Keys(claims))
		if !slices.Equal(keys, []string{"aud", "client_id", "exp", "iat", "iss", "jti", "scope", "sub"}) {
			t.Errorf("claims %v: want exactly the RFC 9068 ones, no auth_time or grant_id", keys)
		}
		if claims["sub"] != "cc1" || claims["client_id"] != "cc1" {
			t.Errorf("sub %v, client_id %v: want the client", claims["sub"], claims["client_id"])
		}
	})
}

// TestTE02_ClientCredentialsAndPasswordUnregistered: conf1 registered
// neither grant; cc1 has no password grant.
func TestTE02_ClientCredentialsAndPasswordUnregistered(t *testing.T) {
	e := newEnv(t)
	wantError(t, e.token(url.Values{"grant_type": {"client_credentials"}}, e.as("conf1")), http.StatusBadRequest, oauth.UnauthorizedClient)
	pw := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	wantError(t, e.token(pw, e.as("cc1")), http.StatusBadRequest, oauth.UnauthorizedClient)
}

// TestClientCredentials_Resources: RFC 8707 resource indicators at /token,
// the one parameter that may repeat.
func TestClientCredentials_Resources(t *testing.T) {
	e := newEnv(t)
	cc := func(resources ...string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "resource": resources}
	}
	aud := func(r *result) []string {
		t.Helper()
		e.wantOK(r)
		stored, err := e.st.Access.Get(context.Background(), token.OpaqueKey(e.d, r.str("access_token")))
		if err != nil {
			t.Fatal(err)
		}
		return stored.Audience
	}
	for name, res := range map[string][]string{
		"not registered":       {"https://mail.example"},
		"one of two not":       {"https://api.example", "https://evil.example"},
		"relative":             {"/api"},
		"fragment":             {"https://api.example#x"},
		"not a URI":            {"api.example"},
		"registered, but case": {"https://API.example"},
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, e.with(t).token(cc(res...), e.as("cc2")), http.StatusBadRequest, oauth.InvalidTarget)
		})
	}
	if got := aud(e.token(cc("https://api.example"), e.as("cc2"))); !slices.Equal(got, []string{"https://api.example"}) {
		t.Errorf("aud %v, want the one resource", got)
	}
	if got := aud(e.token(cc("https://billing.example", "https://api.example", "https://billing.example", ""), e.as("cc2"))); !slices.Equal(got, []string{"https://api.example", "https://billing.example"}) {
		t.Errorf("aud %v, want both resources, once each", got)
	}
	if got := aud(e.token(cc(), e.as("cc2"))); !slices.Equal(got, defaultAudience) {
		t.Errorf("aud %v, want the default audience", got)
	}
	// A client that registered no resources gets only the default audience.
	wantError(t, e.token(cc("https://api.example"), e.as("cc1")), http.StatusBadRequest, oauth.InvalidTarget)
	// Every other parameter still may not repeat.
	f := cc("https://api.example")
	f["scope"] = []string{"api.read", "api.read"}
	wantError(t, e.token(f, e.as("cc2")), http.StatusBadRequest, oauth.InvalidRequest)
}

// forbiddenStores makes every store but the client store fail loudly: the
// embedded interfaces are nil, so any call panics and the request never
// gets an answer. keep names the stores left working.
func forbiddenStores(keep ...string) envOption {
	return func(st *valet.Store) {
		type codes struct{ valet.CodeStore }
		type refresh struct{ valet.RefreshStore }
		type access struct{ valet.AccessTokenStore }
		type revocations struct{ valet.RevocationStore }
		type users struct{ valet.UserStore }
		type consents struct{ valet.ConsentStore }
		type sessions struct{ valet.SessionStore }
		type replays struct{ valet.ReplayStore }
		st.Codes, st.Refresh, st.Revocations = codes{}, refresh{}, revocations{}
		st.Users, st.Consents, st.Sessions, st.Replays = users{}, consents{}, sessions{}, replays{}
		if !slices.Contains(keep, "Access") {
			st.Access = access{}
		}
	}
}

// TestClientCredentials_HotPath: issuing a JWT reads the client and touches
// no other store, so no write; an opaque token needs the access-token store
// and nothing else.
func TestClientCredentials_HotPath(t *testing.T) {
	cc := url.Values{"grant_type": {"client_credentials"}}
	e := newEnv(t, forbiddenStores())
	e.wantOK(e.token(cc, e.as("cc1")))

	e = newEnv(t, forbiddenStores("Access"))
	e.wantOK(e.token(cc, e.as("cc2")))
}

// TestClientCredentials_Outage: no client store, 503 for both formats; no
// access-token store, 503 for an opaque token and no effect on a JWT.
func TestClientCredentials_Outage(t *testing.T) {
	o := &outage{}
	e := newEnv(t, o.wrap)
	cc := url.Values{"grant_type": {"client_credentials"}}
	o.op.Store("Clients.Get")
	wantUnavailable(t, e.token(cc, e.as("cc1")))
	wantUnavailable(t, e.token(cc, e.as("cc2")))
	o.op.Store("Access.Create")
	wantUnavailable(t, e.token(cc, e.as("cc2")))
	e.wantOK(e.token(cc, e.as("cc1")))
	o.op.Store("")
	e.wantOK(e.token(cc, e.as("cc2")))
}
