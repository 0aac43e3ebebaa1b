package secret

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"sync"
)

// Purposes of a digest; each gets its own derived key, so a digest of one kind
// can never be looked up as another.
const (
	PurposeClientSecret = "client-secret"
	PurposeCode         = "authorization-code"
	PurposeRefresh      = "refresh-token"
	PurposeAccess       = "access-token"
	PurposeSession      = "session"
	PurposeCSRF         = "csrf"
)

// Digester computes keyed digests: HMAC-SHA-256 under a key derived from the
// server secret and the purpose. The database holds only digests, so a dump
// of it yields no usable credential. Because Valet's secrets and tokens carry
// 256 random bits, a fast keyed hash is right here: no bcrypt per request.
type Digester struct {
	keys sync.Map // purpose -> []byte
	root []byte
	pool sync.Map // purpose -> *sync.Pool of hash.Hash
}

// NewDigester returns a Digester keyed by the 32-byte server secret.
func NewDigester(serverSecret []byte) *Digester {
	return &Digester{root: append([]byte(nil), serverSecret...)}
}

// Key derives the key for purpose (HMAC(root, "valet/"+purpose)); other
// packages use it for their own MACs, such as CSRF tokens.
func (d *Digester) Key(purpose string) []byte {
	if k, ok := d.keys.Load(purpose); ok {
		return k.([]byte)
	}
	m := hmac.New(sha256.New, d.root)
	m.Write([]byte("valet/" + purpose))
	k := m.Sum(nil)
	d.keys.Store(purpose, k)
	return k
}

// Digest returns the base64url HMAC-SHA-256 of value under purpose's key.
func (d *Digester) Digest(purpose, value string) string {
	p, ok := d.pool.Load(purpose)
	if !ok {
		key := d.Key(purpose)
		p, _ = d.pool.LoadOrStore(purpose, &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }})
	}
	pool := p.(*sync.Pool)
	m := pool.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(value))
	var sum [sha256.Size]byte
	out := base64.RawURLEncoding.EncodeToString(m.Sum(sum[:0]))
	pool.Put(m)
	return out
}

// Equal compares a presented value with a stored digest in constant time.
func (d *Digester) Equal(purpose, value, digest string) bool {
	return hmac.Equal([]byte(d.Digest(purpose, value)), []byte(digest))
}
