package tokencore

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// VerifyCache remembers tokens whose signature and structure were verified,
// so that a repeated bearer token costs a SHA-256 and a map lookup instead of
// a signature verification. It is keyed by SHA-256 of the verifier's
// configuration and the token, so the raw token is never kept and a change
// of keys or rules never reuses an old verdict.
//
// Only the signature work is cached. Expiry, tenant and revocation are
// checked on every request by the Verifier, so ristretto's asynchronous Set
// can never make a revoked token pass.
type VerifyCache struct {
	c      *ristretto.Cache[uint64, *cacheEntry]
	maxTTL time.Duration
	hits   atomic.Uint64
	misses atomic.Uint64
}

// CacheKey identifies a verdict: SHA-256(scope || 0 || token). Its first 8
// bytes index the cache; the whole hash is compared on every hit.
type CacheKey [sha256.Size]byte

type cacheEntry struct {
	key   CacheKey // compared on every hit
	value any      // *Claims for the Verifier; other verifiers store their own
}

// CacheConfig bounds the cache.
type CacheConfig struct {
	// MaxEntries bounds the number of cached tokens (each costs 1).
	MaxEntries int64
	// MaxTTL bounds how long a verdict is kept (never past the token's exp).
	MaxTTL time.Duration
}

// Defaults of CacheConfig.
const (
	DefaultCacheEntries = 100_000
	DefaultCacheMaxTTL  = 10 * time.Minute
)

// NewVerifyCache builds a cache; Close releases its goroutines.
func NewVerifyCache(cfg CacheConfig) (*VerifyCache, error) {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultCacheEntries
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = DefaultCacheMaxTTL
	}
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *cacheEntry]{
		NumCounters: cfg.MaxEntries * 10,
		MaxCost:     cfg.MaxEntries,
		BufferItems: 64,
		// Cost counts entries, not bytes: MaxEntries means what it says.
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("creating verification cache: %w", err)
	}
	return &VerifyCache{c: c, maxTTL: cfg.MaxTTL}, nil
}

// Key returns the cache key of token under a verifier's scope (a string that
// identifies the verifier's keys and rules): SHA-256(scope || 0 || token).
// Verifiers other than Verifier (EDI tokens) use Key, Get and Put directly.
func (vc *VerifyCache) Key(scope, token string) CacheKey { return cacheKey(scope, token) }

// Get returns the value cached under key.
func (vc *VerifyCache) Get(key CacheKey) (any, bool) {
	if e, ok := vc.c.Get(key.index()); ok && e.key == key {
		vc.hits.Add(1)
		return e.value, true
	}
	vc.misses.Add(1)
	return nil, false
}

// Put caches value under key until ttl (capped by MaxTTL); a non-positive
// ttl is not cached. Only ever cache the result of signature and structure
// checks: anything that can change (expiry, revocation) must be checked on
// every request.
func (vc *VerifyCache) Put(key CacheKey, value any, ttl time.Duration) {
	if ttl > vc.maxTTL {
		ttl = vc.maxTTL
	}
	if ttl <= 0 {
		return
	}
	vc.c.SetWithTTL(key.index(), &cacheEntry{key: key, value: value}, 1, ttl)
}

// cacheKeyStack bounds the scope and token hashed without a heap
// allocation: every bearer token a cache hit sees is far below it.
const cacheKeyStack = 2048

// cacheKey is SHA-256(scope || 0 || token). A cache hit is on every
// protected request's path: the bytes are gathered on the stack, so the
// key costs a hash and no allocation.
func cacheKey(scope, token string) CacheKey {
	var buf [cacheKeyStack]byte
	b := buf[:0]
	if n := len(scope) + 1 + len(token); n > len(buf) {
		b = make([]byte, 0, n)
	}
	b = append(b, scope...)
	b = append(b, 0)
	b = append(b, token...)
	return sha256.Sum256(b)
}

// index is the ristretto key of k: its first 8 bytes (ristretto keeps a
// uint64 key as its own hash, so no second hash is computed).
func (k CacheKey) index() uint64 { return binary.LittleEndian.Uint64(k[:8]) }

// Stats returns the hit and miss counts since the cache was made.
func (vc *VerifyCache) Stats() (hits, misses uint64) { return vc.hits.Load(), vc.misses.Load() }

// Wait blocks until pending Sets are applied (tests and benchmarks).
func (vc *VerifyCache) Wait() { vc.c.Wait() }

// Clear drops every entry.
func (vc *VerifyCache) Clear() { vc.c.Clear() }

// Close stops the cache's goroutines.
func (vc *VerifyCache) Close() { vc.c.Close() }
