package token

import (
	"crypto"
	"crypto/ecdsa"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultJWTCacheSize is how many verified JWT access tokens an Introspector
// remembers when JWTCacheSize is zero. An entry is the token (some 400
// bytes) and its claims, about 1 KB in all: 10 MB at most.
const DefaultJWTCacheSize = 10000

// claimsCache remembers the claims of access tokens the Introspector has
// established, under a key: JWTs that ParseAccess accepted, by the token
// (then with the kid and key that verified it), so that introspecting one
// again costs no parsing and no signature check; and opaque tokens found
// active, by digest, so that it costs no store read. It only ever vouches
// for what was checked once: the caller checks on every hit that the token
// is still within its time claims (and a JWT's key still published), and
// the deny-list, client and consent as for any token.
//
// It holds at most size entries in a slice of slots. A new token takes a
// free slot; when there is none, a sweep drops the expired entries, and
// failing that the slot under a hand that goes round the slots is
// overwritten, so roughly the oldest insertion goes. The sweep is the only
// scan, and runs at most once every size insertions: O(1) amortised.
type claimsCache struct {
	mu      sync.Mutex
	size    int
	index   map[string]int // token → slot
	entries []claimsEntry  // len grows to size
	free    []int          // slots emptied by expiry or a failed check
	hand    int            // the next slot to overwrite when full
	sweepIn int            // insertions before the next sweep may run
}

type claimsEntry struct {
	raw    string // "" for a free slot
	claims AccessClaims
	kid    string
	key    crypto.PublicKey // the public key that verified the token
}

func newClaimsCache(size int) *claimsCache {
	return &claimsCache{size: size, index: make(map[string]int)}
}

// get returns what the cache knows of raw: a copy of its claims, and the
// kid and public key that verified it. The caller checks that these still
// hold, and removes raw if they do not.
func (c *claimsCache) get(raw string) (AccessClaims, string, crypto.PublicKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	slot, ok := c.index[raw]
	if !ok {
		return AccessClaims{}, "", nil, false
	}
	e := &c.entries[slot]
	claims := e.claims
	claims.Audience = slices.Clone(claims.Audience) // callers may keep or change it
	return claims, e.kid, e.key, true
}

// put remembers that raw verified with key kid and has claims.
func (c *claimsCache) put(raw string, claims *AccessClaims, kid string, key crypto.PublicKey, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.index[raw]; ok {
		return // another request verified it at the same time
	}
	slot := -1
	switch {
	case len(c.free) > 0:
	case len(c.entries) < c.size:
		slot = len(c.entries)
		c.entries = append(c.entries, claimsEntry{})
	case c.sweepIn <= 0:
		c.sweep(now)
	}
	if slot < 0 && len(c.free) > 0 {
		slot = c.free[len(c.free)-1]
		c.free = c.free[:len(c.free)-1]
	}
	if slot < 0 {
		slot = c.hand
		c.hand = (c.hand + 1) % c.size
		delete(c.index, c.entries[slot].raw)
	}
	if c.sweepIn > 0 {
		c.sweepIn--
	}
	// A copy of the token, so as not to keep the request that held it, and
	// of the audiences, which the caller goes on using.
	e := claimsEntry{raw: strings.Clone(raw), claims: *claims, kid: kid, key: key}
	e.claims.Audience = slices.Clone(claims.Audience)
	c.entries[slot] = e
	c.index[e.raw] = slot
}

// remove forgets raw, if the cache holds it.
func (c *claimsCache) remove(raw string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if slot, ok := c.index[raw]; ok {
		c.drop(slot)
	}
}

// sweep drops every entry expired at now.
func (c *claimsCache) sweep(now time.Time) {
	for slot := range c.entries {
		if e := &c.entries[slot]; e.raw != "" && expiredAt(e.claims.Expiry, now) {
			c.drop(slot)
		}
	}
	c.sweepIn = c.size
}

func (c *claimsCache) drop(slot int) {
	delete(c.index, c.entries[slot].raw)
	c.entries[slot] = claimsEntry{}
	c.free = append(c.free, slot)
}

// len is how many tokens the cache holds.
func (c *claimsCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.index)
}

// sameKey reports whether a and b are the same public key: the very same
// value in the common case, as the ring hands out the key it loaded.
func sameKey(a, b crypto.PublicKey) bool {
	if pa, ok := a.(*ecdsa.PublicKey); ok {
		if pb, ok := b.(*ecdsa.PublicKey); ok && pa == pb {
			return true
		}
	}
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
