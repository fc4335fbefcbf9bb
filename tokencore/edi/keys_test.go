package edi

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// selfSigned returns a PEM certificate for pub, signed by priv. Its dates
// are long past: verification keys come from certificates like PASTA's
// lternet.crt, whose validity nobody checks.
func selfSigned(t *testing.T, pub crypto.PublicKey, priv crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("CERTIFICATE", der)
}

func TestParseKeys(t *testing.T) {
	ec := testEDIKey()
	rsaKey := testPastaKey()
	small := mustRSA(1024)
	p384 := mustEC(elliptic.P384())
	p521 := mustEC(elliptic.P521())
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)

	ecSEC1 := pemOf("EC PRIVATE KEY", must(x509.MarshalECPrivateKey(ec)))
	ecPKCS8 := pemOf("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(ec)))
	ecPKIX := pemOf("PUBLIC KEY", must(x509.MarshalPKIXPublicKey(&ec.PublicKey)))
	ecCert := selfSigned(t, &ec.PublicKey, ec)
	rsaPKCS1 := pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))
	rsaPKCS8 := pemOf("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(rsaKey)))
	rsaPKIX := pemOf("PUBLIC KEY", must(x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)))
	rsaPKCS1Pub := pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey))
	rsaCert := selfSigned(t, &rsaKey.PublicKey, rsaKey)
	smallPKCS1 := pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small))
	smallPKIX := pemOf("PUBLIC KEY", must(x509.MarshalPKIXPublicKey(&small.PublicKey)))
	smallCert := selfSigned(t, &small.PublicKey, small)
	p384SEC1 := pemOf("EC PRIVATE KEY", must(x509.MarshalECPrivateKey(p384)))
	p384PKIX := pemOf("PUBLIC KEY", must(x509.MarshalPKIXPublicKey(&p384.PublicKey)))
	p521Cert := selfSigned(t, &p521.PublicKey, p521)
	edPKCS8 := pemOf("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(edPriv)))
	edPKIX := pemOf("PUBLIC KEY", must(x509.MarshalPKIXPublicKey(edPub)))
	ecParams := pemOf("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})
	encrypted := pemOf("ENCRYPTED PRIVATE KEY", []byte{0x30, 0x00})
	legacyEncrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00000000000000000000000000000000"}, Bytes: []byte{1, 2, 3}})
	junk := pemOf("PUBLIC KEY", []byte("not DER"))
	prose := []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")

	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

	ediPriv := func(d []byte) (any, error) { return ParseEDIPrivateKeyPEM(d) }
	ediPub := func(d []byte) (any, error) { return ParseEDIPublicKeyPEM(d) }
	pastaPriv := func(d []byte) (any, error) { return ParsePastaPrivateKeyPEM(d) }
	pastaPub := func(d []byte) (any, error) { return ParsePastaPublicKeyPEM(d) }

	tests := []struct {
		name  string
		data  []byte
		parse func([]byte) (any, error)
		want  crypto.PublicKey // nil: must fail with ErrKey
		why   string
	}{
		// EDI signing key.
		{"EDI private SEC1", ecSEC1, ediPriv, &ec.PublicKey, ""},
		{"EDI private PKCS#8", ecPKCS8, ediPriv, &ec.PublicKey, ""},
		{"EDI private after EC PARAMETERS", cat(ecParams, ecSEC1), ediPriv, &ec.PublicKey, ""},
		{"EDI private: P-384", p384SEC1, ediPriv, nil, "P-384"},
		{"EDI private: RSA", rsaPKCS1, ediPriv, nil, "want an EC P-256 private key"},
		{"EDI private: public key", ecPKIX, ediPriv, nil, "want an EC P-256 private key"},
		{"EDI private: Ed25519", edPKCS8, ediPriv, nil, "ed25519"},
		{"EDI private: encrypted", encrypted, ediPriv, nil, "encrypted"},
		{"EDI private: legacy encrypted", legacyEncrypted, ediPriv, nil, "encrypted"},
		// EDI verification key.
		{"EDI public PKIX", ecPKIX, ediPub, &ec.PublicKey, ""},
		{"EDI public certificate (expired)", ecCert, ediPub, &ec.PublicKey, ""},
		{"EDI public: private key refused", ecSEC1, ediPub, nil, "want an EC P-256 public key"},
		{"EDI public: P-384", p384PKIX, ediPub, nil, "P-384"},
		{"EDI public: P-521 certificate", p521Cert, ediPub, nil, "P-521"},
		{"EDI public: RSA", rsaPKIX, ediPub, nil, "RSA public key"},
		{"EDI public: Ed25519", edPKIX, ediPub, nil, "ed25519"},
		// PASTA signing key.
		{"PASTA private PKCS#1", rsaPKCS1, pastaPriv, &rsaKey.PublicKey, ""},
		{"PASTA private PKCS#8", rsaPKCS8, pastaPriv, &rsaKey.PublicKey, ""},
		{"PASTA private: 1024 bits", smallPKCS1, pastaPriv, nil, "1024 bits"},
		{"PASTA private: EC", ecPKCS8, pastaPriv, nil, "want an RSA private key"},
		{"PASTA private: public key", rsaPKIX, pastaPriv, nil, "want an RSA private key"},
		// PASTA verification key.
		{"PASTA public PKIX", rsaPKIX, pastaPub, &rsaKey.PublicKey, ""},
		{"PASTA public PKCS#1", rsaPKCS1Pub, pastaPub, &rsaKey.PublicKey, ""},
		{"PASTA public certificate (expired)", rsaCert, pastaPub, &rsaKey.PublicKey, ""},
		{"PASTA public: first of a bundle", cat(rsaCert, ecCert), pastaPub, &rsaKey.PublicKey, ""},
		{"PASTA public: 1024-bit PKIX", smallPKIX, pastaPub, nil, "1024 bits"},
		{"PASTA public: 1024-bit certificate", smallCert, pastaPub, nil, "1024 bits"},
		{"PASTA public: private key refused", rsaPKCS1, pastaPub, nil, "want an RSA public key"},
		{"PASTA public: EC", ecPKIX, pastaPub, nil, "want an RSA public key"},
		// Not keys at all.
		{"empty", nil, pastaPub, nil, "no PEM key"},
		{"not PEM", []byte("hello"), ediPub, nil, "no PEM key"},
		{"only EC PARAMETERS", ecParams, ediPriv, nil, "no PEM key"},
		{"bad base64 in PEM", prose, pastaPub, nil, "no PEM key"},
		{"bad DER", junk, ediPub, nil, "parsing PEM block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse(tt.data)
			if tt.want == nil {
				if !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), tt.why) {
					t.Fatalf("err = %v, want ErrKey saying %q", err, tt.why)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var pub crypto.PublicKey
			switch k := got.(type) {
			case *ecdsa.PrivateKey:
				pub = &k.PublicKey
			case *rsa.PrivateKey:
				pub = &k.PublicKey
			default:
				pub = k
			}
			if !tt.want.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
				t.Fatalf("parsed a different key")
			}
		})
	}
	// The spec's PASTA key parses (more in TestSpecVectorKey).
	if _, err := ParsePastaPublicKeyPEM([]byte(specPastaPublicKeyPEM)); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateAndMarshal(t *testing.T) {
	ec, err := GenerateEDIKey()
	if err != nil {
		t.Fatal(err)
	}
	if ec.Curve != elliptic.P256() {
		t.Fatalf("GenerateEDIKey curve %s", ec.Curve.Params().Name)
	}
	rk, err := GeneratePastaKey()
	if err != nil {
		t.Fatal(err)
	}
	if rk.N.BitLen() != 2048 {
		t.Fatalf("GeneratePastaKey: %d bits", rk.N.BitLen())
	}

	ecPEM, err := MarshalPrivateKeyPEM(ec)
	if err != nil {
		t.Fatal(err)
	}
	ec2, err := ParseEDIPrivateKeyPEM(ecPEM)
	if err != nil || !ec2.Equal(ec) {
		t.Fatalf("EDI key round trip: %v", err)
	}
	rPEM, err := MarshalPrivateKeyPEM(rk)
	if err != nil {
		t.Fatal(err)
	}
	rk2, err := ParsePastaPrivateKeyPEM(rPEM)
	if err != nil || !rk2.Equal(rk) {
		t.Fatalf("PASTA key round trip: %v", err)
	}
	for _, p := range [][]byte{ecPEM, rPEM} {
		if !strings.HasPrefix(string(p), "-----BEGIN PRIVATE KEY-----\n") {
			t.Fatalf("not PKCS#8 PEM: %.40s", p)
		}
	}

	ecPub, err := MarshalPublicKeyPEM(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := ParseEDIPublicKeyPEM(ecPub); err != nil || !k.Equal(&ec.PublicKey) {
		t.Fatalf("EDI public round trip: %v", err)
	}
	rPub, err := MarshalPublicKeyPEM(&rk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := ParsePastaPublicKeyPEM(rPub); err != nil || !k.Equal(&rk.PublicKey) {
		t.Fatalf("PASTA public round trip: %v", err)
	}

	// Generated keys sign tokens their public keys verify.
	es, _ := NewSigner(ec2, "")
	tok, err := es.Sign(fullClaims())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mustEDIVerifier(t, []*ecdsa.PublicKey{&ec.PublicKey}, fixedClock(testNow)).Verify(tok); err != nil {
		t.Fatal(err)
	}
	ps := mustPastaSigner(t, rk2)
	ptok, err := ps.Sign(NewPastaToken("public", testNow))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mustPastaVerifier(t, &rk.PublicKey).Verify(ptok); err != nil {
		t.Fatal(err)
	}

	// Keys that could not be loaded back are refused.
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	for name, k := range map[string]crypto.PrivateKey{
		"RSA-1024": mustRSA(1024),
		"P-384":    mustEC(elliptic.P384()),
		"Ed25519":  edPriv,
		"nil":      nil,
	} {
		if _, err := MarshalPrivateKeyPEM(k); !errors.Is(err, ErrKey) {
			t.Errorf("MarshalPrivateKeyPEM(%s): %v, want ErrKey", name, err)
		}
	}
	if _, err := MarshalPublicKeyPEM(&mustEC(elliptic.P384()).PublicKey); !errors.Is(err, ErrKey) {
		t.Errorf("MarshalPublicKeyPEM(P-384): %v", err)
	}
	if _, err := MarshalPublicKeyPEM(&mustRSA(1024).PublicKey); !errors.Is(err, ErrKey) {
		t.Errorf("MarshalPublicKeyPEM(RSA-1024): %v", err)
	}
}

func TestKeyID(t *testing.T) {
	k1, k2 := testEDIKey(), testEDIKey2()
	id1, err := KeyID(&k1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	// Same key from another source: same kid.
	again, err := ParseEDIPublicKeyPEM(must(MarshalPublicKeyPEM(&k1.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := KeyID(again); id != id1 {
		t.Fatalf("KeyID not stable: %s vs %s", id, id1)
	}
	if id2, _ := KeyID(&k2.PublicKey); id2 == id1 {
		t.Fatal("two keys share a KeyID")
	}
	if len(id1) != 43 || strings.ContainsAny(id1, "+/=") {
		t.Fatalf("KeyID %q is not 32 bytes of base64url", id1)
	}
	if _, err := KeyID("not a key"); !errors.Is(err, ErrKey) {
		t.Fatalf("KeyID of a string: %v", err)
	}
}

func TestCheckP256RejectsOffCurvePoint(t *testing.T) {
	k := testEDIKey().PublicKey
	// Only raw coordinates can make an off-curve point: every parser refuses one.
	//lint:ignore SA1019 the test needs the deprecated fields to build an invalid key.
	bad := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).Add(k.X, big.NewInt(1)), Y: k.Y}
	if err := checkP256(bad); !errors.Is(err, ErrKey) {
		t.Fatalf("off-curve point: %v", err)
	}
	if _, err := NewVerifier([]*ecdsa.PublicKey{bad}); !errors.Is(err, ErrKey) {
		t.Fatalf("verifier with off-curve point: %v", err)
	}
}
