package edi

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/md5"
	"crypto/rsa"
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
	s, err := NewSigner(testEDIKey(), "")
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
	s, err := NewSigner(key, "")
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

// BenchmarkRSA2048SignParallel is the physical limit of the refresh
// endpoint: every refresh makes one RSA-2048 PKCS#1 v1.5 signature (MD5, as
// PASTA requires). Run with -cpu set to the number of cores; ns/op is then
// wall time per signature with every core signing, so 1e9/ns_op is the
// machine's signatures per second. bench/edi.sh compares the endpoint to it.
func BenchmarkRSA2048SignParallel(b *testing.B) {
	key := testPastaKey()
	digest := md5.Sum([]byte("dWlkPWFsaWNlLG89RURJLGRjPWVkaXJlcG9zaXRvcnksZGM9b3Jn"))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := rsa.SignPKCS1v15(nil, key, crypto.MD5, digest[:]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRefreshParallel is a whole refresh (body parsing, both
// verifications, binding, both signatures, the answer) without HTTP, on
// every core: its ratio to BenchmarkRSA2048SignParallel is what the
// service itself costs beyond the signature.
func BenchmarkRefreshParallel(b *testing.B) {
	f := newFixture(b)
	now := time.Now()
	f.setNow(now)
	c := aliceClaims(now.Add(-time.Minute))
	body := []byte(refreshBody(f.signPasta(aliceUID, now.Add(time.Hour), "vetted", "authenticated"), f.signEDI(c)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := f.s.Refresh(body)
			if r.Status != 200 {
				b.Errorf("refresh: %d %s", r.Status, r.Msg)
				return
			}
			_, _ = r.Encode("")
		}
	})
}
