package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/valetauth/valet"
)

// PairwisePurpose is the purpose whose derived key makes pairwise subjects:
// wire Subjects.PairwiseKey as secret.Digester.Key(PairwisePurpose).
const PairwisePurpose = "pairwise"

// Subjects computes the "sub" a client is told about a person, in ID tokens
// and at UserInfo (OpenID Connect Core §8): the user ID for clients of
// subject_type "public", and for "pairwise" clients a value that differs
// per sector, so that two apps cannot match their users up.
//
// Access tokens keep the user ID as their sub whatever the client's type:
// introspection, revocation and UserInfo look the person up by it, and
// resource servers are not the relying party pairwise subjects protect
// against. UserInfo translates it through Subjects, so that its sub equals
// the ID token's (Core §5.3.2: the sub "MUST" match).
type Subjects struct {
	// PairwiseKey keys the HMAC of pairwise subjects. It is derived from
	// the server secret, so the subjects stay the same across restarts and
	// nodes, and change only if that secret does.
	PairwiseKey []byte
}

// For returns the subject client c sees for the user userID. A pairwise
// subject is base64url(HMAC-SHA-256(PairwiseKey, sector + 0x00 + userID)),
// Core §8.1's hash of sector identifier and local account ID with a secret
// only Valet knows; the NUL keeps "a.example"+"b" and "a.exampleb"+"" apart.
// The sector is the host of the client's redirect URIs
// (valet.Client.SectorIdentifier), so the clients of one sector share
// subjects and moving a client to another host changes every one of them.
func (s Subjects) For(c *valet.Client, userID string) (string, error) {
	switch c.SubjectType {
	case "", "public":
		return userID, nil
	case "pairwise":
		if len(s.PairwiseKey) < 32 {
			// An empty or short key would make subjects anyone can compute
			// and correlate: that is the very thing pairwise prevents.
			return "", errors.New("token: pairwise subjects need a 32-byte PairwiseKey")
		}
		sector, err := c.SectorIdentifier()
		if err != nil {
			return "", fmt.Errorf("token: client %q: %w", c.ID, err)
		}
		m := hmac.New(sha256.New, s.PairwiseKey)
		m.Write([]byte(sector))
		m.Write([]byte{0})
		m.Write([]byte(userID))
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
	default:
		return "", fmt.Errorf("token: client %q has unknown subject_type %q", c.ID, c.SubjectType)
	}
}
