package storetest

import (
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// The fixtures below are plain, valid values; fill makes the exhaustive ones.

func newClient(id string, created time.Time) *valet.Client {
	return &valet.Client{
		ID:                      id,
		SecretDigest:            "secret-digest-" + id,
		Name:                    "Client " + id,
		RedirectURIs:            []string{"https://" + id + ".example/callback"},
		GrantTypes:              []string{valet.GrantAuthorizationCode, valet.GrantRefreshToken},
		ResponseTypes:           []string{"code"},
		Scopes:                  []string{"openid", "profile"},
		TokenEndpointAuthMethod: valet.AuthSecretBasic,
		CreatedAt:               created,
		UpdatedAt:               created,
	}
}

func newUser(id, username string, created time.Time) *valet.User {
	return &valet.User{
		ID:           id,
		Username:     username,
		Email:        username + "@example.com",
		Name:         "User " + username,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		CreatedAt:    created,
		UpdatedAt:    created,
	}
}

func newSession(id, userID string, now time.Time) *valet.Session {
	return &valet.Session{ID: id, SID: "sid-" + id, UserID: userID, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
}

func newCode(digest, clientID, userID string, now time.Time) *valet.AuthCode {
	return &valet.AuthCode{
		Digest:              digest,
		FamilyID:            "family-" + digest,
		ClientID:            clientID,
		UserID:              userID,
		RedirectURI:         "https://" + clientID + ".example/callback",
		Scopes:              []string{"openid"},
		Resources:           []string{"https://api.example"},
		Nonce:               "nonce",
		SessionID:           "sid-session",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		AuthTime:            now,
		CreatedAt:           now,
		ExpiresAt:           now.Add(10 * time.Minute),
	}
}

func newRefresh(digest, familyID, clientID, userID string, now time.Time) *valet.RefreshToken {
	return &valet.RefreshToken{
		Digest:    digest,
		FamilyID:  familyID,
		ClientID:  clientID,
		UserID:    userID,
		Scopes:    []string{"openid", "offline_access"},
		Resources: []string{"https://api.example"},
		AuthTime:  now,
		CreatedAt: now,
		ExpiresAt: now.Add(24 * time.Hour),
	}
}

func newKey(id, algorithm string, created time.Time) *valet.SigningKey {
	return &valet.SigningKey{
		ID:        id,
		Algorithm: algorithm,
		Sealed:    []byte("sealed-" + id),
		Public:    []byte(`{"kid":"` + id + `"}`),
		CreatedAt: created,
		NotBefore: created.Add(time.Hour),
	}
}

// seed creates a client "client-1" and a user "user-1" for the aggregates
// that refer to them.
func seed(t *testing.T, st valet.Store) (*valet.Client, *valet.User) {
	t.Helper()
	c, u := newClient("client-1", t0), newUser("user-1", "ana", t0)
	ok(t, "create client", st.Clients.Create(t.Context(), c))
	ok(t, "create user", st.Users.Create(t.Context(), u))
	return c, u
}

// now returns the wall clock at microsecond precision, for sessions, whose
// expiry Get checks against the real clock.
func now() time.Time { return time.Now().Truncate(time.Microsecond).In(zone) }
