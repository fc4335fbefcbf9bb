package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/filestorage"
	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/store/bolt"
	redisstore "github.com/tokengate/tokengate/tokencore/store/redis"
)

// caddyStorage is Caddy's own file_system storage (the default) rooted in
// a test directory.
func caddyStorage(t *testing.T, dir string) tokencore.KeyStorage {
	t.Helper()
	st, err := filestorage.FileStorage{Root: dir}.CertMagicStorage()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// autoKeys are the `key auto` keys kept in the storage.
func autoKeys(t *testing.T, st tokencore.KeyStorage) *tokencore.KeySet {
	t.Helper()
	k, refresh, err := tokencore.LoadOrCreateAutoKeys(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := tokencore.NewKeySet(k, nil, refresh)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// startBolt does what App.Start does with a bbolt store: open it, bind it
// to the keys, and (here) close it again, like a stop.
func startBolt(t *testing.T, path string, st tokencore.KeyStorage, keys *tokencore.KeySet, accept string) (tokencore.BindOutcome, error) {
	t.Helper()
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		return "", err
	}
	defer s.Close()
	_, outcome, err := tokencore.BindStore(t.Context(), st, s, path, keys, accept, time.Now())
	return outcome, err
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func identityOf(t *testing.T, path string) tokencore.StoreIdentity {
	t.Helper()
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := s.Identity(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestStoreBindingBolt walks a deployment with real bbolt files and Caddy's
// real file storage through what the binding must catch: an old backup
// restored, the store deleted, replaced by another deployment's, and
// truncated; and what it must let through: restarts, the operator's
// one-time acceptance, and a store reset together with new keys.
func TestStoreBindingBolt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data", "tokengate.db")
	st := caddyStorage(t, filepath.Join(dir, "caddy"))
	keys := autoKeys(t, st)

	expect := func(stage string, want tokencore.BindOutcome, accept string) {
		t.Helper()
		got, err := startBolt(t, path, st, keys, accept)
		if err != nil || got != want {
			t.Fatalf("%s: %q, %v; want %q", stage, got, err, want)
		}
	}
	refused := func(stage, why string) error {
		t.Helper()
		_, err := startBolt(t, path, st, keys, "")
		if !errors.Is(err, tokencore.ErrStoreNotBound) || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), path) {
			t.Fatalf("%s: %v; want a refusal naming %s and saying %q", stage, err, path, why)
		}
		return err
	}

	expect("first start", tokencore.BindNew, "")
	expect("restart", tokencore.BindSame, "")

	// A backup, then the gateway runs on (a restart, or the periodic
	// refresh), then the backup is restored.
	backup := filepath.Join(dir, "backup.db")
	copyFile(t, path, backup)
	expect("restart after the backup", tokencore.BindSame, "")
	s, _ := bolt.Open(path, bolt.Options{})
	if _, err := tokencore.RefreshStoreBinding(t.Context(), st, s, path, keys, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	copyFile(t, backup, path)
	err := refused("old backup restored", "restored from a backup")
	restored := identityOf(t, path)
	if !strings.Contains(err.Error(), "accept_store "+restored.ID+"@") {
		t.Fatalf("the refusal does not give the option to accept this store: %v", err)
	}
	// The operator accepts it once; the setting is inert afterwards.
	accept := fmt.Sprintf("%s@%d", restored.ID, restored.Generation)
	expect("accepted", tokencore.BindAccepted, accept)
	expect("restart with the setting left in", tokencore.BindSame, accept)

	// Deleted: a new store is created, and refused.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	refused("store deleted", "new, empty store")
	refused("store deleted, second try", "new, empty store")
	if _, err := startBolt(t, path, st, keys, accept); !errors.Is(err, tokencore.ErrStoreNotBound) {
		t.Fatalf("an acceptance of another store let this one in: %v", err)
	}
	fresh := identityOf(t, path)
	expect("new store accepted", tokencore.BindAccepted, fresh.ID+"@0")

	// Replaced by the store of another deployment.
	otherDir := t.TempDir()
	otherPath := filepath.Join(otherDir, "tokengate.db")
	otherSt := caddyStorage(t, filepath.Join(otherDir, "caddy"))
	if _, err := startBolt(t, otherPath, otherSt, autoKeys(t, otherSt), ""); err != nil {
		t.Fatal(err)
	}
	copyFile(t, path, backup)
	copyFile(t, otherPath, path)
	refused("store of another deployment", "is another store")
	copyFile(t, backup, path)
	expect("own store back", tokencore.BindSame, "")

	// Truncated to nothing: refused before any binding question.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := startBolt(t, path, st, keys, ""); err == nil || !strings.Contains(err.Error(), "empty (0 bytes)") || !strings.Contains(err.Error(), path) {
		t.Fatalf("truncated store: %v", err)
	}

	// New keys (the old ones removed from storage) with a new store: no
	// token the old store knew can verify, so nothing is at risk.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{tokencore.AutoSigningKeyPath, tokencore.AutoRefreshKeyPath} {
		if err := st.(interface {
			Delete(context.Context, string) error
		}).Delete(t.Context(), k); err != nil {
			t.Fatal(err)
		}
	}
	keys = autoKeys(t, st)
	expect("new keys, new store", tokencore.BindKeysReplaced, "")
	expect("new keys, restart", tokencore.BindSame, "")
}

// TestStoreBindingFolioSecret: with `key folio_secret` the binding lives in
// Caddy's storage too, and follows the secret, not the fixed kid.
func TestStoreBindingFolioSecret(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokengate.db")
	st := caddyStorage(t, filepath.Join(dir, "caddy"))
	folio := func(secret string) *tokencore.KeySet {
		ks, err := tokencore.NewKeySet(tokencore.NewFolioKey(secret), nil, tokencore.DeriveFolioSecret(secret))
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	if got, err := startBolt(t, path, st, folio("secret-1"), ""); err != nil || got != tokencore.BindNew {
		t.Fatalf("first start: %q, %v", got, err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := startBolt(t, path, st, folio("secret-1"), ""); !errors.Is(err, tokencore.ErrStoreNotBound) {
		t.Fatalf("new store with the same secret: %v", err)
	}
	if got, err := startBolt(t, path, st, folio("secret-2"), ""); err != nil || got != tokencore.BindKeysReplaced {
		t.Fatalf("new store with a new secret: %q, %v", got, err)
	}
}

// TestStoreBindingRedis: a Redis database emptied under the keys (FLUSHDB,
// a restart without persistence) is refused like a deleted bbolt file.
func TestStoreBindingRedis(t *testing.T) {
	const addr = "127.0.0.1:6379"
	prefix := "tokengate-binding-test:" + tokencore.NewGrantID() + ":"
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	flush := func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	}
	t.Cleanup(flush)
	dir := t.TempDir()
	st := caddyStorage(t, dir)
	keys := autoKeys(t, st)
	start := func() (tokencore.BindOutcome, error) {
		s, err := redisstore.Open(t.Context(), redisstore.Options{Addr: addr, KeyPrefix: prefix, DialTimeout: time.Second})
		if err != nil {
			t.Fatalf("this test needs Redis at %s: %v", addr, err)
		}
		defer s.Close()
		_, outcome, err := tokencore.BindStore(t.Context(), st, s, "redis "+addr, keys, "", time.Now())
		return outcome, err
	}
	if got, err := start(); err != nil || got != tokencore.BindNew {
		t.Fatalf("first start: %q, %v", got, err)
	}
	if got, err := start(); err != nil || got != tokencore.BindSame {
		t.Fatalf("second instance or restart: %q, %v", got, err)
	}
	flush()
	if _, err := start(); !errors.Is(err, tokencore.ErrStoreNotBound) || !strings.Contains(err.Error(), "new, empty store") {
		t.Fatalf("flushed Redis: %v", err)
	}
}

// TestStoreBindingRefreshDetectsEmptiedRedis: the periodic refresh of a
// running gateway reports a Redis emptied under it, and does not give the
// emptied database a new identity (which would hide it at the next start).
func TestStoreBindingRefreshDetectsEmptiedRedis(t *testing.T) {
	const addr = "127.0.0.1:6379"
	prefix := "tokengate-binding-test:" + tokencore.NewGrantID() + ":"
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	t.Cleanup(func() { rdb.Del(context.Background(), prefix+"identity") })
	st := caddyStorage(t, t.TempDir())
	keys := autoKeys(t, st)
	s, err := redisstore.Open(t.Context(), redisstore.Options{Addr: addr, KeyPrefix: prefix, DialTimeout: time.Second})
	if err != nil {
		t.Fatalf("this test needs Redis at %s: %v", addr, err)
	}
	defer s.Close()
	if _, _, err := tokencore.BindStore(t.Context(), st, s, "redis", keys, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if id, err := tokencore.RefreshStoreBinding(t.Context(), st, s, "redis", keys, time.Now()); err != nil || id.Generation != 2 {
		t.Fatalf("refresh: %+v, %v", id, err)
	}
	if err := rdb.Del(t.Context(), prefix+"identity").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := tokencore.RefreshStoreBinding(t.Context(), st, s, "redis", keys, time.Now()); !errors.Is(err, tokencore.ErrStoreIdentityLost) {
		t.Fatalf("refresh of an emptied store: %v", err)
	}
	if n, _ := rdb.Exists(t.Context(), prefix+"identity").Result(); n != 0 {
		t.Fatal("the refresh gave the emptied store an identity")
	}
}
