package grant_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/store/sqltest"
)

// revoke asks /revoke to revoke tok as a, with a token_type_hint when given.
func (e *env) revoke(tok string, a auth, hint ...string) *result {
	e.t.Helper()
	f := url.Values{"token": {tok}}
	if len(hint) > 0 {
		f.Set("token_type_hint", hint[0])
	}
	return e.call("/revoke", f, a)
}

// wantRevoked asserts the success answer of RFC 7009 §2.2: 200, empty body.
func (e *env) wantRevoked(r *result) {
	e.t.Helper()
	if r.status != http.StatusOK || len(r.raw) != 0 {
		e.t.Fatalf("revocation: %d %q, want 200 with an empty body", r.status, r.raw)
	}
}

// TestIR02a_GarbageIs200: tokens that are not tokens are "revoked".
func TestIR02a_GarbageIs200(t *testing.T) {
	e := newEnv(t)
	live := e.redeem(e.newCode("conf1")).str("access_token")
	for _, tok := range append(forgedJWT(t, live), "x", "garbage", secret.Token("at_"), secret.Token("rt_"), "a.b.c", e.expiredJWT()) {
		e.wantRevoked(e.revoke(tok, e.as("conf1")))
	}
	e.active(live)
}

// TestIR02b_RefreshTokenRevokesTheGrant: revoking a refresh token kills the
// family: every refresh token of it, and every access token, JWT or opaque,
// minted on the way.
func TestIR02b_RefreshTokenRevokesTheGrant(t *testing.T) {
	e := newEnv(t)
	for _, client := range []string{"conf1", "op1", "pub1"} {
		t.Run(client, func(t *testing.T) {
			e := e.with(t)
			first := e.redeem(e.newCode(client))
			second := e.refresh(client, first.str("refresh_token"))
			other := e.redeem(e.newCode(client)) // another grant of the same client and user
			e.wantRevoked(e.revoke(second.str("refresh_token"), e.as(client)))
			for _, tok := range []string{first.str("access_token"), second.str("access_token"), second.str("refresh_token"), first.str("refresh_token")} {
				e.inactive(tok)
			}
			e.refreshDead(client, second.str("refresh_token"))
			e.active(other.str("access_token"))
			e.active(other.str("refresh_token"))
		})
	}
	// A password grant's family dies the same way.
	r := e.token(passwordForm(username, password), e.as("pw1"))
	e.wantOK(r)
	e.wantRevoked(e.revoke(r.str("refresh_token"), e.as("pw1")))
	e.inactive(r.str("access_token"))
	e.inactive(r.str("refresh_token"))
}

// TestIR02c_AccessTokenRevoked: a revoked access token introspects inactive
// although a JWT still verifies; the rest of its grant lives on.
func TestIR02c_AccessTokenRevoked(t *testing.T) {
	e := newEnv(t)
	for _, client := range []string{"conf1", "op1"} {
		ok := e.redeem(e.newCode(client))
		e.wantRevoked(e.revoke(ok.str("access_token"), e.as(client)))
		e.inactive(ok.str("access_token"))
		if client == "conf1" {
			e.claims(ok.str("access_token")) // still verifies cryptographically
		}
		e.active(ok.str("refresh_token"))
		e.refresh(client, ok.str("refresh_token"))
	}
	for _, client := range []string{"cc1", "cc2"} {
		at := e.token(url.Values{"grant_type": {"client_credentials"}}, e.as(client)).str("access_token")
		e.wantRevoked(e.revoke(at, e.as(client)))
		e.inactive(at)
	}
}

// TestIR02c_DenyListOutlivesTheToken: the deny-list entry lasts until the
// token would have expired anyway.
func TestIR02c_DenyListOutlivesTheToken(t *testing.T) {
	c := &calls{}
	e := newEnv(t, func(st *valet.Store) { st.Revocations = &recordingRevocations{st.Revocations, c} })
	at := e.redeem(e.newCode("conf1")).str("access_token")
	e.wantRevoked(e.revoke(at, e.as("conf1")))
	if exp := time.Unix(e.claims(at).Expiry, 0); !c.until.After(exp) {
		t.Fatalf("deny-listed until %v, before the token expires at %v", c.until, exp)
	}
}

// TestIR02d_UnknownHintIgnored, and e: repeated revocation is 200.
func TestIR02d_UnknownHintIgnoredAndIR02e_Repeated(t *testing.T) {
	e := newEnv(t)
	for _, hint := range []string{"foo", "refresh_token", "access_token"} {
		ok := e.redeem(e.newCode("conf1"))
		e.wantRevoked(e.revoke(ok.str("access_token"), e.as("conf1"), hint))
		e.inactive(ok.str("access_token"))
		e.wantRevoked(e.revoke(ok.str("refresh_token"), e.as("conf1"), hint))
		e.inactive(ok.str("refresh_token"))
		e.wantRevoked(e.revoke(ok.str("refresh_token"), e.as("conf1"), hint))
		e.wantRevoked(e.revoke(ok.str("access_token"), e.as("conf1")))
	}
}

// TestIR02f_Method: GET /revoke is 405 with Allow: POST.
func TestIR02f_Method(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/revoke?token=x", nil)
	r := e.do(req, "", "")
	wantError(t, r, http.StatusMethodNotAllowed, oauth.InvalidRequest)
	if r.header.Get("Allow") != "POST" {
		t.Errorf("405 with Allow %q", r.header.Get("Allow"))
	}
	wantError(t, e.call("/revoke", url.Values{}, e.as("conf1")), http.StatusBadRequest, oauth.InvalidRequest)
}

// TestIR03_AnotherClientsToken: a confidential client is told no, a public
// one gets 200, and the token survives both.
func TestIR03_AnotherClientsToken(t *testing.T) {
	e := newEnv(t)
	conf1 := e.redeem(e.newCode("conf1"))
	for _, tok := range []string{conf1.str("refresh_token"), conf1.str("access_token")} {
		r := e.revoke(tok, e.as("conf2"))
		wantError(t, r, http.StatusBadRequest, oauth.InvalidRequest)
		if r.str("error_description") != "client is not authorized to revoke the presented token" {
			t.Errorf("description %q", r.str("error_description"))
		}
		e.active(tok)
	}
	pub1 := e.redeem(e.newCode("pub1"))
	for _, tok := range []string{pub1.str("refresh_token"), pub1.str("access_token")} {
		e.wantRevoked(e.revoke(tok, public("pub2")))
		e.active(tok)
	}
	e.refresh("pub1", pub1.str("refresh_token"))
	e.refresh("conf1", conf1.str("refresh_token"))
}

// TestCA01_Revoke: client authentication at /revoke is that of /token; a
// public client names itself and revokes its own token.
func TestCA01_Revoke(t *testing.T) {
	e := newEnv(t)
	ok := e.redeem(e.newCode("conf1"))
	wantInvalidClient(t, e.revoke(ok.str("refresh_token"), basic("conf1", "wrong")), true)
	wantInvalidClient(t, e.revoke(ok.str("refresh_token"), post("post1", "wrong")), false)
	wantInvalidClient(t, e.revoke(ok.str("refresh_token"), noAuth), false)
	wantInvalidClient(t, e.revoke(ok.str("refresh_token"), public("conf1")), false) // CA-05b
	e.active(ok.str("refresh_token"))

	pub := e.redeem(e.newCode("pub1"))
	e.wantRevoked(e.revoke(pub.str("refresh_token"), public("pub1")))
	e.inactive(pub.str("refresh_token"))
}

// TestIR04_StorageFailureIsNever200: whichever store call fails, /revoke
// answers 503 with Retry-After, and a retry completes the revocation.
func TestIR04_StorageFailureIsNever200(t *testing.T) {
	o := &outage{}
	e := newEnv(t, o.wrap)
	for _, c := range []struct{ op, kind string }{
		{"Clients.Get", "refresh"},
		{"Refresh.Get", "refresh"},
		{"Revocations.AnyRevoked", "refresh"},
		{"Revocations.Add", "refresh"},
		{"Refresh.RevokeFamily", "refresh"},
		{"Revocations.AnyRevoked", "jwt"},
		{"Revocations.Add", "jwt"},
		{"Access.Get", "opaque"},
		{"Revocations.Add", "opaque"},
	} {
		t.Run(c.op+" "+c.kind, func(t *testing.T) {
			e := e.with(t)
			client := map[string]string{"refresh": "conf1", "jwt": "conf1", "opaque": "op1"}[c.kind]
			ok := e.redeem(e.newCode(client))
			tok := ok.str("access_token")
			if c.kind == "refresh" {
				tok = ok.str("refresh_token")
			}
			o.op.Store(c.op)
			wantUnavailable(t, e.revoke(tok, e.as(client)))
			o.op.Store("")
			e.wantRevoked(e.revoke(tok, e.as(client)))
			e.inactive(tok)
			e.inactive(ok.str("access_token"))
		})
	}
}

// rotateHook runs after (when set) a successful Rotate returns, before the
// grant goes on.
type rotateHook struct {
	valet.RefreshStore
	after atomic.Pointer[func(familyID string)]
}

func (s *rotateHook) Rotate(ctx context.Context, old string, next *valet.RefreshToken) (bool, error) {
	ok, err := s.RefreshStore.Rotate(ctx, old, next)
	if f := s.after.Load(); ok && f != nil {
		(*f)(next.FamilyID)
	}
	return ok, err
}

// TestRevokeDuringRotation pins the interleaving a race between /revoke and
// a refresh produces on PostgreSQL: the revocation deny-lists the family and
// revokes the rows it sees, but not the link a concurrent Rotate has not yet
// committed. The refresh then finds the family deny-listed and revokes its
// new link, so nothing outlives the revocation.
func TestRevokeDuringRotation(t *testing.T) {
	hook := &rotateHook{}
	e := newEnv(t, func(st *valet.Store) { hook.RefreshStore = st.Refresh; st.Refresh = hook })
	ok := e.redeem(e.newCode("conf1"))
	revoke := func(familyID string) {
		// What /revoke does, in its order, with RevokeFamily blind to the
		// link just inserted.
		if err := e.st.Revocations.Add(context.Background(), familyID, time.Now().Add(time.Hour)); err != nil {
			panic(err)
		}
	}
	hook.after.Store(&revoke)
	next := e.refresh("conf1", ok.str("refresh_token"))
	hook.after.Store(nil)
	e.refreshDead("conf1", next.str("refresh_token"))
	e.inactive(next.str("refresh_token"))
	e.inactive(next.str("access_token"))
}

// TestRevokeRacesRefresh: /revoke and refreshes of the same token at once,
// on every backend. However they interleave, once the revocation has
// answered 200 no token of the family works.
func TestRevokeRacesRefresh(t *testing.T) {
	for _, backend := range sqltest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			e := newEnvOn(t, backend)
			for round := range 10 {
				ok := e.redeem(e.newCode("conf1"))
				rt := ok.str("refresh_token")
				var wg sync.WaitGroup
				var mu sync.Mutex
				var issued []string
				errs := make(chan error, 4)
				start := make(chan struct{})
				for range 3 {
					wg.Go(func() {
						<-start
						r, err := e.post("/token", refreshForm(rt), e.as("conf1"))
						if err != nil {
							errs <- err
							return
						}
						if r.status == http.StatusOK {
							mu.Lock()
							issued = append(issued, r.str("access_token"), r.str("refresh_token"))
							mu.Unlock()
						}
					})
				}
				wg.Go(func() {
					<-start
					r, err := e.post("/revoke", url.Values{"token": {rt}}, e.as("conf1"))
					if err == nil && r.status != http.StatusOK {
						err = fmt.Errorf("revoke: %d %s", r.status, r.raw)
					}
					if err != nil {
						errs <- err
					}
				})
				close(start)
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatalf("round %d: %v", round, err)
				}
				for _, tok := range append(issued, ok.str("access_token"), rt) {
					e.inactive(tok)
				}
			}
		})
	}
}

// post sends form to path as a from any goroutine: it returns errors
// instead of failing the test.
func (e *env) post(path string, form url.Values, a auth) (*result, error) {
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	probe, err := http.NewRequest(http.MethodPost, e.srv.URL+path, nil)
	if err != nil {
		return nil, err
	}
	a(probe, f)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(f.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header = probe.Header.Clone()
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	res := &result{status: resp.StatusCode, header: resp.Header}
	if res.raw, err = io.ReadAll(resp.Body); err != nil {
		return nil, err
	}
	if len(res.raw) > 0 {
		if err := json.Unmarshal(res.raw, &res.body); err != nil {
			return nil, fmt.Errorf("status %d: body is not JSON: %q", res.status, res.raw)
		}
	}
	return res, nil
}
