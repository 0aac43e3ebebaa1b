package oauth

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/valetauth/valet"
)

// The fixture clients of catalogue §0, plus a client with a query and a
// loopback client that registered a port.
var (
	conf1   = []string{"https://client.example/cb", "https://client.example/cb2"}
	confQ   = []string{"https://client.example/cb?tenant=a"}
	native1 = []string{"http://127.0.0.1/callback", "com.example.app:/oauth2redirect"}
	native6 = []string{"http://[::1]/cb"}
	nativeP = []string{"http://127.0.0.1:8080/cb"}
)

type matchCase struct {
	registered []string
	requested  string
	ok         bool
}

// redirectCases holds every requested URI the tests try. whatwg-hosts.json
// holds the host a WHATWG URL parser finds in each (see TestMatchAgreesWithWHATWG).
var redirectCases = []matchCase{
	// Controls: the exact registered strings.
	{conf1, "https://client.example/cb", true},
	{conf1, "https://client.example/cb2", true},
	{confQ, "https://client.example/cb?tenant=a", true},
	{native1, "http://127.0.0.1/callback", true},
	{native1, "com.example.app:/oauth2redirect", true},

	// RU-02: case, normalisation and "equivalent" URIs are not equal.
	{conf1, "https://client.example/CB", false},
	{conf1, "https://CLIENT.example/cb", false},
	{conf1, "HTTPS://client.example/cb", false},
	{conf1, "https://client.example/cb/", false},
	{conf1, "https://client.example:443/cb", false},
	{conf1, "https://client.example./cb", false},
	{conf1, "https://client.example/%63b", false},
	{conf1, "https://client.example/cb?", false},
	{conf1, "https://client.example/cb#", false},
	{conf1, "https://client.example//cb", false},
	{conf1, "https://client.example/cb%20", false},
	{conf1, "https://client.example/cb%00", false},

	// RU-03: path traversal and encoding.
	{conf1, "https://client.example/cb/../cb", false},
	{conf1, "https://client.example/cb/..", false},
	{conf1, "https://client.example/x/../cb", false},
	{conf1, "https://client.example/./cb", false},
	{conf1, "https://client.example/cb/./", false},
	{conf1, "https://client.example/cb/..;/admin", false},
	{conf1, "https://client.example/cb;/../admin", false},
	{conf1, "https://client.example/cb;jsessionid=1", false},
	{conf1, "https://client.example/cb/%2e%2e/admin", false},
	{conf1, "https://client.example/cb/%2E%2E/admin", false},
	{conf1, "https://client.example/cb%2f..%2fadmin", false},
	{conf1, "https://client.example/cb%2F", false},
	{conf1, "https://client.example/%2563b", false},
	{conf1, "https://client.example/cb%252f..%252fadmin", false},
	{conf1, "https://client.example/cb%5c..%5cadmin", false},
	{conf1, "https://client.example/cb\\..\\admin", false},
	{conf1, "https://client.example/cb/\\evil.example", false},
	{conf1, "https://client.example/cb%2500", false},
	{conf1, "https://client.example/cb%0d%0aSet-Cookie:x", false},
	{conf1, "https://client.example/cb\r\n", false},
	{conf1, "https://client.example/cb\x00", false},
	{conf1, "https://client.example/cb\t", false},
	{conf1, "https://client.example/cb ", false},
	{conf1, " https://client.example/cb", false},
	{conf1, "https://client.example/cb\u200b", false},
	{conf1, "https://client.example/c%62", false},
	{conf1, "https://client.example/cb%3f", false},
	{conf1, "https://client.example/cb%23", false},

	// RU-04: authority confusion.
	{conf1, "https://client.example@evil.example/cb", false},
	{conf1, "https://client.example:443@evil.example/cb", false},
	{conf1, "https://client.example%40evil.example/cb", false},
	{conf1, "https://client.example%2f@evil.example/cb", false},
	{conf1, "https://client.example%25@evil.example/cb", false},
	{conf1, "https://client.example\\@evil.example/cb", false},
	{conf1, "https://client.example/cb@evil.example", false},
	{conf1, "https://user@client.example/cb", false},
	{conf1, "https://a@b@client.example/cb", false},
	{conf1, "https://evil.example@client.example/cb", false},
	{conf1, "https://client.example.evil.example/cb", false},
	{conf1, "https://evil.example/client.example/cb", false},
	{conf1, "https://attacker.example/.client.example/cb", false},
	{conf1, "https://evilclient.example/cb", false},
	{conf1, "https://sub.client.example/cb", false},
	{conf1, "https://client.exampl/cb", false},
	{conf1, "https://client.example.evil/cb", false},
	{conf1, "https://client.example/cbx", false},
	{conf1, "https://client.example/c", false},
	{conf1, "https://client.example/cb2/../cb", false},
	{conf1, "//client.example/cb", false},
	{conf1, "https:/client.example/cb", false},
	{conf1, "https:client.example/cb", false},
	{conf1, "https:///client.example/cb", false},
	{conf1, "https:\\\\client.example/cb", false},
	{conf1, "http://client.example/cb", false},
	{conf1, "https://сlient.example/cb", false},       // Cyrillic es
	{conf1, "https://client.example\u3002/cb", false}, // ideographic full stop
	{conf1, "https://xn--lient-3ve.example/cb", false},
	{conf1, "https://client.example:/cb", false},
	{conf1, "https://client.example:0443/cb", false},
	{conf1, "https://client.example/cb#https://evil.example", false},
	{conf1, "javascript://client.example/cb%0aalert(1)", false},
	{conf1, "", false},

	// RU-05: the query is part of the exact match.
	{conf1, "https://client.example/cb?x=1", false},
	{confQ, "https://client.example/cb?tenant=b", false},
	{confQ, "https://client.example/cb?tenant=a&tenant=b", false},
	{confQ, "https://client.example/cb?tenant=a&code=ATTACKER", false},
	{confQ, "https://client.example/cb?tenant=%61", false},
	{confQ, "https://client.example/cb?Tenant=a", false},
	{confQ, "https://client.example/cb", false},
	{conf1, "https://client.example/cb?code=ATTACKER&state=x", false},

	// RU-07: loopback IP literals may vary the port, nothing else.
	{native1, "http://127.0.0.1:1/callback", true},
	{native1, "http://127.0.0.1:51004/callback", true},
	{native1, "http://127.0.0.1:65535/callback", true},
	{native6, "http://[::1]:8080/cb", true},
	{native6, "http://[::1]/cb", true},
	{nativeP, "http://127.0.0.1/cb", true},
	{nativeP, "http://127.0.0.1:9/cb", true},
	{[]string{"http://127.0.0.1"}, "http://127.0.0.1:5", true},
	{[]string{"http://127.0.0.1/cb?x=1"}, "http://127.0.0.1:5/cb?x=1", true},
	{[]string{"http://127.0.0.1?x=1"}, "http://127.0.0.1:5?x=1", true},
	{[]string{"http://127.255.0.9/cb"}, "http://127.255.0.9:5/cb", true},

	{native1, "http://127.0.0.1:8080@evil.example/callback", false},
	{native1, "http://127.0.0.1@evil.example/callback", false},
	{native1, "http://evil.example@127.0.0.1:5/callback", false},
	{native1, "http://user:pw@127.0.0.1/callback", false},
	{native1, "http://127.0.0.1.evil.example/callback", false},
	{native1, "http://127.0.0.1.nip.io:5/callback", false},
	{native1, "http://localhost/callback", false},
	{native1, "http://localhost:5/callback", false},
	{native1, "http://LOCALHOST:5/callback", false},
	{native1, "http://localhost.evil.test/callback", false},
	{native1, "http://127.0.0.1:80%2f@evil/callback", false},
	{native1, "http://127.0.0.1%2f@evil/callback", false},
	{native1, "http://127.0.0.1:5%2f@evil/callback", false},
	{native1, "http://127.0.0.1:5%25@evil/callback", false},
	{native1, "http://127.0.0.1:5\\@evil/callback", false},
	{native1, "http://127.0.0.1:5\\evil/callback", false},
	{native1, "http://127.0.0.1%00:5/callback", false},
	{native1, "http://127.0.0.1:5/callback/../x", false},
	{native1, "http://127.0.0.1:5/callback/..", false},
	{native1, "http://127.0.0.1:5/x/../callback", false},
	{native1, "http://127.0.0.1:5/callback/..;/x", false},
	{native1, "http://127.0.0.1:5/callback/%2e%2e/x", false},
	{native1, "http://127.0.0.1:5//callback", false},
	{native1, "http://127.0.0.1:5/callback/", false},
	{native1, "http://127.0.0.1:5/Callback", false},
	{native1, "http://127.0.0.1:5/%63allback", false},
	{native1, "http://127.0.0.1:5/callback%00", false},
	{native1, "http://127.0.0.1:5/callback?x=1", false},
	{native1, "http://127.0.0.1:5/callback?", false},
	{native1, "http://127.0.0.1:5/callback#f", false},
	{native1, "http://127.0.0.1:5/callback#", false},
	{native1, "http://127.0.0.1:5?/callback", false},
	{native1, "HTTP://127.0.0.1:5/callback", false},
	{native1, "Http://127.0.0.1/callback", false},
	{native1, "https://127.0.0.1:5/callback", false},
	{native1, "https://127.0.0.1/callback", false},
	{native1, "http:/127.0.0.1:5/callback", false},
	{native1, "http:///127.0.0.1:5/callback", false},
	{native1, "http:\\\\127.0.0.1:5/callback", false},
	{native1, "http:127.0.0.1:5/callback", false},
	{native1, "http://127.0.0.1:0/callback", false},
	{native1, "http://127.0.0.1:65536/callback", false},
	{native1, "http://127.0.0.1:99999/callback", false},
	{native1, "http://127.0.0.1:4294967377/callback", false},
	{native1, "http://127.0.0.1:-1/callback", false},
	{native1, "http://127.0.0.1:+80/callback", false},
	{native1, "http://127.0.0.1:8080a/callback", false},
	{native1, "http://127.0.0.1:0x50/callback", false},
	{native1, "http://127.0.0.1:080/callback", false},
	{native1, "http://127.0.0.1:00080/callback", false},
	{native1, "http://127.0.0.1:/callback", false},
	{native1, "http://127.0.0.1::80/callback", false},
	{native1, "http://127.0.0.1:80:80/callback", false},
	{native1, "http://127.0.0.1 :5/callback", false},
	{native1, "http://127.0.0.1: 5/callback", false},
	{native1, "http://127.0.0.2:5/callback", false},
	{native1, "http://127.0.0.01:5/callback", false},
	{native1, "http://127.000.000.001/callback", false},
	{native1, "http://0177.0.0.1/callback", false},
	{native1, "http://0x7f.0.0.1/callback", false},
	{native1, "http://0x7f.1/callback", false},
	{native1, "http://0x7f000001/callback", false},
	{native1, "http://2130706433/callback", false},
	{native1, "http://2130706433:5/callback", false},
	{native1, "http://127.1/callback", false},
	{native1, "http://127.1:5/callback", false},
	{native1, "http://127.0.1/callback", false},
	{native1, "http://127.0.0.1./callback", false},
	{native1, "http://127.0.0.1.:5/callback", false},
	{native1, "http://[127.0.0.1]:5/callback", false},
	{native1, "http://[::ffff:127.0.0.1]:5/callback", false},
	{native1, "http://[::ffff:7f00:1]/callback", false},
	{native1, "http://[::1]:5/callback", false},
	{native1, "http://0.0.0.0:5/callback", false},
	{native1, "http://[::]:5/callback", false},
	{native1, "http://１２７.0.0.1:5/callback", false}, // full-width digits
	{native1, "com.example.app:/oauth2redirect/x", false},
	{native1, "com.example.app://oauth2redirect", false},
	{native1, "com.example.app:/oauth2redirect?x", false},
	{native1, "COM.example.app:/oauth2redirect", false},
	{native6, "http://[::1]:99/cb/../x", false},
	{native6, "http://[0:0:0:0:0:0:0:1]:5/cb", false},
	{native6, "http://[0::1]:5/cb", false},
	{native6, "http://[::0:1]/cb", false},
	{native6, "http://[::1%25lo]:5/cb", false},
	{native6, "http://[::1%lo]:5/cb", false},
	{native6, "http://[::1]:/cb", false},
	{native6, "http://[::1]5/cb", false},
	{native6, "http://[::1]]:5/cb", false},
	{native6, "http://[[::1]]:5/cb", false},
	{native6, "http://[::1:5/cb", false},
	{native6, "http://::1:5/cb", false},
	{native6, "http://[::1]:5@evil.example/cb", false},
	{native6, "http://[::1]@evil.example/cb", false},
	{native6, "http://127.0.0.1:5/cb", false},
	{native6, "http://[::1]:5/CB", false},
	{native6, "http://[::1]:65536/cb", false},
	{native6, "http://[::1].evil.example/cb", false},
	{nativeP, "http://127.0.0.1:8080/cb/", false},
	{nativeP, "http://127.0.0.1:8080/../cb", false},
	{nativeP, "http://localhost:8080/cb", false},
	// Only http loopback registrations are port-flexible.
	{[]string{"https://127.0.0.1/cb"}, "https://127.0.0.1:5/cb", false},
	{[]string{"http://client.example/cb"}, "http://client.example:5/cb", false},
	{[]string{"http://localhost/cb"}, "http://localhost:5/cb", false},
	{[]string{"http://127.0.0.1:080/cb"}, "http://127.0.0.1:5/cb", false},
	{[]string{"http://user@127.0.0.1/cb"}, "http://user@127.0.0.1:5/cb", false},
	{[]string{"http://127.1/cb"}, "http://127.1:5/cb", false},
}

func TestMatchRedirectURI(t *testing.T) {
	for _, tt := range redirectCases {
		got, ok := MatchRedirectURI(tt.registered, tt.requested)
		if ok != tt.ok || (ok && got != tt.requested) || (!ok && got != "") {
			t.Errorf("MatchRedirectURI(%q, %q) = %q, %v; want match=%v", tt.registered, tt.requested, got, ok, tt.ok)
		}
	}
	if _, ok := MatchRedirectURI(nil, "https://client.example/cb"); ok {
		t.Error("matched with nothing registered")
	}
	if _, ok := MatchRedirectURI([]string{""}, ""); ok {
		t.Error("matched the empty string")
	}
	long := "https://client.example/" + strings.Repeat("a", 3000)
	if _, ok := MatchRedirectURI([]string{long}, long); ok {
		t.Error("matched a URI longer than registration allows")
	}
}

// TestRedirectCasesRegistrable keeps the fixtures honest: every registered
// URI in the positive cases passes registration, so the tests exercise what
// production sees.
func TestRedirectCasesRegistrable(t *testing.T) {
	for _, tt := range redirectCases {
		if !tt.ok {
			continue
		}
		for _, r := range tt.registered {
			if err := valet.ValidateRedirectURI(r); err != nil {
				t.Errorf("fixture %q does not pass registration: %v", r, err)
			}
		}
	}
}

// TestMatchAgreesWithWHATWG is the differential half of catalogue R10 F2:
// whenever a URI is accepted, a WHATWG URL parser (what browsers run, and
// what decides where the user agent really goes) finds the same host as in
// the registered URI it matched. testdata/whatwg-hosts.json was produced by
// Node's URL class with testdata/whatwg-hosts.mjs.
func TestMatchAgreesWithWHATWG(t *testing.T) {
	if *updateWHATWG {
		writeWHATWGHosts(t)
	}
	data, err := os.ReadFile("testdata/whatwg-hosts.json")
	if err != nil {
		t.Fatal(err)
	}
	var hosts map[string]*string // URI -> WHATWG host (hostname:port), nil when the URL does not parse
	if err := json.Unmarshal(data, &hosts); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, tt := range redirectCases {
		if !tt.ok {
			continue
		}
		seen++
		got, ok := hosts[tt.requested]
		if !ok {
			t.Errorf("%q is missing from testdata/whatwg-hosts.json; rerun testdata/whatwg-hosts.mjs", tt.requested)
			continue
		}
		if got == nil {
			t.Errorf("accepted %q, which a WHATWG parser refuses", tt.requested)
			continue
		}
		matched := false
		for _, r := range tt.registered {
			reg, ok := hosts[r]
			if !ok || reg == nil {
				continue
			}
			if *reg == *got || hostname(*reg) == hostname(*got) && strings.HasPrefix(r, "http://") {
				matched = true
			}
		}
		if !matched {
			t.Errorf("accepted %q, whose WHATWG host %q is not the host of any of %q", tt.requested, *got, tt.registered)
		}
	}
	if seen == 0 {
		t.Fatal("no accepted cases")
	}
}

var updateWHATWG = flag.Bool("update-whatwg", false, "rewrite testdata/whatwg-hosts.json with Node's URL parser")

// writeWHATWGHosts asks Node's URL class for the host of every URI in
// redirectCases and stores the answers, so the test needs no Node to run.
func writeWHATWGHosts(t *testing.T) {
	var uris []string
	for _, tt := range redirectCases {
		uris = append(uris, tt.requested)
		uris = append(uris, tt.registered...)
	}
	slices.Sort(uris)
	in, err := json.Marshal(slices.Compact(uris))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "testdata/whatwg-hosts.mjs")
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	if err := os.WriteFile("testdata/whatwg-hosts.json", out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// hostname strips the port from a WHATWG host.
func hostname(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		return host[:i]
	}
	return host
}

func TestResolveRedirectURI(t *testing.T) {
	one := []string{"https://client.example/cb"}
	tests := []struct {
		name       string
		registered []string
		requested  string
		openid     bool
		want       string // "" means an error
	}{
		{"exact", conf1, "https://client.example/cb2", false, "https://client.example/cb2"},
		{"exact, OIDC", conf1, "https://client.example/cb", true, "https://client.example/cb"},
		{"loopback port", native1, "http://127.0.0.1:4711/callback", true, "http://127.0.0.1:4711/callback"},
		// RU-06c, pin P9: plain OAuth, one registered URI, none sent.
		{"omitted, one registered", one, "", false, "https://client.example/cb"},
		// RU-06a.
		{"omitted, two registered", conf1, "", false, ""},
		// RU-06b.
		{"omitted, OIDC", one, "", true, ""},
		{"omitted, none registered", nil, "", false, ""},
		// RU-01a: unregistered.
		{"unregistered", conf1, "https://client.example/cb-x7Qp2", false, ""},
		{"unregistered, one registered", one, "https://evil.example/cb", false, ""},
	}
	for _, tt := range tests {
		got, err := ResolveRedirectURI(tt.registered, tt.requested, tt.openid)
		if tt.want != "" {
			if err != nil || got != tt.want {
				t.Errorf("%s: ResolveRedirectURI = %q, %v; want %q", tt.name, got, err, tt.want)
			}
			continue
		}
		if got != "" {
			t.Errorf("%s: ResolveRedirectURI returned %q with its error", tt.name, got)
		}
		e := wantCode(t, tt.name, err, InvalidRequest)
		if tt.requested != "" && strings.Contains(e.Description, tt.requested) {
			t.Errorf("%s: description %q echoes the requested URI", tt.name, e.Description)
		}
	}
}

// loopbackOracle is an independent statement of RFC 8252 §7.3: both URIs are
// http on the same loopback IP literal with identical path and query, and
// only the port (a canonical decimal 1-65535, or none) differs.
var loopbackRE = regexp.MustCompile(`^http://(127\.[0-9.]+|\[[0-9a-fA-F:.]+\])(?::([1-9][0-9]{0,4}))?([/?][!-~]*)?$`)

func loopbackOracle(registered, requested string) bool {
	a, b := loopbackRE.FindStringSubmatch(registered), loopbackRE.FindStringSubmatch(requested)
	if a == nil || b == nil || a[1] != b[1] || a[3] != b[3] {
		return false
	}
	host := strings.Trim(a[1], "[]")
	if !valet.IsLoopbackIPHost(host) || strings.ContainsAny(a[3], `#\"<>{}|^`+"`") || strings.Contains(a[0], "@") {
		return false
	}
	for _, p := range []string{a[2], b[2]} {
		if n, _ := strconv.Atoi(p); p != "" && n > 65535 {
			return false
		}
	}
	return true
}

// FuzzMatchRedirectURI is catalogue R10 F2: an accepted URI is byte-equal to
// a registered one or meets the loopback rule, and then net/url agrees on
// scheme and host; a registrable URI always matches itself and its loopback
// port variants.
func FuzzMatchRedirectURI(f *testing.F) {
	for _, tt := range redirectCases {
		f.Add(tt.registered[0], strings.Join(tt.registered[1:], " "), tt.requested, uint16(8080))
	}
	f.Fuzz(func(t *testing.T, reg1, reg2, requested string, port uint16) {
		registered := []string{reg1}
		if reg2 != "" {
			registered = append(registered, reg2)
		}
		got, ok := MatchRedirectURI(registered, requested)
		if !ok {
			if got != "" {
				t.Fatalf("no match but returned %q", got)
			}
			if slices.Contains(registered, requested) && valet.ValidateRedirectURI(requested) == nil {
				t.Fatalf("registrable %q does not match itself", requested)
			}
		} else {
			if got != requested {
				t.Fatalf("returned %q, want the requested %q", got, requested)
			}
			if !slices.Contains(registered, requested) {
				var via string
				for _, r := range registered {
					if loopbackOracle(r, requested) {
						via = r
					}
				}
				if via == "" {
					t.Fatalf("accepted %q for %q: neither equal nor the loopback rule", requested, registered)
				}
				u, err1 := url.Parse(requested)
				r, err2 := url.Parse(via)
				if err1 != nil || err2 != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" ||
					u.Hostname() != r.Hostname() || u.EscapedPath() != r.EscapedPath() || u.RawQuery != r.RawQuery {
					t.Fatalf("net/url disagrees: %q accepted for %q (%v, %v)", requested, via, err1, err2)
				}
			}
		}
		// Completeness: a registrable http loopback URI accepts any port.
		if valet.ValidateRedirectURI(reg1) == nil && loopbackRE.MatchString(reg1) && port != 0 {
			m := loopbackRE.FindStringSubmatch(reg1)
			variant := "http://" + m[1] + ":" + strconv.Itoa(int(port)) + m[3]
			if !loopbackOracle(reg1, variant) {
				return
			}
			if _, ok := MatchRedirectURI([]string{reg1}, variant); !ok {
				t.Fatalf("registered %q, port variant %q refused", reg1, variant)
			}
		}
	})
}
