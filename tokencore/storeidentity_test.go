package tokencore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/tokencore"
	redisstore "github.com/tokengate/tokengate/tokencore/store/redis"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

// TestBoltStoreIdentity: a new bbolt store is created with an identity at
// generation 0; the identity survives reopening; AdvanceGeneration is
// durable; and a store made before identities existed gets one when asked.
func TestBoltStoreIdentity(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.db")
	s := openBolt(t, path)
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("creating the store left %d files, want only the store", len(entries))
	}
	id, err := s.Identity(ctx)
	if err != nil || id.ID == "" || id.Generation != 0 || id.CreatedAt.IsZero() {
		t.Fatalf("new store identity %+v, %v", id, err)
	}
	adv, err := s.AdvanceGeneration(ctx)
	if err != nil || adv.ID != id.ID || adv.Generation != 1 || !adv.CreatedAt.Equal(id.CreatedAt) {
		t.Fatalf("advanced %+v, %v", adv, err)
	}
	s.Close()

	s = openBolt(t, path)
	again, err := s.Identity(ctx)
	if err != nil || again != adv {
		t.Fatalf("after reopening: %+v, %v; want %+v", again, err, adv)
	}
	s.Close()

	// A store of an older version: the same file without the identity.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Delete([]byte("identity")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = openBolt(t, path)
	defer s.Close()
	if _, err := s.AdvanceGeneration(ctx); !errors.Is(err, tokencore.ErrStoreIdentityLost) {
		t.Fatalf("advancing a store without identity: %v", err)
	}
	old, err := s.Identity(ctx)
	if err != nil || old.ID == "" || old.ID == id.ID || old.Generation != 0 {
		t.Fatalf("identity given to an old store: %+v, %v", old, err)
	}
	if again, _ := s.Identity(ctx); again != old {
		t.Fatalf("identity not kept: %+v then %+v", old, again)
	}
}

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
