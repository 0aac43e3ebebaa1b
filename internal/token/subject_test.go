package token_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/secret"
	"github.com/valetauth/valet/internal/token"
)

func pairwiseClient(id string, redirects ...string) *valet.Client {
	return &valet.Client{ID: id, SubjectType: "pairwise", RedirectURIs: redirects}
}

func TestSubjects(t *testing.T) {
	key := secret.NewDigester(secret.Bytes(32)).Key(token.PairwisePurpose)
	s := token.Subjects{PairwiseKey: key}
	must := func(c *valet.Client, user string) string {
		t.Helper()
		sub, err := s.For(c, user)
		if err != nil {
			t.Fatalf("%s: %v", c.ID, err)
		}
		return sub
	}

	for _, typ := range []string{"", "public"} {
		if got := must(&valet.Client{ID: "pub", SubjectType: typ}, "usr_ana"); got != "usr_ana" {
			t.Errorf("subject_type %q: sub %q, want the user ID", typ, got)
		}
	}

	mail := pairwiseClient("mail", "https://mail.example/cb", "https://mail.example/other")
	mail2 := pairwiseClient("mail-beta", "https://mail.example/beta")
	friends := pairwiseClient("friendfinder", "https://friends.example/cb")
	sub := must(mail, "usr_ana")

	// The OpenID Connect Core §8.1 construction, computed independently.
	m := hmac.New(sha256.New, key)
	m.Write([]byte("mail.example\x00usr_ana"))
	if want := base64.RawURLEncoding.EncodeToString(m.Sum(nil)); sub != want {
		t.Errorf("pairwise sub = %q, want HMAC-SHA-256(key, sector NUL user) = %q", sub, want)
	}
	switch {
	case sub == "usr_ana":
		t.Error("a pairwise sub is the user ID")
	case must(mail, "usr_ana") != sub:
		t.Error("a pairwise sub is not stable")
	case must(mail2, "usr_ana") != sub:
		t.Error("two clients of one sector see different subs")
	case must(friends, "usr_ana") == sub:
		t.Error("two sectors see the same sub")
	case must(mail, "usr_bo") == sub:
		t.Error("two users share a sub")
	}
	// Another server secret, other subjects.
	other := token.Subjects{PairwiseKey: secret.NewDigester(secret.Bytes(32)).Key(token.PairwisePurpose)}
	if o, _ := other.For(mail, "usr_ana"); o == sub {
		t.Error("the pairwise sub does not depend on the key")
	}

	for name, tc := range map[string]struct {
		s token.Subjects
		c *valet.Client
	}{
		"no key":               {token.Subjects{}, mail},
		"short key":            {token.Subjects{PairwiseKey: []byte("short")}, mail},
		"two hosts":            {s, pairwiseClient("x", "https://a.example/cb", "https://b.example/cb")},
		"no redirect URI":      {s, pairwiseClient("x")},
		"private-use URI":      {s, pairwiseClient("x", "com.example.app:/cb")},
		"unknown type":         {s, &valet.Client{ID: "x", SubjectType: "ephemeral", RedirectURIs: []string{"https://a.example/cb"}}},
		"type in caps":         {s, &valet.Client{ID: "x", SubjectType: "Pairwise", RedirectURIs: []string{"https://a.example/cb"}}},
		"unknown type, no key": {token.Subjects{}, &valet.Client{ID: "x", SubjectType: "unknown"}},
	} {
		if got, err := tc.s.For(tc.c, "usr_ana"); err == nil {
			t.Errorf("%s: sub %q, want an error", name, got)
		}
	}
}
