package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// ErrNotLoopback is the error, wrapped, for a target that is not on this
// machine's loopback interface.
var ErrNotLoopback = errors.New("not a loopback address")

// CheckTarget checks that rawURL is an http URL whose host is a
// loopback IP address (127.0.0.0/8, ::1) or "localhost". It is the check Run
// applies to every request; callers use it to refuse a flag early.
func CheckTarget(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("target %q: %v", rawURL, err)
	}
	if u.Scheme != "http" {
		// TLS on loopback would measure the cipher, not the server.
		return fmt.Errorf("target %q: want an http:// URL, such as http://127.0.0.1:8080", rawURL)
	}
	return checkHost(u.Hostname())
}

// checkHost accepts "localhost" and loopback IP literals, nothing else: not
// even a DNS name that happens to resolve to 127.0.0.1 today.
func checkHost(host string) error {
	if isLoopbackHost(host) {
		return nil
	}
	return fmt.Errorf("host %q: %w: the load generator only loads this machine; use 127.0.0.1, [::1] or localhost", host, ErrNotLoopback)
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

// loopbackDialer dials only loopback addresses. It is the second line of the
// check, below the one on each request's URL: whatever names a request
// carries, no connection leaves the machine. "localhost" is resolved here and
// only its loopback addresses are dialled.
type loopbackDialer struct {
	net.Dialer
}

func (d *loopbackDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if err := checkHost(host); err != nil {
		return nil, err
	}
	if strings.EqualFold(host, "localhost") {
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", "localhost")
		if err != nil {
			return nil, err
		}
		var lastErr error = fmt.Errorf("host %q: %w: it resolved to no loopback address", host, ErrNotLoopback)
		for _, ip := range ips {
			if !ip.Unmap().IsLoopback() {
				continue
			}
			c, err := d.Dialer.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
			if err == nil {
				return c, nil
			}
			lastErr = err
		}
		return nil, lastErr
	}
	return d.Dialer.DialContext(ctx, network, addr)
}
