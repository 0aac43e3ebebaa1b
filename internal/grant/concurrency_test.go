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

// raceOutcome is one response of a race.
type raceOutcome struct {
	status int
	body   raceBody
	err    error
}

type raceBody struct {
	Error        string `json:"error"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// race sends n identical token requests at once: every goroutine is parked
// on a barrier before any request leaves, over its own pre-opened
// connection.
func (e *env) race(n int, form url.Values, a auth) []raceOutcome {
	e.t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	probe, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/token", nil)
	a(probe, f)
	body := f.Encode()

	tr := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	// Open n connections first, so the race is between requests, not dials.
	var warm sync.WaitGroup
	for range n {
		warm.Go(func() {
			if resp, err := client.Get(e.srv.URL + "/token"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	warm.Wait()

	out := make([]raceOutcome, n)
	start := make(chan struct{})
	var parked, done sync.WaitGroup
	for i := range n {
		parked.Add(1)
		done.Go(func() {
			req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/token", strings.NewReader(body))
			if err != nil {
				out[i].err = err
				parked.Done()
				return
			}
			req.Header = probe.Header.Clone()
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			parked.Done()
			<-start
			resp, err := client.Do(req)
			if err != nil {
				out[i].err = err
				return
			}
			defer resp.Body.Close()
			out[i].status = resp.StatusCode
			out[i].err = json.NewDecoder(resp.Body).Decode(&out[i].body)
		})
	}
	parked.Wait()
	close(start)
	done.Wait()
	return out
}

// exactlyOnce asserts one 200, every other response 400 invalid_grant, no
// 5xx and no transport error; it returns the winner's body.
func exactlyOnce(t *testing.T, out []raceOutcome) raceBody {
	t.Helper()
	var winner raceBody
	tally := map[string]int{}
	for _, o := range out {
		switch {
		case o.err != nil:
			tally["error: "+o.err.Error()]++
		case o.status == http.StatusOK:
			tally["200"]++
			winner = o.body
		default:
			tally[fmt.Sprintf("%d %s", o.status, o.body.Error)]++
		}
	}
	want := map[string]int{"200": 1, "400 invalid_grant": len(out) - 1}
	if fmt.Sprint(tally) != fmt.Sprint(want) {
		t.Fatalf("outcomes %v, want %v", tally, want)
	}
	return winner
}

// TestCO02_ConcurrentRedemptionExactlyOnce: 50 redemptions of one code
// released together; exactly one wins, and since the losers are replays the
// winner's tokens end up revoked (pin P4). Catalogue R1, on every backend.
func TestCO02_ConcurrentRedemptionExactlyOnce(t *testing.T) {
	for _, backend := range sqltest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			e := newEnvOn(t, backend)
			for _, client := range []string{"conf1", "pub1", "conf1"} {
				c := e.newCode(client)
				winner := exactlyOnce(t, e.race(50, codeForm(c), e.as(client)))

				used, err := e.st.Codes.Get(context.Background(), c.code.Digest, c.code.CreatedAt)
				if err != nil || used.UsedAt.IsZero() {
					t.Fatalf("the code is not marked used: %v", err)
				}
				if g := e.claims(winner.AccessToken).GrantID; g != c.code.FamilyID {
					t.Fatalf("winner's grant_id %q, want %q", g, c.code.FamilyID)
				}
				e.denyListed(c.code.FamilyID)
				e.refreshDead(client, winner.RefreshToken)
			}
		})
	}
}

// TestRT02_ConcurrentRefreshExactlyOnce: 30 refreshes of one refresh token
// released together; exactly one rotation wins, and the rest are reuse, so
// the family, the winner's new token included, is revoked (R2 strict mode:
// no family ever has two active heads).
func TestRT02_ConcurrentRefreshExactlyOnce(t *testing.T) {
	for _, backend := range sqltest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			e := newEnvOn(t, backend)
			for _, client := range []string{"pub1", "conf1", "post1"} {
				rt, fam := e.refreshFor(client)
				winner := exactlyOnce(t, e.race(30, refreshForm(rt), e.as(client)))

				next, err := e.st.Refresh.Get(context.Background(), e.d.Digest(secret.PurposeRefresh, winner.RefreshToken))
				if err != nil || next.FamilyID != fam {
					t.Fatalf("the winner's refresh token is not in the family: %v", err)
				}
				e.refreshDead(client, winner.RefreshToken)
				e.denyListed(fam)
				wantError(t, e.token(refreshForm(rt), e.as(client)), http.StatusBadRequest, oauth.InvalidGrant)
			}
		})
	}
}

// staleCodes answers Get with the code as it was before its use: what a
// concurrent loser reads just before the winner consumes the code.
type staleCodes struct {
	valet.CodeStore
	stale atomic.Bool
}

func (s *staleCodes) Get(ctx context.Context, digest string, now time.Time) (*valet.AuthCode, error) {
	c, err := s.CodeStore.Get(ctx, digest, now)
	if err == nil && s.stale.Load() {
		c.UsedAt = time.Time{}
	}
	return c, err
}

// staleRefresh does the same for refresh tokens, and runs beforeCreate (when
// set) just before a refresh token is created.
type staleRefresh struct {
	valet.RefreshStore
	stale        atomic.Bool
	beforeCreate atomic.Pointer[func(*valet.RefreshToken)]
}

func (s *staleRefresh) Get(ctx context.Context, digest string) (*valet.RefreshToken, error) {
	t, err := s.RefreshStore.Get(ctx, digest)
	if err == nil && s.stale.Load() {
		t.UsedAt = time.Time{}
	}
	return t, err
}

func (s *staleRefresh) Create(ctx context.Context, t *valet.RefreshToken) error {
	if f := s.beforeCreate.Load(); f != nil {
		(*f)(t)
	}
	return s.RefreshStore.Create(ctx, t)
}

// TestCO02_LoserRevokesWinnersFamily pins the interleaving a race only
// sometimes produces: the loser reads the code unused, then loses Consume.
// It is a replay like any other and revokes the winner's tokens (pin P4).
func TestCO02_LoserRevokesWinnersFamily(t *testing.T) {
	codes := &staleCodes{}
	e := newEnv(t, func(st *valet.Store) { codes.CodeStore = st.Codes; st.Codes = codes })
	c := e.newCode("conf1")
	winner := e.redeem(c)

	codes.stale.Store(true)
	wantError(t, e.token(codeForm(c), e.as("conf1")), http.StatusBadRequest, oauth.InvalidGrant)
	codes.stale.Store(false)
	e.denyListed(c.code.FamilyID)
	e.refreshDead("conf1", winner.str("refresh_token"))
}

// TestCO02_ReplayBeforeRefreshTokenExists pins the other interleaving: a
// loser revokes the family after the winner consumed the code but before it
// stored the refresh token. The winner's token must not outlive the family.
func TestCO02_ReplayBeforeRefreshTokenExists(t *testing.T) {
	refresh := &staleRefresh{}
	e := newEnv(t, func(st *valet.Store) { refresh.RefreshStore = st.Refresh; st.Refresh = refresh })
	c := e.newCode("conf1")
	loser := func(rt *valet.RefreshToken) {
		// What the losing request's replay path does, in its order.
		if err := e.st.Revocations.Add(context.Background(), rt.FamilyID, time.Now().Add(time.Hour)); err != nil {
			panic(err)
		}
		if _, err := refresh.RefreshStore.RevokeFamily(context.Background(), rt.FamilyID, time.Now()); err != nil {
			panic(err)
		}
	}
	refresh.beforeCreate.Store(&loser)
	winner := e.redeem(c)
	refresh.beforeCreate.Store(nil)
	e.refreshDead("conf1", winner.str("refresh_token"))
}

// TestRT02_LoserRevokesFamily pins the refresh race's interleaving: the
// loser reads the token unused, then loses Rotate, and revokes the family.
func TestRT02_LoserRevokesFamily(t *testing.T) {
	refresh := &staleRefresh{}
	e := newEnv(t, func(st *valet.Store) { refresh.RefreshStore = st.Refresh; st.Refresh = refresh })
	rt, fam := e.refreshFor("pub1")
	next := e.refresh("pub1", rt).str("refresh_token")

	refresh.stale.Store(true)
	wantError(t, e.token(refreshForm(rt), public("pub1")), http.StatusBadRequest, oauth.InvalidGrant)
	refresh.stale.Store(false)
	e.refreshDead("pub1", next)
	e.denyListed(fam)
}
