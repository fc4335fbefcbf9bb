package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/tokencore"
	redisstore "github.com/tokengate/tokengate/tokencore/store/redis"
)

func TestRedisStateUnreachable(t *testing.T) {
	a := &App{Store: &StoreConfig{Type: "redis", Address: "127.0.0.1:1"}, logger: zap.NewNop()}
	st, key, err := a.openState()
	if err != nil {
		t.Fatal(err) // preparing the state opens nothing
	}
	defer statePool.Delete(key)
	if _, err := st.open(noBinding, noPrepare); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("opening the state with no Redis: %v; want an error naming the address", err)
	}
}

// noBinding is a bind callback that accepts every store.
func noBinding(tokencore.IdentifiedStore, string) error { return nil }

// noPrepare is a prepare callback that writes nothing.
func noPrepare(tokencore.Store) error { return nil }

// TestRedisStateAppliesPushedRevocations: the pooled state is keyed by
// address, db and prefix, and a revocation stored by another instance is
// in its view without waiting for the periodic sync.
func TestRedisStateAppliesPushedRevocations(t *testing.T) {
	const addr = "127.0.0.1:6379"
	if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
		t.Fatalf("needs a Redis server at %s (.ci/run installs and starts one): %v", addr, err)
	} else {
		c.Close()
	}
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "tokengate-caddy-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})

	a := &App{
		Store:          &StoreConfig{Type: "redis", Address: addr, DB: 0, Prefix: prefix},
		RevocationSync: 3600e9, // an hour: only the push can be fast
		logger:         zap.NewNop(),
	}
	st, key, err := a.openState()
	if err != nil {
		t.Fatal(err)
	}
	defer statePool.Delete(key)
	if _, err := st.open(noBinding, noPrepare); err != nil {
		t.Fatal(err)
	}
	if want := "redis:" + addr + "/0/" + prefix; key != want {
		t.Errorf("pool key %q, want %q", key, want)
	}

	other, err := redisstore.Open(t.Context(), redisstore.Options{Addr: addr, KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	seq, err := other.PutRevocation(t.Context(), tokencore.Revocation{Kind: tokencore.RevocationOfToken, Key: "jti-1", NotBefore: time.Now(), ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for st.view.Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the revocation stored by another instance did not reach the view")
		}
		time.Sleep(time.Millisecond)
	}
	// The instance acknowledged it in the registry: a revoker waiting for
	// every live instance is released.
	if lagging := st.follower.AwaitApplied(t.Context(), seq); len(lagging) != 0 {
		t.Errorf("instances %q did not acknowledge revocation %d", lagging, seq)
	}
	if lagging, err := other.LaggingInstances(t.Context(), seq); err != nil || len(lagging) != 0 {
		t.Errorf("LaggingInstances = %q, %v; want none", lagging, err)
	}
}
