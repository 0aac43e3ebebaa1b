package valet

import (
	"net/mail"
	"strings"
	"time"
	"unicode"
)

// User is a person who signs in at Valet and grants apps access.
type User struct {
	ID       string
	Username string
	Email    string
	// EmailVerified is the OpenID Connect email_verified claim: set by the
	// operator once the address is known to belong to the person.
	EmailVerified bool
	Name          string
	// Claims are extra claims about the person (for example "locale" or
	// "department") that the configured custom-claims mapping releases to
	// apps by scope. Values are JSON values.
	Claims map[string]any
	// PasswordHash is an argon2id hash in PHC string form; empty means the
	// user cannot sign in with a password.
	PasswordHash string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Validate checks the user's visible fields.
func (u *User) Validate() error {
	if u.Username == "" || len(u.Username) > 64 {
		return invalid("invalid_request", "username", "must be between 1 and 64 characters")
	}
	for _, r := range u.Username {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '/' || r == '\\' {
			return invalid("invalid_request", "username", "must not contain spaces, control characters or slashes")
		}
	}
	if u.Email != "" {
		a, err := mail.ParseAddress(u.Email)
		if err != nil || a.Address != u.Email || len(u.Email) > 254 {
			return invalid("invalid_request", "email", "%q is not a plain e-mail address like ana@example.com", u.Email)
		}
	}
	if len(u.Name) > 200 || strings.ContainsFunc(u.Name, isControl) {
		return invalid("invalid_request", "name", "must be at most 200 characters without control characters")
	}
	return nil
}
