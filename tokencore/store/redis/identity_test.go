package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/tokencore"
	redisstore "github.com/tokengate/tokengate/tokencore/store/redis"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

// TestRedisStoreIdentity: instances sharing a prefix share one identity,
// created once even when they ask together; the generation advances for
// all; a flushed database is a new store, and advancing it fails.
func TestRedisStoreIdentity(t *testing.T) {
	ctx := t.Context()
	prefix := storetest.NewRedisPrefix(t)
	open := func() *redisstore.Store {
		s, err := redisstore.Open(ctx, redisstore.Options{Addr: storetest.RedisAddr, KeyPrefix: prefix, DialTimeout: time.Second})
		if err != nil {
			t.Fatalf("this test needs Redis at %s: %v", storetest.RedisAddr, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	ids := make(chan tokencore.StoreIdentity, 2)
	for _, s := range []*redisstore.Store{a, b} {
		go func() {
			id, err := s.Identity(ctx)
			if err != nil {
				t.Error(err)
			}
			ids <- id
		}()
	}
	id1, id2 := <-ids, <-ids
	if id1.ID == "" || id1 != id2 || id1.Generation != 0 {
		t.Fatalf("two instances got %+v and %+v", id1, id2)
	}
	if adv, err := a.AdvanceGeneration(ctx); err != nil || adv.ID != id1.ID || adv.Generation != 1 || !adv.CreatedAt.Equal(id1.CreatedAt) {
		t.Fatalf("advanced %+v, %v", adv, err)
	}
	if got, err := b.Identity(ctx); err != nil || got.Generation != 1 {
		t.Fatalf("the other instance sees %+v, %v", got, err)
	}

	rdb := redis.NewClient(&redis.Options{Addr: storetest.RedisAddr})
	defer rdb.Close()
	if err := rdb.Del(context.Background(), prefix+"identity").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AdvanceGeneration(ctx); !errors.Is(err, tokencore.ErrStoreIdentityLost) {
		t.Fatalf("advancing a flushed store: %v", err)
	}
	if got, err := b.Identity(ctx); err != nil || got.ID == id1.ID || got.Generation != 0 {
		t.Fatalf("a flushed store is a new store: %+v, %v", got, err)
	}
}
