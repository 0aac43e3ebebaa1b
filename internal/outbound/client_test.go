package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// target is a loopback test server that counts what reaches it.
type target struct {
	*httptest.Server
	conns atomic.Int32 // connections accepted
	reqs  atomic.Int32 // requests served
}

func newTarget(t *testing.T, h http.HandlerFunc) *target {
	t.Helper()
	tg := &target{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.reqs.Add(1)
		h(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			tg.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	tg.Server = srv
	return tg
}

func okHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"ok":true}`))
}

func (tg *target) port(t *testing.T) uint16 {
	t.Helper()
	u, err := url.Parse(tg.URL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	return uint16(p)
}

// at is the target's URL with its host replaced by host, e.g. "localhost".
func (tg *target) at(t *testing.T, host string) string {
	return "http://" + net.JoinHostPort(host, strconv.Itoa(int(tg.port(t)))) + "/"
}

// allowing returns a Client that may reach tg and nothing else internal.
func allowing(t *testing.T, tg *target) *Client {
	t.Helper()
	c := &Client{
		AllowHTTP:    true,
		AllowedPorts: []uint16{tg.port(t)},
		AllowCIDRs:   []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func wantBlocked(t *testing.T, err error) *BlockedError {
	t.Helper()
	var be *BlockedError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a *BlockedError", err)
	}
	return be
}

func (tg *target) wantUntouched(t *testing.T) {
	t.Helper()
	if n := tg.conns.Load(); n != 0 {
		t.Errorf("target accepted %d connections, want none", n)
	}
}

func get(t *testing.T, c *Client, rawURL string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(t.Context(), req)
	if err == nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

func TestLoopbackRefusedByDefault(t *testing.T) {
	tg := newTarget(t, okHandler)
	c := &Client{AllowHTTP: true, AllowedPorts: []uint16{tg.port(t)}}
	_, err := get(t, c, tg.URL)
	be := wantBlocked(t, err)
	if be.IP != netip.MustParseAddr("127.0.0.1") || be.Host != "127.0.0.1" {
		t.Errorf("BlockedError = %+v, want IP and Host 127.0.0.1", be)
	}
	// An allow-list for another network does not open loopback.
	c = &Client{AllowHTTP: true, AllowedPorts: []uint16{tg.port(t)},
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	_, err = get(t, c, tg.URL)
	wantBlocked(t, err)
	tg.wantUntouched(t)
}

func TestLoopbackAllowedByConfiguration(t *testing.T) {
	tg := newTarget(t, okHandler)
	for name, c := range map[string]*Client{
		"AllowInternal": {AllowHTTP: true, AllowedPorts: []uint16{tg.port(t)}, AllowInternal: true},
		"AllowCIDRs":    allowing(t, tg),
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := get(t, c, tg.URL)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status = %d, want 200", resp.StatusCode)
			}
			c.CloseIdleConnections()
		})
	}
	if n := tg.reqs.Load(); n != 2 {
		t.Errorf("target served %d requests, want 2", n)
	}
}

// Every range is refused in the dialer's Control hook, before connect(2):
// the error carries the IP (URL checks leave it zero), and the test guard in
// TestMain would refuse any non-loopback address the policy let through.
func TestBlockedRangesRefusedAtDial(t *testing.T) {
	hosts := []string{
		"127.0.0.1", "127.255.255.254", "[::1]",
		"10.0.0.1", "172.16.0.1", "172.31.255.254", "192.168.0.1", "[fc00::1]", "[fd00::2]",
		"169.254.169.254", "169.254.0.1", "[fe80::1]", "[fe80::1%25lo]",
		"100.64.0.1", "100.127.255.254",
		"0.0.0.0", "[::]",
		"224.0.0.1", "239.255.255.250", "[ff02::1]",
		"255.255.255.255",
		"[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:169.254.169.254]", "[::ffff:10.0.0.1]",
		"[::127.0.0.1]", "[::ffff:0:127.0.0.1]",
		"[64:ff9b::127.0.0.1]", "[64:ff9b::10.0.0.1]", "[64:ff9b::a9fe:a9fe]",
		"[2002:7f00:1::1]", "[2002:c0a8:101::1]", "[2002:a9fe:a9fe::1]",
	}
	c := &Client{AllowHTTP: true}
	for _, h := range hosts {
		t.Run(h, func(t *testing.T) {
			_, err := get(t, c, "http://"+h+"/")
			be := wantBlocked(t, err)
			want, perr := netip.ParseAddr(strings.Trim(strings.ReplaceAll(h, "%25", "%"), "[]"))
			if perr != nil {
				t.Fatal(perr)
			}
			if be.IP.Unmap() != want.Unmap() {
				t.Errorf("BlockedError.IP = %v, want %v (refused at dial time)", be.IP, want)
			}
		})
	}
}

// The spellings that reach the local target are refused and never connect.
func TestLocalSpellingsNeverConnect(t *testing.T) {
	tg := newTarget(t, okHandler)
	c := &Client{AllowHTTP: true, AllowedPorts: []uint16{tg.port(t)}}
	for _, h := range []string{"127.0.0.1", "0.0.0.0", "::ffff:127.0.0.1", "::ffff:7f00:1", "::", "localhost"} {
		t.Run(h, func(t *testing.T) {
			_, err := get(t, c, tg.at(t, h))
			wantBlocked(t, err)
		})
	}
	tg.wantUntouched(t)
}

// A name that resolves to loopback is refused, via the system's hosts file.
func TestLocalhostRefused(t *testing.T) {
	tg := newTarget(t, okHandler)
	c := &Client{AllowHTTP: true, AllowedPorts: []uint16{tg.port(t)}}
	_, err := get(t, c, tg.at(t, "localhost"))
	be := wantBlocked(t, err)
	if be.Host != "localhost" || !be.IP.IsLoopback() {
		t.Errorf("BlockedError = %+v, want Host localhost and a loopback IP", be)
	}
	tg.wantUntouched(t)

	// AllowCIDRs names addresses, not names: localhost is fine once its
	// address is allowed.
	resp, err := get(t, allowing(t, tg), tg.at(t, "localhost"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want 200", resp.StatusCode)
	}
}

// Whatever a resolver answers, each address is checked as it is dialed.
func TestResolvedAddressesCheckedAtDial(t *testing.T) {
	tg := newTarget(t, okHandler)

	t.Run("hex spellings", func(t *testing.T) {
		// What inet_aton makes of these; the dialer must not care.
		c := &Client{AllowHTTP: true, AllowedPorts: []uint16{tg.port(t)}, Resolver: fakeResolver("127.0.0.1")}
		for _, h := range []string{"0x7f.1", "0x7f000001", "0x7f.0x0.0x0.0x1", "rebound.example"} {
			_, err := get(t, c, tg.at(t, h))
			be := wantBlocked(t, err)
			if be.Host != h || be.IP != netip.MustParseAddr("127.0.0.1") {
				t.Errorf("%s: BlockedError = %+v", h, be)
			}
		}
		tg.wantUntouched(t)
	})

	t.Run("every address", func(t *testing.T) {
		// The live loopback target is among the answers, so a check of only
		// the first address would connect to it.
		c := &Client{AllowHTTP: true, AllowedPorts: []uint16{tg.port(t)},
			Resolver: fakeResolver("192.168.1.1", "127.0.0.1", "::1")}
		_, err := get(t, c, tg.at(t, "receiver.example"))
		wantBlocked(t, err)
		tg.wantUntouched(t)

		// Allow only the target: the other answers are refused and the
		// dialer moves on to it.
		c.AllowCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		resp, err := get(t, c, tg.at(t, "receiver.example"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Errorf("status = %d, want 200", resp.StatusCode)
		}
	})
}

// The C library's resolver reads 2130706433 and 0177.0.0.1 as 127.0.0.1
// (inet_aton). Go's own resolver refuses such names outright, so this runs in
// a child process forced onto the C resolver, and skips where there is none.
// Only all-digit spellings are used: neither resolver sends them to DNS.
func TestNumericSpellingsSystemResolver(t *testing.T) {
	if os.Getenv("OUTBOUND_TEST_CGO_CHILD") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNumericSpellingsSystemResolver$", "-test.v")
		cmd.Env = append(os.Environ(), "OUTBOUND_TEST_CGO_CHILD=1", "GODEBUG="+os.Getenv("GODEBUG")+",netdns=cgo")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		if bytes.Contains(out, []byte("--- SKIP")) {
			t.Skipf("child skipped:\n%s", out)
		}
		return
	}
	ips, err := net.DefaultResolver.LookupNetIP(t.Context(), "ip4", "2130706433")
	if err != nil || len(ips) != 1 || ips[0] != netip.MustParseAddr("127.0.0.1") {
		t.Skipf("this resolver does not read 2130706433 as 127.0.0.1: %v %v", ips, err)
	}
	tg := newTarget(t, okHandler)
	c := &Client{AllowHTTP: true, AllowedPorts: []uint16{tg.port(t)}}
	for _, h := range []string{"2130706433", "0177.0.0.1", "127.1", "017700000001"} {
		_, err := get(t, c, tg.at(t, h))
		be := wantBlocked(t, err)
		if be.IP != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("%s: BlockedError = %+v", h, be)
		}
	}
	tg.wantUntouched(t)
}

func TestURLRefusals(t *testing.T) {
	tg := newTarget(t, okHandler)
	hostPort := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(tg.port(t))))
	for _, tt := range []struct {
		name   string
		c      *Client
		rawURL string
	}{
		{"userinfo", allowing(t, tg), "http://user:pass@" + hostPort + "/"},
		{"user only", allowing(t, tg), "http://trusted.example@" + hostPort + "/"},
		{"scheme ftp", allowing(t, tg), "ftp://" + hostPort + "/"},
		{"scheme gopher", allowing(t, tg), "gopher://" + hostPort + "/_"},
		{"scheme file", allowing(t, tg), "file:///etc/passwd"},
		{"no scheme", allowing(t, tg), "//" + hostPort + "/"},
		{"http needs AllowHTTP", &Client{AllowedPorts: []uint16{tg.port(t)}, AllowInternal: true}, "http://" + hostPort + "/"},
		{"port not in default set", &Client{AllowHTTP: true, AllowInternal: true}, "http://" + hostPort + "/"},
		{"port not allowed", &Client{AllowHTTP: true, AllowInternal: true, AllowedPorts: []uint16{443}}, "http://" + hostPort + "/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := get(t, tt.c, tt.rawURL)
			if be := wantBlocked(t, err); be.IP.IsValid() {
				t.Errorf("BlockedError.IP = %v, want none: the URL is refused before any lookup", be.IP)
			}
		})
	}
	tg.wantUntouched(t)
}

func TestProxyEnvironmentIgnored(t *testing.T) {
	proxy := newTarget(t, okHandler)
	tg := newTarget(t, okHandler)
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"} {
		t.Setenv(k, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	c := &Client{
		AllowHTTP:    true,
		AllowedPorts: []uint16{80, proxy.port(t), tg.port(t)},
		// The proxy would be reachable, so only going direct explains a refusal.
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	}
	t.Cleanup(c.CloseIdleConnections)

	// Through the proxy this request would succeed; direct, it is blocked.
	_, err := get(t, c, "http://10.0.0.1/")
	if be := wantBlocked(t, err); be.IP != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("BlockedError.IP = %v, want 10.0.0.1", be.IP)
	}
	if _, err := get(t, c, tg.URL); err != nil {
		t.Fatal(err)
	}
	if n := tg.reqs.Load(); n != 1 {
		t.Errorf("target served %d requests, want 1", n)
	}
	proxy.wantUntouched(t)
	if p := c.httpClient().Transport.(*http.Transport).Proxy; p != nil {
		t.Error("transport has a Proxy function")
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	elsewhere := newTarget(t, okHandler)
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/jwks", http.StatusFound)
	})
	c := allowing(t, tg)
	c.AllowedPorts = append(c.AllowedPorts, elsewhere.port(t))

	resp, err := get(t, c, tg.URL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != elsewhere.URL+"/jwks" {
		t.Errorf("got %d Location %q, want the 302 itself", resp.StatusCode, resp.Header.Get("Location"))
	}
	var v any
	err = c.GetJSON(t.Context(), tg.URL, &v)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusFound {
		t.Errorf("GetJSON err = %v, want StatusError 302", err)
	}
	status, _, err := c.PostForm(t.Context(), tg.URL, url.Values{"logout_token": {"x"}})
	if err != nil || status != http.StatusFound {
		t.Errorf("PostForm = %d, %v; want 302, nil", status, err)
	}
	elsewhere.wantUntouched(t)
}

func TestHTTPS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(okHandler))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted handshake below
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.ParseUint(u.Port(), 10, 16)
	c := &Client{
		AllowedPorts: []uint16{uint16(port)},
		AllowCIDRs:   []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		RootCAs:      srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs,
	}
	t.Cleanup(c.CloseIdleConnections)
	var v struct{ OK bool }
	if err := c.GetJSON(t.Context(), srv.URL, &v); err != nil || !v.OK {
		t.Fatalf("GetJSON = %v, %+v", err, v)
	}
	// Without the test CA the certificate is not trusted.
	c2 := &Client{AllowedPorts: c.AllowedPorts, AllowCIDRs: c.AllowCIDRs}
	var ce *tls.CertificateVerificationError
	if err := c2.GetJSON(t.Context(), srv.URL, &v); err == nil || !errors.As(err, &ce) {
		t.Errorf("GetJSON with system roots = %v, want an unknown-authority error", err)
	}
}

func TestZeroValue(t *testing.T) {
	var c Client
	t.Cleanup(c.CloseIdleConnections)
	var v any
	wantBlocked(t, c.GetJSON(t.Context(), "http://127.0.0.1/", &v))
	// https on 443 passes the URL checks and is refused at dial time.
	err := c.GetJSON(context.Background(), "https://127.0.0.1/", &v)
	if be := wantBlocked(t, err); be.IP != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("BlockedError = %+v, want refused at dial", be)
	}
}
