package pebble

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	pebble "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

// TestStoreSurvivesPowerLoss runs the store on Pebble's crashable
// in-memory file system and takes a crash clone of it: exactly what was
// fsynced (file data and directory entries), nothing written after the
// last sync, as after a power loss. Every write that returned nil (grants
// created and rotated concurrently, so that Pebble groups their syncs,
// revocations, the identity's generation) is in the clone. A write made
// without a sync, in the same database just before the crash, is not: the
// clone really drops what was not synced, so this test would fail on a
// store that acknowledged before its fsync.
func TestStoreSurvivesPowerLoss(t *testing.T) {
	ctx := t.Context()
	fsys := vfs.NewCrashableMem()
	s, err := Open("/data/state", Options{fs: fsys})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const writers, each = 16, 20
	var wg sync.WaitGroup
	t0 := time.Now().UTC()
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("g%02d-%02d", w, i)
				if err := s.CreateGrant(ctx, storetest.SampleGrant(id, t0)); err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					continue
				}
				if _, err := s.UpdateGrant(ctx, id, func(g *tokencore.Grant) error {
					g.RefreshID, g.RefreshHash = "rotated", tokencore.TokenHash("rotated-"+id)
					return nil
				}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range 5 {
		if _, err := s.PutRevocation(ctx, tokencore.Revocation{Kind: tokencore.RevocationOfToken, Key: fmt.Sprint(i), NotBefore: t0}); err != nil {
			t.Fatal(err)
		}
	}
	id, err := s.AdvanceGeneration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Set([]byte("unsynced"), []byte("x"), pebble.NoSync); err != nil {
		t.Fatal(err)
	}

	crashed := fsys.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	c, err := Open("/data/state", Options{fs: crashed})
	if err != nil {
		t.Fatalf("opening the store after the crash: %v", err)
	}
	defer c.Close()
	for w := range writers {
		for i := range each {
			id := fmt.Sprintf("g%02d-%02d", w, i)
			g, err := c.GetGrant(ctx, id)
			if err != nil {
				t.Fatalf("grant %s after the crash: %v", id, err)
			}
			if rotated := i%2 == 1; rotated != (g.RefreshID == "rotated") {
				t.Errorf("grant %s after the crash has refresh %q (rotated: %v)", id, g.RefreshID, rotated)
			}
			if rotated := i%2 == 1; rotated {
				if _, err := c.GrantByTokenHash(ctx, tokencore.TokenHash("rotated-"+id)); err != nil {
					t.Errorf("rotated hash of %s after the crash: %v", id, err)
				}
			}
		}
	}
	if n, err := c.RevocationSeq(ctx); err != nil || n != 5 {
		t.Errorf("revocation number after the crash: %d, %v; want 5", n, err)
	}
	if got, err := c.Identity(ctx); err != nil || got != id {
		t.Errorf("identity after the crash: %+v, %v; want %+v", got, err, id)
	}
	if _, closer, err := c.db.Get([]byte("unsynced")); !errors.Is(err, pebble.ErrNotFound) {
		if err == nil {
			closer.Close()
		}
		t.Errorf("a write never synced survived the crash (%v): the crash clone keeps unsynced data, and this test proves nothing", err)
	}
}

// TestStoreCreationIsAtomic: a crash at any point of creating a store
// leaves either no store or the whole store at the path, never a
// directory Open refuses.
func TestStoreCreationIsAtomic(t *testing.T) {
	fsys := vfs.NewCrashableMem()
	s, err := Open("/data/state", Options{fs: fsys})
	if err != nil {
		t.Fatal(err)
	}
	crashed := fsys.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	s.Close()
	c, err := Open("/data/state", Options{fs: crashed})
	if err != nil {
		t.Fatalf("a store whose creation returned is refused after a crash: %v", err)
	}
	c.Close()
}
