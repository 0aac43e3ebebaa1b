package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/secret"
)

// Algorithms the ring keeps a key for: ES256 signs access tokens (RFC 9068),
// RS256 signs ID tokens (OpenID Connect Core §15.1 makes it mandatory).
const (
	ES256 = "ES256"
	RS256 = "RS256"
)

// Algorithms lists every algorithm the ring keeps a key for.
var Algorithms = []string{ES256, RS256}

// Ring holds the signing keys. The newest key of an algorithm whose NotBefore
// has passed and that is not retired signs; every key not yet removed
// verifies and appears in the JWKS. All nodes read the same keys from the
// database, and Run reloads them so that a rotation on one node reaches all.
// Rotate, RotateNow and RunRotation replace keys (rotate.go).
type Ring struct {
	Store  valet.KeyStore
	Sealer *secret.Sealer
	Log    *slog.Logger
	Now    func() time.Time

	// PrePublish is how long a new key is published before it signs; at
	// least JWKSMaxAge (pin P21). Zero means DefaultPrePublish.
	PrePublish time.Duration
	// MaxTokenLifetime is the longest any JWT the ring signs stays valid,
	// plus clock skew: a replaced key stays published this long after it
	// stops signing. Zero means DefaultMaxTokenLifetime.
	MaxTokenLifetime time.Duration
	// RotateEvery is the age at which RunRotation replaces a key. Zero
	// means DefaultRotateEvery.
	RotateEvery time.Duration

	mu   sync.RWMutex
	keys []*key // newest first
}

type key struct {
	meta    *valet.SigningKey
	private crypto.Signer
	public  jose.JSONWebKey

	// headers caches the base64url protected header by "typ" (string →
	// string); see jws.go.
	headers sync.Map
}

// Init makes sure a key of every algorithm exists, generating the missing
// ones, then loads them. When several nodes start at once on one database,
// KeyStore.CreateFirst lets exactly one key of each algorithm win.
func (r *Ring) Init(ctx context.Context) error {
	existing, err := r.Store.List(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	for _, alg := range Algorithms {
		if hasAlg(existing, alg) {
			continue
		}
		k, err := r.generate(alg, r.Now())
		if err != nil {
			return err
		}
		created, err := r.Store.CreateFirst(ctx, k)
		if err != nil {
			return fmt.Errorf("store the first %s signing key: %w", alg, err)
		}
		if created && r.Log != nil {
			r.Log.Info("generated signing key", "kid", k.ID, "alg", alg)
		}
	}
	return r.Load(ctx)
}

func hasAlg(ks []*valet.SigningKey, alg string) bool {
	for _, k := range ks {
		if k.Algorithm == alg {
			return true
		}
	}
	return false
}

// generate makes a new key of alg, usable from notBefore, sealed under its kid.
func (r *Ring) generate(alg string, notBefore time.Time) (*valet.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode %s key: %w", alg, err)
	}
	kid := secret.ID("")
	pub := jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"}
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode %s public key: %w", alg, err)
	}
	now := r.Now().UTC()
	return &valet.SigningKey{
		ID: kid, Algorithm: alg,
		Sealed:    r.Sealer.Seal(der, kid),
		Public:    pubJSON,
		CreatedAt: now, NotBefore: notBefore.UTC(),
	}, nil
}

// Load reads every key from the store and unseals it. A key that cannot be
// unsealed means VALET_SECRET changed: that is an error the operator must fix.
func (r *Ring) Load(ctx context.Context) error {
	metas, err := r.Store.List(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	r.mu.RLock()
	old := make(map[string]*key, len(r.keys))
	for _, k := range r.keys {
		old[k.meta.ID] = k
	}
	r.mu.RUnlock()

	loaded := make([]*key, 0, len(metas))
	for _, m := range metas {
		if k, ok := old[m.ID]; ok && k.meta.RetiredAt.Equal(m.RetiredAt) && k.meta.RemoveAt.Equal(m.RemoveAt) {
			loaded = append(loaded, k)
			continue
		}
		der, err := r.Sealer.Open(m.Sealed, m.ID)
		if err != nil {
			return fmt.Errorf("signing key %s: %w (set VALET_SECRET to the secret the database was created with)", m.ID, err)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", m.ID, err)
		}
		priv, ok := parsed.(crypto.Signer)
		if !ok {
			return fmt.Errorf("signing key %s: not a signing key", m.ID)
		}
		var pub jose.JSONWebKey
		if err := json.Unmarshal(m.Public, &pub); err != nil {
			return fmt.Errorf("signing key %s: public key: %w", m.ID, err)
		}
		// The JWKS serves this JWK as it is: it must be the public half of
		// this very key, and nothing more.
		if eq, ok := priv.Public().(interface{ Equal(crypto.PublicKey) bool }); !pub.IsPublic() || !pub.Valid() ||
			pub.KeyID != m.ID || pub.Algorithm != m.Algorithm || !ok || !eq.Equal(pub.Key) {
			return fmt.Errorf("signing key %s: the stored public JWK is not the public half of the key", m.ID)
		}
		loaded = append(loaded, &key{meta: m, private: priv, public: pub})
	}
	r.mu.Lock()
	r.keys = loaded
	r.mu.Unlock()
	return nil
}

// Run reloads the keys every interval until ctx ends, so that every node
// follows rotations made elsewhere. Failures are logged and retried.
func (r *Ring) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Load(ctx); err != nil && ctx.Err() == nil && r.Log != nil {
				r.Log.Warn("reload signing keys", "err", err)
			}
		}
	}
}

// ErrNoKey means no key of the algorithm may sign now.
var ErrNoKey = errors.New("keys: no usable signing key")

// signingKey returns the newest key of alg that may sign at now.
func (r *Ring) signingKey(alg string) (*key, error) {
	now := r.Now()
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, k := range r.keys {
		m := k.meta
		if m.Algorithm == alg && !m.NotBefore.After(now) && (m.RetiredAt.IsZero() || now.Before(m.RetiredAt)) {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w for %s", ErrNoKey, alg)
}

// Sign signs payload as a compact JWS with the current key of alg, setting
// the "typ" header to typ (such as "at+jwt") and "kid" to the key's ID.
func (r *Ring) Sign(alg, typ string, payload []byte) (string, error) {
	k, err := r.signingKey(alg)
	if err != nil {
		return "", err
	}
	return k.sign(typ, payload)
}

// PublicKey returns the public key with the given kid, if it is still published.
func (r *Ring) PublicKey(kid string) (jose.JSONWebKey, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	now := r.Now()
	for _, k := range r.keys {
		if k.meta.ID == kid && (k.meta.RemoveAt.IsZero() || now.Before(k.meta.RemoveAt)) {
			return k.public, true
		}
	}
	return jose.JSONWebKey{}, false
}

// JWKS returns the public halves of every published key (RFC 7517 §5). No
// private member ever appears: each entry is built from the public JWK.
func (r *Ring) JWKS() jose.JSONWebKeySet {
	r.mu.RLock()
	defer r.mu.RUnlock()
	now := r.Now()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range r.keys {
		if k.meta.RemoveAt.IsZero() || now.Before(k.meta.RemoveAt) {
			set.Keys = append(set.Keys, k.public)
		}
	}
	return set
}
