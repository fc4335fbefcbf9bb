package tokencore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

const testRedisAddr = "127.0.0.1:6379"

// openRedis opens a RedisStore under a fresh random prefix and deletes
// every key of that prefix when the test ends. Without a Redis at
// testRedisAddr the test fails: CI installs and starts one (.ci/run), and a
// skipped store test would pass for a backend that was never tested.
func openRedis(t *testing.T, prefix string) *tokencore.RedisStore {
	t.Helper()
	if prefix == "" {
		prefix = newRedisPrefix(t)
	}
	s, err := tokencore.OpenRedisStore(t.Context(), tokencore.RedisOptions{
		Addr: testRedisAddr, KeyPrefix: prefix, DialTimeout: time.Second,
	})
	if err != nil {
		t.Fatalf("the Redis store tests need a Redis server at %s (.ci/run installs and starts one): %v", testRedisAddr, err)
	}
	return s
}

// newRedisPrefix returns a unique prefix and registers the removal of its
// keys (SCAN + DEL).
func newRedisPrefix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "tokengate-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		rdb := redis.NewClient(&redis.Options{Addr: testRedisAddr})
		defer rdb.Close()
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Logf("cleaning up %s: %v", prefix, err)
			return
		}
		for len(keys) > 0 {
			n := min(len(keys), 500)
			rdb.Del(ctx, keys[:n]...)
			keys = keys[n:]
		}
	})
	return prefix
}

func TestRedisStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tokencore.Store { return openRedis(t, "") })
}

// TestRedisStoreUnreachable: a wrong address fails at open, clearly.
func TestRedisStoreUnreachable(t *testing.T) {
	_, err := tokencore.OpenRedisStore(t.Context(), tokencore.RedisOptions{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond})
	if err == nil {
		t.Fatal("OpenRedisStore of a closed port succeeded")
	}
	t.Log(err)
}

// TestRedisStoreRotationAcrossStores: 50 rotations of one refresh token
// through separate connections (as separate instances) have one winner.
func TestRedisStoreRotationAcrossStores(t *testing.T) {
	prefix := newRedisPrefix(t)
	const n = 50
	stores := make([]*tokencore.RedisStore, 5)
	for i := range stores {
		stores[i] = openRedis(t, prefix)
		defer stores[i].Close()
	}
	ctx := t.Context()
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	g := &tokencore.Grant{ID: "g", Status: tokencore.GrantActive, CreatedAt: t0, RefreshID: "r0", RefreshHash: tokencore.TokenHash("r0")}
	if err := stores[0].CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	wins := make(chan int, n)
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			_, err := stores[i%len(stores)].UpdateGrant(ctx, "g", func(g *tokencore.Grant) error {
				if g.RefreshID != "r0" {
					return tokencore.ErrRefreshReused
				}
				g.RefreshID = "r1"
				g.RefreshHash = tokencore.TokenHash("r1-" + string(rune('a'+i%26)) + hex.EncodeToString([]byte{byte(i)}))
				return nil
			})
			if err == nil {
				wins <- i
			} else {
				errs <- err
			}
		}()
	}
	close(start)
	won := 0
	for range n {
		select {
		case <-wins:
			won++
		case err := <-errs:
			if err != tokencore.ErrRefreshReused {
				t.Errorf("losing rotation: %v, want ErrRefreshReused unwrapped", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("rotations did not finish")
		}
	}
	if won != 1 {
		t.Fatalf("%d rotations won, want exactly 1", won)
	}
	// The old hash index entry is gone, the new one is there.
	if _, err := stores[1].GrantByTokenHash(ctx, tokencore.TokenHash("r0")); err == nil {
		t.Error("the rotated-away refresh hash still finds the grant")
	}
}
