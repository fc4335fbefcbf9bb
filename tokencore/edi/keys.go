package edi

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokengate/tokengate/tokencore"
)

// minRSABits is the smallest RSA modulus accepted for PASTA tokens, the
// size of the keys EDI and PASTA use and the floor of current guidance.
const minRSABits = 2048

// pastaKeyBits is the size of generated PASTA keys: EDI's size, so the
// signatures (and cookies) have the length PASTA services expect.
const pastaKeyBits = 2048

// ParseEDIPrivateKeyPEM reads the EDI token signing key: the first EC
// private key in data, SEC1 ("EC PRIVATE KEY") or PKCS#8 ("PRIVATE KEY").
// Blocks of other types before it, such as "EC PARAMETERS" written by
// openssl ecparam, are skipped. The curve must be P-256 (ES256).
func ParseEDIPrivateKeyPEM(data []byte) (*ecdsa.PrivateKey, error) {
	key, typ, err := parseFirstPEM(data)
	if err != nil {
		return nil, err
	}
	k, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: PEM block %q holds %s, want an EC P-256 private key", ErrKey, typ, keyKind(key))
	}
	if err := checkP256(&k.PublicKey); err != nil {
		return nil, err
	}
	return k, nil
}

// ParseEDIPublicKeyPEM reads an EDI token verification key: the first PKIX
// "PUBLIC KEY" or X.509 "CERTIFICATE" in data. A certificate contributes its
// public key only; its validity dates and issuer are not checked, because
// EDI distributes keys as long-lived self-signed certificates. Private keys
// are refused so that they are not copied to where only verification is
// needed.
func ParseEDIPublicKeyPEM(data []byte) (*ecdsa.PublicKey, error) {
	key, typ, err := parseFirstPEM(data)
	if err != nil {
		return nil, err
	}
	k, ok := key.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: PEM block %q holds %s, want an EC P-256 public key or certificate", ErrKey, typ, keyKind(key))
	}
	if err := checkP256(k); err != nil {
		return nil, err
	}
	return k, nil
}

// ParsePastaPrivateKeyPEM reads the PASTA token signing key: the first RSA
// private key in data, PKCS#1 ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE
// KEY"), of at least 2048 bits.
func ParsePastaPrivateKeyPEM(data []byte) (*rsa.PrivateKey, error) {
	key, typ, err := parseFirstPEM(data)
	if err != nil {
		return nil, err
	}
	k, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: PEM block %q holds %s, want an RSA private key", ErrKey, typ, keyKind(key))
	}
	if err := checkRSASize(&k.PublicKey); err != nil {
		return nil, err
	}
	if err := k.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return k, nil
}

// ParsePastaPublicKeyPEM reads a PASTA token verification key: the first
// PKIX "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or X.509 "CERTIFICATE" in data,
// of at least 2048 bits. EDI and PASTA configure a certificate
// (lternet.crt); as for EDI keys, only its public key is used.
func ParsePastaPublicKeyPEM(data []byte) (*rsa.PublicKey, error) {
	key, typ, err := parseFirstPEM(data)
	if err != nil {
		return nil, err
	}
	k, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: PEM block %q holds %s, want an RSA public key or certificate", ErrKey, typ, keyKind(key))
	}
	if err := checkRSASize(k); err != nil {
		return nil, err
	}
	return k, nil
}

// GenerateEDIKey makes a new P-256 key for signing EDI tokens.
func GenerateEDIKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating EDI key: %w", err)
	}
	return k, nil
}

// GeneratePastaKey makes a new RSA-2048 key for signing PASTA tokens.
func GeneratePastaKey() (*rsa.PrivateKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, pastaKeyBits)
	if err != nil {
		return nil, fmt.Errorf("generating PASTA key: %w", err)
	}
	return k, nil
}

// MarshalPrivateKeyPEM encodes an EDI (*ecdsa.PrivateKey on P-256) or PASTA
// (*rsa.PrivateKey, ≥ 2048 bits) signing key as PKCS#8 "PRIVATE KEY", which
// the Parse*PrivateKeyPEM functions read back. Keys this package would
// refuse to load are refused here too, so a persisted key always loads.
func MarshalPrivateKeyPEM(key crypto.PrivateKey) ([]byte, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if err := checkP256(&k.PublicKey); err != nil {
			return nil, err
		}
	case *rsa.PrivateKey:
		if err := checkRSASize(&k.PublicKey); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: cannot encode %s", ErrKey, keyKind(key))
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding private key: %w", ErrKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKeyPEM encodes an EDI or PASTA verification key as PKIX
// "PUBLIC KEY", the form operators hand to other verifiers.
func MarshalPublicKeyPEM(key crypto.PublicKey) ([]byte, error) {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if err := checkP256(k); err != nil {
			return nil, err
		}
	case *rsa.PublicKey:
		if err := checkRSASize(k); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: cannot encode %s", ErrKey, keyKind(key))
	}
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding public key: %w", ErrKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// KeyID returns the RFC 7638 JWK thumbprint (SHA-256, base64url) of a
// public key: a stable kid for Signer that every instance derives alike
// from the same key, without coordination.
func KeyID(pub crypto.PublicKey) (string, error) {
	thumb, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("%w: computing key thumbprint: %w", ErrKey, err)
	}
	return base64.RawURLEncoding.EncodeToString(thumb), nil
}

// parseFirstPEM is tokencore.DecodeKeyPEM with the package's ErrKey.
func parseFirstPEM(data []byte) (any, string, error) {
	key, typ, err := tokencore.DecodeKeyPEM(data)
	if err != nil {
		return nil, typ, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return key, typ, nil
}

// checkP256 enforces ES256's curve and a valid point. ECDH fails for points
// not on the curve, which keeps hand-built keys from reaching the verifier.
func checkP256(k *ecdsa.PublicKey) error {
	if k == nil || k.Curve == nil {
		return fmt.Errorf("%w: nil EC key", ErrKey)
	}
	if k.Curve != elliptic.P256() {
		return fmt.Errorf("%w: EC key on curve %s, only P-256 (ES256) is supported", ErrKey, k.Curve.Params().Name)
	}
	if _, err := k.ECDH(); err != nil {
		return fmt.Errorf("%w: invalid P-256 public key: %w", ErrKey, err)
	}
	return nil
}

// checkRSASize refuses RSA keys under 2048 bits.
func checkRSASize(k *rsa.PublicKey) error {
	if k == nil || k.N == nil {
		return fmt.Errorf("%w: nil RSA key", ErrKey)
	}
	if bits := k.N.BitLen(); bits < minRSABits {
		return fmt.Errorf("%w: RSA key of %d bits, at least %d are required", ErrKey, bits, minRSABits)
	}
	return nil
}

// keyKind names a key type for error messages.
func keyKind(key any) string {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return "an EC private key on " + curveName(&k.PublicKey)
	case *ecdsa.PublicKey:
		return "an EC public key on " + curveName(k)
	case *rsa.PrivateKey:
		return "an RSA private key"
	case *rsa.PublicKey:
		return "an RSA public key"
	case nil:
		return "no key"
	}
	return fmt.Sprintf("a key of type %T", key)
}

func curveName(k *ecdsa.PublicKey) string {
	if k.Curve == nil {
		return "no curve"
	}
	return k.Curve.Params().Name
}
