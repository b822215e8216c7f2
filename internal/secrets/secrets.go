// Package secrets holds Clarion's secret material: the master key that
// encrypts private keys at rest, the admin token, random identifiers and the
// keyed hash under which webhook secrets are stored.
//
// Nothing in this package logs a secret. Callers must not either: log the
// path of a secret file, never its content.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the size of the master key: AES-256.
const KeySize = 32

// ErrDecrypt means sealed data could not be opened: the master key is not
// the one it was sealed with, or the data was altered. It is not retriable.
var ErrDecrypt = errors.New("secrets: cannot decrypt: wrong master key or corrupted data")

// MasterKey encrypts and authenticates small secrets (private keys) with
// AES-256-GCM, and keys the hash of webhook secrets.
type MasterKey struct {
	aead cipher.AEAD
	mac  []byte
	prk  []byte // HKDF pseudo-random key for Derive
}

// NewMasterKey builds a MasterKey from KeySize raw bytes.
func NewMasterKey(raw []byte) (*MasterKey, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("secrets: master key must be %d bytes, got %d", KeySize, len(raw))
	}
	blk, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	// Derive a separate MAC key so the encryption key never doubles as one.
	h := hmac.New(sha256.New, raw)
	h.Write([]byte("clarion webhook secret hash v1"))
	prk, err := hkdf.Extract(sha256.New, raw, []byte("clarion master key derive v1"))
	if err != nil {
		return nil, err
	}
	return &MasterKey{aead: aead, mac: h.Sum(nil), prk: prk}, nil
}

// Derive returns n bytes derived from the master key for purpose (HKDF-SHA256
// expand with purpose as info): one independent key per purpose, e.g. the
// seed of each component's record-signing key (internal/record), so the
// one-binary mode needs no extra key material.
func (k *MasterKey) Derive(purpose string, n int) ([]byte, error) {
	return hkdf.Expand(sha256.New, k.prk, purpose, n)
}

// ParseMasterKey accepts a key as 64 hex digits or base64 (std or URL, with
// or without padding) of KeySize bytes, as CLARION_MASTER_KEY holds it.
func ParseMasterKey(s string) (*MasterKey, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return NewMasterKey(b)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			return NewMasterKey(b)
		}
	}
	return nil, errors.New("secrets: master key must be 32 bytes as 64 hex digits or base64")
}

// LoadOrCreateMasterKey returns the key from env (if non-empty), else from
// the file at path, else generates one into path with mode 0600. created
// reports whether a new file was written.
func LoadOrCreateMasterKey(env, path string) (k *MasterKey, created bool, err error) {
	if env != "" {
		k, err := ParseMasterKey(env)
		return k, false, err
	}
	s, created, err := loadOrCreate(path, func() string { return hex.EncodeToString(RandomBytes(KeySize)) })
	if err != nil {
		return nil, false, err
	}
	k, err = ParseMasterKey(s)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	return k, created, nil
}

// LoadOrCreateToken returns env if non-empty, else the token in the file at
// path, else generates a 256-bit token into path with mode 0600.
func LoadOrCreateToken(env, path string) (tok string, created bool, err error) {
	if env != "" {
		return strings.TrimSpace(env), false, nil
	}
	return loadOrCreate(path, func() string { return RandomToken(32) })
}

func loadOrCreate(path string, gen func() string) (string, bool, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", false, fmt.Errorf("secrets: %s is empty", path)
		}
		return s, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("secrets: read %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("secrets: %w", err)
	}
	s := gen()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) { // lost a race with another process
			return loadOrCreate(path, gen)
		}
		return "", false, fmt.Errorf("secrets: create %s: %w", path, err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("secrets: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", false, fmt.Errorf("secrets: write %s: %w", path, err)
	}
	return s, true, nil
}

// Seal encrypts plaintext; aad binds the ciphertext to its context (for
// example the integration id) so it cannot be moved to another record.
func (k *MasterKey) Seal(plaintext, aad []byte) []byte {
	nonce := RandomBytes(k.aead.NonceSize())
	return k.aead.Seal(nonce, nonce, plaintext, aad)
}

// Open decrypts what Seal produced with the same aad.
func (k *MasterKey) Open(sealed, aad []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, ErrDecrypt
	}
	pt, err := k.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// HashSecret returns the keyed hash (HMAC-SHA256 under a key derived from
// the master key) under which a webhook secret is stored. Without the
// master key a leaked hash cannot even be checked against guesses.
func (k *MasterKey) HashSecret(secret []byte) []byte {
	h := hmac.New(sha256.New, k.mac)
	h.Write(secret)
	return h.Sum(nil)
}

// CheckSecret reports in constant time whether secret hashes to want.
func (k *MasterKey) CheckSecret(secret, want []byte) bool {
	got := k.HashSecret(secret)
	return subtle.ConstantTimeCompare(got, want) == 1
}

// EqualTokens compares two bearer tokens in constant time (their lengths
// are not secret: both are hashed first).
func EqualTokens(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// RandomBytes returns n bytes from crypto/rand.
func RandomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("secrets: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return b
}

// RandomToken returns n random bytes, URL-safe base64 without padding.
func RandomToken(n int) string { return base64.RawURLEncoding.EncodeToString(RandomBytes(n)) }
