package outbound

import (
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		ip      string
		blocked bool
		never   bool
	}{
		// Loopback, private, link-local, CGNAT, and their edges.
		{"127.0.0.1", true, false},
		{"127.255.255.254", true, false},
		{"10.0.0.1", true, false},
		{"10.255.255.255", true, false},
		{"172.16.0.1", true, false},
		{"172.31.255.255", true, false},
		{"192.168.1.1", true, false},
		{"169.254.169.254", true, false},
		{"100.64.0.1", true, false},
		{"100.127.255.255", true, false},
		{"192.0.0.8", true, false},
		{"192.0.2.1", true, false},
		{"198.18.0.1", true, false},
		{"240.0.0.1", true, false},
		{"0.0.0.0", true, true},
		{"0.1.2.3", true, true},
		{"224.0.0.1", true, true},
		{"239.255.255.250", true, true},
		{"255.255.255.255", true, true},
		{"::1", true, false},
		{"::", true, true},
		{"fc00::1", true, false},
		{"fd00::2", true, false},
		{"fe80::1", true, false},
		{"fe80::1%eth0", true, false},
		{"fec0::1", true, false},
		{"ff02::1", true, true},
		{"100::1", true, false},
		{"2001:db8::1", true, false},
		{"2001::1", true, false},
		{"5f00::1", true, false},
		{"4000::1", true, false},
		// IPv4 inside IPv6.
		{"::ffff:127.0.0.1", true, false},
		{"::ffff:7f00:1", true, false},
		{"::ffff:169.254.169.254", true, false},
		{"::ffff:10.0.0.1", true, false},
		{"::ffff:0.0.0.0", true, true},
		{"::127.0.0.1", true, false},
		{"::8.8.8.8", true, false},
		{"::ffff:0:127.0.0.1", true, false},
		{"64:ff9b::10.0.0.1", true, false},
		{"64:ff9b::127.0.0.1", true, false},
		{"64:ff9b::169.254.169.254", true, false},
		{"64:ff9b:1::1", true, false},
		{"2002:7f00:1::1", true, false},
		{"2002:c0a8:101::1", true, false},
		{"2002:a9fe:a9fe::1", true, false},
		// Public destinations.
		{"8.8.8.8", false, false},
		{"1.1.1.1", false, false},
		{"11.0.0.1", false, false},
		{"172.32.0.1", false, false},
		{"100.128.0.1", false, false},
		{"169.255.0.1", false, false},
		{"192.169.0.1", false, false},
		{"223.255.255.255", false, false},
		{"2606:4700:4700::1111", false, false},
		{"2001:4860:4860::8888", false, false},
		{"::ffff:8.8.8.8", false, false},
		{"64:ff9b::8.8.8.8", false, false},
		{"2002:808:808::1", false, false},
	}
	for _, tt := range tests {
		reason, never := classify(netip.MustParseAddr(tt.ip))
		if (reason != "") != tt.blocked || never != tt.never {
			t.Errorf("classify(%s) = %q, never=%v; want blocked=%v never=%v", tt.ip, reason, never, tt.blocked, tt.never)
		}
	}
	if reason, _ := classify(netip.Addr{}); reason == "" {
		t.Error("classify(zero Addr) allowed it")
	}
}

func TestRefusePolicy(t *testing.T) {
	internal := &Client{AllowInternal: true}
	cidrs := &Client{AllowCIDRs: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("fd00::/8"),
		netip.MustParsePrefix("0.0.0.0/0"), // cannot permit what is never a destination
	}}
	tests := []struct {
		c     *Client
		ip    string
		allow bool
	}{
		{&Client{}, "8.8.8.8", true},
		{&Client{}, "127.0.0.1", false},
		{internal, "127.0.0.1", true},
		{internal, "::ffff:127.0.0.1", true},
		{internal, "10.0.0.1", true},
		{internal, "fe80::1", true},
		{internal, "0.0.0.0", false},
		{internal, "::", false},
		{internal, "224.0.0.1", false},
		{internal, "ff02::1", false},
		{internal, "255.255.255.255", false},
		{cidrs, "10.1.2.3", true},
		{cidrs, "::ffff:10.1.2.3", true},
		{cidrs, "fd00::2", true},
		{cidrs, "192.168.1.1", true}, // inside 0.0.0.0/0
		{cidrs, "fe80::1", false},
		{cidrs, "0.0.0.0", false},
		{cidrs, "255.255.255.255", false},
		{&Client{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, "192.168.1.1", false},
		{&Client{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, "127.0.0.1", false},
	}
	for _, tt := range tests {
		if got := tt.c.refuse(netip.MustParseAddr(tt.ip)) == ""; got != tt.allow {
			t.Errorf("refuse(%s) with AllowInternal=%v AllowCIDRs=%v: allowed=%v, want %v",
				tt.ip, tt.c.AllowInternal, tt.c.AllowCIDRs, got, tt.allow)
		}
	}
}
