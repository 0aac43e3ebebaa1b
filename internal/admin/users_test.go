package admin_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/valetauth/valet/internal/admin"
	"github.com/valetauth/valet/internal/secret"
)

func TestUserLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	const pw = "correct horse battery staple"

	r := e.do("POST", "/admin/users", map[string]any{"username": "ana", "password": pw, "email": "ana@example.com", "name": "Ana Lima"})
	u := decode[admin.UserView](t, r, http.StatusCreated)
	if u.ID == "" || u.Username != "ana" || u.Email != "ana@example.com" || u.Name != "Ana Lima" || !u.HasPassword || u.CreatedAt.IsZero() {
		t.Errorf("created %+v", u)
	}
	m := members(t, r.body)
	for _, k := range []string{"id", "username", "email", "name", "created_at", "updated_at"} {
		if _, ok := m[k]; !ok {
			t.Errorf("the answer lacks %q: %s", k, r.body)
		}
	}
	if _, ok := m["password"]; ok || strings.Contains(string(r.body), pw) || strings.Contains(string(r.body), "argon2") {
		t.Errorf("the answer reveals the password or its hash: %s", r.body)
	}
	stored, err := e.store.Users.Get(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored.PasswordHash, "$argon2id$") || !secret.CheckPassword(stored.PasswordHash, pw) {
		t.Errorf("stored hash %q does not check the password", stored.PasswordHash)
	}

	// The username is unique.
	e.do("POST", "/admin/users", map[string]any{"username": "ana", "password": "other"}).wantError(t, http.StatusConflict, "conflict")

	// GET, list, and list by username.
	if got := decode[admin.UserView](t, e.do("GET", "/admin/users/"+u.ID, nil), http.StatusOK); got != u {
		t.Errorf("GET %+v, want %+v", got, u)
	}
	decode[admin.UserView](t, e.do("POST", "/admin/users", map[string]any{"username": "bo"}), http.StatusCreated)
	if l := decode[admin.UserList](t, e.do("GET", "/admin/users", nil), http.StatusOK); len(l.Users) != 2 || l.Users[0] != u || l.Users[1].Username != "bo" {
		t.Errorf("list %+v", l)
	}
	if l := decode[admin.UserList](t, e.do("GET", "/admin/users?username=ana", nil), http.StatusOK); len(l.Users) != 1 || l.Users[0] != u {
		t.Errorf("list ?username=ana %+v", l)
	}
	r = e.do("GET", "/admin/users?username=nobody", nil)
	if l := decode[admin.UserList](t, r, http.StatusOK); l.Users == nil || len(l.Users) != 0 || !strings.Contains(string(r.body), `"users":[]`) {
		t.Errorf("list ?username=nobody %s", r.body)
	}

	// PUT changes only what is present.
	got := decode[admin.UserView](t, e.do("PUT", "/admin/users/"+u.ID, map[string]any{"email": "ana@mail.example"}), http.StatusOK)
	if got.Email != "ana@mail.example" || got.Name != "Ana Lima" || got.Username != "ana" || !got.HasPassword {
		t.Errorf("after email update %+v", got)
	}
	if s, _ := e.store.Users.Get(ctx, u.ID); s.PasswordHash != stored.PasswordHash {
		t.Error("an update without password changed the hash")
	}

	// A new password is hashed afresh; the old one stops working.
	const pw2 = "a different passphrase"
	r = e.do("PUT", "/admin/users/"+u.ID, map[string]any{"password": pw2})
	decode[admin.UserView](t, r, http.StatusOK)
	if strings.Contains(string(r.body), pw2) {
		t.Errorf("the answer reveals the password: %s", r.body)
	}
	changed, _ := e.store.Users.Get(ctx, u.ID)
	if changed.PasswordHash == stored.PasswordHash || !secret.CheckPassword(changed.PasswordHash, pw2) || secret.CheckPassword(changed.PasswordHash, pw) {
		t.Errorf("after passwd: hash changed %v", changed.PasswordHash != stored.PasswordHash)
	}

	// An empty password removes it.
	if got := decode[admin.UserView](t, e.do("PUT", "/admin/users/"+u.ID, map[string]any{"password": ""}), http.StatusOK); got.HasPassword {
		t.Error("an empty password left has_password true")
	}
	if s, _ := e.store.Users.Get(ctx, u.ID); s.PasswordHash != "" {
		t.Errorf("an empty password stored hash %q", s.PasswordHash)
	}

	// Renaming to a taken username is a conflict, and changes nothing.
	e.do("PUT", "/admin/users/"+u.ID, map[string]any{"username": "bo", "name": "x"}).wantError(t, http.StatusConflict, "conflict")
	if s, _ := e.store.Users.Get(ctx, u.ID); s.Username != "ana" || s.Name != "Ana Lima" {
		t.Errorf("the refused rename changed the user: %+v", s)
	}

	if r := e.do("DELETE", "/admin/users/"+u.ID, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	e.do("GET", "/admin/users/"+u.ID, nil).wantError(t, http.StatusNotFound, "not_found")
	e.noLeak(pw, pw2, stored.PasswordHash)
}

func TestUnknownUser(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/admin/users/nobody", nil).wantError(t, http.StatusNotFound, "not_found")
	e.do("PUT", "/admin/users/nobody", map[string]any{"name": "x"}).wantError(t, http.StatusNotFound, "not_found")
	e.do("DELETE", "/admin/users/nobody", nil).wantError(t, http.StatusNotFound, "not_found")
}

func TestInvalidUsersStoreNothing(t *testing.T) {
	e := newEnv(t)
	cases := []refusal{
		{"no username", map[string]any{"password": "x"}, 400, "invalid_request"},
		{"space in username", map[string]any{"username": "ana lima"}, 400, "invalid_request"},
		{"bad email", map[string]any{"username": "ana", "email": "Ana <ana@example.com>"}, 400, "invalid_request"},
		{"long password", map[string]any{"username": "ana", "password": strings.Repeat("p", 1025)}, 400, "invalid_request"},
		{"unknown member", map[string]any{"username": "ana", "password_hash": "$argon2id$..."}, 400, "invalid_request"},
		{"duplicate member", `{"username":"ana","password":"a","password":"b"}`, 400, "invalid_request"},
		{"number as username", `{"username":7}`, 400, "invalid_request"},
		{"trailing garbage", `{"username":"ana"}]`, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.do("POST", "/admin/users", tc.body).wantError(t, tc.status, tc.code)
		})
	}
	if l := decode[admin.UserList](t, e.do("GET", "/admin/users", nil), http.StatusOK); len(l.Users) != 0 {
		t.Errorf("refused creations stored %+v", l.Users)
	}

	u := decode[admin.UserView](t, e.do("POST", "/admin/users", map[string]any{"username": "ana", "password": "pw"}), http.StatusCreated)
	before, _ := e.store.Users.Get(t.Context(), u.ID)
	for _, body := range []any{
		map[string]any{"password": strings.Repeat("p", 1025)},
		map[string]any{"username": ""},
		map[string]any{"email": "not an address", "password": "new"},
		`{"name":"a","name":"b"}`,
	} {
		e.do("PUT", "/admin/users/"+u.ID, body).wantError(t, http.StatusBadRequest, "invalid_request")
		if after, _ := e.store.Users.Get(t.Context(), u.ID); *after != *before {
			t.Errorf("the refused update %v changed the user", body)
		}
	}
}
