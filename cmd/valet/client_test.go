package main

import (
	"slices"
	"strings"
	"testing"
)

// createdID returns the client_id a `client create --json` printed.
func (e *cliEnv) createdID(args ...string) (id, stderr string) {
	e.t.Helper()
	out, errOut, err := e.run("", append([]string{"client", "create", "--json"}, args...)...)
	if err != nil {
		e.t.Fatalf("client create %v: %v\n%s", args, err, errOut)
	}
	id, _ = jsonMap(e.t, []byte(out))["client_id"].(string)
	return id, errOut
}

// TestClientCreateDerivesResponseTypes: without --response-type the CLI
// sends none, and the server derives them from the grant types.
func TestClientCreateDerivesResponseTypes(t *testing.T) {
	e := newCLIEnv(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{}, []string{"code"}},
		{[]string{"--grant-type", "implicit"}, []string{"token"}},
		{[]string{"--grant-type", "authorization_code", "--grant-type", "implicit"}, []string{"code", "token"}},
		{[]string{"--grant-type", "client_credentials"}, []string{}},
		{[]string{"--grant-type", "authorization_code", "--response-type", "code"}, []string{"code"}},
	} {
		id, _ := e.createdID(append([]string{"--name", "App", "--redirect-uri", "https://app.example/cb"}, tc.args...)...)
		c, err := e.store.Clients.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.ResponseTypes, tc.want) {
			t.Errorf("client create %v: response types %q, want %q", tc.args, c.ResponseTypes, tc.want)
		}
	}
	_, _, err := e.run("", "client", "create", "--name", "X", "--redirect-uri", "https://app.example/cb", "--response-type", "token")
	if err == nil || !strings.Contains(err.Error(), "invalid_client_metadata") {
		t.Errorf("--response-type token without the implicit grant: %v", err)
	}
}

func TestClientCreateLegacyGrantsWarn(t *testing.T) {
	e := newCLIEnv(t)
	for grant, want := range map[string]string{
		"implicit": "warning: the implicit grant",
		"password": "warning: the password grant",
	} {
		_, errOut := e.createdID("--name", "Old", "--grant-type", grant, "--redirect-uri", "https://old.example/cb")
		if !strings.Contains(errOut, want) || !strings.Contains(errOut, "RFC 9700") {
			t.Errorf("%s client: stderr %q", grant, errOut)
		}
	}
	if _, errOut := e.createdID("--name", "New", "--redirect-uri", "https://new.example/cb"); errOut != "" {
		t.Errorf("a code client warned: %q", errOut)
	}
}

func TestClientCreateTokenFormatAndResources(t *testing.T) {
	e := newCLIEnv(t)
	out := e.ok("", "client", "create", "--name", "Reports", "--grant-type", "client_credentials", "--scope", "reports.read",
		"--resource", "https://reports.example/api", "--resource", "urn:example:reports", "--access-token-format", "opaque")
	for _, s := range []string{"access tokens:", "opaque", "https://reports.example/api", "urn:example:reports"} {
		if !strings.Contains(out, s) {
			t.Errorf("client create lacks %q:\n%s", s, out)
		}
	}
	cs, err := e.store.Clients.List(t.Context())
	if err != nil || len(cs) != 1 {
		t.Fatalf("%d clients, %v", len(cs), err)
	}
	c := cs[0]
	if c.AccessTokenFormat != "opaque" || !slices.Equal(c.Resources, []string{"https://reports.example/api", "urn:example:reports"}) {
		t.Errorf("stored format %q, resources %q", c.AccessTokenFormat, c.Resources)
	}
	show := e.ok("", "client", "show", c.ID)
	if !strings.Contains(show, "opaque") || !strings.Contains(show, "urn:example:reports") {
		t.Errorf("client show:\n%s", show)
	}
	// The default is a JWT, and the server refuses unknown formats and
	// relative resources.
	id, _ := e.createdID("--name", "Default", "--redirect-uri", "https://app.example/cb")
	if c, _ := e.store.Clients.Get(t.Context(), id); c.AccessTokenFormat != "jwt" || len(c.Resources) != 0 {
		t.Errorf("default client: format %q, resources %q", c.AccessTokenFormat, c.Resources)
	}
	for _, args := range [][]string{{"--access-token-format", "paseto"}, {"--resource", "/relative"}, {"--resource", "https://api.example/#frag"}} {
		_, _, err := e.run("", append([]string{"client", "create", "--name", "Bad", "--redirect-uri", "https://app.example/cb"}, args...)...)
		if err == nil || !strings.Contains(err.Error(), "invalid_client_metadata") {
			t.Errorf("client create %v: %v", args, err)
		}
	}
}
