package pebble_test

import (
	"errors"
	"path/filepath"
	"testing"

	pebble "github.com/cockroachdb/pebble/v2"

	"github.com/tokengate/tokengate/tokencore"
)

// TestPebbleStoreIdentity: a new store is created with an identity at
// generation 0; the identity survives reopening; AdvanceGeneration is
// durable; and a store that lost its identity record gets a new one when
// asked (BindStore then sees another store), never the old one back.
func TestPebbleStoreIdentity(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "state")
	s := openPebble(t, dir)
	id, err := s.Identity(ctx)
	if err != nil || id.ID == "" || id.Generation != 0 || id.CreatedAt.IsZero() {
		t.Fatalf("new store identity %+v, %v", id, err)
	}
	adv, err := s.AdvanceGeneration(ctx)
	if err != nil || adv.ID != id.ID || adv.Generation != 1 || !adv.CreatedAt.Equal(id.CreatedAt) {
		t.Fatalf("advanced %+v, %v", adv, err)
	}
	s.Close()

	s = openPebble(t, dir)
	again, err := s.Identity(ctx)
	if err != nil || again != adv {
		t.Fatalf("after reopening: %+v, %v; want %+v", again, err, adv)
	}
	s.Close()

	db, err := pebble.Open(dir, rawOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Delete([]byte("midentity"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = openPebble(t, dir)
	defer s.Close()
	if _, err := s.AdvanceGeneration(ctx); !errors.Is(err, tokencore.ErrStoreIdentityLost) {
		t.Fatalf("advancing a store without identity: %v", err)
	}
	lost, err := s.Identity(ctx)
	if err != nil || lost.ID == "" || lost.ID == id.ID || lost.Generation != 0 {
		t.Fatalf("identity given to a store that lost its own: %+v, %v", lost, err)
	}
	if again, _ := s.Identity(ctx); again != lost {
		t.Fatalf("identity not kept: %+v then %+v", lost, again)
	}
}
