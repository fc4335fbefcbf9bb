package tokencore

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
)

// ErrNoAsymmetricKey means OpenID Connect was asked of a key set that has no
// asymmetric private key of the algorithm a client's ID tokens need: an ID
// token signed with the FOLIO shared secret could be verified (and forged)
// only by holders of that secret, and its key cannot be published in a
// JWKS, so relying parties could not check it.
var ErrNoAsymmetricKey = errors.New("OpenID Connect needs an asymmetric signing key of the ID tokens' algorithm (add `key auto rs256`, `key auto` or `key file <private key>`)")

// SignerFor returns the key that signs tokens of algorithm alg (ID tokens,
// whose algorithm each client chooses): the signing key when it has that
// algorithm, else the first other key of that algorithm with a private
// part (by kid, so the choice is stable across restarts), or nil when the
// set has none. Shared-secret keys are never returned: their tokens cannot
// be checked with the JWKS. The key's public part is in the JWKS.
func (ks *KeySet) SignerFor(alg string) *Key {
	if ks.signer != nil && ks.signer.signer != nil && ks.signer.Alg == alg {
		return ks.signer
	}
	ids := make([]string, 0, len(ks.byID))
	for id, k := range ks.byID {
		if k.signer != nil && k.Alg == alg {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sort.Strings(ids)
	return ks.byID[ids[0]]
}

// PublicKey returns the public part of an asymmetric key, or nil for a
// shared-secret key. Tests and relying parties verify ID tokens with it.
func (k *Key) PublicKey() any {
	if k.secret != nil {
		return nil
	}
	return k.public
}

// rs256Bits is the modulus size of generated RS256 keys: the smallest
// accepted (minRSABits), which every relying party supports, and the
// fastest to sign with.
const rs256Bits = 2048

// GenerateRS256Key makes a new 2048-bit RSA key, the `auto rs256` key that
// signs ID tokens for clients registered with RS256 (OpenID Connect's
// default), and returns it with its PKCS#8 PEM encoding for persistence.
func GenerateRS256Key() (*Key, []byte, error) {
	priv, err := rsa.GenerateKey(rand.Reader, rs256Bits)
	if err != nil {
		return nil, nil, fmt.Errorf("generating RS256 key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding RS256 key: %w", err)
	}
	k, err := NewKey(priv, "")
	if err != nil {
		return nil, nil, err
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
