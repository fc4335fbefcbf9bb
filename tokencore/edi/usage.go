package edi

import (
	"context"
	"sync"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// usageRecorder writes API-key usage statistics (use_count, last_used)
// without slowing down the exchange (spec §6.2 step 6): an exchange only
// adds to an in-memory tally, and one goroutine at a time writes the tallies
// in one store transaction. While a write (a bbolt fsync) is in flight, new
// uses accumulate and go out together in the next write, so a burst of
// exchanges costs a few writes, not one per exchange. The goroutine exits
// when nothing is pending; there is nothing to stop.
type usageRecorder struct {
	store   tokencore.EDIStore
	onError func(error)

	mu      sync.Mutex
	pending map[string]tokencore.EDIKeyUse
	running bool
	idle    *sync.Cond // signalled when running turns false
}

// maxPendingKeys bounds the tally; uses of further keys are dropped until
// the next write (statistics are best effort, memory is not).
const maxPendingKeys = 100_000

// usageWriteTimeout bounds one write, so a stuck store cannot keep the
// writer goroutine forever.
const usageWriteTimeout = 10 * time.Second

func newUsageRecorder(store tokencore.EDIStore, onError func(error)) *usageRecorder {
	u := &usageRecorder{store: store, onError: onError, pending: map[string]tokencore.EDIKeyUse{}}
	u.idle = sync.NewCond(&u.mu)
	return u
}

// record adds one use of key id at at.
func (u *usageRecorder) record(id string, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	p, ok := u.pending[id]
	if !ok && len(u.pending) >= maxPendingKeys {
		return
	}
	p.ID = id
	p.Count++
	if at.After(p.At) {
		p.At = at
	}
	u.pending[id] = p
	if !u.running {
		u.running = true
		go u.run()
	}
}

// run writes tallies until none is pending.
func (u *usageRecorder) run() {
	for {
		u.mu.Lock()
		if len(u.pending) == 0 {
			u.running = false
			u.idle.Broadcast()
			u.mu.Unlock()
			return
		}
		batch := make([]tokencore.EDIKeyUse, 0, len(u.pending))
		for _, p := range u.pending {
			batch = append(batch, p)
		}
		u.pending = map[string]tokencore.EDIKeyUse{}
		u.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), usageWriteTimeout)
		err := u.store.RecordKeyUse(ctx, batch...)
		cancel()
		if err != nil && u.onError != nil {
			u.onError(err)
		}
	}
}

// flush waits until every use recorded before the call is written (or its
// write has failed).
func (u *usageRecorder) flush() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for u.running {
		u.idle.Wait()
	}
}
