package admin_test

import (
	"encoding/json"
	"net/http"
	"reflect"
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
	for _, k := range []string{"id", "username", "email", "email_verified", "name", "claims", "created_at", "updated_at"} {
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
	if got := decode[admin.UserView](t, e.do("GET", "/admin/users/"+u.ID, nil), http.StatusOK); !reflect.DeepEqual(got, u) {
		t.Errorf("GET %+v, want %+v", got, u)
	}
	decode[admin.UserView](t, e.do("POST", "/admin/users", map[string]any{"username": "bo"}), http.StatusCreated)
	if l := decode[admin.UserList](t, e.do("GET", "/admin/users", nil), http.StatusOK); len(l.Users) != 2 || !reflect.DeepEqual(l.Users[0], u) || l.Users[1].Username != "bo" {
		t.Errorf("list %+v", l)
	}
	if l := decode[admin.UserList](t, e.do("GET", "/admin/users?username=ana", nil), http.StatusOK); len(l.Users) != 1 || !reflect.DeepEqual(l.Users[0], u) {
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
		if after, _ := e.store.Users.Get(t.Context(), u.ID); !reflect.DeepEqual(after, before) {
			t.Errorf("the refused update %v changed the user", body)
		}
	}
}

// TestUserEmailVerifiedAndClaims: email_verified and the custom claims go in
// on create and update, are stored as sent, numbers exact, and come back out.
func TestUserEmailVerifiedAndClaims(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	r := e.do("POST", "/admin/users", `{"username":"ana","email":"ana@example.com","email_verified":true,"claims":{`+
		`"employee_id":12345678901234567891,"score":1.50,"locale":"pt-BR","groups":["eng",{"lead":true}],"none":null,"html":"<b>&"}}`)
	u := decode[admin.UserView](t, r, http.StatusCreated)
	want := admin.Claims{"employee_id": json.Number("12345678901234567891"), "score": json.Number("1.50"), "locale": "pt-BR",
		"groups": []any{"eng", map[string]any{"lead": true}}, "none": nil, "html": "<b>&"}
	if !u.EmailVerified || !reflect.DeepEqual(u.Claims, want) {
		t.Errorf("created email_verified %v, claims %#v; want true, %#v", u.EmailVerified, u.Claims, want)
	}
	if m := members(t, r.body); !strings.Contains(string(m["claims"]), `"employee_id":12345678901234567891`) {
		t.Errorf("the answer rounds a large integer claim: %s", m["claims"])
	}
	stored, err := e.store.Users.Get(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !stored.EmailVerified || !reflect.DeepEqual(stored.Claims, map[string]any(want)) {
		t.Errorf("stored email_verified %v, claims %#v", stored.EmailVerified, stored.Claims)
	}
	if got := decode[admin.UserView](t, e.do("GET", "/admin/users/"+u.ID, nil), http.StatusOK); !reflect.DeepEqual(got, u) {
		t.Errorf("GET %+v, want %+v", got, u)
	}

	// A user without claims shows an empty object, and is not verified.
	r = e.do("POST", "/admin/users", map[string]any{"username": "bo", "email": "bo@example.com"})
	bo := decode[admin.UserView](t, r, http.StatusCreated)
	if m := members(t, r.body); string(m["claims"]) != "{}" || string(m["email_verified"]) != "false" {
		t.Errorf("user without claims: claims %s, email_verified %s", m["claims"], m["email_verified"])
	}
	if s, _ := e.store.Users.Get(ctx, bo.ID); s.Claims != nil || s.EmailVerified {
		t.Errorf("stored user without claims: %#v, email_verified %v", s.Claims, s.EmailVerified)
	}

	// A claims member replaces every claim; {} removes them all.
	put := func(body any) admin.UserView {
		t.Helper()
		return decode[admin.UserView](t, e.do("PUT", "/admin/users/"+u.ID, body), http.StatusOK)
	}
	if got := put(map[string]any{"claims": map[string]any{"locale": "en"}}); !reflect.DeepEqual(got.Claims, admin.Claims{"locale": "en"}) || !got.EmailVerified {
		t.Errorf("after a claims update: claims %#v, email_verified %v", got.Claims, got.EmailVerified)
	}
	if got := put(map[string]any{"name": "Ana"}); !reflect.DeepEqual(got.Claims, admin.Claims{"locale": "en"}) {
		t.Errorf("an update without claims changed them: %#v", got.Claims)
	}
	put(map[string]any{"claims": map[string]any{}})
	if s, _ := e.store.Users.Get(ctx, u.ID); len(s.Claims) != 0 {
		t.Errorf("claims {} left %#v", s.Claims)
	}

	// What was verified is an address: a new one is unverified unless the
	// update says otherwise.
	for _, tc := range []struct {
		body map[string]any
		want bool
	}{
		{map[string]any{"email": "ana@mail.example"}, false},
		{map[string]any{"email_verified": true}, true},
		{map[string]any{"email": "ana@mail.example"}, true}, // the same address
		{map[string]any{"email": "ana@new.example", "email_verified": true}, true},
		{map[string]any{"email_verified": false}, false},
	} {
		got := put(tc.body)
		if s, _ := e.store.Users.Get(ctx, u.ID); got.EmailVerified != tc.want || s.EmailVerified != tc.want {
			t.Errorf("after %v: email_verified %v, stored %v; want %v", tc.body, got.EmailVerified, s.EmailVerified, tc.want)
		}
	}
}

// TestInvalidClaimsStoreNothing: the limits on email_verified and claims,
// on create and update.
func TestInvalidClaimsStoreNothing(t *testing.T) {
	e := newEnv(t)
	many := map[string]any{}
	for i := range 51 {
		many[strings.Repeat("c", i+1)] = i
	}
	fifty := map[string]any{}
	for i := range 50 {
		fifty[strings.Repeat("c", i+1)] = i
	}
	// 8 KiB exactly: {"k":"..."} is 8 bytes around the value.
	exact := map[string]any{"k": strings.Repeat("a", 8<<10-8)}
	cases := []struct {
		name string
		body string
		ok   bool
	}{
		{"claims as string", `"locale"`, false},
		{"claims as array", `[{"locale":"en"}]`, false},
		{"claims as number", `7`, false},
		{"51 claims", mustJSON(t, many), false},
		{"over 8 KiB", mustJSON(t, map[string]any{"k": strings.Repeat("a", 8<<10-7)}), false},

		{"duplicate claim", `{"locale":"en","locale":"pt"}`, false},
		{"50 claims", mustJSON(t, fifty), true},
		{"8 KiB", mustJSON(t, exact), true},
		// The size is of the compact JSON: 12,000 bytes of escapes are 4,000 of UTF-8.
		{"escapes counted as UTF-8", `{"k":"` + strings.Repeat(`\u00e9`, 2000) + `"}`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"username":"u-` + strings.ReplaceAll(tc.name, " ", "-") + `","claims":` + tc.body + `}`
			r := e.do("POST", "/admin/users", body)
			if tc.ok {
				decode[admin.UserView](t, r, http.StatusCreated)
				return
			}
			if b := r.wantError(t, http.StatusBadRequest, "invalid_request"); !strings.Contains(b.Description, "claims") {
				t.Errorf("description %q does not name claims", b.Description)
			}
		})
	}
	e.do("POST", "/admin/users", map[string]any{"username": "x", "email_verified": true}).wantError(t, http.StatusBadRequest, "invalid_request")
	e.do("POST", "/admin/users", map[string]any{"username": "y", "email": "y@example.com", "email_verified": "yes"}).
		wantError(t, http.StatusBadRequest, "invalid_request")
	if l := decode[admin.UserList](t, e.do("GET", "/admin/users", nil), http.StatusOK); len(l.Users) != 3 {
		t.Errorf("%d users, want only the three valid ones", len(l.Users))
	}

	u := decode[admin.UserView](t, e.do("POST", "/admin/users", map[string]any{"username": "ana", "email": "ana@example.com",
		"email_verified": true, "claims": map[string]any{"locale": "en"}}), http.StatusCreated)
	before, _ := e.store.Users.Get(t.Context(), u.ID)
	for _, body := range []string{
		`{"claims":"locale"}`,
		`{"claims":` + mustJSON(t, many) + `}`,
		`{"name":"x","claims":` + mustJSON(t, map[string]any{"k": strings.Repeat("a", 8<<10)}) + `}`,
		`{"email":"","email_verified":true}`,
		`{"email_verified":1}`,
	} {
		e.do("PUT", "/admin/users/"+u.ID, body).wantError(t, http.StatusBadRequest, "invalid_request")
		if after, _ := e.store.Users.Get(t.Context(), u.ID); !reflect.DeepEqual(after, before) {
			t.Errorf("the refused update %s changed the user: %+v", body, after)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
