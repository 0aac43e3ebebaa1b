package admin_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/admin"
)

// errDown is what a database that went away returns.
var errDown = errors.New("dial tcp 10.0.0.7:5432: connection refused")

// downClients is a client store whose database is gone.
type downClients struct{}

func (downClients) Create(context.Context, *valet.Client) error                     { return errDown }
func (downClients) Get(context.Context, string) (*valet.Client, error)              { return nil, errDown }
func (downClients) List(context.Context) ([]*valet.Client, error)                   { return nil, errDown }
func (downClients) Delete(context.Context, string) error                            { return errDown }
func (downClients) Update(context.Context, string, func(*valet.Client) error) error { return errDown }

func TestStoreFailureIsLoggedNotSent(t *testing.T) {
	e := newEnv(t)
	logs := &syncBuffer{}
	e.url = serve(t, &admin.Handler{Clients: downClients{}, Users: e.store.Users, Digester: e.digester, Token: testToken,
		Log: newTextLogger(logs)})
	for _, rq := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/admin/clients", nil},
		{"POST", "/admin/clients", friendFinder()},
		{"GET", "/admin/clients/abc", nil},
		{"PUT", "/admin/clients/abc", friendFinder()},
		{"DELETE", "/admin/clients/abc", nil},
	} {
		r := e.do(rq.method, rq.path, rq.body)
		r.wantError(t, http.StatusInternalServerError, "server_error")
		if strings.Contains(string(r.body), "10.0.0.7") {
			t.Errorf("%s %s sent the cause: %s", rq.method, rq.path, r.body)
		}
	}
	if n := strings.Count(logs.String(), "10.0.0.7"); n != 5 {
		t.Errorf("the cause was logged %d times, want 5:\n%s", n, logs)
	}
}
