package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// sealVersion is the first byte of every sealed secret; a new key or scheme
// gets a new version.
const sealVersion byte = 1

const nonceSize = 12 // 96-bit GCM nonce

// Associated-data prefixes: they bind a ciphertext to its owner and purpose.
const (
	aadToken    = "watchshare/token/v1|"
	aadOutbox   = "watchshare/outbox/v1|"
	aadVerifier = "watchshare/oauth-verifier/v1|"
)

func tokenAAD(memberID string) string     { return aadToken + memberID }
func outboxAAD(memberID string) string    { return aadOutbox + memberID }
func verifierAAD(stateHash string) string { return aadVerifier + stateHash }

// sealer encrypts secrets with AES-256-GCM: version || nonce || ciphertext+tag.
type sealer struct {
	aead cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("store: token key must be 32 bytes (AES-256), got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("store: token key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: token key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(plaintext, aad string) ([]byte, error) {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("store: nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:1+nonceSize], []byte(plaintext), []byte(aad)), nil
}

func (s *sealer) open(ct []byte, aad string) (string, error) {
	if len(ct) < 1+nonceSize+s.aead.Overhead() || ct[0] != sealVersion {
		return "", ErrDecrypt
	}
	pt, err := s.aead.Open(nil, ct[1:1+nonceSize], ct[1+nonceSize:], []byte(aad))
	if err != nil {
		return "", ErrDecrypt
	}
	return string(pt), nil
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// deriveKey derives a purpose-specific key from the token key.
func deriveKey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// memberRef is the pseudonymous member reference kept in purge_audit:
// HMAC-SHA256 of the member id under a key derived from the token key, so a
// short guessable member id cannot be recovered from the audit table alone.
func (db *DB) memberRef(memberID string) string {
	m := hmac.New(sha256.New, db.auditKey)
	m.Write([]byte(memberID))
	return hex.EncodeToString(m.Sum(nil))
}
