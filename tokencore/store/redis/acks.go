package redis

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/tokencore"
)

// replicaAcks makes a Store write count as stored only once enough
// replicas have it. Redis replicates asynchronously: a write the primary
// has answered can be lost if the primary dies before its replicas got
// it, and a replica promoted then never saw it (a lost revocation
// accepts revoked tokens again; a lost rotation revives a used-up refresh
// token). WAIT, sent on the connection that made the write, blocks until
// that many replicas acknowledged everything the connection wrote, or the
// timeout passes.
type replicaAcks struct {
	mode    ReplicaAcks
	timeout time.Duration

	mu        sync.Mutex
	seen      bool      // auto: the primary has reported a connected replica
	checkedAt time.Time // auto: the last INFO replication

	// lagging is set when the last confirmation failed; writes then probe
	// first (preflight), so that while the replicas are away a write
	// fails before it changes anything.
	lagging atomic.Bool
}

// autoRecheck is how often auto mode asks the primary whether it has
// replicas, while it has not seen one.
const autoRecheck = time.Second

// required returns how many replicas must confirm a write now.
func (a *replicaAcks) required(ctx context.Context, c redis.Cmdable) int {
	switch {
	case a.mode > 0:
		return int(a.mode)
	case a.mode < 0:
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen {
		return 1
	}
	if !a.checkedAt.IsZero() && time.Since(a.checkedAt) < autoRecheck {
		return 0
	}
	a.checkedAt = time.Now()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return 0 // the write itself will meet the same failure
	}
	if connectedReplicas(info) > 0 {
		a.seen = true // sticky: a replica that drops away must not switch the guarantee off
		return 1
	}
	return 0
}

// connectedReplicas reads connected_slaves from INFO replication.
func connectedReplicas(info string) int {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "connected_slaves:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// confirm waits, on the connection of the transaction that just
// committed, until the required replicas have it. It fails with
// ErrNotReplicated when fewer confirmed within the timeout.
func (a *replicaAcks) confirm(ctx context.Context, tx *redis.Tx) error {
	n := a.required(ctx, tx)
	if n == 0 {
		return nil
	}
	got, err := tx.Wait(ctx, n, a.timeout).Result()
	if err != nil {
		a.lagging.Store(true)
		return fmt.Errorf("%w: waiting for %d replicas: %w", tokencore.ErrNotReplicated, n, err)
	}
	if got < int64(n) {
		a.lagging.Store(true)
		return fmt.Errorf("%w: %d of %d replicas confirmed within %v (the write is on the primary)", tokencore.ErrNotReplicated, got, n, a.timeout)
	}
	a.lagging.Store(false)
	return nil
}

// preflight, while the last confirmation failed, checks that the replicas
// confirm again before a write is made: a probe key is written and waited
// for. If they still do not, the write is refused with nothing written.
func (a *replicaAcks) preflight(ctx context.Context, s *Store) error {
	if !a.lagging.Load() {
		return nil
	}
	n := a.required(ctx, s.rdb)
	if n == 0 {
		return nil
	}
	err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
		if err := tx.Set(ctx, s.prefix+"ackprobe", time.Now().UnixNano(), 0).Err(); err != nil {
			return s.wrap(err)
		}
		got, err := tx.Wait(ctx, n, a.timeout).Result()
		if err != nil {
			return s.wrap(err)
		}
		if got < int64(n) {
			return fmt.Errorf("%w: %d of %d replicas confirmed a probe within %v; nothing was written", tokencore.ErrNotReplicated, got, n, a.timeout)
		}
		return nil
	})
	if err != nil {
		return tokencore.WrapUnavailable(err)
	}
	a.lagging.Store(false)
	return nil
}
