package bolt_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/tokencore"
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
