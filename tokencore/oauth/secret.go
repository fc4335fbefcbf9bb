package oauth

import (
	"fmt"

	"github.com/tokengate/tokengate/tokencore"
)

// Client secrets are configured only as hashes, in the one format every
// tokengate secret uses (tokencore.HashSecret), so an operator hashes a
// client secret the same way as any other:
//
//   - "sha256:<hex or base64url of SHA-256(secret)>" for generated,
//     high-entropy secrets: a token endpoint verifies one per request, and a
//     hash that costs microseconds keeps it fast. Guessing is hopeless when
//     the secret has 128+ bits of entropy, so a slow hash buys nothing.
//   - bcrypt ("$2a$", "$2b$", "$2y$") for secrets a person chose, where a slow
//     hash is what protects the secret if the config leaks.

// HashSecret returns the sha256 form of a client secret's hash.
func HashSecret(secret string) string {
	return tokencore.HashSecret(secret)
}

// VerifySecret reports whether secret matches hash. The sha256 form is
// compared in constant time, bcrypt by bcrypt itself. An unknown or
// malformed hash matches nothing, so a config mistake fails closed.
func VerifySecret(hash, secret string) bool {
	return tokencore.VerifySecretHash(hash, secret)
}

// ValidateSecretHash reports whether hash is a usable secret hash; config
// validation calls it so a typo is an error at load time rather than a
// client that can never authenticate.
func ValidateSecretHash(hash string) error {
	if err := tokencore.ValidateSecretHash(hash); err != nil {
		return fmt.Errorf("%w: %w", ErrClientConfig, err)
	}
	return nil
}
