package grant_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
)

// refreshFor redeems a fresh code of clientID and returns its refresh token.
func (e *env) refreshFor(clientID string, edit ...func(*valet.AuthCode)) (rt, family string) {
	e.t.Helper()
	c := e.newCode(clientID, edit...)
	return e.redeem(c).str("refresh_token"), c.code.FamilyID
}

// refresh refreshes rt as clientID and requires success.
func (e *env) refresh(clientID, rt string, scope ...string) *result {
	e.t.Helper()
	r := e.token(refreshForm(rt, scope...), e.as(clientID))
	e.wantOK(r)
	return r
}

// TestRT01_ReuseRevokesFamily: R0 -> R1 -> R2, then a replay of R0 (or of
// R1) kills the family, R2 and every access token included.
func TestRT01_ReuseRevokesFamily(t *testing.T) {
	for _, replay := range []int{0, 1, 2} {
		e := newEnv(t)
		r0, fam := e.refreshFor("pub1")
		first := e.refresh("pub1", r0)
		r1 := first.str("refresh_token")
		second := e.refresh("pub1", r1)
		r2 := second.str("refresh_token")
		if r1 == r0 || r2 == r1 || r2 == "" {
			t.Fatal("refresh did not rotate the token")
		}
		for _, at := range []string{first.str("access_token"), second.str("access_token")} {
			if g := e.claims(at).GrantID; g != fam {
				t.Fatalf("access token grant_id %q, want the family %q", g, fam)
			}
		}

		// 0 and 1 replay R0 and R1; 2 replays R0 asking for more scope,
		// which is reuse first and an escalation only after.
		f := refreshForm([]string{r0, r1, r0}[replay])
		if replay == 2 {
			f.Set("scope", "openid profile admin")
		}
		wantError(t, e.token(f, public("pub1")), http.StatusBadRequest, oauth.InvalidGrant)
		e.refreshDead("pub1", r2)
		e.denyListed(fam)
		// At /introspect: the newest refresh token and every access token
		// of the family are inactive.
		for _, tok := range []string{r2, first.str("access_token"), second.str("access_token")} {
			e.inactive(tok)
		}
	}
}

// TestRT03_RefreshTokenBindingAndValidity covers the catalogue's a-g.
func TestRT03_RefreshTokenBindingAndValidity(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	t.Run("a another client", func(t *testing.T) {
		e := e.with(t)
		rt, _ := e.refreshFor("conf1")
		wantError(t, e.token(refreshForm(rt), e.as("conf2")), http.StatusBadRequest, oauth.InvalidGrant)
		e.refresh("conf1", rt) // neither used nor revoked by the attempt
	})
	t.Run("b no client authentication", func(t *testing.T) {
		e := e.with(t)
		rt, _ := e.refreshFor("conf1")
		wantError(t, e.token(refreshForm(rt), noAuth), http.StatusUnauthorized, oauth.InvalidClient)
		wantError(t, e.token(refreshForm(rt), public("conf1")), http.StatusUnauthorized, oauth.InvalidClient)
		e.refresh("conf1", rt)
	})
	t.Run("c expired", func(t *testing.T) {
		e := e.with(t)
		value := secret.Token("rt_")
		err := e.st.Refresh.Create(ctx, &valet.RefreshToken{
			Digest: e.d.Digest(secret.PurposeRefresh, value), FamilyID: secret.ID("fam_"), ClientID: "conf1", UserID: userID,
			Scopes: []string{"openid"}, CreatedAt: time.Now().Add(-2 * time.Hour), ExpiresAt: time.Now().Add(-time.Second),
		})
		if err != nil {
			t.Fatal(err)
		}
		// A dead token says nothing about scopes.
		wantError(t, e.token(refreshForm(value, "admin"), e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)
		wantError(t, e.token(refreshForm(value), e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)
	})
	t.Run("d revoked", func(t *testing.T) {
		e := e.with(t)
		rt, fam := e.refreshFor("conf1")
		if _, err := e.st.Refresh.RevokeFamily(ctx, fam, time.Now()); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.token(refreshForm(rt, "admin"), e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)
		wantError(t, e.token(refreshForm(rt), e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)
	})
	t.Run("e consent withdrawn", func(t *testing.T) {
		e := e.with(t)
		rt, _ := e.refreshFor("post1")
		if err := e.st.Consents.Delete(ctx, userID, "post1"); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.token(refreshForm(rt), e.as("post1")), http.StatusBadRequest, oauth.InvalidGrant)
	})
	t.Run("e consent narrowed", func(t *testing.T) {
		e := e.with(t)
		rt, _ := e.refreshFor("conf2") // granted openid profile
		if err := e.st.Consents.Put(ctx, &valet.Consent{UserID: userID, ClientID: "conf2", Scopes: []string{"openid"}, GrantedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.token(refreshForm(rt), e.as("conf2")), http.StatusBadRequest, oauth.InvalidGrant)
		wantError(t, e.token(refreshForm(rt, "openid profile"), e.as("conf2")), http.StatusBadRequest, oauth.InvalidGrant)
		if got := e.refresh("conf2", rt, "openid").str("scope"); got != "openid" {
			t.Errorf("scope %q, want what the consent still covers", got)
		}
	})
	t.Run("f access token or code as refresh token", func(t *testing.T) {
		e := e.with(t)
		c := e.newCode("conf1")
		r := e.redeem(c)
		for _, v := range []string{r.str("access_token"), c.value, strings.Replace(r.str("refresh_token"), "rt_", "ac_", 1)} {
			wantError(t, e.token(refreshForm(v), e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)
		}
		e.refresh("conf1", r.str("refresh_token"))
	})
	t.Run("g body client_id differs from Basic", func(t *testing.T) {
		e := e.with(t)
		rt, _ := e.refreshFor("conf1")
		f := refreshForm(rt)
		f.Set("client_id", "conf2")
		wantError(t, e.token(f, e.as("conf1")), http.StatusBadRequest, oauth.InvalidRequest)
	})
}

// TestRT03e_UserGone: the tokens of a deleted user stop working. The store
// deletes them with the user; a store that kept them must still be refused.
func TestRT03e_UserGone(t *testing.T) {
	e := newEnv(t)
	rt, _ := e.refreshFor("conf1")
	if err := e.st.Users.Delete(context.Background(), userID); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.token(refreshForm(rt), e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)

	hidden := &hiddenUsers{}
	e = newEnv(t, func(st *valet.Store) { hidden.UserStore = st.Users; st.Users = hidden })
	rt, _ = e.refreshFor("conf1")
	hidden.hide.Store(true)
	wantError(t, e.token(refreshForm(rt), e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)
}

// TestRT04_ScopeEscalationOnRefresh covers the catalogue's a-d.
func TestRT04_ScopeEscalationOnRefresh(t *testing.T) {
	e := newEnv(t)
	rt, _ := e.refreshFor("conf1") // granted openid profile

	// a: a scope not originally granted, even one the user consented to.
	wantError(t, e.token(refreshForm(rt, "openid profile email"), e.as("conf1")), http.StatusBadRequest, oauth.InvalidScope)
	wantError(t, e.token(refreshForm(rt, "admin"), e.as("conf1")), http.StatusBadRequest, oauth.InvalidScope)

	// b: narrowing.
	r := e.refresh("conf1", rt, "openid")
	if r.str("scope") != "openid" || e.claims(r.str("access_token")).Scope != "openid" {
		t.Fatalf("narrowed refresh: %s", r.raw)
	}
	// c: an empty scope is an omitted one: the original scope.
	r = e.refresh("conf1", r.str("refresh_token"), "")
	if r.str("scope") != "openid profile" {
		t.Fatalf("scope= gave %q, want the original", r.str("scope"))
	}
	// d: narrow again, then omit: the original, not the last narrowed (P12).
	r = e.refresh("conf1", r.str("refresh_token"), "profile")
	r = e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}}, e.as("conf1"))
	e.wantOK(r)
	if r.str("scope") != "openid profile" || e.claims(r.str("access_token")).Scope != "openid profile" {
		t.Fatalf("refresh without scope after narrowing gave %q, want the original", r.str("scope"))
	}
	stored, err := e.st.Refresh.Get(context.Background(), e.d.Digest(secret.PurposeRefresh, r.str("refresh_token")))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stored.Scopes, []string{"openid", "profile"}) {
		t.Errorf("stored family scopes %v, want the original", stored.Scopes)
	}
}

// TestIP04_ScopeGrammarAtTokenEndpoint: a refresh with a malformed scope is
// invalid_scope; duplicates collapse.
func TestIP04_ScopeGrammarAtTokenEndpoint(t *testing.T) {
	e := newEnv(t)
	rt, _ := e.refreshFor("conf1")
	many := make([]string, 51)
	for i := range many {
		many[i] = "s" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	for _, bad := range []string{
		"openid  profile", " openid", "openid ", "openid\tprofile", "openid\nprofile",
		`open"id`, `open\id`, "openid,profile", "openid\x00", "opénid",
		strings.Repeat("a", 300), strings.Join(many, " "),
	} {
		wantError(t, e.token(refreshForm(rt, bad), e.as("conf1")), http.StatusBadRequest, oauth.InvalidScope)
	}
	r := e.refresh("conf1", rt, "openid openid")
	if r.str("scope") != "openid" {
		t.Errorf("duplicate scope gave %q, want openid", r.str("scope"))
	}
}
