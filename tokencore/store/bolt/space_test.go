package bolt_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

// TestBoltDiskSpaceReusesSweptPages is the steady state of a gateway:
// grants are written, expire and are swept, and new ones take their place.
// DiskSpace must show the swept records' pages as free, and the next
// generation of grants must reuse them: the file does not grow past the
// first generation's size by more than bbolt's own slack.
func TestBoltDiskSpaceReusesSweptPages(t *testing.T) {
	ctx := t.Context()
	s := openBolt(t, filepath.Join(t.TempDir(), "tokens.db"))
	defer s.Close()
	const perGeneration = 3000
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	var sizes []int64
	for gen := range 4 {
		created := t0.Add(time.Duration(gen) * 2 * time.Hour)
		// Sixteen writers, so that the creations share group commits.
		var wg sync.WaitGroup
		errs := make(chan error, perGeneration)
		for w := range 16 {
			wg.Go(func() {
				for i := w; i < perGeneration; i += 16 {
					g := storetest.SampleGrant(fmt.Sprintf("g%d-%05d", gen, i), created.Add(time.Duration(i)*time.Millisecond))
					g.Subject = fmt.Sprintf("user-%d", i%50)
					if err := s.CreateGrant(ctx, g); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		full, err := s.DiskSpace(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if full.Bytes <= 0 || full.FreeBytes < 0 || full.FreeBytes >= full.Bytes {
			t.Fatalf("generation %d: DiskSpace = %+v", gen, full)
		}
		sizes = append(sizes, full.Bytes)
		t.Logf("generation %d: file %d bytes, %d free", gen, full.Bytes, full.FreeBytes)
		// The generation expires (an hour after creation) and is swept.
		for {
			n, err := s.Sweep(ctx, created.Add(90*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		swept, err := s.DiskSpace(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Most of what the generation took is free again.
		if live, was := swept.Bytes-swept.FreeBytes, full.Bytes-full.FreeBytes; live > was/4 {
			t.Fatalf("generation %d: %d bytes live after sweeping everything, %d before", gen, live, was)
		}
	}
	// Generations 2 and 3 fit in the pages generation 0 and 1 left.
	if sizes[3] > sizes[1] {
		t.Fatalf("the file kept growing with a steady population: sizes per generation %v", sizes)
	}
	if _, err := s.DiskSpace(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.DiskSpace(ctx); err != tokencore.ErrStoreClosed {
		t.Fatalf("DiskSpace on a closed store = %v, want ErrStoreClosed", err)
	}
}
