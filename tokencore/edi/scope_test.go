package edi

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"testing"
	"time"
)

// TestVerifierScopes: cache scopes differ whenever what a verifier accepts
// differs, so a cached verdict is never reused under other keys or rules.
func TestVerifierScopes(t *testing.T) {
	k1, k2 := &testEDIKey().PublicKey, &testEDIKey2().PublicKey
	scope := func(keys []*ecdsa.PublicKey, opts ...VerifierOption) string {
		return mustEDIVerifier(t, keys, opts...).Scope()
	}
	base := scope([]*ecdsa.PublicKey{k1})
	if scope([]*ecdsa.PublicKey{k1}) != base {
		t.Fatal("same configuration, different scope")
	}
	for name, other := range map[string]string{
		"other key":      scope([]*ecdsa.PublicKey{k2}),
		"one more key":   scope([]*ecdsa.PublicKey{k1, k2}),
		"issuer":         scope([]*ecdsa.PublicKey{k1}, WithIssuer("https://other.example")),
		"hosted domain":  scope([]*ecdsa.PublicKey{k1}, WithHostedDomain("other.example")),
		"key with a kid": scope(nil, WithKeyID("a", k1)),
	} {
		if other == base {
			t.Errorf("%s: same scope", name)
		}
	}
	p1 := mustPastaVerifier(t, &testPastaKey().PublicKey).Scope()
	if p1 == mustPastaVerifier(t, &testPastaKey2().PublicKey).Scope() || p1 == mustPastaVerifier(t, []*rsa.PublicKey{&testPastaKey().PublicKey, &testPastaKey2().PublicKey}...).Scope() {
		t.Fatal("PASTA scopes do not follow the keys")
	}
}

// TestCheckTime applies Verify's time rules to claims, with leeway.
func TestCheckTime(t *testing.T) {
	c := fullClaims() // iat = nbf = testNow, exp = testNow + 8h
	for _, tc := range []struct {
		now    time.Time
		leeway time.Duration
		want   error
	}{
		{testNow, 0, nil},
		{testNow.Add(-time.Second), 0, ErrNotYetValid},
		{testNow.Add(-time.Second), 2 * time.Second, nil},
		{testNow.Add(8*time.Hour - time.Nanosecond), 0, nil},
		{testNow.Add(8 * time.Hour), 0, ErrExpired},
		{testNow.Add(8*time.Hour + time.Second), 2 * time.Second, nil},
		{testNow.Add(8*time.Hour + 2*time.Second), 2 * time.Second, ErrExpired},
	} {
		v := mustEDIVerifier(t, []*ecdsa.PublicKey{&testEDIKey().PublicKey}, fixedClock(tc.now), WithLeeway(tc.leeway))
		if err := v.CheckTime(c); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("now %s leeway %s: %v, want %v", tc.now, tc.leeway, err, tc.want)
		}
		// Verify agrees.
		tok, _ := NewSigner(testEDIKey(), "")
		s, err := tok.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(s); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("Verify at now %s leeway %s: %v, want %v", tc.now, tc.leeway, err, tc.want)
		}
	}
}
