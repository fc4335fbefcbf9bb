package tokencore

import (
	"testing"
	"time"
)

// TestVerifyCacheHitAllocatesNothing: a bearer token already verified costs
// no heap allocation (the cache key is hashed on the stack, the lookup is
// by its first 8 bytes): the path of every protected request. It made 4
// allocations before (the key as a string, the hasher, two conversions).
func TestVerifyCacheHitAllocatesNothing(t *testing.T) {
	ks, _ := testKeys(t)
	now := time.Now()
	tok, err := ks.Sign(AccessClaims{Type: TypeAccess, IssuedAt: now.Unix(), Tenant: "diku", Subject: "alice",
		UserID: "u", Expiry: now.Add(time.Hour).Unix(), ID: NewTokenID(), GrantID: NewGrantID()})
	if err != nil {
		t.Fatal(err)
	}
	cache, _ := NewVerifyCache(CacheConfig{})
	defer cache.Close()
	v := NewVerifier(ks, cache, NewRevocationView(), VerifierOptions{}, nil)
	if _, err := v.Verify(tok, "diku"); err != nil {
		t.Fatal(err)
	}
	cache.Wait()
	if hits, _ := cache.Stats(); hits != 0 {
		t.Fatalf("hits before the measure: %d", hits)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := v.Verify(tok, "diku"); err != nil {
			t.Fatal(err)
		}
	})
	if hits, _ := cache.Stats(); hits < 1000 {
		t.Fatalf("only %d cache hits: the measure is not of the cached path", hits)
	}
	if allocs >= 1 {
		t.Fatalf("a cache hit allocates %.1f times", allocs)
	}
}
