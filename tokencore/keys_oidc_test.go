package tokencore

import (
	"crypto/rand"
	"testing"
)

func TestAsymmetricSigner(t *testing.T) {
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

	tests := []struct {
		name      string
		signer    *Key
		verifiers []*Key
		want      *Key
	}{
		{"asymmetric signer", es1, nil, es1},
		{"asymmetric signer beside a folio key", es1, []*Key{folio}, es1},
		{"folio signer, auto key verifies", folio, []*Key{es1}, es1},
		{"folio only", folio, nil, nil},
		{"folio signer, public key only", folio, []*Key{pubOnly}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := NewKeySet(tt.signer, tt.verifiers, refreshKey)
			if err != nil {
				t.Fatal(err)
			}
			if got := ks.AsymmetricSigner(); got != tt.want {
				t.Fatalf("AsymmetricSigner() = %v, want %v", got, tt.want)
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
