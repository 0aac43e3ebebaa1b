package grant_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/valetauth/valet/internal/grant"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/store/sqltest"
	"github.com/valetauth/valet/internal/token"
)

// passwordForm is a password grant request for user with pass.
func passwordForm(user, pass string, scope ...string) url.Values {
	f := url.Values{"grant_type": {"password"}, "username": {user}, "password": {pass}}
	if len(scope) > 0 {
		f.Set("scope", scope[0])
	}
	return f
}

// TestPassword_XOAuth2: x/oauth2's PasswordCredentialsToken gets a JWT and
// a refresh token that refreshes; an opaque client without the refresh
// grant gets an opaque token alone.
func TestPassword_XOAuth2(t *testing.T) {
	e := newEnv(t)
	conf := oauth2.Config{ClientID: "pw1", ClientSecret: e.secrets["pw1"], Scopes: []string{"contacts.read"},
		Endpoint: oauth2.Endpoint{TokenURL: e.srv.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader}}
	before := time.Now().Add(-time.Second)
	tok, err := conf.PasswordCredentialsToken(e.clientContext(), username, password)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || tok.TokenType != "Bearer" {
		t.Fatalf("token %+v: want a Bearer token and a refresh token", tok)
	}
	c := e.claims(tok.AccessToken)
	if c.Subject != userID || c.ClientID != "pw1" || c.Scope != "contacts.read" || c.GrantID == "" ||
		time.Unix(c.AuthTime, 0).Before(before.Truncate(time.Second)) || !slices.Equal(c.Audience, defaultAudience) {
		t.Errorf("claims %+v: want the user, pw1, contacts.read, a grant and auth_time now", c)
	}
	// The grant counts as consent, so the refresh token refreshes.
	consent, err := e.st.Consents.Get(context.Background(), userID, "pw1")
	if err != nil || !consent.Covers([]string{"contacts.read"}) {
		t.Fatalf("consent %+v, %v: want contacts.read recorded", consent, err)
	}
	tok.Expiry = time.Now().Add(-time.Minute)
	next, err := conf.TokenSource(e.clientContext(), tok).Token()
	if err != nil {
		t.Fatal(err)
	}
	if next.AccessToken == tok.AccessToken || next.RefreshToken == tok.RefreshToken {
		t.Error("the refresh did not rotate")
	}
	if got := e.claims(next.AccessToken).GrantID; got != c.GrantID {
		t.Errorf("grant_id after refresh %q, want %q", got, c.GrantID)
	}

	conf = oauth2.Config{ClientID: "pw2", ClientSecret: e.secrets["pw2"],
		Endpoint: oauth2.Endpoint{TokenURL: e.srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	tok, err = conf.PasswordCredentialsToken(e.clientContext(), username, password)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.AccessToken, "at_") || tok.RefreshToken != "" {
		t.Fatalf("token %+v: want an opaque token and no refresh token (pw2 did not register refresh_token)", tok)
	}
	stored, err := e.st.Access.Get(context.Background(), token.OpaqueKey(e.d, tok.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	if stored.Subject != userID || stored.ClientID != "pw2" || stored.GrantID == "" || stored.AuthTime.IsZero() ||
		!slices.Equal(stored.Scopes, []string{"profile"}) {
		t.Errorf("stored %+v", stored)
	}
}

// TestTE01_PasswordDisabledServerWide: with the server-wide switch off,
// grant_type=password is unsupported even for a client that registered it,
// and client authentication is still checked first.
func TestTE01_PasswordDisabledServerWide(t *testing.T) {
	e := newEnvWith(t, sqltest.Backends()[0], func(h *grant.Handler) { h.PasswordGrantDisabled = true })
	wantError(t, e.token(passwordForm(username, password), e.as("pw1")), http.StatusBadRequest, oauth.UnsupportedGrantType)
	wantInvalidClient(t, e.token(passwordForm(username, password), basic("pw1", "wrong")), true)
	// The other grants are unaffected.
	e.wantOK(e.token(url.Values{"grant_type": {"client_credentials"}}, e.as("cc1")))
}

// TestTE03_PasswordHardening covers TE-03 a to d. TE-03e (a user with a
// second factor gets invalid_grant) has nothing to test yet: Valet has no
// second factor; the Password doc comment says what to do when it does.
func TestTE03_PasswordHardening(t *testing.T) {
	e := newEnv(t)
	t.Run("a not registered for the client", func(t *testing.T) {
		wantError(t, e.with(t).token(passwordForm(username, password), e.as("conf2")), http.StatusBadRequest, oauth.UnauthorizedClient)
	})
	t.Run("d public client", func(t *testing.T) {
		// pubpw is stored with the password grant, which registration refuses.
		wantError(t, e.with(t).token(passwordForm(username, password), public("pubpw")), http.StatusBadRequest, oauth.UnauthorizedClient)
	})
	t.Run("b wrong password and unknown user alike", func(t *testing.T) {
		e := e.with(t)
		timed := func(user, pass string) (*result, time.Duration) {
			start := time.Now()
			r := e.token(passwordForm(user, pass), e.as("pw1"))
			return r, time.Since(start)
		}
		var wrongBest, unknownBest time.Duration = time.Hour, time.Hour
		for range 3 {
			wrong, d1 := timed(username, "wrong password")
			unknown, d2 := timed("nobody-"+secret.ID(""), password)
			wantError(t, wrong, http.StatusBadRequest, oauth.InvalidGrant)
			wantError(t, unknown, http.StatusBadRequest, oauth.InvalidGrant)
			if string(wrong.raw) != string(unknown.raw) {
				t.Fatalf("bodies differ:\n%s\n%s", wrong.raw, unknown.raw)
			}
			wrongBest, unknownBest = min(wrongBest, d1), min(unknownBest, d2)
		}
		// An unknown user costs an argon2id computation too. The two costs
		// differ by two orders of magnitude, so a factor of four is no
		// timing test: it only fails if the dummy hash is skipped.
		if unknownBest*4 < wrongBest {
			t.Errorf("an unknown user takes %v, a wrong password %v: the dummy hash is not computed", unknownBest, wrongBest)
		}
	})
	t.Run("c brute force per username", func(t *testing.T) {
		e := newEnv(t) // b spent some of ana's budget
		for i := range 10 {
			wantError(t, e.token(passwordForm(username, "guess"+string(rune('a'+i))), e.as("pw1")), http.StatusBadRequest, oauth.InvalidGrant)
		}
		for _, user := range []string{username, strings.ToUpper(username)} {
			r := e.token(passwordForm(user, password), e.as("pw1"))
			wantError(t, r, http.StatusTooManyRequests, oauth.InvalidGrant)
			if r.header.Get("Retry-After") == "" || !strings.Contains(r.str("error_description"), "retry in") {
				t.Errorf("429 without Retry-After or a time to wait: %v %s", r.header, r.raw)
			}
		}
		// Another account is not locked out by the guesses at this one.
		wantError(t, e.token(passwordForm("someone-else", "x"), e.as("pw1")), http.StatusBadRequest, oauth.InvalidGrant)
	})
}

// TestTE03c_LimiterSharedWithSignIn: failures counted by the sign-in page
// in the shared limiter, under its key for the username, lock the password
// grant too.
func TestTE03c_LimiterSharedWithSignIn(t *testing.T) {
	e := newEnv(t)
	for range 10 {
		a, _ := e.accounts.Begin("user:" + username) // the sign-in page's key
		a.Fail()
	}
	wantError(t, e.token(passwordForm(username, password), e.as("pw1")), http.StatusTooManyRequests, oauth.InvalidGrant)
}

// TestPassword_RequestChecks: what is checked before the password costs no
// attempt; resources follow the client's registration.
func TestPassword_RequestChecks(t *testing.T) {
	e := newEnv(t)
	for range 12 {
		wantError(t, e.token(passwordForm(username, password, "admin"), e.as("pw1")), http.StatusBadRequest, oauth.InvalidScope)
		f := passwordForm(username, "wrong")
		f.Set("resource", "https://mail.example")
		wantError(t, e.token(f, e.as("pw1")), http.StatusBadRequest, oauth.InvalidTarget)
	}
	for _, f := range []url.Values{{"grant_type": {"password"}, "username": {username}}, {"grant_type": {"password"}, "password": {password}}} {
		wantError(t, e.token(f, e.as("pw1")), http.StatusBadRequest, oauth.InvalidRequest)
	}
	f := passwordForm(username, password)
	f.Set("resource", "https://contacts.example")
	r := e.token(f, e.as("pw1"))
	e.wantOK(r)
	if aud := e.claims(r.str("access_token")).Audience; !slices.Equal(aud, []string{"https://contacts.example"}) {
		t.Errorf("aud %v, want the requested resource", aud)
	}
	if got := e.claims(r.str("access_token")).Scope; got != "contacts.read profile" {
		t.Errorf("scope %q, want every scope pw1 registered", got)
	}
	// The refresh token keeps the resource.
	r = e.refresh("pw1", r.str("refresh_token"))
	if aud := e.claims(r.str("access_token")).Audience; !slices.Equal(aud, []string{"https://contacts.example"}) {
		t.Errorf("aud after refresh %v, want the requested resource", aud)
	}
}

// TestPassword_Outage: a store failure is 503 and is not counted as a
// failed attempt.
func TestPassword_Outage(t *testing.T) {
	o := &outage{}
	e := newEnv(t, o.wrap)
	for _, op := range []string{"Users.GetByUsername", "Consents.Get", "Consents.Put", "Refresh.Create"} {
		t.Run(op, func(t *testing.T) {
			e := e.with(t)
			if op == "Consents.Put" {
				// Only a consent that does not cover the scopes is written.
				if err := e.st.Consents.Delete(context.Background(), userID, "pw1"); err != nil {
					t.Fatal(err)
				}
			}
			o.op.Store(op)
			for range 11 {
				wantUnavailable(t, e.token(passwordForm(username, password), e.as("pw1")))
			}
			o.op.Store("")
			e.wantOK(e.token(passwordForm(username, password), e.as("pw1")))
		})
	}
}

// TestPassword_LogsCarryNoPassword: neither a right nor a wrong password
// reaches the log (catalogue §3.5).
func TestPassword_LogsCarryNoPassword(t *testing.T) {
	e := newEnv(t)
	r := e.token(passwordForm(username, password), e.as("pw1"))
	e.wantOK(r)
	e.token(passwordForm(username, "wrong-password-canary"), e.as("pw1"))
	logs := e.logs.String()
	for _, s := range []string{password, "wrong-password-canary", r.str("access_token"), r.str("refresh_token")} {
		if strings.Contains(logs, s) {
			t.Errorf("a secret reached the log: %.12s...", s)
		}
	}
	if !strings.Contains(logs, "password grant") {
		t.Error("the password grant was not logged")
	}
}
