package admin_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/valetauth/valet/internal/admin"
)

func TestGoClient(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	c := &admin.Client{BaseURL: e.url + "/", Token: testToken}

	reg, raw, err := c.CreateClient(ctx, admin.ClientMetadata{ClientName: "FriendFinder",
		RedirectURIs: []string{"https://friendfinder.example/cb"}, Scope: "contacts.read"})
	if err != nil {
		t.Fatal(err)
	}
	var fromRaw admin.ClientRegistration
	if err := json.Unmarshal(raw, &fromRaw); err != nil || !reflect.DeepEqual(&fromRaw, reg) || reg.ClientSecret == "" {
		t.Errorf("raw %s does not match the decoded %+v (%v)", raw, reg, err)
	}

	got, raw, err := c.GetClient(ctx, reg.ClientID)
	if err != nil || !reflect.DeepEqual(*got, reg.ClientMetadata) {
		t.Errorf("GetClient %+v, %v; want %+v", got, err, reg.ClientMetadata)
	}
	if m := members(t, raw); m["client_secret"] != nil {
		t.Errorf("GetClient raw carries the secret: %s", raw)
	}
	list, _, err := c.ListClients(ctx)
	if err != nil || len(list) != 1 || list[0].ClientID != reg.ClientID {
		t.Errorf("ListClients %+v, %v", list, err)
	}
	m := reg.ClientMetadata
	m.ClientName = "FriendFinder 2"
	if got, _, err := c.UpdateClient(ctx, reg.ClientID, m); err != nil || got.ClientName != "FriendFinder 2" {
		t.Errorf("UpdateClient %+v, %v", got, err)
	}
	if err := c.DeleteClient(ctx, reg.ClientID); err != nil {
		t.Errorf("DeleteClient: %v", err)
	}

	// Errors come back as *APIError with the server's code and description.
	_, _, err = c.CreateClient(ctx, admin.ClientMetadata{RedirectURIs: []string{"http://client.example/cb"}})
	var apiErr *admin.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Code != "invalid_redirect_uri" || apiErr.Description == "" {
		t.Errorf("invalid registration: %#v", err)
	}
	if _, _, err := c.GetClient(ctx, reg.ClientID); !errors.As(err, &apiErr) || apiErr.Status != 404 || apiErr.Code != "not_found" {
		t.Errorf("deleted client: %#v", err)
	}

	u, raw, err := c.CreateUser(ctx, admin.UserInput{Username: "ana", Password: "pw", Email: "ana@example.com"})
	if err != nil || u.Username != "ana" || !u.HasPassword {
		t.Fatalf("CreateUser %+v, %v", u, err)
	}
	found, rawFound, err := c.FindUser(ctx, "ana")
	if err != nil || !reflect.DeepEqual(found, u) || string(rawFound) != string(raw) {
		t.Errorf("FindUser %+v %s, %v; want %+v %s", found, rawFound, err, u, raw)
	}
	if _, _, err := c.FindUser(ctx, "nobody"); !errors.As(err, &apiErr) || apiErr.Status != 404 || apiErr.Code != "not_found" {
		t.Errorf("FindUser(nobody): %#v", err)
	}
	if got, _, err := c.GetUser(ctx, u.ID); err != nil || !reflect.DeepEqual(got, u) {
		t.Errorf("GetUser %+v, %v", got, err)
	}
	name := "Ana Lima"
	if got, _, err := c.UpdateUser(ctx, u.ID, admin.UserUpdate{Name: &name}); err != nil || got.Name != name || got.Email != u.Email {
		t.Errorf("UpdateUser %+v, %v", got, err)
	}
	if users, _, err := c.ListUsers(ctx); err != nil || len(users) != 1 {
		t.Errorf("ListUsers %+v, %v", users, err)
	}
	if err := c.DeleteUser(ctx, u.ID); err != nil {
		t.Errorf("DeleteUser: %v", err)
	}

	bad := &admin.Client{BaseURL: e.url, Token: "wrong"}
	if _, _, err := bad.ListUsers(ctx); !errors.As(err, &apiErr) || apiErr.Status != 401 || apiErr.Code != "invalid_token" {
		t.Errorf("wrong token: %#v", err)
	}
}

func TestGoClientNonJSONError(t *testing.T) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html><body>\n502 Bad Gateway</body></html>"))
	}))
	defer proxy.Close()
	c := &admin.Client{BaseURL: proxy.URL, Token: testToken}
	_, _, err := c.ListClients(t.Context())
	var apiErr *admin.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 502 || apiErr.Code != "" || apiErr.Description != "<html><body> 502 Bad Gateway</body></html>" {
		t.Errorf("%#v", err)
	}
}
