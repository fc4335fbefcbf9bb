package tokencore

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// golangJWT is how SignTyped signed before jws.go: golang-jwt's
// SignedString.
func golangJWT(t *testing.T, k *Key, typ string, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.signingMethod(), claims)
	if k.Alg == AlgHS256 {
		tok.Header = map[string]any{"alg": AlgHS256}
	} else {
		tok.Header["kid"] = k.ID
	}
	if typ != "" {
		tok.Header["typ"] = typ
	}
	s, err := tok.SignedString(k.signKey())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSignWithIsGolangJWTBytes: the one-buffer signer writes the bytes
// golang-jwt wrote, for every algorithm, with and without a typ (RFC 9068's
// at+jwt): equal tokens where the signature is deterministic (HS256, RS256,
// EdDSA), equal header and payload and a signature golang-jwt verifies for
// ES256 (randomized).
func TestSignWithIsGolangJWTBytes(t *testing.T) {
	es, _, err := GenerateES256Key()
	if err != nil {
		t.Fatal(err)
	}
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	rs, err := NewKey(rk, "")
	if err != nil {
		t.Fatal(err)
	}
	_, ek, _ := ed25519.GenerateKey(rand.Reader)
	ed, err := NewKey(ek, `odd "kid" <&>`)
	if err != nil {
		t.Fatal(err)
	}
	hs := NewFolioKey("folio-secret")
	now := time.Now()
	claims := AccessClaims{Type: TypeAccess, IssuedAt: now.Unix(), Tenant: "diku", Subject: "alice <&>",
		UserID: "u1", Expiry: now.Add(time.Hour).Unix(), ID: NewTokenID(), GrantID: NewGrantID(), Scope: "a b"}
	for _, k := range []*Key{es, rs, ed, hs} {
		for _, typ := range []string{"", "at+jwt"} {
			t.Run(k.Alg+"/"+typ, func(t *testing.T) {
				ks, err := NewKeySet(k, []*Key{es, rs, ed, hs}, make([]byte, 32))
				if err != nil {
					t.Fatal(err)
				}
				got, err := ks.SignTyped(k, typ, claims)
				if err != nil {
					t.Fatal(err)
				}
				want := golangJWT(t, k, typ, claims)
				if k.Alg != AlgES256 {
					if got != want {
						t.Fatalf("token differs from golang-jwt's:\n got %s\nwant %s", got, want)
					}
					return
				}
				if got[:strings.LastIndexByte(got, '.')] != want[:strings.LastIndexByte(want, '.')] {
					t.Fatalf("header or payload differs:\n got %s\nwant %s", got, want)
				}
				if sig := got[strings.LastIndexByte(got, '.')+1:]; len(sig) != 86 { // 64 bytes, base64url
					t.Fatalf("ES256 signature of %d characters", len(sig))
				}
				if _, err := jwt.Parse(got, func(*jwt.Token) (any, error) { return k.verifyKey(), nil },
					jwt.WithValidMethods([]string{AlgES256})); err != nil {
					t.Fatalf("golang-jwt refuses the token: %v", err)
				}
				// A key of the set other than the signer signs through the same path.
				other, err := ks.SignWith(hs, claims)
				if err != nil || other != golangJWT(t, hs, "", claims) {
					t.Fatalf("SignWith(other key) = %s, %v", other, err)
				}
			})
		}
	}
}

// TestSealIsGoJoseCompatible: refresh tokens carry go-jose's protected
// header, go-jose decrypts them, and Open reads them; every token has its
// own IV.
func TestSealIsGoJoseCompatible(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	ks, err := NewKeySet(NewFolioKey("s"), nil, key)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.DIRECT, Key: key}, nil)
	obj, _ := enc.Encrypt([]byte(`{}`))
	ref, _ := obj.CompactSerialize()
	payload := []byte(`{"type":"refresh","exp":1,"sub":"alice"}`)
	a, err := ks.Seal(payload)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ks.Seal(payload)
	if a == b {
		t.Fatal("two seals of one payload are equal: the IV is not fresh")
	}
	if strings.Split(a, ".")[0] != strings.Split(ref, ".")[0] || strings.Split(a, ".")[1] != "" {
		t.Fatalf("header or encrypted key differs from go-jose's: %s vs %s", a, ref)
	}
	parsed, err := jose.ParseEncryptedCompact(a, []jose.KeyAlgorithm{jose.DIRECT}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := parsed.Decrypt(key); err != nil || string(out) != string(payload) {
		t.Fatalf("go-jose decrypts %q, %v", out, err)
	}
	if out, err := ks.Open(a); err != nil || string(out) != string(payload) {
		t.Fatalf("Open = %q, %v", out, err)
	}
}
