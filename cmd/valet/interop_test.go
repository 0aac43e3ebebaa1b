package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet/internal/admin"
)

// interopDir holds the openid-client relying party (run.mjs) and its pinned
// npm dependencies, relative to this package's directory.
const interopDir = "../../interop/openid-client"

const (
	interopUsername = "ana"
	interopPassword = "correct horse battery staple"
	interopScope    = "openid profile email offline_access"
)

// TestInteropOpenIDClient runs openid-client, the certified relying party for
// Node.js, against a live valet serve: discovery, the code flow with PKCE,
// state and nonce (the library verifies the ID token), UserInfo, refresh,
// introspection by a resource server and revocation (issue 5). The test
// plays the person at the sign-in and consent pages in between.
//
// It needs node and `npm ci --prefix interop/openid-client`. Without them it
// skips, unless VALET_TEST_NODE=1 (CI) makes their absence a failure.
func TestInteropOpenIDClient(t *testing.T) {
	node := interopPrerequisites(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The issuer must be known before the server starts, so the port is
	// picked first. 127.0.0.1 rather than localhost: one name for the
	// server, the issuer and the cookie jar.
	port := freePort(t)
	c := defaultConfig()
	c.Data = t.TempDir() // SQLite, valet.db in there
	c.Addr = "127.0.0.1:" + port
	c.Issuer = "http://127.0.0.1:" + port
	c.AdminToken = "interop-admin-token-of-at-least-32-characters"
	srv := startServe(t, c)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("valet serve logs:\n%s", srv.logs)
		}
	})

	ac := &admin.Client{BaseURL: srv.admin, Token: c.AdminToken, HTTP: &http.Client{Timeout: 10 * time.Second}}
	user, _, err := ac.CreateUser(ctx, admin.UserInput{
		Username: interopUsername, Password: interopPassword,
		Name: "Ana", Email: "ana@mail.example", EmailVerified: true,
	})
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	// The redirect URI is an http loopback IP literal (RFC 8252 §7.3). No one
	// listens there: the person stops at the redirect and hands its URL to
	// the relying party.
	redirectURI := "http://127.0.0.1:" + freePort(t) + "/cb"
	rp, _, err := ac.CreateClient(ctx, admin.ClientMetadata{
		ClientName:              "openid-client interop",
		RedirectURIs:            []string{redirectURI},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		Scope:                   interopScope,
		TokenEndpointAuthMethod: "client_secret_basic",
	})
	if err != nil {
		t.Fatalf("register the relying party: %v", err)
	}
	// The resource server: a confidential client that only introspects.
	rs, _, err := ac.CreateClient(ctx, admin.ClientMetadata{
		ClientName:              "openid-client interop resource server",
		GrantTypes:              []string{"client_credentials"},
		TokenEndpointAuthMethod: "client_secret_basic",
	})
	if err != nil {
		t.Fatalf("register the resource server: %v", err)
	}

	cmd := exec.CommandContext(ctx, node, "run.mjs")
	cmd.Dir = interopDir
	cmd.Env = append(os.Environ(),
		"INTEROP_ISSUER="+c.Issuer,
		"INTEROP_CLIENT_ID="+rp.ClientID,
		"INTEROP_CLIENT_SECRET="+rp.ClientSecret,
		"INTEROP_REDIRECT_URI="+redirectURI,
		"INTEROP_SCOPE="+interopScope,
		"INTEROP_RS_CLIENT_ID="+rs.ClientID,
		"INTEROP_RS_CLIENT_SECRET="+rs.ClientSecret,
	)
	cmd.WaitDelay = 5 * time.Second
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	exited := make(chan error, 1)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait() // after stdout is drained, as StdoutPipe requires
	}()
	t.Cleanup(func() {
		cancel() // kills node if it is still running
		if t.Failed() {
			t.Logf("node run.mjs stderr:\n%s", stderr)
		}
	})

	// next returns the next JSON line from run.mjs; a {"failed": ...} line is
	// the library's verdict on Valet and ends the test with it.
	next := func(want string) map[string]json.RawMessage {
		t.Helper()
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("run.mjs ended before sending %q: %v", want, <-exited)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("run.mjs wrote something that is not a JSON line: %q", line)
			}
			if f, ok := m["failed"]; ok {
				t.Fatalf("openid-client refused Valet at step %s:\n%s", f, line)
			}
			if _, ok := m[want]; !ok {
				t.Fatalf("run.mjs sent %s, want %q", line, want)
			}
			return m
		case <-ctx.Done():
			t.Fatalf("no %q from run.mjs in time: %v", want, ctx.Err())
		}
		return nil
	}

	var authURL string
	json.Unmarshal(next("authorization_url")["authorization_url"], &authURL)
	if !strings.HasPrefix(authURL, c.Issuer+"/authorize?") {
		t.Fatalf("authorization URL %q is not at the issuer's /authorize", authURL)
	}
	callback := interopPerson(ctx, t, srv.public, redirectURI, authURL)
	msg, _ := json.Marshal(map[string]string{"callback_url": callback})
	if _, err := stdin.Write(append(msg, '\n')); err != nil {
		t.Fatalf("write the callback to run.mjs: %v", err)
	}
	stdin.Close()

	raw := next("summary")["summary"]
	var s interopSummary
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("summary: %v", err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("node exited with %v", err)
		}
	case <-ctx.Done():
		t.Fatalf("node did not exit: %v", ctx.Err())
	}
	var pretty bytes.Buffer
	json.Indent(&pretty, raw, "", "  ")
	t.Logf("summary from run.mjs (tokens as SHA-256 fingerprints):\n%s", pretty.String())

	// Discovery, and the authorization response's iss (RFC 9207).
	if s.Discovery.Issuer != c.Issuer {
		t.Errorf("discovered issuer %q, want %q", s.Discovery.Issuer, c.Issuer)
	}
	if !s.Discovery.ISSParameterSupported || !s.CallbackHasISS {
		t.Errorf("iss parameter: advertised %v, in the callback %v; want both", s.Discovery.ISSParameterSupported, s.CallbackHasISS)
	}
	// The ID token, already verified by the library.
	id := s.CodeGrant.IDToken
	if id.Sub == "" || id.Sub != s.UserInfo.Sub {
		t.Errorf("sub: ID token %q, UserInfo %q; want equal and not empty", id.Sub, s.UserInfo.Sub)
	}
	if id.Sub != user.ID {
		// Public subject identifiers are the user's ID.
		t.Errorf("sub %q, want the user's ID %q", id.Sub, user.ID)
	}
	if id.Iss != c.Issuer || s.CodeGrant.IDTokenAlg != "RS256" || id.Nonce == "" || id.AuthTime == 0 {
		t.Errorf("ID token: iss %q alg %q nonce %q auth_time %d", id.Iss, s.CodeGrant.IDTokenAlg, id.Nonce, id.AuthTime)
	}
	// at_hash is run.mjs's own check: openid-client does not verify it.
	if s.CodeGrant.AtHashMatches == nil || !*s.CodeGrant.AtHashMatches {
		t.Errorf("ID token at_hash %q: matches the access token = %v, want true", id.AtHash, s.CodeGrant.AtHashMatches)
	}
	if s.CodeGrant.TokenType != "bearer" && s.CodeGrant.TokenType != "Bearer" {
		t.Errorf("token_type %q", s.CodeGrant.TokenType)
	}
	// UserInfo releases the profile and email claims.
	if s.UserInfo.Email != "ana@mail.example" || !s.UserInfo.EmailVerified || s.UserInfo.Name != "Ana" {
		t.Errorf("UserInfo = %+v, want the email (verified) and name of the user", s.UserInfo)
	}
	// Refresh rotates both tokens.
	if s.Refresh.AccessToken == "" || s.Refresh.AccessToken == s.CodeGrant.AccessToken {
		t.Errorf("refresh did not give a new access token")
	}
	if s.CodeGrant.RefreshToken == "" || s.Refresh.RefreshToken == "" || s.Refresh.RefreshToken == s.CodeGrant.RefreshToken {
		t.Errorf("refresh did not give a new refresh token")
	}
	if s.Refresh.IDTokenSub != "" && s.Refresh.IDTokenSub != id.Sub {
		t.Errorf("the refreshed ID token's sub %q differs from %q", s.Refresh.IDTokenSub, id.Sub)
	}
	if m := s.Refresh.AtHashMatches; m != nil && !*m {
		t.Errorf("the refreshed ID token's at_hash does not match the new access token")
	}
	// Introspection by the resource server, then revocation.
	in := s.Introspection
	if !in.Access.Active || in.Access.Sub != id.Sub || in.Access.ClientID != rp.ClientID {
		t.Errorf("introspection of the refreshed access token = %+v, want active, sub %q, client_id %q", in.Access, id.Sub, rp.ClientID)
	}
	if !in.RefreshBefore.Active {
		t.Errorf("introspection of the refresh token before revocation = %+v, want active", in.RefreshBefore)
	}
	if in.RefreshAfter.Active {
		t.Errorf("introspection of the revoked refresh token = %+v, want inactive", in.RefreshAfter)
	}
	// RFC 7009 §2.1: revoking a refresh token SHOULD also invalidate the
	// access tokens of the same grant. Valet revokes the whole family.
	if in.AccessAfter.Active {
		t.Errorf("introspection of the access token after its refresh token was revoked = %+v, want inactive", in.AccessAfter)
	}
}

// interopSummary is run.mjs's final line. Tokens come as fingerprints.
type interopSummary struct {
	Discovery struct {
		Issuer                string `json:"issuer"`
		ISSParameterSupported bool   `json:"authorization_response_iss_parameter_supported"`
	} `json:"discovery"`
	CallbackHasISS bool `json:"callback_has_iss"`
	CodeGrant      struct {
		TokenType    string `json:"token_type"`
		Scope        string `json:"scope"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		IDTokenAlg   string `json:"id_token_alg"`
		// AtHashMatches is null when the ID token has no at_hash.
		AtHashMatches *bool `json:"at_hash_matches"`
		IDToken       struct {
			Iss      string `json:"iss"`
			Sub      string `json:"sub"`
			Aud      any    `json:"aud"`
			Nonce    string `json:"nonce"`
			AtHash   string `json:"at_hash"`
			AuthTime int64  `json:"auth_time"`
		} `json:"id_token"`
	} `json:"code_grant"`
	UserInfo struct {
		Sub           string `json:"sub"`
		Name          string `json:"name"`
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	} `json:"userinfo"`
	Refresh struct {
		Scope         string `json:"scope"`
		AccessToken   string `json:"access_token"`
		RefreshToken  string `json:"refresh_token"`
		IDTokenSub    string `json:"id_token_sub"`
		AtHashMatches *bool  `json:"at_hash_matches"`
	} `json:"refresh"`
	Introspection struct {
		Access        interopIntrospection `json:"access"`
		RefreshBefore interopIntrospection `json:"refresh_before_revocation"`
		RefreshAfter  interopIntrospection `json:"refresh_after_revocation"`
		AccessAfter   interopIntrospection `json:"access_after_revocation"`
	} `json:"introspection"`
}

type interopIntrospection struct {
	Active   bool   `json:"active"`
	Sub      string `json:"sub,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	Scope    string `json:"scope,omitempty"`
}

// interopPrerequisites returns the path of node, or skips the test when node
// or the installed npm packages are missing, or fails it when
// VALET_TEST_NODE=1 says they must be there.
func interopPrerequisites(t *testing.T) string {
	t.Helper()
	required := os.Getenv("VALET_TEST_NODE") == "1"
	missing := func(what string) {
		t.Helper()
		msg := what + "; this test needs Node.js 20 or later and, from the repository root, npm ci --prefix interop/openid-client"
		if required {
			t.Fatal(msg + " (VALET_TEST_NODE=1 requires it)")
		}
		t.Skip(msg + ", or set VALET_TEST_NODE=1 to make this a failure")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(interopDir, "node_modules", "openid-client", "package.json")); err != nil {
		missing("interop/openid-client/node_modules is missing")
	}
	return node
}

var interopHiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// interopPerson is the person's browser: a cookie jar, redirects followed by
// hand, from the authorization URL through sign-in and consent to the
// redirect to the client, whose URL it returns.
func interopPerson(ctx context.Context, t *testing.T, base, redirectURI, authURL string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	do := func(method, u string, form url.Values) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, u, body)
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", base)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("person: %s %s: %v", method, u, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp, string(b)
	}
	hidden := func(page string) url.Values {
		v := url.Values{}
		for _, m := range interopHiddenRE.FindAllStringSubmatch(page, -1) {
			v.Set(m[1], html.UnescapeString(m[2]))
		}
		return v
	}

	resp, body := do("GET", authURL, nil)
	for range 8 {
		switch {
		case resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther:
			loc, err := resp.Location()
			if err != nil {
				t.Fatalf("person: redirect without a Location: %v", err)
			}
			if strings.HasPrefix(loc.String(), redirectURI) {
				return loc.String()
			}
			if !strings.HasPrefix(loc.String(), base+"/") {
				t.Fatalf("person: redirected to %s, neither Valet nor the client", loc)
			}
			resp, body = do("GET", loc.String(), nil)
		case resp.StatusCode == http.StatusOK && strings.Contains(body, `action="/login"`):
			f := hidden(body)
			f.Set("username", interopUsername)
			f.Set("password", interopPassword)
			resp, body = do("POST", base+"/login", f)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("person: sign-in answered %d, want 303:\n%s", resp.StatusCode, body)
			}
		case resp.StatusCode == http.StatusOK && strings.Contains(body, `action="/consent"`):
			f := hidden(body)
			f.Set("decision", "allow")
			resp, body = do("POST", base+"/consent", f)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("person: consent answered %d, want 303:\n%s", resp.StatusCode, body)
			}
		default:
			t.Fatalf("person: unexpected page %d:\n%s", resp.StatusCode, body)
		}
	}
	t.Fatal("person: the flow did not reach the client in 8 steps")
	return ""
}
