package tokencore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// Algorithms a Key can have. The key decides the algorithm: a token is only
// ever verified with the algorithm of the key its header selects, whatever
// its own "alg" says.
const (
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
	AlgEdDSA = "EdDSA"
	AlgHS256 = "HS256"
)

// minRSABits is the smallest RSA modulus accepted for signing or verifying.
const minRSABits = 2048

// Key is one signing or verification key together with its algorithm and key
// ID. A Key without a private part can only verify.
type Key struct {
	// ID is the "kid" of the tokens the key signs. FOLIO shared-secret keys
	// have one too, but tokens signed with them carry no kid on the wire
	// (mod-authtoken sends {"alg":"HS256"} only).
	ID  string
	Alg string

	signer crypto.Signer    // asymmetric private key, or nil
	public crypto.PublicKey // asymmetric public key, or nil
	secret []byte           // HS256 secret, or nil
}

// CanSign reports whether the key has a private (or secret) part.
func (k *Key) CanSign() bool { return k.signer != nil || k.secret != nil }

// signingMethod maps the key's algorithm to golang-jwt's implementation.
func (k *Key) signingMethod() jwt.SigningMethod {
	switch k.Alg {
	case AlgES256:
		return jwt.SigningMethodES256
	case AlgRS256:
		return jwt.SigningMethodRS256
	case AlgEdDSA:
		return jwt.SigningMethodEdDSA
	case AlgHS256:
		return jwt.SigningMethodHS256
	}
	return nil
}

// signKey is what golang-jwt's SignedString wants for this algorithm.
func (k *Key) signKey() any {
	if k.secret != nil {
		return k.secret
	}
	return k.signer
}

// verifyKey is what golang-jwt's Keyfunc must return for this algorithm.
func (k *Key) verifyKey() any {
	if k.secret != nil {
		return k.secret
	}
	return k.public
}

// NewKey wraps a private key (*ecdsa.PrivateKey on P-256, *rsa.PrivateKey of
// at least 2048 bits, ed25519.PrivateKey) or a public key of the same kinds.
// The algorithm follows from the key type; the key ID is the RFC 7638
// thumbprint of the public key unless kid is given.
func NewKey(key any, kid string) (*Key, error) {
	k := &Key{ID: kid}
	switch v := key.(type) {
	case *ecdsa.PrivateKey:
		k.signer, k.public = v, &v.PublicKey
	case *rsa.PrivateKey:
		k.signer, k.public = v, &v.PublicKey
	case ed25519.PrivateKey:
		k.signer, k.public = v, v.Public()
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
		k.public = v
	default:
		return nil, fmt.Errorf("unsupported key type %T", key)
	}
	switch pub := k.public.(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA key on curve %s: only P-256 (ES256) is supported", pub.Curve.Params().Name)
		}
		k.Alg = AlgES256
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits: at least %d are required", pub.N.BitLen(), minRSABits)
		}
		k.Alg = AlgRS256
	case ed25519.PublicKey:
		k.Alg = AlgEdDSA
	}
	if k.ID == "" {
		thumb, err := (&jose.JSONWebKey{Key: k.public}).Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("computing key thumbprint: %w", err)
		}
		k.ID = base64.RawURLEncoding.EncodeToString(thumb)
	}
	return k, nil
}

// ParseKeyPEM reads the first key in PEM data: a private key (PKCS#8, SEC1
// "EC PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY"), a public key (PKIX "PUBLIC
// KEY", PKCS#1 "RSA PUBLIC KEY") or an X.509 certificate, whose public key
// is used for verification only.
func ParseKeyPEM(data []byte, kid string) (*Key, error) {
	key, _, err := DecodeKeyPEM(data)
	if err != nil {
		return nil, err
	}
	return NewKey(key, kid)
}

// ErrKeyPEM is the error of DecodeKeyPEM.
var ErrKeyPEM = errors.New("unusable PEM key")

// DecodeKeyPEM parses the first PEM block that holds a key or certificate
// and returns the key (a certificate yields its public key) with the block
// type. Other block types ("EC PARAMETERS" before a key) are skipped;
// encrypted keys are refused because the gateway has no passphrase to give.
// Errors wrap ErrKeyPEM. Every key loader of tokengate goes through it.
func DecodeKeyPEM(data []byte) (any, string, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, "", fmt.Errorf("%w: no PEM key or certificate found", ErrKeyPEM)
		}
		if _, encrypted := block.Headers["Proc-Type"]; encrypted {
			// RFC 1421 encryption of a legacy "RSA/EC PRIVATE KEY" block.
			return nil, block.Type, fmt.Errorf("%w: encrypted private keys are not supported", ErrKeyPEM)
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				key = cert.PublicKey
			}
		case "ENCRYPTED PRIVATE KEY":
			return nil, block.Type, fmt.Errorf("%w: encrypted private keys are not supported", ErrKeyPEM)
		default:
			continue
		}
		if err != nil {
			return nil, block.Type, fmt.Errorf("%w: parsing PEM block %q: %w", ErrKeyPEM, block.Type, err)
		}
		return key, block.Type, nil
	}
}

// GenerateES256Key makes a new P-256 key, the default of `key auto`, and
// returns it with its PKCS#8 PEM encoding for persistence.
func GenerateES256Key() (*Key, []byte, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating ES256 key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding ES256 key: %w", err)
	}
	k, err := NewKey(priv, "")
	if err != nil {
		return nil, nil, err
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// FolioSecretLength is the size of mod-authtoken's HMAC and AES key.
const FolioSecretLength = 32

// DeriveFolioSecret derives the 32-byte key exactly as mod-authtoken's
// TokenCreator does: the UTF-8 bytes of the configured jwt.signing.key,
// truncated or zero-padded to 32 bytes (Arrays.copyOf). The same bytes are
// the HS256 signing key and the dir/A256GCM content-encryption key.
func DeriveFolioSecret(secret string) []byte {
	key := make([]byte, FolioSecretLength)
	copy(key, secret)
	return key
}

// NewFolioKey is the HS256 key of a FOLIO shared secret. Its tokens carry no
// kid on the wire, like mod-authtoken's, so it verifies tokens without a kid.
func NewFolioKey(secret string) *Key {
	return &Key{ID: "folio-hs256", Alg: AlgHS256, secret: DeriveFolioSecret(secret)}
}

// KeySet is the gateway's keys: the one that signs, every key that verifies
// (selected by kid, several may be active during a rotation), and the
// symmetric key that encrypts refresh tokens.
//
// A KeySet is immutable after NewKeySet and safe for concurrent use.
type KeySet struct {
	signer      *Key
	byID        map[string]*Key
	noKID       *Key // verifies tokens whose header has no kid
	refreshKey  []byte
	algs        []string
	fingerprint string
	// signerHeader is the encoded JWS header of the signer's tokens and
	// sealer the refresh-token AEAD: both made once (jws.go).
	signerHeader string
	sealer       *refreshSealer
}

// NewKeySet builds a key set. signer must be able to sign; verifiers may
// include it (it is added if not). refreshKey (32 bytes) encrypts refresh
// tokens (JWE dir/A256GCM); with a FOLIO secret it is the derived secret, so
// mod-authtoken and the gateway can read each other's refresh tokens.
//
// Tokens without a kid are verified with the HS256 FOLIO key if there is one,
// otherwise with the signer: tokens from mod-authtoken carry no kid.
func NewKeySet(signer *Key, verifiers []*Key, refreshKey []byte) (*KeySet, error) {
	if signer == nil || !signer.CanSign() {
		return nil, errors.New("key set needs a signing key with a private part")
	}
	if len(refreshKey) != 32 {
		return nil, fmt.Errorf("refresh-token key must be 32 bytes, got %d", len(refreshKey))
	}
	sealer, err := newRefreshSealer(refreshKey)
	if err != nil {
		return nil, err
	}
	ks := &KeySet{signer: signer, byID: map[string]*Key{signer.ID: signer}, refreshKey: refreshKey,
		signerHeader: jwsHeader(signer, ""), sealer: sealer}
	for _, k := range verifiers {
		if prev, ok := ks.byID[k.ID]; ok && prev != k {
			return nil, fmt.Errorf("two keys share the kid %q", k.ID)
		}
		ks.byID[k.ID] = k
	}
	algSet := map[string]bool{}
	ids := make([]string, 0, len(ks.byID))
	for id, k := range ks.byID {
		algSet[k.Alg] = true
		ids = append(ids, id)
		if k.Alg == AlgHS256 {
			ks.noKID = k
		}
	}
	if ks.noKID == nil {
		ks.noKID = signer
	}
	for a := range algSet {
		ks.algs = append(ks.algs, a)
	}
	sort.Strings(ks.algs)
	sort.Strings(ids)
	ks.fingerprint = TokenHash(fmt.Sprint(ids, ks.noKID.ID))
	return ks, nil
}

// Signer returns the key that signs new tokens.
func (ks *KeySet) Signer() *Key { return ks.signer }

// KeyIDs returns the kids of every key of the set, sorted (for the
// start-up log: key IDs are public, keys are not).
func (ks *KeySet) KeyIDs() []string {
	ids := make([]string, 0, len(ks.byID))
	for id := range ks.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Fingerprint identifies the set of verification keys; verification-cache
// entries are keyed by it, so removing a key drops what it had verified.
func (ks *KeySet) Fingerprint() string { return ks.fingerprint }

// keyFor selects the verification key for a token header. The key decides
// the algorithm: a header whose alg differs from the key's is refused, so an
// HS256 token "signed" with a public key, or alg none, never verifies.
func (ks *KeySet) keyFor(t *jwt.Token) (any, error) {
	var k *Key
	switch kid := t.Header["kid"].(type) {
	case nil:
		k = ks.noKID
	case string:
		k = ks.byID[kid]
		if k == nil {
			return nil, fmt.Errorf("%w: unknown kid", ErrTokenSignature)
		}
	default:
		return nil, fmt.Errorf("%w: kid is not a string", ErrTokenMalformed)
	}
	if t.Method == nil || t.Method.Alg() != k.Alg {
		return nil, fmt.Errorf("%w: algorithm does not match the key", ErrTokenSignature)
	}
	return k.verifyKey(), nil
}

// Sign signs claims with the signing key. HS256 tokens get the bare header
// {"alg":"HS256"} of mod-authtoken; other keys add "kid" so verifiers can
// pick the key during rotations.
func (ks *KeySet) Sign(claims jwt.Claims) (string, error) {
	return ks.SignWith(ks.signer, claims)
}

// SignWith signs claims with a specific key of the set.
// The bytes are golang-jwt's (header keys sorted, claims by encoding/json);
// jws.go assembles them in one buffer.
func (ks *KeySet) SignWith(k *Key, claims jwt.Claims) (string, error) {
	return ks.SignTyped(k, "", claims)
}

// SignTyped signs claims with k and, when typ is not empty, puts typ in
// the header (RFC 7515 §4.1.9), as RFC 9068 access tokens need ("at+jwt").
func (ks *KeySet) SignTyped(k *Key, typ string, claims jwt.Claims) (string, error) {
	header := ks.signerHeader
	if k != ks.signer || typ != "" {
		header = jwsHeader(k, typ)
	}
	s, err := signCompact(k, header, claims)
	if err != nil {
		return "", fmt.Errorf("signing token: %w", err)
	}
	return s, nil
}

// Seal encrypts a JSON payload as a compact JWE, alg dir, enc A256GCM: the
// format of mod-authtoken's refresh tokens.
func (ks *KeySet) Seal(payload []byte) (string, error) {
	s, err := ks.sealer.seal(payload)
	if err != nil {
		return "", fmt.Errorf("encrypting: %w", err)
	}
	return s, nil
}

// Open decrypts a compact JWE made by Seal (or by mod-authtoken with the
// same secret). Only dir/A256GCM is accepted, and the header must pass
// CheckJOSEHeader. The payload is returned as is: callers parsing it as
// claims check it with CheckStrictJSON.
func (ks *KeySet) Open(token string) ([]byte, error) {
	// The tokens this gateway sealed (every refresh) are opened without
	// go-jose; any other is parsed by it as always.
	if out, handled, err := ks.sealer.open(token); handled {
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTokenSignature, err)
		}
		return out, nil
	}
	return ks.openGoJose(token)
}

// openGoJose opens a refresh token with go-jose: the path of every token
// the sealer's opener does not take, and the reference its tests hold it
// to.
func (ks *KeySet) openGoJose(token string) ([]byte, error) {
	if err := CheckCompactHeader(token, JWE); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenMalformed, err)
	}
	obj, err := jose.ParseEncryptedCompact(token, []jose.KeyAlgorithm{jose.DIRECT}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenMalformed, err)
	}
	out, err := obj.Decrypt(ks.refreshKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenSignature, err)
	}
	return out, nil
}

// JWKS returns the public verification keys as an RFC 7517 JWK Set.
// Symmetric keys are never published.
func (ks *KeySet) JWKS() ([]byte, error) {
	ids := make([]string, 0, len(ks.byID))
	for id := range ks.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, id := range ids {
		k := ks.byID[id]
		if k.public == nil {
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.public, KeyID: k.ID, Algorithm: k.Alg, Use: "sig"})
	}
	return json.Marshal(set)
}

// KeyFingerprints identifies the key material of the set, for the store
// binding (BindStore): every verification key (by its RFC 7638 thumbprint,
// not its kid, which an operator may reuse for another key; an HS256 key
// by an HMAC of its secret) and the refresh-token key. Sorted.
func (ks *KeySet) KeyFingerprints() []string {
	out := make([]string, 0, len(ks.byID)+1)
	for _, k := range ks.byID {
		if k.secret != nil {
			out = append(out, symmetricFingerprint("hs256", k.secret))
			continue
		}
		thumb, err := (&jose.JSONWebKey{Key: k.public}).Thumbprint(crypto.SHA256)
		if err != nil { // NewKey computed one already; cannot fail here
			out = append(out, "kid:"+k.ID)
			continue
		}
		out = append(out, "jwk:"+base64.RawURLEncoding.EncodeToString(thumb))
	}
	out = append(out, symmetricFingerprint("refresh", ks.refreshKey))
	sort.Strings(out)
	return out
}

// Algorithms lists the algorithms of the verification keys (for metadata).
func (ks *KeySet) Algorithms() []string { return append([]string(nil), ks.algs...) }
