package bearer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// introspect asks the authorization server about raw (RFC 7662), reusing a
// recent answer from the cache.
func (v *Verifier) introspect(ctx context.Context, raw string) (*Token, error) {
	// The cache holds digests, not tokens: a heap dump shows no credential.
	key := sha256.Sum256([]byte(raw))
	now := v.now()
	if e, ok := v.cache.get(key, now); ok {
		return e.result()
	}
	tok, refused, err := v.callIntrospection(ctx, raw)
	if err != nil {
		// Not cached: the next request tries again.
		return nil, unavailable("the token could not be checked", err)
	}
	e := cacheEntry{tok: tok, err: refused}
	if v.cache != nil {
		e.expires = now.Add(v.cache.ttl)
		if tok != nil && tok.Expiry.Before(e.expires) {
			e.expires = tok.Expiry // never reuse an answer past the token's life
		}
		v.cache.put(key, e, now)
	}
	return e.result()
}

// callIntrospection makes the RFC 7662 request. A refusal is returned as
// refused; err means no usable answer came.
func (v *Verifier) callIntrospection(ctx context.Context, raw string) (tok *Token, refused *Error, err error) {
	endpoint, err := v.introspectionEndpoint(ctx)
	if err != nil {
		return nil, nil, err
	}
	// RFC 7662 §2.1: token, and token_type_hint (a hint only: the answer
	// is checked below as if there were none).
	form := url.Values{"token": {raw}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: the client identifier and secret "are encoded using
	// the application/x-www-form-urlencoded encoding algorithm" before Basic.
	req.SetBasicAuth(url.QueryEscape(v.cfg.ClientID), url.QueryEscape(v.cfg.ClientSecret))
	resp, err := v.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := readLimited(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("introspection: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		// 401 here means this resource server's own credentials are wrong:
		// an operator's problem, not the token holder's.
		return nil, nil, fmt.Errorf("introspection at %s: status %d", endpoint, resp.StatusCode)
	}
	c, err := decodeObject(body)
	if err != nil {
		return nil, nil, fmt.Errorf("introspection answer: %w", err)
	}
	active, ok := c["active"].(bool)
	if !ok {
		return nil, nil, errors.New("introspection answer: active is not a boolean")
	}
	// RFC 7662 §2.2: "active" REQUIRED; when false the server should say
	// nothing else, and the token must be refused.
	if !active {
		return nil, invalid("the token is not active", nil), nil
	}
	// The hint may be ignored: refuse an active refresh token, or a token
	// bound to a DPoP key, offered as a bearer access token (catalogue
	// JW-02b, DP-01a).
	if tt, ok := c["token_type"].(string); ok && !strings.EqualFold(tt, "Bearer") {
		return nil, invalid("the token is not a bearer access token", fmt.Errorf("token_type %q", tt)), nil
	}
	if use, ok := c["token_use"].(string); ok && use != "access_token" {
		return nil, invalid("the token is not a bearer access token", fmt.Errorf("token_use %q", use)), nil
	}
	tok, refused = v.tokenFromClaims(c, claimRules{})
	return tok, refused, nil
}

// introspectionCache keeps recent introspection answers, bounded in number.
// A nil cache keeps nothing.
type introspectionCache struct {
	ttl time.Duration
	max int

	mu sync.Mutex
	m  map[[32]byte]cacheEntry
}

type cacheEntry struct {
	tok     *Token
	err     *Error
	expires time.Time
}

// result returns copies, so that no caller can change the cached answer.
func (e cacheEntry) result() (*Token, error) {
	if e.err != nil {
		err := *e.err
		return nil, &err
	}
	return e.tok.clone(), nil
}

func (c *introspectionCache) get(key [32]byte, now time.Time) (cacheEntry, bool) {
	if c == nil {
		return cacheEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if ok && !now.Before(e.expires) {
		delete(c.m, key)
		return cacheEntry{}, false
	}
	return e, ok
}

func (c *introspectionCache) put(key [32]byte, e cacheEntry, now time.Time) {
	if !now.Before(e.expires) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.max {
		c.evict(now)
	}
	c.m[key] = e
}

// evict makes room for one entry: it looks at up to 64 entries (map
// iteration order is random), drops the expired among them, and if none
// was, drops the first it saw. The cost per insertion stays constant
// however large the cache, and a flood of distinct tokens cannot grow it.
func (c *introspectionCache) evict(now time.Time) {
	var first [32]byte
	seen, dropped := 0, 0
	for k, e := range c.m {
		if seen == 0 {
			first = k
		}
		if !now.Before(e.expires) {
			delete(c.m, k)
			dropped++
		}
		if seen++; seen == 64 {
			break
		}
	}
	if dropped == 0 {
		delete(c.m, first)
	}
}

// len reports the number of entries, for tests.
func (c *introspectionCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
