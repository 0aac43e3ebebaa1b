package outbound

import (
	"fmt"
	"net/netip"
)

// BlockedError reports a request that the Client refused to make because of
// where it would go. It is a security event: a registered URL that points
// into the server's own network is how SSRF starts (Keycloak CVE-2020-10770,
// MITREid CVE-2021-26715). Host and Reason may be logged; they hold no secret.
type BlockedError struct {
	Host   string     // the host as named in the URL: a DNS name or an IP literal
	IP     netip.Addr // the address refused at dial time; zero when the URL itself was refused
	Reason string     // why, in a few words: "loopback", "userinfo in URL", …
}

func (e *BlockedError) Error() string {
	if e.IP.IsValid() {
		return fmt.Sprintf("outbound: refused to connect to %s (%s): %s", e.IP, e.Host, e.Reason)
	}
	return fmt.Sprintf("outbound: refused request to %q: %s", e.Host, e.Reason)
}

// addrRange is one range of special-purpose addresses (IANA IPv4 and IPv6
// Special-Purpose Address Registries, RFC 6890) that is not a public
// destination.
type addrRange struct {
	prefix netip.Prefix
	reason string
	// never marks addresses that are not a destination at all (unspecified,
	// multicast, broadcast). Connecting to 0.0.0.0 reaches the local host on
	// Linux, so neither AllowInternal nor AllowCIDRs permits these.
	never bool
	// v4At > 0 marks a range whose addresses carry an IPv4 address at this
	// byte offset; an embedded address that is refused refuses the whole.
	v4At int
	// onlyEmbedded marks a translation range (NAT64, 6to4) that is refused
	// only when its embedded IPv4 address is: 64:ff9b::8.8.8.8 is how an
	// IPv6-only host reaches a public IPv4 one.
	onlyEmbedded bool
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// The first matching range wins, so narrower ranges come first.
var v4Ranges = []addrRange{
	{prefix: mustPrefix("0.0.0.0/8"), reason: "unspecified address (this network)", never: true},
	{prefix: mustPrefix("10.0.0.0/8"), reason: "private network"},
	{prefix: mustPrefix("100.64.0.0/10"), reason: "shared address space (carrier-grade NAT)"},
	{prefix: mustPrefix("127.0.0.0/8"), reason: "loopback"},
	{prefix: mustPrefix("169.254.0.0/16"), reason: "link-local (cloud metadata service)"},
	{prefix: mustPrefix("172.16.0.0/12"), reason: "private network"},
	{prefix: mustPrefix("192.0.0.0/24"), reason: "IETF protocol assignments"},
	{prefix: mustPrefix("192.0.2.0/24"), reason: "documentation (TEST-NET-1)"},
	{prefix: mustPrefix("192.88.99.0/24"), reason: "6to4 relay anycast"},
	{prefix: mustPrefix("192.168.0.0/16"), reason: "private network"},
	{prefix: mustPrefix("198.18.0.0/15"), reason: "benchmarking"},
	{prefix: mustPrefix("198.51.100.0/24"), reason: "documentation (TEST-NET-2)"},
	{prefix: mustPrefix("203.0.113.0/24"), reason: "documentation (TEST-NET-3)"},
	{prefix: mustPrefix("224.0.0.0/4"), reason: "multicast", never: true},
	{prefix: mustPrefix("255.255.255.255/32"), reason: "broadcast", never: true},
	{prefix: mustPrefix("240.0.0.0/4"), reason: "reserved"},
}

var v6Ranges = []addrRange{
	{prefix: mustPrefix("::/128"), reason: "unspecified address", never: true},
	{prefix: mustPrefix("::1/128"), reason: "loopback"},
	// ::ffff:0:0/96 (IPv4-mapped) is unmapped before this table is consulted.
	{prefix: mustPrefix("::/96"), reason: "IPv4-compatible IPv6 (deprecated)", v4At: 12},
	{prefix: mustPrefix("::ffff:0:0:0/96"), reason: "IPv4-translated IPv6", v4At: 12},
	{prefix: mustPrefix("64:ff9b::/96"), reason: "NAT64", v4At: 12, onlyEmbedded: true},
	{prefix: mustPrefix("64:ff9b:1::/48"), reason: "local-use NAT64"},
	{prefix: mustPrefix("100::/64"), reason: "discard-only"},
	{prefix: mustPrefix("2001::/32"), reason: "Teredo"},
	{prefix: mustPrefix("2001:2::/48"), reason: "benchmarking"},
	{prefix: mustPrefix("2001:db8::/32"), reason: "documentation"},
	{prefix: mustPrefix("2002::/16"), reason: "6to4", v4At: 2, onlyEmbedded: true},
	{prefix: mustPrefix("3fff::/20"), reason: "documentation"},
	{prefix: mustPrefix("5f00::/16"), reason: "segment routing (SRv6)"},
	{prefix: mustPrefix("fc00::/7"), reason: "unique local (private network)"},
	{prefix: mustPrefix("fe80::/10"), reason: "link-local"},
	{prefix: mustPrefix("fec0::/10"), reason: "site-local (deprecated)"},
	{prefix: mustPrefix("ff00::/8"), reason: "multicast", never: true},
}

// globalV6 is the IPv6 global unicast space (RFC 4291 §2.4); everything
// outside it that no range above names is reserved or unassigned.
var globalV6 = mustPrefix("2000::/3")

// classify says why ip is not a public destination, or returns "" when it
// is one. never reports addresses that no configuration may permit.
func classify(ip netip.Addr) (reason string, never bool) {
	if !ip.IsValid() {
		return "not an IP address", true
	}
	// Prefix.Contains never matches an address with a zone, so drop it: a
	// zone only ever qualifies link-local and multicast addresses anyway.
	ip = ip.WithZone("")
	if ip.Is4In6() {
		// ::ffff:127.0.0.1 is 127.0.0.1 to the kernel.
		if r, n := classify(ip.Unmap()); r != "" {
			return r + " (IPv4-mapped IPv6)", n
		}
		return "", false
	}
	table := v6Ranges
	if ip.Is4() {
		table = v4Ranges
	}
	for _, r := range table {
		if !r.prefix.Contains(ip) {
			continue
		}
		if r.v4At > 0 {
			b := ip.As16()
			v4 := netip.AddrFrom4([4]byte(b[r.v4At : r.v4At+4]))
			if er, n := classify(v4); er != "" {
				return er + " (embedded in " + r.reason + ")", n
			}
			if r.onlyEmbedded {
				return "", false
			}
		}
		return r.reason, r.never
	}
	if ip.Is6() && !globalV6.Contains(ip) {
		return "reserved IPv6 (outside 2000::/3)", false
	}
	return "", false
}

// refuse applies the Client's policy to ip and returns why it may not be
// connected to, or "" if it may.
func (c *Client) refuse(ip netip.Addr) string {
	reason, never := classify(ip)
	if reason == "" || never {
		return reason
	}
	if c.AllowInternal {
		return ""
	}
	ip = ip.WithZone("")
	for _, p := range c.AllowCIDRs {
		if p.Contains(ip) || p.Contains(ip.Unmap()) {
			return ""
		}
	}
	return reason
}
