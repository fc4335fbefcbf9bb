package tokencore

// Compact JWS and JWE assembly on the minting path. Every sign and refresh
// mints one signed access token and one encrypted refresh token, so their
// encoding is done in one buffer each: the header of each key is encoded
// once (the same bytes golang-jwt and go-jose write), ES256 signatures come
// from crypto/ecdsa.SignASN1 and are laid out as R || S without big.Int,
// and the refresh-token AEAD is built once per key set. Verification and
// decryption still go through golang-jwt and go-jose.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

var rawURL = base64.RawURLEncoding

// jwsHeader is the encoded protected header of the tokens k signs, as
// golang-jwt writes it (keys sorted: alg, kid, typ; typ "JWT" unless typ
// says otherwise); HS256 tokens carry mod-authtoken's bare {"alg":"HS256"},
// with typ only when one is asked for.
func jwsHeader(k *Key, typ string) string {
	h := append([]byte(`{"alg":`), AppendJSONString(nil, k.Alg)...)
	if k.Alg != AlgHS256 {
		h = append(h, `,"kid":`...)
		h = AppendJSONString(h, k.ID)
		if typ == "" {
			typ = "JWT"
		}
	}
	if typ != "" {
		h = append(h, `,"typ":`...)
		h = AppendJSONString(h, typ)
	}
	h = append(h, '}')
	return rawURL.EncodeToString(h)
}

// signCompact signs claims (encoded by encoding/json, as golang-jwt does;
// AccessClaims appended to the same bytes) with k into a compact JWS.
func signCompact(k *Key, header string, claims any) (string, error) {
	var payload []byte
	var err error
	if c, ok := claims.(AccessClaims); ok {
		payload = c.AppendJSON(make([]byte, 0, 512)) // every sign and refresh: no reflection
	} else if payload, err = json.Marshal(claims); err != nil {
		return "", fmt.Errorf("encoding claims: %w", err)
	}
	buf := make([]byte, 0, len(header)+1+rawURL.EncodedLen(len(payload))+1+rawURL.EncodedLen(512))
	buf = append(buf, header...)
	buf = append(buf, '.')
	buf = rawURL.AppendEncode(buf, payload)
	var sig []byte
	switch k.Alg {
	case AlgES256:
		priv, ok := k.signer.(*ecdsa.PrivateKey)
		if !ok {
			return "", errors.New("ES256 key is not an ECDSA private key")
		}
		digest := sha256.Sum256(buf)
		der, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
		if err != nil {
			return "", err
		}
		if sig, err = rawECDSASignature(der, 32); err != nil {
			return "", err
		}
	default:
		m := k.signingMethod()
		if m == nil {
			return "", fmt.Errorf("no signing method for %s", k.Alg)
		}
		if sig, err = m.Sign(string(buf), k.signKey()); err != nil {
			return "", err
		}
	}
	buf = append(buf, '.')
	buf = rawURL.AppendEncode(buf, sig)
	return string(buf), nil
}

// rawECDSASignature turns an ASN.1 ECDSA signature into the JWS form
// (RFC 7518 §3.4): R and S as size-byte big-endian integers.
func rawECDSASignature(der []byte, size int) ([]byte, error) {
	var r, s []byte
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return nil, errors.New("malformed ECDSA signature")
	}
	out := make([]byte, 2*size)
	for i, v := range [][]byte{r, s} {
		v = trimLeadingZeros(v)
		if len(v) > size {
			return nil, errors.New("ECDSA signature integer too large")
		}
		copy(out[(i+1)*size-len(v):(i+1)*size], v)
	}
	return out, nil
}

func trimLeadingZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// refreshSealer encrypts refresh tokens: JWE compact, alg dir, enc A256GCM,
// with the protected header go-jose writes (taken from go-jose itself when
// the key set is built, so the tokens stay byte-compatible with it) as the
// additional data, a random 96-bit IV and the 128-bit tag.
type refreshSealer struct {
	aead   cipher.AEAD
	header string // base64url of the protected header
	aad    []byte // header's bytes, the additional data; never written
}

func newRefreshSealer(key []byte) (*refreshSealer, error) {
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.DIRECT, Key: key}, nil)
	if err != nil {
		return nil, fmt.Errorf("creating JWE encrypter: %w", err)
	}
	obj, err := enc.Encrypt([]byte("{}"))
	if err != nil {
		return nil, fmt.Errorf("encrypting: %w", err)
	}
	compact, err := obj.CompactSerialize()
	if err != nil {
		return nil, err
	}
	header, _, _ := strings.Cut(compact, ".")
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &refreshSealer{aead: aead, header: header, aad: []byte(header)}, nil
}

// seal returns header..iv.ciphertext.tag (the encrypted key of dir is
// empty).
func (s *refreshSealer) seal(payload []byte) (string, error) {
	var iv [12]byte
	if _, err := rand.Read(iv[:]); err != nil {
		return "", err
	}
	sealed := s.aead.Seal(make([]byte, 0, len(payload)+s.aead.Overhead()), iv[:], payload, s.aad)
	ct, tag := sealed[:len(payload)], sealed[len(payload):]
	buf := make([]byte, 0, len(s.header)+2+rawURL.EncodedLen(len(iv))+1+rawURL.EncodedLen(len(ct))+1+rawURL.EncodedLen(len(tag)))
	buf = append(buf, s.header...)
	buf = append(buf, '.', '.')
	buf = rawURL.AppendEncode(buf, iv[:])
	buf = append(buf, '.')
	buf = rawURL.AppendEncode(buf, ct)
	buf = append(buf, '.')
	buf = rawURL.AppendEncode(buf, tag)
	return string(buf), nil
}

// open decrypts a token seal wrote, without go-jose's parse (some 75
// allocations and reflection over the header, on every refresh): the
// token must carry exactly the sealer's protected header (known to pass
// CheckCompactHeader: it is go-jose's own), an empty encrypted key, a
// 96-bit IV and a 128-bit tag, every segment strict base64url. handled is
// false for any other token (another producer's header, a segment of
// another length or encoding), which KeySet.Open gives to go-jose as
// before; a token that has the shape but does not authenticate is refused
// with go-jose's error.
func (s *refreshSealer) open(token string) (payload []byte, handled bool, err error) {
	rest, ok := strings.CutPrefix(token, s.header)
	if !ok {
		return nil, false, nil
	}
	rest, ok = strings.CutPrefix(rest, "..")
	if !ok {
		return nil, false, nil
	}
	ivPart, rest, _ := strings.Cut(rest, ".")
	ctPart, tagPart, _ := strings.Cut(rest, ".")
	const ivSize, tagSize = 12, 16
	if len(ivPart) != rawURL.EncodedLen(ivSize) || len(tagPart) != rawURL.EncodedLen(tagSize) ||
		strings.IndexByte(tagPart, '.') >= 0 || len(ctPart) > MaxTokenBytes {
		return nil, false, nil
	}
	strict := rawURL.Strict()
	var iv [ivSize]byte
	if n, err := strict.Decode(iv[:], []byte(ivPart)); err != nil || n != ivSize {
		return nil, false, nil
	}
	buf := make([]byte, 0, rawURL.DecodedLen(len(ctPart))+tagSize)
	if buf, err = strict.AppendDecode(buf, []byte(ctPart)); err != nil {
		return nil, false, nil
	}
	if buf, err = strict.AppendDecode(buf, []byte(tagPart)); err != nil || len(buf) < tagSize {
		return nil, false, nil
	}
	out, err := s.aead.Open(buf[:0], iv[:], buf, s.aad)
	if err != nil {
		return nil, true, jose.ErrCryptoFailure
	}
	return out, true, nil
}
