package grant_test

import (
	"strings"
	"testing"
	"time"
)

// TestConsentLastUsed: redeeming a code and rotating a refresh token each
// record the consent's last use, which the account page shows.
func TestConsentLastUsed(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	before := time.Now().Add(-time.Second)
	c, err := e.st.Consents.Get(ctx, userID, "conf1")
	if err != nil {
		t.Fatal(err)
	}
	if !c.LastUsedAt.IsZero() {
		t.Fatalf("a consent never used has LastUsedAt %v", c.LastUsedAt)
	}
	rt, _ := e.refreshFor("conf1")
	c, err = e.st.Consents.Get(ctx, userID, "conf1")
	if err != nil {
		t.Fatal(err)
	}
	redeemed := c.LastUsedAt
	if redeemed.Before(before) {
		t.Fatalf("after a code was redeemed, LastUsedAt = %v, want after %v", redeemed, before)
	}
	time.Sleep(2 * time.Millisecond)
	e.refresh("conf1", rt)
	c, err = e.st.Consents.Get(ctx, userID, "conf1")
	if err != nil {
		t.Fatal(err)
	}
	if !c.LastUsedAt.After(redeemed) {
		t.Fatalf("after a refresh, LastUsedAt = %v, want after %v", c.LastUsedAt, redeemed)
	}
}

// TestConsentTouchFailureIsLogged: "last used" is best effort; a store that
// cannot record it never fails the token request.
func TestConsentTouchFailureIsLogged(t *testing.T) {
	o := &outage{}
	e := newEnv(t, o.wrap)
	o.op.Store("Consents.Touch")
	rt, _ := e.refreshFor("conf1")
	e.refresh("conf1", rt)
	o.op.Store("")
	if n := strings.Count(e.logs.String(), "recording the consent's last use failed"); n != 2 {
		t.Fatalf("logged %d Touch failures, want 2 (code and refresh):\n%s", n, e.logs.String())
	}
}

// TestCodeAfterConsentWithdrawn: a code issued just before the person removed
// the app on the account page must not start a new grant afterwards.
func TestCodeAfterConsentWithdrawn(t *testing.T) {
	e := newEnv(t)
	c := e.newCode("conf1")
	if err := e.st.Consents.Delete(t.Context(), userID, "conf1"); err != nil {
		t.Fatal(err)
	}
	r := e.token(codeForm(c), e.as("conf1"))
	wantError(t, r, 400, "invalid_grant")
	if !strings.Contains(r.str("error_description"), "withdrawn") {
		t.Errorf("description %q does not say the consent was withdrawn", r.str("error_description"))
	}
}
