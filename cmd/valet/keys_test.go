package main

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/valetauth/valet/internal/admin"
)

// kidsByAlg lists the stored key IDs of alg, newest first.
func (e *cliEnv) kidsByAlg(alg string) []string {
	e.t.Helper()
	list, err := e.store.Keys.List(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, k := range list {
		if k.Algorithm == alg {
			out = append(out, k.ID)
		}
	}
	return out
}

func TestKeysList(t *testing.T) {
	e := newCLIEnv(t)
	out := e.ok("", "keys", "list")
	for _, s := range []string{"KID", "ALG", "STATUS", "SIGNS FROM", "PUBLISHED UNTIL", "ES256", "RS256", "signing",
		e.kidsByAlg("ES256")[0], e.kidsByAlg("RS256")[0]} {
		if !strings.Contains(out, s) {
			t.Errorf("keys list lacks %q:\n%s", s, out)
		}
	}
	asJSON := jsonMap(t, []byte(e.ok("", "keys", "list", "--json")))
	if fromAPI := e.get("/admin/keys"); !reflect.DeepEqual(asJSON["keys"], fromAPI["keys"]) {
		t.Errorf("keys list --json\n%v\nis not the API's answer\n%v", asJSON, fromAPI)
	}
}

func TestKeysRotate(t *testing.T) {
	e := newCLIEnv(t)
	oldES, oldRS := e.kidsByAlg("ES256")[0], e.kidsByAlg("RS256")[0]

	out, errOut, err := e.run("", "keys", "rotate", "--algorithm", "ES256")
	if err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, errOut)
	}
	es := e.kidsByAlg("ES256")
	if len(es) != 2 || es[1] != oldES || len(e.kidsByAlg("RS256")) != 1 {
		t.Fatalf("after keys rotate --algorithm ES256: ES256 %v, RS256 %v", es, e.kidsByAlg("RS256"))
	}
	for _, s := range []string{"Started the ES256 rotation: " + es[0] + " is published now and signs from", oldES + " signs until then and stays published until", "pending"} {
		if !strings.Contains(out, s) {
			t.Errorf("keys rotate output lacks %q:\n%s", s, out)
		}
	}
	if errOut != "" {
		t.Errorf("a planned rotation warned: %s", errOut)
	}
	// The new key is published, and the old one still signs.
	if _, ok := e.ring.PublicKey(es[0]); !ok {
		t.Error("the new key is not published")
	}
	if raw, err := e.ring.Sign("ES256", "at+jwt", []byte("{}")); err != nil || decodeKid(t, raw) != oldES {
		t.Errorf("the old key stopped signing at once: %v", err)
	}

	// --now: the replaced key is gone at once, with a warning.
	out, errOut, err = e.run("", "keys", "rotate", "--algorithm", "RS256", "--now")
	if err != nil {
		t.Fatalf("keys rotate --now: %v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "warning: the old RS256 keys were removed at once: every token they signed now fails verification") {
		t.Errorf("keys rotate --now stderr: %q", errOut)
	}
	rs := e.kidsByAlg("RS256")
	if !strings.Contains(out, "Replaced the RS256 key: "+rs[0]+" signs from now on") {
		t.Errorf("keys rotate --now output:\n%s", out)
	}
	if _, ok := e.ring.PublicKey(oldRS); ok {
		t.Error("the replaced RS256 key is still published")
	}

	// No --algorithm: both, and --json is the API's answer.
	var rot admin.KeyRotation
	if err := json.Unmarshal([]byte(e.ok("", "keys", "rotate", "--json")), &rot); err != nil || !slices.Equal(rot.Rotated, []string{"ES256", "RS256"}) {
		t.Errorf("keys rotate --json: %+v, %v", rot, err)
	}

	if _, _, err := e.run("", "keys", "rotate", "--algorithm", "HS256"); err == nil || !strings.Contains(err.Error(), "algorithm") || !strings.Contains(err.Error(), "invalid_request") {
		t.Errorf("keys rotate --algorithm HS256: %v", err)
	}
}

func decodeKid(t *testing.T, raw string) string {
	t.Helper()
	header, _, err := splitJWT(raw)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(header, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}
