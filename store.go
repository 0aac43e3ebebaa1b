package valet

import (
	"context"
	"errors"
	"time"
)

// Errors every store returns for the two expected failures. Callers test them
// with errors.Is; any other error is unexpected (a database outage, say).
var (
	ErrNotFound = errors.New("valet: not found")
	ErrExists   = errors.New("valet: already exists")
)

// Store is everything the server persists, one field per aggregate. Every
// method is atomic on its own; no transaction ever spans two calls. The
// security invariants are single primitives named for what they guarantee:
// Codes.Consume, Refresh.Rotate and Keys.CreateFirst.
type Store struct {
	Clients     ClientStore
	Users       UserStore
	Sessions    SessionStore
	Consents    ConsentStore
	Codes       CodeStore
	Refresh     RefreshStore
	Access      AccessTokenStore
	Revocations RevocationStore
	Replays     ReplayStore
	Keys        KeyStore
	// Ping reports whether the database answers (GET /readyz).
	Ping func(ctx context.Context) error
}

// ClientStore keeps registered clients.
type ClientStore interface {
	Create(ctx context.Context, c *Client) error         // ErrExists when the ID is taken
	Get(ctx context.Context, id string) (*Client, error) // ErrNotFound
	List(ctx context.Context) ([]*Client, error)         // ordered by creation time, oldest first
	// Update reads the client, lets fn change it and writes it back, atomically.
	// fn's error aborts the update and is returned as is.
	Update(ctx context.Context, id string, fn func(*Client) error) error
	Delete(ctx context.Context, id string) error // ErrNotFound
}

// UserStore keeps the people who sign in. Usernames are unique.
type UserStore interface {
	Create(ctx context.Context, u *User) error // ErrExists when the ID or username is taken
	Get(ctx context.Context, id string) (*User, error)
	GetByUsername(ctx context.Context, username string) (*User, error)
	List(ctx context.Context) ([]*User, error) // ordered by creation time, oldest first
	// Update is an atomic read-modify-write; ErrExists if the new username is taken.
	Update(ctx context.Context, id string, fn func(*User) error) error
	Delete(ctx context.Context, id string) error
}

// SessionStore keeps signed-in browsers, under the digest of the cookie value.
type SessionStore interface {
	Create(ctx context.Context, s *Session) error
	Get(ctx context.Context, id string) (*Session, error) // ErrNotFound, also once expired
	Delete(ctx context.Context, id string) error          // deleting an unknown session is not an error
	DeleteByUser(ctx context.Context, userID string) (int, error)
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
}

// ConsentStore remembers which scopes a user granted to a client.
type ConsentStore interface {
	Get(ctx context.Context, userID, clientID string) (*Consent, error)
	Put(ctx context.Context, c *Consent) error // insert or replace
	ListByUser(ctx context.Context, userID string) ([]*Consent, error)
	Delete(ctx context.Context, userID, clientID string) error // ErrNotFound
	// Touch records that the client used the consent at at (a code redeemed,
	// a refresh token rotated). It keeps the later time and is a no-op, not
	// an error, when there is no such consent.
	Touch(ctx context.Context, userID, clientID string, at time.Time) error
}

// CodeStore keeps authorization codes under the digest of their value.
type CodeStore interface {
	Create(ctx context.Context, c *AuthCode) error
	// Get returns the code, used or not, without changing it; ErrNotFound
	// for an unknown or expired code (expired at now).
	Get(ctx context.Context, digest string, now time.Time) (*AuthCode, error)
	// Consume marks the code used at now and returns it. first reports whether
	// this call used it: of any number of concurrent calls with one digest,
	// exactly one sees first == true; the others see the used code and false.
	// An unknown or expired code returns ErrNotFound.
	Consume(ctx context.Context, digest string, now time.Time) (c *AuthCode, first bool, err error)
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
}

// RefreshStore keeps refresh tokens, each one link of a rotation family.
type RefreshStore interface {
	Create(ctx context.Context, t *RefreshToken) error
	// Get returns the token under digest, including used and revoked ones;
	// ErrNotFound when unknown.
	Get(ctx context.Context, digest string) (*RefreshToken, error)
	// Rotate marks oldDigest used at next.CreatedAt and inserts next, in one
	// transaction. It returns false, and inserts nothing, when oldDigest is
	// unknown, already used, revoked or expired. Of concurrent calls on one
	// digest exactly one returns true.
	Rotate(ctx context.Context, oldDigest string, next *RefreshToken) (ok bool, err error)
	// RevokeFamily marks every token of the family revoked at now; it returns
	// how many tokens it changed.
	RevokeFamily(ctx context.Context, familyID string, now time.Time) (int, error)
	// RevokeFor revokes every token a user granted a client ("remove this app")
	// and returns the family IDs it touched.
	RevokeFor(ctx context.Context, userID, clientID string, now time.Time) ([]string, error)
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
}

// AccessTokenStore keeps opaque access tokens under the keyed digest of their
// value. JWT access tokens are not stored: they verify on their own, and the
// RevocationStore says when one stops early.
type AccessTokenStore interface {
	// Create stores t; ErrNotFound when its client does not exist. A taken
	// digest is never overwritten: Create returns ErrExists, except where
	// it answers before the row is inserted (SQLite's journal), when a
	// digest already in the table is refused only by the insert that
	// follows. Digests are keyed hashes of 256 random bits: a taken one is
	// a caller's bug, never a second token.
	Create(ctx context.Context, t *AccessToken) error
	// Get returns the token under digest; ErrNotFound when unknown. Expired
	// tokens may still be returned until DeleteExpired removes them: callers
	// check ExpiresAt.
	Get(ctx context.Context, digest string) (*AccessToken, error)
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
}

// RevocationStore is a shared deny-list of token identifiers (a JWT's jti or
// a grant family) that must stop working before they expire on their own.
type RevocationStore interface {
	// Add records id as revoked until expiresAt; adding it again keeps the later expiry.
	Add(ctx context.Context, id string, expiresAt time.Time) error
	// AnyRevoked reports whether any of ids is on the list.
	AnyRevoked(ctx context.Context, ids ...string) (bool, error)
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
}

// ReplayStore remembers one-time values (a submitted consent form, and later
// a client assertion's or DPoP proof's jti) across every node, so that each
// is accepted once.
type ReplayStore interface {
	// Use records key until expiresAt and reports whether this call was the
	// first to use it: of any number of concurrent calls exactly one sees true.
	Use(ctx context.Context, key string, expiresAt time.Time) (first bool, err error)
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
}

// KeyStore keeps the signing keys, private halves sealed.
type KeyStore interface {
	Create(ctx context.Context, k *SigningKey) error
	// CreateFirst inserts k only if no key of k.Algorithm exists, atomically
	// across every node sharing the database; it reports whether k was inserted.
	CreateFirst(ctx context.Context, k *SigningKey) (bool, error)
	List(ctx context.Context) ([]*SigningKey, error) // newest first
	// Retire stops a key from signing at at; it stays published until removeAt.
	Retire(ctx context.Context, id string, at, removeAt time.Time) error
	// Rotate inserts next and retires every other unretired key of
	// next.Algorithm at next.NotBefore (published until removeAt), in one
	// step that is atomic across nodes, but only when the newest key of that
	// algorithm was created before createdBefore; otherwise it changes
	// nothing and returns false. Scheduled rotation on many nodes thus makes
	// one new key; a forced rotation passes a createdBefore in the future.
	Rotate(ctx context.Context, next *SigningKey, removeAt, createdBefore time.Time) (bool, error)
	// DeleteExpired removes keys whose RemoveAt has passed.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
}
