package valet

import "time"

// Session is a signed-in browser. ID is the keyed digest of the cookie value,
// so a database dump yields no usable cookie.
type Session struct {
	ID        string
	UserID    string
	AuthTime  time.Time // when the person last entered their password
	CreatedAt time.Time
	ExpiresAt time.Time
}
