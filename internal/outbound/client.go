package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults for the Client fields left zero.
const (
	DefaultDialTimeout           = 5 * time.Second
	DefaultTLSHandshakeTimeout   = 5 * time.Second
	DefaultResponseHeaderTimeout = 5 * time.Second
	DefaultTimeout               = 10 * time.Second
	DefaultMaxBodyBytes          = 256 << 10
	DefaultMaxConcurrentPerHost  = 4
)

// maxResponseHeaderBytes bounds the response headers; the documents Valet
// fetches are small, and a receiver has no reason to send more.
const maxResponseHeaderBytes = 64 << 10

// Client makes outbound HTTP requests to URLs that clients registered, and
// refuses to reach the server's own networks. The zero value is ready to use
// with safe defaults: https only, ports 80 and 443, public addresses only, no
// proxy, no redirects followed, bounded time, body size and concurrency.
//
// Set the fields with a struct literal before first use and do not change
// them afterwards; only cmd/valet sets them from configuration. A Client is
// safe for concurrent use and must not be copied after first use.
//
// Redirects are never followed: a 3xx response is returned to the caller as
// it is. Each hop would be another attacker-chosen URL, and none of the
// protocols Valet speaks outbound needs one (a back-channel logout receiver
// answers 200 or 400; a jwks_uri answers with the document).
type Client struct {
	// AllowHTTP permits plain http URLs. Off, only https is allowed: a
	// logout token or key set sent in the clear can be read or changed on
	// the way, and OIDC Registration §2 requires https for
	// sector_identifier_uri. For development and tests.
	AllowHTTP bool

	// AllowedPorts lists the destination ports permitted. Empty means 80 and
	// 443, so a URL cannot aim at an internal service's odd port (Redis on
	// 6379, an admin API on 8081) of a host that is otherwise allowed.
	AllowedPorts []uint16

	// AllowInternal permits internal destinations: loopback, private,
	// link-local, CGNAT and the other special-purpose ranges. Unspecified,
	// multicast and broadcast addresses stay refused; they are never a
	// destination. For development and tests; in production prefer
	// AllowCIDRs.
	AllowInternal bool

	// AllowCIDRs permits internal destinations inside these prefixes, for
	// example a back-channel logout receiver on the operator's own private
	// network. IPv4 prefixes also match IPv4-mapped IPv6 addresses.
	AllowCIDRs []netip.Prefix

	// RootCAs verifies servers' certificates; nil means the system roots.
	// Set it for receivers behind a private CA.
	RootCAs *x509.CertPool

	// Resolver looks up host names; nil means net.DefaultResolver. Whatever
	// it answers, every address is checked as it is dialed, so a resolver
	// cannot widen what is reachable.
	Resolver *net.Resolver

	// DialTimeout bounds establishing the TCP connection, per address.
	// Zero means DefaultDialTimeout.
	DialTimeout time.Duration

	// TLSHandshakeTimeout bounds the TLS handshake. Zero means
	// DefaultTLSHandshakeTimeout.
	TLSHandshakeTimeout time.Duration

	// ResponseHeaderTimeout bounds the wait for the response headers after
	// the request has been written. Zero means DefaultResponseHeaderTimeout.
	ResponseHeaderTimeout time.Duration

	// Timeout bounds the whole request, from waiting for a connection to the
	// host to reading the last byte of the body. Zero means DefaultTimeout.
	Timeout time.Duration

	// MaxBodyBytes bounds the response body; reading past it fails with
	// ErrBodyTooLarge. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64

	// MaxConcurrentPerHost bounds the connections, and so the requests in
	// flight, to one host (scheme, name and port as written in the URL), so
	// that one slow receiver cannot tie up the server. Further requests to
	// that host wait for a connection within their Timeout. Zero means
	// DefaultMaxConcurrentPerHost.
	MaxConcurrentPerHost int

	once   sync.Once
	client *http.Client
}

// testHookDial, when set by tests, sees every address the policy allowed just
// before connecting and may still refuse it. Tests use it to guarantee that
// nothing leaves the machine even if the policy were broken.
var testHookDial func(netip.AddrPort) error

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (c *Client) maxBody() int64 {
	if c.MaxBodyBytes > 0 {
		return c.MaxBodyBytes
	}
	return DefaultMaxBodyBytes
}

func (c *Client) maxPerHost() int {
	if c.MaxConcurrentPerHost > 0 {
		return c.MaxConcurrentPerHost
	}
	return DefaultMaxConcurrentPerHost
}

func (c *Client) portAllowed(port uint16) bool {
	if len(c.AllowedPorts) == 0 {
		return port == 80 || port == 443
	}
	return slices.Contains(c.AllowedPorts, port)
}

// httpClient builds, once, the http.Client every request goes through.
func (c *Client) httpClient() *http.Client {
	c.once.Do(func() {
		var protocols http.Protocols
		protocols.SetHTTP1(true)
		t := &http.Transport{
			// No proxy, and none from the environment: a proxy would
			// connect on our behalf, out of reach of the dial check.
			Proxy:                  nil,
			DialContext:            c.dial,
			TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: c.RootCAs},
			TLSHandshakeTimeout:    durationOr(c.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout),
			ResponseHeaderTimeout:  durationOr(c.ResponseHeaderTimeout, DefaultResponseHeaderTimeout),
			MaxResponseHeaderBytes: maxResponseHeaderBytes,
			// HTTP/1.1 only, so one connection carries one request at a
			// time and MaxConnsPerHost bounds the requests in flight.
			Protocols:           &protocols,
			MaxConnsPerHost:     c.maxPerHost(),
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     30 * time.Second,
			// The documents are small; an uncompressed body is one less
			// decoder between the receiver and the size limit.
			DisableCompression: true,
		}
		c.client = &http.Client{
			Transport: t,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	})
	return c.client
}

// CloseIdleConnections closes the kept-alive connections, for shutdown.
func (c *Client) CloseIdleConnections() {
	c.httpClient().CloseIdleConnections()
}

// dial connects to addr ("host:port" from the URL). The check runs in the
// dialer's Control hook, after each resolved address is chosen and before
// connect(2), so it sees the address actually connected to: a name that
// resolves (or rebinds) to an internal address is refused, and so is every
// other address the dialer falls back to.
func (c *Client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{
		Timeout:  durationOr(c.DialTimeout, DefaultDialTimeout),
		Resolver: c.Resolver,
		ControlContext: func(_ context.Context, network, address string, _ syscall.RawConn) error {
			return c.checkDial(host, network, address)
		},
	}
	return d.DialContext(ctx, network, addr)
}

// checkDial decides whether the socket about to connect to address may do so.
func (c *Client) checkDial(host, network, address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Host: host, Reason: "unparsable dial address"}
	}
	if network != "tcp4" && network != "tcp6" {
		return &BlockedError{Host: host, IP: ap.Addr(), Reason: "network " + network + " is not allowed"}
	}
	if !c.portAllowed(ap.Port()) {
		return &BlockedError{Host: host, IP: ap.Addr(), Reason: "port " + strconv.Itoa(int(ap.Port())) + " is not allowed"}
	}
	if r := c.refuse(ap.Addr()); r != "" {
		return &BlockedError{Host: host, IP: ap.Addr(), Reason: r}
	}
	if testHookDial != nil {
		return testHookDial(ap)
	}
	return nil
}

// checkURL refuses URLs the Client will not request, before any lookup.
func (c *Client) checkURL(u *url.URL) error {
	if u == nil {
		return errors.New("outbound: request without URL")
	}
	host := u.Hostname()
	blocked := func(reason string) error {
		return &BlockedError{Host: host, Reason: reason}
	}
	var defPort uint16
	switch strings.ToLower(u.Scheme) {
	case "https":
		defPort = 443
	case "http":
		if !c.AllowHTTP {
			return blocked("http is not allowed, only https")
		}
		defPort = 80
	default:
		return blocked(fmt.Sprintf("scheme %q is not allowed", u.Scheme))
	}
	if u.User != nil {
		// Credentials in the URL would be sent to whoever is there, and
		// "https://trusted@evil" is a classic way to disguise a host.
		return blocked("userinfo in URL")
	}
	if u.Opaque != "" || host == "" {
		return blocked("no host in URL")
	}
	port := defPort
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return blocked("bad port " + strconv.Quote(p))
		}
		port = uint16(n)
	}
	if !c.portAllowed(port) {
		return blocked("port " + strconv.Itoa(int(port)) + " is not allowed")
	}
	return nil
}

// Do sends req and returns the response, with ctx in place of req's context.
// A 3xx response is returned, not followed. The caller must close the body,
// which is limited to MaxBodyBytes and must be read within Timeout; until it
// is closed or Timeout ends, the request holds one of its host's
// MaxConcurrentPerHost connections.
//
// A refusal by policy, whether of the URL or of an address it resolves to,
// is a *BlockedError, possibly wrapped: use errors.As.
func (c *Client) Do(ctx context.Context, req *http.Request) (*http.Response, error) {
	if req == nil {
		return nil, errors.New("outbound: nil request")
	}
	if err := c.checkURL(req.URL); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, durationOr(c.Timeout, DefaultTimeout))
	resp, err := c.httpClient().Do(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	// The deadline stays on the body: a caller that never closes it still
	// gets the connection, and its per-host slot, back when Timeout ends.
	resp.Body = &limitedBody{rc: resp.Body, remaining: c.maxBody(), onClose: cancel}
	return resp, nil
}
