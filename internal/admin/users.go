package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/oauth"
	"github.com/valetauth/valet/internal/secret"
)

// createUser adds a person who can sign in. The password is hashed with
// argon2id here and never stored, logged or returned.
func (h *Handler) createUser(w http.ResponseWriter, r *http.Request) {
	var in UserInput
	if err := decodeBody(w, r, oauth.InvalidRequest, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkClaims(in.Claims); err != nil {
		h.fail(w, r, err)
		return
	}
	now := h.now()
	u := &valet.User{ID: newID(), Username: in.Username, Email: in.Email, EmailVerified: in.EmailVerified,
		Name: in.Name, Claims: in.Claims, CreatedAt: now, UpdatedAt: now}
	if err := validateUser(u); err != nil {
		h.fail(w, r, err)
		return
	}
	hash, err := hashPassword(in.Password)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	u.PasswordHash = hash
	if err := h.Users.Create(r.Context(), u); err != nil {
		if errors.Is(err, valet.ErrExists) {
			err = oauth.Errorf(oauth.Conflict, "username: %q is taken; choose another", u.Username)
		}
		h.fail(w, r, err)
		return
	}
	h.log().InfoContext(r.Context(), "admin: user created", "user_id", u.ID, "has_password", hash != "")
	oauth.WriteJSONValue(w, http.StatusCreated, viewUser(u))
}

// listUsers lists every user, or with ?username=U only the user named U (an
// empty list when there is none), which is how the CLI resolves names.
func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request) {
	out := UserList{Users: []UserView{}}
	if q := r.URL.Query(); q.Has("username") {
		u, err := h.Users.GetByUsername(r.Context(), q.Get("username"))
		switch {
		case errors.Is(err, valet.ErrNotFound):
		case err != nil:
			h.fail(w, r, err)
			return
		default:
			out.Users = append(out.Users, viewUser(u))
		}
		oauth.WriteJSONValue(w, http.StatusOK, out)
		return
	}
	us, err := h.Users.List(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, u := range us {
		out.Users = append(out.Users, viewUser(u))
	}
	oauth.WriteJSONValue(w, http.StatusOK, out)
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	u, err := h.Users.Get(r.Context(), id)
	if err != nil {
		h.fail(w, r, storeError(err, "user", id))
		return
	}
	oauth.WriteJSONValue(w, http.StatusOK, viewUser(u))
}

// updateUser changes only the members present in the body.
func (h *Handler) updateUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var in UserUpdate
	if err := decodeBody(w, r, oauth.InvalidRequest, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if in.Claims != nil {
		if err := checkClaims(*in.Claims); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	// Hash before the store's read-modify-write: argon2id takes tens of
	// milliseconds that no database transaction should wait for.
	var hash string
	if in.Password != nil {
		var err error
		if hash, err = hashPassword(*in.Password); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	var updated valet.User
	err := h.Users.Update(r.Context(), id, func(u *valet.User) error {
		if in.Username != nil {
			u.Username = *in.Username
		}
		if in.Email != nil && *in.Email != u.Email {
			// What was verified was the old address.
			u.Email, u.EmailVerified = *in.Email, false
		}
		if in.EmailVerified != nil {
			u.EmailVerified = *in.EmailVerified
		}
		if in.Name != nil {
			u.Name = *in.Name
		}
		if in.Claims != nil {
			u.Claims = *in.Claims
		}
		if in.Password != nil {
			u.PasswordHash = hash
		}
		if err := validateUser(u); err != nil {
			return err
		}
		u.UpdatedAt = h.now()
		updated = *u
		return nil
	})
	if errors.Is(err, valet.ErrExists) && in.Username != nil {
		err = oauth.Errorf(oauth.Conflict, "username: %q is taken; choose another", *in.Username)
	}
	if err != nil {
		h.fail(w, r, storeError(err, "user", id))
		return
	}
	h.log().InfoContext(r.Context(), "admin: user updated", "user_id", id, "password_changed", in.Password != nil)
	oauth.WriteJSONValue(w, http.StatusOK, viewUser(&updated))
}

func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := h.Users.Delete(r.Context(), id); err != nil {
		h.fail(w, r, storeError(err, "user", id))
		return
	}
	h.log().InfoContext(r.Context(), "admin: user deleted", "user_id", id)
	w.WriteHeader(http.StatusNoContent)
}

// validateUser checks u's visible fields, and that a verified email is there.
func validateUser(u *valet.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	if u.EmailVerified && u.Email == "" {
		return oauth.Errorf(oauth.InvalidRequest, "email_verified: the user has no email to be verified; send an email too")
	}
	return nil
}

// Limits on a user's custom claims, which travel in every ID token and
// userinfo answer that releases them.
const (
	maxClaims     = 50
	maxClaimsJSON = 8 << 10
)

// checkClaims refuses claims with more than maxClaims members or more than
// maxClaimsJSON bytes of compact JSON.
func checkClaims(c Claims) error {
	if len(c) > maxClaims {
		return oauth.Errorf(oauth.InvalidRequest, "claims: at most %d members, not %d", maxClaims, len(c))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // count "<" as one byte, as it was sent
	if err := enc.Encode(map[string]any(c)); err != nil {
		return oauth.Errorf(oauth.InvalidRequest, "claims: must be a JSON object: %v", err)
	}
	if n := b.Len() - 1; n > maxClaimsJSON { // Encode adds a newline
		return oauth.Errorf(oauth.InvalidRequest, "claims: at most %d bytes of JSON, not %d", maxClaimsJSON, n)
	}
	return nil
}

// hashPassword returns the argon2id hash of password, or "" for an empty
// password: a user who cannot sign in with a password.
func hashPassword(password string) (string, error) {
	if password == "" {
		return "", nil
	}
	hash, err := secret.HashPassword(password)
	if errors.Is(err, secret.ErrPasswordTooLong) {
		return "", oauth.Errorf(oauth.InvalidRequest, "password: must be at most 1024 bytes")
	}
	return hash, err
}
