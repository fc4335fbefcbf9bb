package tokencore

import (
	"testing"
	"time"
)

// benchGrant is a FOLIO grant as /token/sign stores it.
func benchGrant() *Grant {
	now := time.Unix(1_900_000_000, 123_456_789).UTC()
	return &Grant{
		ID: "Q2x3b1pXa0ZBbHJlYWR5", Kind: GrantKindFolio, Subject: "diku_admin",
		UserID: "9c0e5b8e-1c3a-4d7e-9a41-5d2f0c6b7a11", Tenant: "diku", Status: GrantActive,
		CreatedAt: now, UpdatedAt: now, AuthTime: now,
		AccessID: "YWNjZXNzLWlkLTEyMzQ1", AccessHash: "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU",
		AccessExpiresAt: now.Add(10 * time.Minute), MaxAccessExpiresAt: now.Add(10 * time.Minute),
		RefreshID: "cmVmcmVzaC1pZC0xMjM0", RefreshHash: "LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
		RefreshExpiresAt: now.Add(24 * time.Hour), ExpiresAt: now.Add(24 * time.Hour),
	}
}

// grantSink keeps the benchmarks' results on the heap, as a store keeps
// them.
var grantSink []byte

// BenchmarkEncodeGrant is the stored form of a grant, written by every
// create and update of every store.
func BenchmarkEncodeGrant(b *testing.B) {
	g := benchGrant()
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if grantSink, err = EncodeGrant(g); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeGrant reads the stored form back (bbolt and Redis, on
// every refresh).
func BenchmarkDecodeGrant(b *testing.B) {
	data, err := EncodeGrant(benchGrant())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var g Grant
		if err := DecodeGrant(data, &g); err != nil {
			b.Fatal(err)
		}
	}
}
