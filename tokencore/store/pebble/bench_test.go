package pebble_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

// Benchmarks run on a real directory: every write is committed with
// pebble.Sync. Compare with tokencore/store/bolt's of the same names.

func BenchmarkPebbleCreateGrant(b *testing.B) {
	s := openPebble(b, filepath.Join(b.TempDir(), "state"))
	defer s.Close()
	t0 := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := s.CreateGrant(b.Context(), storetest.SampleGrant(fmt.Sprintf("g%09d", i), t0)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPebbleCommitParallel is the load of /token/sign: 16 writers
// per core creating grants with the engine's IDs, each write fsynced
// before it returns (Pebble groups the syncs). It reports the directory's
// size per grant written once the store is closed (flushed).
func BenchmarkPebbleCommitParallel(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "state")
	s := openPebble(b, dir)
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
		b.ReportMetric(float64(dirSize(b, dir))/float64(b.N), "B/grant")
	}
}

// BenchmarkPebbleRotateParallel is the load of /token/refresh: 16 writers
// per core, each rotating its own grant (new access and refresh hashes,
// new expiry), fsynced.
func BenchmarkPebbleRotateParallel(b *testing.B) {
	s := openPebble(b, filepath.Join(b.TempDir(), "state"))
	defer s.Close()
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := tokencore.NewGrantID() + fmt.Sprint(next.Add(1))
		if err := s.CreateGrant(b.Context(), storetest.SampleGrant(id, time.Now())); err != nil {
			b.Error(err)
			return
		}
		n := 0
		for pb.Next() {
			n++
			if _, err := s.UpdateGrant(b.Context(), id, func(g *tokencore.Grant) error {
				g.PreviousRefreshID, g.RefreshID = g.RefreshID, fmt.Sprintf("r%d", n)
				g.RefreshHash, g.AccessHash = tokencore.TokenHash(id+g.RefreshID), tokencore.TokenHash(id+"a"+g.RefreshID)
				g.ExpiresAt = time.Now().Add(time.Hour)
				return nil
			}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPebbleUpdateGrant is one rotation after another, on one grant.
func BenchmarkPebbleUpdateGrant(b *testing.B) {
	s := openPebble(b, filepath.Join(b.TempDir(), "state"))
	defer s.Close()
	t0 := time.Now()
	if err := s.CreateGrant(b.Context(), storetest.SampleGrant("g", t0)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		want := "r-g"
		if i > 0 {
			want = fmt.Sprintf("r%d", i)
		}
		i++
		next := fmt.Sprintf("r%d", i)
		if _, err := s.UpdateGrant(b.Context(), "g", func(g *tokencore.Grant) error {
			if g.RefreshID != want {
				return errors.New("lost rotation")
			}
			g.PreviousRefreshID, g.RefreshID = g.RefreshID, next
			g.RefreshHash, g.AccessHash = tokencore.TokenHash("refresh-"+next), tokencore.TokenHash("access-"+next)
			g.ExpiresAt = t0.Add(time.Duration(i) * time.Second)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPebbleGrantByTokenHash(b *testing.B) {
	s := openPebble(b, filepath.Join(b.TempDir(), "state"))
	defer s.Close()
	t0 := time.Now()
	hashes := make([]string, 5000)
	for i := range hashes {
		g := storetest.SampleGrant(fmt.Sprintf("g%06d", i), t0.Add(time.Duration(i)))
		if err := s.CreateGrant(b.Context(), g); err != nil {
			b.Fatal(err)
		}
		hashes[i] = g.RefreshHash
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.GrantByTokenHash(b.Context(), hashes[i%len(hashes)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// dirSize is the total size of the files under dir.
func dirSize(tb testing.TB, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
