package valet

import "time"

// Session is a signed-in browser. ID is the keyed digest of the cookie value,
// so a database dump yields no usable cookie.
type Session struct {
	ID string
	// SID is the public session identifier: the "sid" claim of ID tokens
	// and logout tokens (OpenID Connect Back-Channel Logout §2.4). It is
	// random and unrelated to the cookie.
	SID       string
	UserID    string
	AuthTime  time.Time // when the person last entered their password
	CreatedAt time.Time
	ExpiresAt time.Time
}
