// Package codec is an engine.Codec that encrypts every payload Tasker
// stores with AES-256-GCM, under a key taken from the environment:
//
//	c, err := codec.FromEnv(codec.KeyEnv) // TASKER_CODEC_KEY: 32 bytes, base64
//	e, err := engine.New(engine.Config{Store: s, Codec: c})
//
// Each payload gets a fresh random nonce, so the same input encrypts
// differently every time; the engine's identities hash the JSON before
// encoding, so starting the same input twice still finds the first task.
// The codec's Name carries a key id (the first bytes of the key's SHA-256)
// so that a payload encrypted under another key is refused by name
// (engine.ErrCodec) instead of failing authentication somewhere deep.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tasker-go/tasker/engine"
)

// KeyEnv is the environment variable FromEnv reads by default.
const KeyEnv = "TASKER_CODEC_KEY"

// AESGCM encrypts payloads with AES-256-GCM. It is safe for concurrent
// use.
type AESGCM struct {
	aead cipher.AEAD
	name string
}

var _ engine.Codec = (*AESGCM)(nil)

// New returns the codec for a 32-byte key.
func New(key []byte) (*AESGCM, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("codec: the key is %d bytes; AES-256 needs 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("codec: %w", err)
	}
	id := sha256.Sum256(key)
	return &AESGCM{aead: aead, name: "aes-256-gcm/" + hex.EncodeToString(id[:4])}, nil
}

// FromEnv returns the codec for the base64 key in the environment
// variable name (standard or URL encoding, padded or not). Make one with
// `openssl rand -base64 32`.
func FromEnv(name string) (*AESGCM, error) {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return nil, fmt.Errorf("codec: %s is not set (a base64 key of 32 bytes: openssl rand -base64 32)", name)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(v); err == nil {
			c, err := New(key)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			return c, nil
		}
	}
	return nil, fmt.Errorf("codec: %s is not base64", name)
}

// Name is "aes-256-gcm/<key id>".
func (c *AESGCM) Name() string { return c.name }

// Encode seals doc: nonce, then ciphertext and tag.
func (c *AESGCM) Encode(doc []byte) ([]byte, error) {
	nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(doc)+c.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return c.aead.Seal(nonce, nonce, doc, nil), nil
}

// ErrTampered: a payload failed authentication (altered, or sealed under
// another key with the same id).
var ErrTampered = errors.New("codec: payload failed authentication")

// Decode opens what Encode sealed.
func (c *AESGCM) Decode(data []byte) ([]byte, error) {
	n := c.aead.NonceSize()
	if len(data) < n+c.aead.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrTampered, len(data))
	}
	out, err := c.aead.Open(nil, data[:n], data[n:], nil)
	if err != nil {
		return nil, ErrTampered
	}
	return out, nil
}
