package tokencore

import (
	"crypto/rand"
	"testing"
)

func TestSignerFor(t *testing.T) {
	refreshKey := make([]byte, 32)
	_, _ = rand.Read(refreshKey)
	es1, _, err := GenerateES256Key()
	if err != nil {
		t.Fatal(err)
	}
	es2, _, err := GenerateES256Key()
	if err != nil {
		t.Fatal(err)
	}
	pubOnly, err := NewKey(es2.public, "verify-only")
	if err != nil {
		t.Fatal(err)
	}
	folio := NewFolioKey("a FOLIO secret")
	rs, _, err := GenerateRS256Key()
	if err != nil {
		t.Fatal(err)
	}
	rsPub, err := NewKey(rs.public, "rs-verify-only")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		signer    *Key
		verifiers []*Key
		alg       string
		want      *Key
	}{
		{"asymmetric signer", es1, nil, AlgES256, es1},
		{"asymmetric signer beside a folio key", es1, []*Key{folio}, AlgES256, es1},
		{"folio signer, auto key verifies", folio, []*Key{es1}, AlgES256, es1},
		{"folio only", folio, nil, AlgES256, nil},
		{"folio signer, public key only", folio, []*Key{pubOnly}, AlgES256, nil},
		{"HS256 is never an ID-token key", folio, nil, AlgHS256, nil},
		{"ES256 signer, RS256 key beside it", es1, []*Key{rs}, AlgRS256, rs},
		{"ES256 signer, no RS256 key", es1, nil, AlgRS256, nil},
		{"RS256 public key only", es1, []*Key{rsPub}, AlgRS256, nil},
		{"RS256 signer", rs, []*Key{es1}, AlgRS256, rs},
		{"RS256 signer, ES256 asked", rs, []*Key{es1}, AlgES256, es1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := NewKeySet(tt.signer, tt.verifiers, refreshKey)
			if err != nil {
				t.Fatal(err)
			}
			if got := ks.SignerFor(tt.alg); got != tt.want {
				t.Fatalf("SignerFor(%s) = %v, want %v", tt.alg, got, tt.want)
			}
		})
	}
	if folio.PublicKey() != nil {
		t.Error("a shared-secret key has no public key")
	}
	if es1.PublicKey() == nil {
		t.Error("an ES256 key has a public key")
	}
}
