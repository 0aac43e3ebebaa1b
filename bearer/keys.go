package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Limits of fetching the metadata and the keys.
const (
	// UnknownKeyRefetchInterval is the least time between two JWKS fetches
	// triggered by an unknown "kid", however many such tokens arrive: a
	// rotation is picked up at once, and a stream of forged kids costs the
	// authorization server one request a minute (catalogue R6).
	UnknownKeyRefetchInterval = 60 * time.Second
	// retryAfterFailure is the least time between fetches after one failed.
	retryAfterFailure = 5 * time.Second
	// Bounds on how long a fetched key set is used before it is fetched
	// again: the Cache-Control max-age of the JWKS response, within these.
	minKeysMaxAge     = 60 * time.Second
	maxKeysMaxAge     = 24 * time.Hour
	defaultKeysMaxAge = 5 * time.Minute
	// maxDocument bounds the metadata, JWKS and introspection responses read.
	maxDocument = 256 << 10
)

// keySet is one fetched JWKS, by kid.
type keySet struct {
	keys    map[string][]jose.JSONWebKey
	expires time.Time
}

// find returns the public key with kid that can check alg.
func (s *keySet) find(kid, alg string) (any, bool) {
	for _, k := range s.keys[kid] {
		if (k.Algorithm == "" || k.Algorithm == alg) && fits(k.Key, alg) {
			return k.Key, true
		}
	}
	return nil, false
}

// errLimited means a fetch was due but the rate limit held it back.
var errLimited = errors.New("bearer: key fetch rate-limited")

// key returns the published key kid for alg. A kid missing from a fresh set
// triggers one refetch, rate-limited by UnknownKeyRefetchInterval; an expired
// set is refetched, and is still used if that fails.
func (v *Verifier) key(ctx context.Context, kid, alg string) (any, error) {
	set := v.keys.Load()
	fresh := set != nil && v.now().Before(set.expires)
	if fresh {
		if k, ok := set.find(kid, alg); ok {
			return k, nil
		}
	}
	next, err := v.refreshKeys(ctx, set, fresh)
	if next != nil {
		if k, ok := next.find(kid, alg); ok {
			return k, nil
		}
	}
	switch {
	case next == nil:
		return nil, unavailable("the authorization server's keys could not be fetched", err)
	case err != nil && !errors.Is(err, errLimited):
		// The key may exist; we cannot tell.
		return nil, err
	default:
		return nil, invalid("the token is signed by an unknown key", fmt.Errorf("kid %q", kid))
	}
}

// refreshKeys fetches the JWKS unless another request did so while this one
// waited (the set is no longer seen) or the rate limits hold it back.
// unknownKid marks a refetch for a kid missing from a fresh set.
func (v *Verifier) refreshKeys(ctx context.Context, seen *keySet, unknownKid bool) (*keySet, error) {
	if err := v.lock(ctx); err != nil {
		return seen, unavailable("the request ended while waiting for the keys", err)
	}
	defer v.unlock()
	if cur := v.keys.Load(); cur != seen {
		return cur, nil
	}
	now := v.now()
	if now.Before(v.nextFetch) || unknownKid && now.Before(v.nextUnknownKidFetch) {
		if v.lastErr != nil {
			return seen, fmt.Errorf("%w after: %w", errLimited, v.lastErr)
		}
		return seen, errLimited
	}
	if unknownKid {
		v.nextUnknownKidFetch = now.Add(UnknownKeyRefetchInterval)
	}
	set, err := v.fetchKeys(ctx, now)
	if err != nil {
		v.nextFetch = now.Add(retryAfterFailure)
		v.lastErr = err
		return seen, unavailable("the authorization server's keys could not be fetched", err)
	}
	v.nextFetch, v.lastErr = time.Time{}, nil
	v.keys.Store(set)
	return set, nil
}

// lock takes the fetch semaphore, or gives up when ctx ends.
func (v *Verifier) lock(ctx context.Context) error {
	select {
	case v.fetch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (v *Verifier) unlock() { <-v.fetch }

// fetchKeys fetches and parses the JWKS. Held under the fetch semaphore.
func (v *Verifier) fetchKeys(ctx context.Context, now time.Time) (*keySet, error) {
	ends, err := v.endpointsLocked(ctx)
	if err != nil {
		return nil, err
	}
	if ends.jwks == "" {
		return nil, errors.New("the authorization server metadata has no jwks_uri")
	}
	body, header, err := v.get(ctx, ends.jwks, "application/jwk-set+json, application/json")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", ends.jwks, err)
	}
	set := &keySet{keys: map[string][]jose.JSONWebKey{}, expires: now.Add(keysMaxAge(header.Get("Cache-Control")))}
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		// RFC 7517 §5: "Implementations SHOULD ignore JWKs within a JWK Set
		// that use "kty" (key type) values that are not understood by them".
		if err := k.UnmarshalJSON(raw); err != nil || k.KeyID == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if !k.IsPublic() {
			if _, symmetric := k.Key.([]byte); symmetric {
				continue // a shared secret never checks an access token here
			}
			k = k.Public()
		}
		set.keys[k.KeyID] = append(set.keys[k.KeyID], k)
	}
	return set, nil
}

// keysMaxAge reads max-age from a Cache-Control header, bounded.
func keysMaxAge(cc string) time.Duration {
	d := defaultKeysMaxAge
	for _, dir := range strings.Split(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return minKeysMaxAge
		case "max-age":
			if n, err := strconv.Atoi(strings.Trim(val, `"`)); err == nil {
				d = time.Duration(n) * time.Second
			}
		}
	}
	return min(max(d, minKeysMaxAge), maxKeysMaxAge)
}

// endpointsLocked returns the JWKS and introspection URLs, from the
// configuration or from the authorization server metadata (RFC 8414), which
// is fetched once. Held under the fetch semaphore.
func (v *Verifier) endpointsLocked(ctx context.Context) (*endpoints, error) {
	if e := v.endpoints.Load(); e != nil {
		return e, nil
	}
	now := v.now()
	if now.Before(v.nextMetadataFetch) {
		return nil, v.lastErr
	}
	e, err := v.fetchMetadata(ctx)
	if err != nil {
		v.nextMetadataFetch = now.Add(retryAfterFailure)
		v.lastErr = err
		return nil, err
	}
	v.endpoints.Store(e)
	return e, nil
}

// introspectionEndpoint returns the introspection URL.
func (v *Verifier) introspectionEndpoint(ctx context.Context) (string, error) {
	e := v.endpoints.Load()
	if e == nil {
		if err := v.lock(ctx); err != nil {
			return "", err
		}
		var err error
		e, err = v.endpointsLocked(ctx)
		v.unlock()
		if err != nil {
			return "", err
		}
	}
	if e.introspection == "" {
		return "", errors.New("the authorization server metadata has no introspection_endpoint")
	}
	return e.introspection, nil
}

func (v *Verifier) fetchMetadata(ctx context.Context) (*endpoints, error) {
	body, _, err := v.get(ctx, v.metadataURL, "application/json")
	if err != nil {
		return nil, err
	}
	var m struct {
		Issuer        string `json:"issuer"`
		JWKSURI       string `json:"jwks_uri"`
		Introspection string `json:"introspection_endpoint"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("metadata %s: %w", v.metadataURL, err)
	}
	// RFC 8414 §3.3: "The "issuer" value returned MUST be identical to the
	// authorization server's issuer identifier value into which the
	// well-known URI string was inserted ... If these values are not
	// identical, the data contained in the response MUST NOT be used."
	if m.Issuer != v.cfg.Issuer {
		return nil, fmt.Errorf("metadata %s names issuer %q, not %q", v.metadataURL, m.Issuer, v.cfg.Issuer)
	}
	e := &endpoints{jwks: v.cfg.JWKSURL, introspection: v.cfg.IntrospectionURL}
	if e.jwks == "" {
		e.jwks = m.JWKSURI
	}
	if e.introspection == "" {
		e.introspection = m.Introspection
	}
	for name, u := range map[string]string{"jwks_uri": e.jwks, "introspection_endpoint": e.introspection} {
		if u != "" {
			if err := checkURL(name, u); err != nil {
				return nil, fmt.Errorf("metadata %s: %w", v.metadataURL, err)
			}
		}
	}
	return e, nil
}

// metadataURL is where RFC 8414 §3.1 puts the metadata of issuer: the
// well-known path goes between the host and the issuer's own path.
func metadataURL(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	u.Path = "/.well-known/oauth-authorization-server" + strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u.String()
}

// get fetches a JSON document, bounded in size.
func (v *Verifier) get(ctx context.Context, u, accept string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := v.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := readLimited(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	return body, resp.Header, nil
}

func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxDocument+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDocument {
		return nil, fmt.Errorf("response larger than %d bytes", maxDocument)
	}
	return b, nil
}
