package tokencore_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/store/bolt"
	"github.com/tokengate/tokengate/tokencore/store/memory"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

type sweepResult struct {
	n   int
	err error
}

// runSweeper starts RunSweeper and returns its reports, a cancel function
// and a channel closed when RunSweeper returns.
func runSweeper(t *testing.T, s tokencore.Store, every time.Duration, now time.Time) (<-chan sweepResult, context.CancelFunc, <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	reports := make(chan sweepResult, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tokencore.RunSweeper(ctx, s, every, func() time.Time { return now }, func(n int, err error) {
			reports <- sweepResult{n, err}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second): // reported by the test already
		}
	})
	return reports, cancel, done
}

func waitStopped(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunSweeper did not return after its context was cancelled")
	}
}

func TestRunSweeperSweepsAndStops(t *testing.T) {
	ctx := t.Context()
	t0 := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := bolt.Open(filepath.Join(t.TempDir(), "tokens.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	expired, live := storetest.SampleGrant("expired", t0), storetest.SampleGrant("live", t0)
	expired.ExpiresAt, live.ExpiresAt = t0.Add(time.Minute), t0.Add(2*time.Hour)
	for _, g := range []*tokencore.Grant{expired, live} {
		if err := s.CreateGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}

	reports, cancel, done := runSweeper(t, s, 10*time.Millisecond, t0.Add(time.Hour))
	for i, want := range []int{1, 0} { // the expired grant, then nothing more
		select {
		case r := <-reports:
			if r.err != nil || r.n != want {
				t.Fatalf("sweep %d reported %d, %v; want %d, nil", i, r.n, r.err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("sweep %d did not happen", i)
		}
	}
	if _, err := s.GetGrant(ctx, "expired"); !errors.Is(err, tokencore.ErrNotFound) {
		t.Errorf("expired grant: %v, want ErrNotFound", err)
	}
	if _, err := s.GetGrant(ctx, "live"); err != nil {
		t.Errorf("live grant: %v", err)
	}
	cancel()
	waitStopped(t, done)
}

func TestRunSweeperReportsErrors(t *testing.T) {
	s := memory.New()
	s.Close()
	reports, cancel, done := runSweeper(t, s, 10*time.Millisecond, time.Now())
	select {
	case r := <-reports:
		if !errors.Is(r.err, tokencore.ErrStoreClosed) {
			t.Errorf("reported %d, %v; want ErrStoreClosed", r.n, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no sweep reported")
	}
	cancel()
	waitStopped(t, done)
}

// TestRunSweeperStopsWhileWaiting: cancelling between sweeps stops at once,
// without a sweep, and defaults (interval, clock, no callback) are usable.
func TestRunSweeperStopsWhileWaiting(t *testing.T) {
	s := memory.New()
	defer s.Close()
	reports, cancel, done := runSweeper(t, s, time.Hour, time.Now())
	cancel()
	waitStopped(t, done)
	if len(reports) != 0 {
		t.Errorf("%d sweeps reported, want none", len(reports))
	}

	ctx, cancel := context.WithCancel(t.Context())
	done2 := make(chan struct{})
	go func() { defer close(done2); tokencore.RunSweeper(ctx, s, 0, nil, nil) }()
	cancel()
	waitStopped(t, done2)
}
