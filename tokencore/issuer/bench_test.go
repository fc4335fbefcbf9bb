package issuer

import (
	"context"
	"testing"
)

// BenchmarkVerifyES256 measures an external ES256 access token on a
// verification-cache hit (the steady state of a client reusing its token)
// and on a miss (a token seen for the first time: strict JSON checks of
// header and claims, the ECDSA verification, the claim rules). Time and
// revocation checks run in both. bench/external.sh prints it beside the
// HTTP comparison with plain reverse_proxy.
func BenchmarkVerifyES256(b *testing.B) {
	f := newFixture(b, nil)
	tok := f.token(b, nil)
	ctx := context.Background()
	if _, err := f.iss.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	f.cache.Wait()
	b.Run("cache-hit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.iss.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cache-miss", func(b *testing.B) {
		f.iss.deps.Cache = nil // every call verifies in full
		defer func() { f.iss.deps.Cache = f.cache }()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.iss.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
