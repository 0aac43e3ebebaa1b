package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
)

// Sealer encrypts data at rest (signing keys) with AES-256-GCM under a key
// derived from the server secret. Sealed data is nonce || ciphertext.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a Sealer for the 32-byte server secret.
func NewSealer(serverSecret []byte) (*Sealer, error) {
	if len(serverSecret) < 32 {
		return nil, errors.New("the key-encryption secret must be at least 32 bytes")
	}
	m := hmac.New(sha256.New, serverSecret)
	m.Write([]byte("valet/seal"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext; label binds the ciphertext to its use (the key ID).
func (s *Sealer) Seal(plaintext []byte, label string) []byte {
	nonce := Bytes(s.aead.NonceSize())
	return s.aead.Seal(nonce, nonce, plaintext, []byte(label))
}

// ErrUnseal means the data was sealed under another secret or was altered.
var ErrUnseal = errors.New("cannot decrypt: the data was sealed with another VALET_SECRET, or was altered")

// Open decrypts what Seal produced with the same label.
func (s *Sealer) Open(sealed []byte, label string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, ErrUnseal
	}
	out, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(label))
	if err != nil {
		return nil, ErrUnseal
	}
	return out, nil
}
