package outbound

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
)

// fakeResolver answers every A and AAAA query, whatever the name, with the
// given addresses. It speaks DNS over an in-memory pipe, so no query leaves
// the process; it stands for any resolver, including one that turns
// "0x7f.1" into 127.0.0.1 or rebinds a name between lookups.
func fakeResolver(addrs ...string) *net.Resolver {
	var ips []netip.Addr
	for _, a := range addrs {
		ips = append(ips, netip.MustParseAddr(a))
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			client, server := net.Pipe()
			go serveDNS(server, ips)
			return client, nil
		},
	}
}

// serveDNS answers queries framed as over TCP (a two-byte length first),
// which is how the Go resolver talks to a conn that is not a PacketConn.
func serveDNS(c net.Conn, ips []netip.Addr) {
	defer c.Close()
	for {
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		resp := dnsAnswer(q, ips)
		if resp == nil {
			return
		}
		msg := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := c.Write(append(msg, resp...)); err != nil {
			return
		}
	}
}

// dnsAnswer builds the response to query q (RFC 1035 §4.1).
func dnsAnswer(q []byte, ips []netip.Addr) []byte {
	if len(q) < 12 {
		return nil
	}
	i := 12
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	i++ // the root label
	if i+4 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i:])
	question := q[12 : i+4]

	var answers [][]byte
	for _, ip := range ips {
		switch {
		case qtype == 1 && ip.Is4(): // A
			a := ip.As4()
			answers = append(answers, a[:])
		case qtype == 28 && ip.Is6(): // AAAA
			a := ip.As16()
			answers = append(answers, a[:])
		}
	}
	m := make([]byte, 12, 512)
	copy(m, q[:2])            // ID
	m[2] = 0x81               // QR, RD
	m[3] = 0x80               // RA, NOERROR
	m[5] = 1                  // QDCOUNT
	m[7] = byte(len(answers)) // ANCOUNT
	m = append(m, question...)
	for _, rdata := range answers {
		m = append(m, 0xc0, 12) // name: pointer to the question's
		m = binary.BigEndian.AppendUint16(m, qtype)
		m = binary.BigEndian.AppendUint16(m, 1) // class IN
		m = binary.BigEndian.AppendUint32(m, 60)
		m = binary.BigEndian.AppendUint16(m, uint16(len(rdata)))
		m = append(m, rdata...)
	}
	return m
}
