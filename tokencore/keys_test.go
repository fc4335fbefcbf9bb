package tokencore

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"strings"
	"sync"
	"testing"
)

func pemOf(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParseKeyPEM(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8 := func(k any) []byte { b, _ := x509.MarshalPKCS8PrivateKey(k); return b }
	pkix := func(k any) []byte { b, _ := x509.MarshalPKIXPublicKey(k); return b }
	sec1, _ := x509.MarshalECPrivateKey(ec)

	tests := []struct {
		name    string
		pem     []byte
		alg     string
		canSign bool
		wantErr string
	}{
		{"ec pkcs8", pemOf(t, "PRIVATE KEY", pkcs8(ec)), AlgES256, true, ""},
		{"ec sec1", pemOf(t, "EC PRIVATE KEY", sec1), AlgES256, true, ""},
		{"ec public", pemOf(t, "PUBLIC KEY", pkix(&ec.PublicKey)), AlgES256, false, ""},
		{"rsa pkcs1", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa2048)), AlgRS256, true, ""},
		{"rsa public pkcs1", pemOf(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsa2048.PublicKey)), AlgRS256, false, ""},
		{"ed25519", pemOf(t, "PRIVATE KEY", pkcs8(ed)), AlgEdDSA, true, ""},
		{"p384 refused", pemOf(t, "PRIVATE KEY", pkcs8(ec384)), "", false, "only P-256"},
		{"rsa 1024 refused", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa1024)), "", false, "at least 2048"},
		{"no pem", []byte("hello"), "", false, "no PEM key"},
		{"corrupt der", pemOf(t, "PRIVATE KEY", []byte{1, 2, 3}), "", false, "parsing PEM block"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKeyPEM(tc.pem, "")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Alg != tc.alg || k.CanSign() != tc.canSign || k.ID == "" {
				t.Fatalf("got alg %s canSign %v kid %q", k.Alg, k.CanSign(), k.ID)
			}
		})
	}
}

func TestDeriveFolioSecret(t *testing.T) {
	got := DeriveFolioSecret("CorrectBatteryHorseStaple")
	if len(got) != 32 || string(got[:25]) != "CorrectBatteryHorseStaple" {
		t.Fatalf("derived %q", got)
	}
	for _, b := range got[25:] {
		if b != 0 {
			t.Fatal("not zero-padded")
		}
	}
	long := DeriveFolioSecret(strings.Repeat("x", 40))
	if len(long) != 32 {
		t.Fatal("not truncated")
	}
}

func TestFolioHS256HeaderAndJWE(t *testing.T) {
	k := NewFolioKey("CorrectBatteryHorseStaple")
	ks, err := NewKeySet(k, nil, DeriveFolioSecret("CorrectBatteryHorseStaple"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ks.Sign(AccessClaims{Type: TypeAccess, Subject: "a", Expiry: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	if h := strings.Split(tok, ".")[0]; h != "eyJhbGciOiJIUzI1NiJ9" { // {"alg":"HS256"}
		t.Fatalf("header %s, want mod-authtoken's bare {\"alg\":\"HS256\"}", h)
	}
	jwe, err := ks.Seal([]byte(`{"type":"refresh"}`))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(jwe, ".")
	if len(parts) != 5 || parts[1] != "" {
		t.Fatalf("JWE %q is not compact dir (empty encrypted key)", jwe)
	}
	out, err := ks.Open(jwe)
	if err != nil || string(out) != `{"type":"refresh"}` {
		t.Fatalf("open: %s %v", out, err)
	}
	other, _ := NewKeySet(k, nil, DeriveFolioSecret("another secret"))
	if _, err := other.Open(jwe); !errors.Is(err, ErrTokenSignature) {
		t.Fatalf("opened with the wrong key: %v", err)
	}
	if jwks, _ := ks.JWKS(); string(jwks) != `{"keys":[]}` {
		t.Fatalf("symmetric key published: %s", jwks)
	}
}

func TestJWKSPublishesPublicKeysOnly(t *testing.T) {
	signer, _, err := GenerateES256Key()
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	verifier, _ := NewKey(&rsaKey.PublicKey, "old")
	ks, err := NewKeySet(signer, []*Key{verifier, NewFolioKey("s")}, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ks.JWKS()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("%d keys published, want 2: %s", len(set.Keys), b)
	}
	for _, k := range set.Keys {
		if _, ok := k["d"]; ok {
			t.Fatal("private member published")
		}
		if k["use"] != "sig" || k["kid"] == "" || k["alg"] == "" {
			t.Fatalf("incomplete JWK %v", k)
		}
	}
	if _, err := NewKeySet(signer, []*Key{{ID: signer.ID, Alg: AlgRS256, public: &rsaKey.PublicKey}}, make([]byte, 32)); err == nil {
		t.Fatal("duplicate kid accepted")
	}
	if _, err := NewKeySet(verifier, nil, make([]byte, 32)); err == nil {
		t.Fatal("public key accepted as signer")
	}
}

// dirStorage is a KeyStorage over a map, standing in for Caddy's storage
// (certmagic.FileStorage is exercised by the integration tests).
type dirStorage struct {
	mu    sync.Mutex
	m     map[string][]byte
	locks int
}

func (d *dirStorage) Load(_ context.Context, k string) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.m[k]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return v, nil
}

func (d *dirStorage) Store(_ context.Context, k string, v []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.m[k] = v
	return nil
}
func (d *dirStorage) Lock(context.Context, string) error   { d.locks++; return nil }
func (d *dirStorage) Unlock(context.Context, string) error { return nil }

func TestLoadOrCreateAutoKeysIsStable(t *testing.T) {
	st := &dirStorage{m: map[string][]byte{}}
	k1, r1, err := LoadOrCreateAutoKeys(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	k2, r2, err := LoadOrCreateAutoKeys(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if k1.ID != k2.ID || string(r1) != string(r2) || k1.Alg != AlgES256 || len(r1) != 32 {
		t.Fatal("auto keys changed between loads")
	}
	st.m[AutoRefreshKeyPath] = []byte("short")
	if _, _, err := LoadOrCreateAutoKeys(context.Background(), st); err == nil {
		t.Fatal("corrupt refresh key accepted")
	}
}

// TestLoadOrCreateAutoRS256Key: the RS256 key is generated once, stored as
// PEM beside the ES256 key and found again; a stored key of another
// algorithm is refused rather than used for RS256 tokens.
func TestLoadOrCreateAutoRS256Key(t *testing.T) {
	st := &dirStorage{m: map[string][]byte{}}
	k1, err := LoadOrCreateAutoRS256Key(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateAutoRS256Key(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if k1.ID != k2.ID || k1.Alg != AlgRS256 || !k1.CanSign() || len(st.m[AutoRS256KeyPath]) == 0 {
		t.Fatalf("auto RS256 key: %s %s, stored %d bytes", k1.ID, k1.Alg, len(st.m[AutoRS256KeyPath]))
	}
	_, esPEM, err := GenerateES256Key()
	if err != nil {
		t.Fatal(err)
	}
	st.m[AutoRS256KeyPath] = esPEM
	if _, err := LoadOrCreateAutoRS256Key(context.Background(), st); err == nil {
		t.Fatal("an ES256 key stored as the RS256 key was accepted")
	}
}
