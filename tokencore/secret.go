package tokencore

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Secret hashes are how configured secrets (signer secrets, client
// secrets, operator keys) are written in a config: never the secret itself.
//
//   - "sha256:<hex or base64url>" is SHA-256 of the secret: right for
//     generated, high-entropy secrets, and cheap enough for every request.
//   - "$2a$…", "$2b$…", "$2y$…" is bcrypt: for secrets people choose.
const secretHashPrefix = "sha256:"

// HashSecret returns the sha256 form of a secret's hash.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return secretHashPrefix + hex.EncodeToString(sum[:])
}

// ValidateSecretHash reports whether hash is a usable secret hash.
func ValidateSecretHash(hash string) error {
	if _, ok := decodeSHA256Hash(hash); ok {
		return nil
	}
	if isBcrypt(hash) {
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return errors.New("malformed bcrypt hash")
		}
		return nil
	}
	return errors.New(`secret hash must be "sha256:<hex or base64url>" or a bcrypt hash`)
}

// VerifySecretHash reports, in constant time for the sha256 form, whether
// secret matches hash. An unusable hash matches nothing.
func VerifySecretHash(hash, secret string) bool {
	if want, ok := decodeSHA256Hash(hash); ok {
		got := sha256.Sum256([]byte(secret))
		return subtle.ConstantTimeCompare(want, got[:]) == 1
	}
	if isBcrypt(hash) {
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret)) == nil
	}
	return false
}

func isBcrypt(h string) bool {
	return strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$")
}

func decodeSHA256Hash(h string) ([]byte, bool) {
	v, ok := strings.CutPrefix(h, secretHashPrefix)
	if !ok {
		return nil, false
	}
	if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size {
		return b, true
	}
	if b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "=")); err == nil && len(b) == sha256.Size {
		return b, true
	}
	return nil, false
}
