package edi

import (
	"crypto"
	"crypto/md5" // PASTA's MD5withRSA; compatibility only, never use elsewhere.
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// PastaSigner mints external PASTA tokens: B-S, where B is the standard
// base64 of the plaintext and S the standard base64 of an RSA PKCS#1 v1.5
// signature with MD5 over the ASCII bytes of B (spec §3.2). MD5 is what
// EDI and PASTA use; it is kept for compatibility only.
type PastaSigner struct {
	key *rsa.PrivateKey
}

// NewPastaSigner returns a signer for an RSA private key of at least 2048
// bits. The key is validated once here, so Sign cannot fail on it later.
func NewPastaSigner(key *rsa.PrivateKey) (*PastaSigner, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: nil RSA private key", ErrKey)
	}
	if err := checkRSASize(&key.PublicKey); err != nil {
		return nil, err
	}
	if err := key.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return &PastaSigner{key: key}, nil
}

// Public returns the verification key, for building a PastaVerifier or for
// publishing to PASTA services.
func (s *PastaSigner) Public() *rsa.PublicKey { return &s.key.PublicKey }

// Sign returns the external form of t. It refuses tokens that a
// PastaVerifier would reject (see ErrUnencodable).
func (s *PastaSigner) Sign(t PastaToken) (string, error) {
	b, err := t.Internal()
	if err != nil {
		return "", err
	}
	digest := md5.Sum([]byte(b))
	// PKCS#1 v1.5 signing is deterministic; crypto/rsa ignores the reader.
	sig, err := rsa.SignPKCS1v15(nil, s.key, crypto.MD5, digest[:])
	if err != nil {
		return "", fmt.Errorf("signing PASTA token: %w", err)
	}
	out := b + "-" + base64.StdEncoding.EncodeToString(sig)
	if len(out) > MaxTokenLength {
		return "", fmt.Errorf("%w: %w: PASTA token of %d bytes", ErrUnencodable, ErrTooLarge, len(out))
	}
	return out, nil
}

// PastaVerifier checks external PASTA tokens against one or more RSA public
// keys; several keys allow a signing key to be rotated without rejecting
// the tokens already issued. It is safe for concurrent use.
type PastaVerifier struct {
	keys []*rsa.PublicKey
}

// NewPastaVerifier returns a verifier trying each key in turn. At least one
// key is required, and each must have at least 2048 bits.
func NewPastaVerifier(keys ...*rsa.PublicKey) (*PastaVerifier, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no PASTA verification key", ErrKey)
	}
	v := &PastaVerifier{keys: make([]*rsa.PublicKey, 0, len(keys))}
	for i, k := range keys {
		if k == nil {
			return nil, fmt.Errorf("%w: PASTA verification key %d is nil", ErrKey, i)
		}
		if err := checkRSASize(k); err != nil {
			return nil, err
		}
		v.keys = append(v.keys, k)
	}
	return v, nil
}

// Verify checks an external token and returns its content, implementing
// steps 1–4 of spec §3.4:
//
//  1. exactly two non-empty parts around a single "-";
//  2. S is standard base64, padded or not, and nothing else;
//  3. S verifies against MD5 of the bytes of B, exactly as written;
//  4. B decodes and its plaintext parses.
//
// Verify does not check the expiry: the refresh endpoint refreshes expired
// PASTA tokens, proxied traffic calls PastaToken.Expired itself. An unsigned
// token (the internal form B alone) always fails with ErrMalformed.
func (v *PastaVerifier) Verify(external string) (PastaToken, error) {
	if len(external) > MaxTokenLength {
		return PastaToken{}, fmt.Errorf("%w: %w: PASTA token of %d bytes", ErrMalformed, ErrTooLarge, len(external))
	}
	b, s, ok := strings.Cut(external, "-")
	if !ok || b == "" || s == "" || strings.Contains(s, "-") {
		return PastaToken{}, fmt.Errorf("%w: PASTA token must be two non-empty parts joined by '-'", ErrMalformed)
	}
	sig, err := decodeStdBase64(s)
	if err != nil {
		return PastaToken{}, fmt.Errorf("%w: PASTA signature: %w", ErrMalformed, err)
	}
	if !v.verifySignature([]byte(b), sig) {
		return PastaToken{}, fmt.Errorf("%w: PASTA signature does not verify under any configured key", ErrSignature)
	}
	plain, err := decodeStdBase64(b)
	if err != nil {
		return PastaToken{}, fmt.Errorf("%w: PASTA body: %w", ErrMalformed, err)
	}
	return parsePastaPlaintext(string(plain))
}

// Scope identifies the verifier's keys, for keying caches of its verdicts.
func (v *PastaVerifier) Scope() string {
	var b strings.Builder
	b.WriteString("pasta-v1")
	for _, k := range v.keys {
		sum := sha256.Sum256(x509.MarshalPKCS1PublicKey(k))
		b.WriteString("|")
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()
}

// verifySignature reports whether sig is a valid MD5withRSA signature of
// signed under any configured key. signed is B itself, not the plaintext.
func (v *PastaVerifier) verifySignature(signed, sig []byte) bool {
	digest := md5.Sum(signed)
	for _, k := range v.keys {
		if rsa.VerifyPKCS1v15(k, crypto.MD5, digest[:], sig) == nil {
			return true
		}
	}
	return false
}

var errBase64 = errors.New("not standard base64")

// decodeStdBase64 decodes standard base64 with or without "=" padding and
// rejects everything else. encoding/base64 alone is not enough: it skips
// CR and LF, and EDI's Python decoder drops any stray character; we accept
// neither (spec §3.4 step 2). Strict decoding also rejects non-zero padding
// bits, so every accepted signature has exactly one spelling and changing
// any character of a token invalidates it.
func decodeStdBase64(s string) ([]byte, error) {
	body := strings.TrimRight(s, "=")
	pad := len(s) - len(body)
	if pad > 2 {
		return nil, errBase64
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, errBase64
		}
	}
	enc := base64.RawStdEncoding.Strict()
	if pad > 0 {
		enc = base64.StdEncoding.Strict()
	}
	out, err := enc.DecodeString(s)
	if err != nil {
		return nil, errBase64
	}
	return out, nil
}
