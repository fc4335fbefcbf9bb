package edi

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// EDI's public PASTA test vector (spec §3.6), verbatim.
const (
	specPastaToken = "dWlkPUVESSxvPUVESSxkYz1lZGlyZXBvc2l0b3J5LGRjPW9yZypodHRwczovL3Bhc3RhLmVkaXJlcG9zaXRvcnkub3JnL2F1dGhlbnRpY2F0aW9uKjE1NTgwOTA3MDM5NDYqYXV0aGVudGljYXRlZA==-yUoVTpyVityVkfqOpGSPosJYzndBMdwoUTGB0osuqyCNOouPxRllz/pRklaEWqi+faNLGHh8Dzh7qrtxTLLDs+MpBXudaJIIQep6PNnvEDgasrTvA9KV/vnKsyDnu4VaJnyuoKGRryP6PXlJs8UTXhtGpRf2vnTM/oifeRx0NB3y7aEv3Xn85ogxl0MaeyXJFeQMAAyN9ahYgJUC4jFgCqYlLj/x0PAlXwq2C/AwnjC/XJ2mxEQm1E/RMY9Z9EjHx+dSruXEs3wQiBbnus7BPvJR84zqEjl3EYpYwmYRkLViDHYoGdbegcDfuUfKv4y5Hun+r0ICNt09nBV4wci3TQ=="

	specPastaPlaintext = "uid=EDI,o=EDI,dc=edirepository,dc=org*https://pasta.edirepository.org/authentication*1558090703946*authenticated"

	specPastaPublicKeyPEM = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAyr97POqlMEVpRsLlNwjc
5COfq+U7uxVBeUlMcVQG9POngb/q+ZllhnB+FwqF1wXK2+yRFgHb2k3g64J7E7Rw
jlAga1abP27LnCdlmgxQdowqWOjsrpQkZvvziBvCKBDaKjG5+eFemviqZEIDdf99
eGLsT3Tbz5eU3Nn2SiFFe8Cv1ASMdZmZta8WuzW4H8kDaQDwUDQ50SfZvLfwQnDA
IBx9qQj8Oi1t9CnrFTQEvqntNerFacAAadI7IuMO6eiigO8V9S1L/wEtc2/MAzIV
L/PBSpdUEgcYQTVG6YjU5EhwL4GsKC99/pjMCoFlwAABS37x+l2B1Y773jeIhLBC
3wIDAQAB
-----END PUBLIC KEY-----
`
	// SHA-256 of the SubjectPublicKeyInfo DER, as given by the spec.
	specPastaSPKISHA256 = "ee5f19f4206c7346939d008ba05316384d257b73e9c202fe920d30a01ae47bf9"
)

// specPastaExpiry is 2019-05-17T10:58:23.946Z.
var specPastaExpiry = time.UnixMilli(1558090703946)

// Test keys are fixed (testdata/README): fuzz corpus entries signed with
// them stay valid across runs, and no test pays for RSA key generation.
var (
	testPastaKey  = sync.OnceValue(func() *rsa.PrivateKey { return loadKey(ParsePastaPrivateKeyPEM, "pasta_test_key1.pem") })
	testPastaKey2 = sync.OnceValue(func() *rsa.PrivateKey { return loadKey(ParsePastaPrivateKeyPEM, "pasta_test_key2.pem") })
	testEDIKey    = sync.OnceValue(func() *ecdsa.PrivateKey { return loadKey(ParseEDIPrivateKeyPEM, "edi_test_key1.pem") })
	testEDIKey2   = sync.OnceValue(func() *ecdsa.PrivateKey { return loadKey(ParseEDIPrivateKeyPEM, "edi_test_key2.pem") })
)

func loadKey[K any](parse func([]byte) (K, error), name string) K {
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		panic(err)
	}
	k, err := parse(data)
	if err != nil {
		panic(fmt.Sprintf("%s: %v", name, err))
	}
	return k
}

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func mustPastaSigner(t testing.TB, k *rsa.PrivateKey) *PastaSigner {
	t.Helper()
	s, err := NewPastaSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustPastaVerifier(t testing.TB, keys ...*rsa.PublicKey) *PastaVerifier {
	t.Helper()
	v, err := NewPastaVerifier(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// signRawB signs an arbitrary B with key exactly as PastaSigner would, so
// tests can reach the body checks behind a valid signature.
func signRawB(t testing.TB, key *rsa.PrivateKey, b string) string {
	t.Helper()
	digest := md5.Sum([]byte(b))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.MD5, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return b + "-" + base64.StdEncoding.EncodeToString(sig)
}

// signPlaintext base64-encodes any plaintext and signs it.
func signPlaintext(t testing.TB, key *rsa.PrivateKey, plain string) string {
	t.Helper()
	return signRawB(t, key, base64.StdEncoding.EncodeToString([]byte(plain)))
}

func ptr(s string) *string { return &s }

// sentinels are the verification errors; every failure wraps exactly one.
var sentinels = []error{ErrMalformed, ErrSignature, ErrExpired, ErrNotYetValid, ErrClaims}

// checkErr asserts that err wraps want and no other sentinel, or is nil
// when want is nil.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			t.Fatalf("error %v wraps %v besides %v", err, s, want)
		}
	}
}
