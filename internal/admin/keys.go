package admin

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/keys"
	"github.com/valetauth/valet/internal/oauth"
)

// KeyLister lists the signing keys; valet.KeyStore implements it. The admin
// API reads the store rather than a node's keyring, so every node answers
// the same.
type KeyLister interface {
	List(ctx context.Context) ([]*valet.SigningKey, error)
}

// Rotator replaces signing keys; *keys.Ring implements it. Both methods
// reload the node's keyring before they return.
type Rotator interface {
	// Rotate publishes a new key of alg that signs after the pre-publication
	// interval (with force, whatever the age of the current key).
	Rotate(ctx context.Context, alg string, force bool) (bool, error)
	// RotateNow makes a new key of alg sign at once and removes every other
	// key of alg from the JWKS: the tokens they signed stop verifying.
	RotateNow(ctx context.Context, alg string) error
}

// Key states, as KeyView.Status reports them.
const (
	KeyPending   = "pending"   // published; signs from not_before
	KeySigning   = "signing"   // signs new tokens of its algorithm
	KeyVerifying = "verifying" // published so that tokens it signed verify; signs no more
	KeyRemoved   = "removed"   // no longer published; the janitor deletes it
)

// listKeys answers GET /admin/keys: each key's ID, algorithm, times and
// state, never its sealed private half nor even its public JWK.
func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request) {
	list, err := h.keyViews(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	oauth.WriteJSONValue(w, http.StatusOK, KeyList{Keys: list})
}

// rotateKeys answers POST /admin/keys/rotate. Without "now" every chosen
// algorithm gets a new key that is published at once and signs after the
// pre-publication interval; the old one stays published until the tokens
// it signed have expired. With "now" the new key signs at once and the old
// keys leave the JWKS, so every token they signed fails verification: that
// is for a key that may have leaked (catalogue R6, emergency rotation).
func (h *Handler) rotateKeys(w http.ResponseWriter, r *http.Request) {
	var in KeyRotateInput
	if err := decodeBody(w, r, oauth.InvalidRequest, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	algs := keys.Algorithms
	if in.Algorithm != "" {
		if !slices.Contains(keys.Algorithms, in.Algorithm) {
			h.fail(w, r, oauth.Errorf(oauth.InvalidRequest, "algorithm: %q is not a signing algorithm of this server; use %s, or leave it out for all", in.Algorithm, strings.Join(keys.Algorithms, " or ")))
			return
		}
		algs = []string{in.Algorithm}
	}
	out := KeyRotation{Rotated: []string{}, Now: in.Now}
	for _, alg := range algs {
		if in.Now {
			if err := h.Rotator.RotateNow(r.Context(), alg); err != nil {
				h.fail(w, r, err)
				return
			}
			h.log().WarnContext(r.Context(), "admin: signing key replaced at once; tokens signed by the old keys no longer verify", "alg", alg)
			out.Rotated = append(out.Rotated, alg)
			continue
		}
		rotated, err := h.Rotator.Rotate(r.Context(), alg, true)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if rotated {
			h.log().InfoContext(r.Context(), "admin: signing key rotation started", "alg", alg)
			out.Rotated = append(out.Rotated, alg)
		}
	}
	list, err := h.keyViews(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out.Keys = list
	oauth.WriteJSONValue(w, http.StatusOK, out)
}

// keyViews lists every key with its state now.
func (h *Handler) keyViews(ctx context.Context) ([]KeyView, error) {
	ks, err := h.Keys.List(ctx)
	if err != nil {
		return nil, err
	}
	now := h.now()
	signing := map[string]bool{} // algorithms whose signing key was seen
	out := make([]KeyView, 0, len(ks))
	for _, k := range ks { // newest first, as the keyring reads them
		v := KeyView{ID: k.ID, Algorithm: k.Algorithm, CreatedAt: k.CreatedAt.UTC(), NotBefore: k.NotBefore.UTC(),
			RetiredAt: timeOrNil(k.RetiredAt), RemoveAt: timeOrNil(k.RemoveAt)}
		switch {
		case !k.RemoveAt.IsZero() && !now.Before(k.RemoveAt):
			v.Status = KeyRemoved
		case !k.RetiredAt.IsZero() && !now.Before(k.RetiredAt):
			v.Status = KeyVerifying
		case k.NotBefore.After(now):
			v.Status = KeyPending
		case !signing[k.Algorithm]: // the newest usable key signs (keys.Ring)
			v.Status = KeySigning
			signing[k.Algorithm] = true
		default:
			v.Status = KeyVerifying
		}
		out = append(out, v)
	}
	return out, nil
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
