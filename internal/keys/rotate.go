package keys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/valetauth/valet"
)

// JWKSMaxAge is how long verifiers may cache the JWK Set: the max-age of the
// Cache-Control header the oidc package sends with /jwks. A new key is
// published at least this long before it signs (pin P21), so that a verifier
// holding a cached JWKS already knows every kid it can meet.
const JWKSMaxAge = 15 * time.Minute

// Defaults of the rotation fields of Ring.
const (
	// DefaultPrePublish is four JWKS cache lifetimes: verifiers that refetch
	// late, or whose first fetch failed, still see the key before it signs.
	DefaultPrePublish = time.Hour
	// DefaultMaxTokenLifetime covers a 10-minute access token, a 1-hour ID
	// token and clock skew between nodes, with room to spare.
	DefaultMaxTokenLifetime = 2 * time.Hour
	// DefaultRotateEvery is the age at which a scheduled rotation replaces a key.
	DefaultRotateEvery = 30 * 24 * time.Hour
)

// forceHorizon is the createdBefore of a forced rotation: far enough in the
// future that every existing key counts as old, even across clock skew.
const forceHorizon = time.Hour

// Rotate starts replacing the key of alg, following the rotation of catalogue
// R6. The new key is published at once but signs only from now+PrePublish;
// the keys it replaces keep signing until then, and stay published for
// MaxTokenLifetime more, until every token they signed has expired. Unless
// force is set, nothing happens while the newest key of alg is younger than
// RotateEvery: that is the scheduled check RunRotation makes.
//
// Several nodes may call Rotate at once: KeyStore.Rotate lets exactly one
// new key in, and the others return false. On success the ring reloads, so
// this node publishes the new key at once; other nodes follow at their next
// reload (Run).
func (r *Ring) Rotate(ctx context.Context, alg string, force bool) (bool, error) {
	if err := r.checkRotation(); err != nil {
		return false, err
	}
	now := r.Now()
	createdBefore := now.Add(-orDefault(r.RotateEvery, DefaultRotateEvery))
	if force {
		createdBefore = now.Add(forceHorizon)
	} else {
		// A cheap read first: on most checks nothing is due, and generating
		// an RSA key only to throw it away costs tens of milliseconds.
		due, err := r.due(ctx, alg, createdBefore)
		if err != nil || !due {
			return false, err
		}
	}
	notBefore := now.Add(orDefault(r.PrePublish, DefaultPrePublish))
	removeAt := notBefore.Add(orDefault(r.MaxTokenLifetime, DefaultMaxTokenLifetime))
	next, err := r.rotate(ctx, alg, notBefore, removeAt, createdBefore)
	return next != nil, err
}

// RotateNow replaces the key of alg at once, for a key that may have leaked:
// the new key signs from now, and every other key of alg, retired or not,
// leaves the JWKS immediately. Every token those keys signed then fails
// verification and introspects inactive (catalogue R6, "emergency
// rotation"): clients must get new tokens. Verifiers that cached the JWKS
// refetch it on the unknown kid. Other nodes switch at their next reload.
func (r *Ring) RotateNow(ctx context.Context, alg string) error {
	now := r.Now()
	next, err := r.rotate(ctx, alg, now, now, now.Add(forceHorizon))
	if err != nil {
		return err
	}
	if next == nil {
		return fmt.Errorf("rotate %s now: the newest %s key was created more than %v in the future; check the clocks of the nodes", alg, alg, forceHorizon)
	}
	// KeyStore.Rotate retired only the keys that still signed; keys retired
	// by earlier rotations are still published, and may have leaked too.
	metas, err := r.Store.List(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	for _, m := range metas {
		if m.Algorithm != alg || m.ID == next.ID {
			continue
		}
		if !m.RemoveAt.IsZero() && !m.RemoveAt.After(now) {
			continue
		}
		retired := m.RetiredAt
		if retired.IsZero() || retired.After(now) {
			retired = now
		}
		if err := r.Store.Retire(ctx, m.ID, retired, now); err != nil && !errors.Is(err, valet.ErrNotFound) {
			return fmt.Errorf("remove signing key %s: %w", m.ID, err)
		}
	}
	if r.Log != nil {
		r.Log.Warn("replaced signing keys at once: tokens signed by the old keys no longer verify", "alg", alg)
	}
	return r.Load(ctx)
}

// RunRotation runs the scheduled rotation until ctx ends: at start and then
// every interval (10 minutes is plenty), it calls Rotate(alg, false) for
// every algorithm, so a key is replaced once it is RotateEvery old. Run it on
// every node: the store lets only one of them make the new key. Failures are
// logged and retried at the next check.
func (r *Ring) RunRotation(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for _, alg := range Algorithms {
			rotated, err := r.Rotate(ctx, alg, false)
			switch {
			case err != nil && ctx.Err() == nil && r.Log != nil:
				r.Log.Warn("scheduled signing key rotation", "alg", alg, "err", err)
			case rotated && r.Log != nil:
				r.Log.Info("rotated signing key on schedule", "alg", alg)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkRotation refuses settings that would break verifiers (pin P21).
func (r *Ring) checkRotation() error {
	if p := orDefault(r.PrePublish, DefaultPrePublish); p < JWKSMaxAge {
		return fmt.Errorf("keys: PrePublish %v is shorter than the JWKS cache max-age %v (pin P21): verifiers would meet kids they do not know yet", p, JWKSMaxAge)
	}
	if r.MaxTokenLifetime < 0 || r.RotateEvery < 0 {
		return errors.New("keys: MaxTokenLifetime and RotateEvery cannot be negative")
	}
	return nil
}

// due reports whether the newest key of alg was created before createdBefore.
func (r *Ring) due(ctx context.Context, alg string, createdBefore time.Time) (bool, error) {
	metas, err := r.Store.List(ctx)
	if err != nil {
		return false, fmt.Errorf("list signing keys: %w", err)
	}
	for _, m := range metas { // newest first
		if m.Algorithm == alg {
			return m.CreatedAt.Before(createdBefore), nil
		}
	}
	return true, nil
}

// rotate generates a key of alg that signs from notBefore and hands it to
// KeyStore.Rotate, which retires the others at notBefore and removes them
// at removeAt; then it reloads. It returns the new key, or nil when another
// rotation came first.
func (r *Ring) rotate(ctx context.Context, alg string, notBefore, removeAt, createdBefore time.Time) (*valet.SigningKey, error) {
	next, err := r.generate(alg, notBefore)
	if err != nil {
		return nil, err
	}
	rotated, err := r.Store.Rotate(ctx, next, removeAt.UTC(), createdBefore.UTC())
	if err != nil {
		return nil, fmt.Errorf("rotate the %s signing key: %w", alg, err)
	}
	if !rotated {
		return nil, nil
	}
	if r.Log != nil {
		r.Log.Info("published a new signing key", "kid", next.ID, "alg", alg, "signs_from", next.NotBefore, "old_keys_removed_at", removeAt.UTC())
	}
	return next, r.Load(ctx)
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
