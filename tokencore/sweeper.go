package tokencore

import (
	"context"
	"time"
)

// DefaultSweepInterval is the interval RunSweeper uses when given none.
const DefaultSweepInterval = time.Minute

// RunSweeper calls s.Sweep every interval until ctx is done, then returns.
// The caller runs it in a goroutine and cancels ctx to stop it (Caddy:
// in Cleanup, or when the last user of a pooled store goes away).
//
// Expired records do no harm besides space (every reader checks
// expiry itself), so the first sweep waits one interval rather than
// delaying startup. now is the clock (nil means time.Now); onSwept, if not
// nil, receives the result of every sweep, for logging and metrics. A sweep
// cut short because ctx was cancelled is not reported: stopping is not a
// failure.
func RunSweeper(ctx context.Context, s Store, every time.Duration, now func() time.Time, onSwept func(n int, err error)) {
	if every <= 0 {
		every = DefaultSweepInterval
	}
	if now == nil {
		now = time.Now
	}
	RunEvery(ctx, every, func(ctx context.Context) {
		n, err := s.Sweep(ctx, now())
		if err != nil && ctx.Err() != nil {
			return
		}
		if onSwept != nil {
			onSwept(n, err)
		}
	})
}

// RunEvery calls fn every interval until ctx is done, then returns; the
// first call is one interval after the start. The background work of a
// pooled store (sweeping, reloading revocations) runs on it.
func RunEvery(ctx context.Context, every time.Duration, fn func(ctx context.Context)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}
