package valet

import (
	"slices"
	"time"
)

// Consent records that a user let a client use some scopes ("FriendFinder may
// read your contacts").
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
	// LastUsedAt is when the client last redeemed a code or refreshed a
	// token under this consent; zero when it never has. The account page
	// shows it, so a person can spot an app they no longer use.
	LastUsedAt time.Time
}

// Covers reports whether the consent already includes every scope asked for;
// a request for more scopes asks the person again.
func (c *Consent) Covers(scopes []string) bool {
	for _, s := range scopes {
		if !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	return true
}
