package edi

import (
	"crypto/ecdsa"
	"testing"
	"time"
)

func BenchmarkPastaSign(b *testing.B) {
	s := mustPastaSigner(b, testPastaKey()) // RSA-2048
	tok := NewPastaToken("uid=alice,o=EDI,dc=edirepository,dc=org", specPastaExpiry, "vetted", "authenticated")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPastaVerify(b *testing.B) {
	key := testPastaKey()
	ext, err := mustPastaSigner(b, key).Sign(NewPastaToken("uid=alice,o=EDI,dc=edirepository,dc=org", specPastaExpiry, "vetted", "authenticated"))
	if err != nil {
		b.Fatal(err)
	}
	v := mustPastaVerifier(b, &key.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ext); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEDISign(b *testing.B) {
	s, err := NewEDISigner(testEDIKey(), "")
	if err != nil {
		b.Fatal(err)
	}
	c := fullClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEDIVerify(b *testing.B) {
	key := testEDIKey()
	s, err := NewEDISigner(key, "")
	if err != nil {
		b.Fatal(err)
	}
	tok, err := s.Sign(fullClaims())
	if err != nil {
		b.Fatal(err)
	}
	v := mustEDIVerifier(b, []*ecdsa.PublicKey{&key.PublicKey}, WithClock(func() time.Time { return testNow }))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
