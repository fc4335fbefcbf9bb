package redis_test

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
	redisstore "github.com/tokengate/tokengate/tokencore/store/redis"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

// openRedis opens a Store under a fresh random prefix and deletes
// every key of that prefix when the test ends. Without a Redis at
// storetest.RedisAddr the test fails (see there).
func openRedis(t *testing.T, prefix string) *redisstore.Store {
	t.Helper()
	if prefix == "" {
		prefix = storetest.NewRedisPrefix(t)
	}
	s, err := redisstore.Open(t.Context(), redisstore.Options{
		Addr: storetest.RedisAddr, KeyPrefix: prefix, DialTimeout: time.Second,
	})
	if err != nil {
		t.Fatalf("the Redis store tests need a Redis server at %s (.ci/run installs and starts one): %v", storetest.RedisAddr, err)
	}
	return s
}

// openRedisAt opens a store on addr under prefix, closed when the test
// ends.
func openRedisAt(t *testing.T, addr, prefix string, opts ...func(*redisstore.Options)) *redisstore.Store {
	t.Helper()
	o := redisstore.Options{Addr: addr, KeyPrefix: prefix, DialTimeout: time.Second}
	for _, f := range opts {
		f(&o)
	}
	s, err := redisstore.Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRedisStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tokencore.Store { return openRedis(t, "") })
}

// TestRedisStoreUnreachable: a wrong address fails at open, clearly.
func TestRedisStoreUnreachable(t *testing.T) {
	_, err := redisstore.Open(t.Context(), redisstore.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond})
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	t.Log(err)
}

// TestRedisStoreRotationAcrossStores: 50 rotations of one refresh token
// through separate connections (as separate instances) have one winner.
func TestRedisStoreRotationAcrossStores(t *testing.T) {
	prefix := storetest.NewRedisPrefix(t)
	const n = 50
	stores := make([]*redisstore.Store, 5)
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
