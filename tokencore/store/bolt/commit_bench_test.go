package bolt_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

// BenchmarkBoltCommitParallel is the group committer under the load of
// /token/sign: 16 writers per core creating grants with the engine's IDs
// (tokencore.NewGrantID) and their current time, each write fsynced before
// it returns. It reports the file's size per grant written (B/grant): the
// mark of half-empty pages when inserts land at random places.
func BenchmarkBoltCommitParallel(b *testing.B) {
	path := filepath.Join(b.TempDir(), "tokens.db")
	s := openBolt(b, path)
	defer s.Close()
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			g := storetest.SampleGrant(tokencore.NewGrantID(), time.Now())
			if err := s.CreateGrant(b.Context(), g); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	s.Close()
	if b.N >= 1000 {
		used, fill := boltPageUse(b, path)
		b.ReportMetric(float64(used)/float64(b.N), "B/grant")
		b.ReportMetric(100*fill, "leaf-fill-%")
	}
}

// boltPageUse returns the bytes of the file's pages in use (not free) and
// how full the leaf pages of every bucket are (bytes used / allocated).
func boltPageUse(tb testing.TB, path string) (used int64, fill float64) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var inuse, alloc int
	err = db.View(func(tx *bbolt.Tx) error {
		used = tx.Size() - int64(db.Stats().FreePageN+db.Stats().PendingPageN)*int64(db.Info().PageSize)
		return tx.ForEach(func(_ []byte, b *bbolt.Bucket) error {
			st := b.Stats()
			inuse += st.LeafInuse + st.BranchInuse
			alloc += st.LeafAlloc + st.BranchAlloc
			return nil
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return used, float64(inuse) / float64(max(alloc, 1))
}

// TestBoltGrantsFillTheirPages: grants created under concurrent load (the
// engine's time-ordered IDs, group commits) fill the pages of the
// time-ordered buckets (at least 70 %; 77-87 % measured) instead of leaving
// them half empty. Before: grants' leaf pages 64 % full with random IDs, 42 %
// with time-ordered IDs at bbolt's default fill, the indexes 50 %.
func TestBoltGrantsFillTheirPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.db")
	s := openBolt(t, path)
	const writers, each = 16, 250
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				if err := s.CreateGrant(t.Context(), storetest.SampleGrant(tokencore.NewGrantID(), time.Now())); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	s.Close()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		for _, name := range []string{"grants", "idx_expiry", "idx_subject"} {
			st := tx.Bucket([]byte(name)).Stats()
			if st.KeyN != writers*each || st.LeafPageN < 10 {
				t.Fatalf("%s: %d keys on %d leaf pages", name, st.KeyN, st.LeafPageN)
			}
			if fill := float64(st.LeafInuse) / float64(st.LeafAlloc); fill < 0.7 {
				t.Errorf("%s: leaf pages %.0f %% full, want at least 70 %%", name, 100*fill)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
