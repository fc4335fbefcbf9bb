package tokencore_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/tokencore"
	redisstore "github.com/tokengate/tokengate/tokencore/store/redis"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

// instance is one gateway instance in miniature: its own connection to
// the shared store, its own view, its follower and an engine.
type instance struct {
	store    *redisstore.Store
	view     *tokencore.RevocationView
	follower *tokencore.RevocationFollower
	engine   *tokencore.Engine
	events   chan tokencore.FollowerEvent
}

func startInstance(t *testing.T, addr, prefix string, cfg tokencore.FollowerConfig) *instance {
	t.Helper()
	in := &instance{store: openRedisAt(t, addr, prefix), view: tokencore.NewRevocationView(), events: make(chan tokencore.FollowerEvent, 1000)}
	cfg.OnEvent = func(e tokencore.FollowerEvent) {
		select {
		case in.events <- e:
		default:
		}
	}
	f, err := tokencore.StartFollower(t.Context(), in.store, in.view, cfg)
	if err != nil {
		t.Fatal(err)
	}
	in.follower = f
	t.Cleanup(f.Stop)
	in.engine = &tokencore.Engine{Store: in.store, View: in.view}
	return in
}

func subjectRevocation(sub string, at time.Time) tokencore.Revocation {
	return tokencore.Revocation{Kind: tokencore.RevocationOfSubject, Key: sub, NotBefore: at, ExpiresAt: at.Add(time.Hour)}
}

func subjectClaims(sub string, iat time.Time) *tokencore.Claims {
	return &tokencore.Claims{Subject: sub, IssuedAt: iat.Unix()}
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// TestFollowerFanOut: over 250 revocations made through instance A, B's
// view refuses the revoked subject the moment A's Revoke returns, every
// time: Revoke waits until every live instance acknowledged the number.
// It also measures the fan-out lag, from the start of A's PutRevocation
// to B having applied it (B's position reaching its number), and the
// revoke latency including that wait.
func TestFollowerFanOut(t *testing.T) {
	prefix := storetest.NewRedisPrefix(t)
	a := startInstance(t, storetest.RedisAddr, prefix, tokencore.FollowerConfig{})
	b := startInstance(t, storetest.RedisAddr, prefix, tokencore.FollowerConfig{})
	ctx := t.Context()
	const n = 250

	// 1. The guarantee: B refuses at once after A's Revoke returned.
	var revokeTook []time.Duration
	for i := range n {
		at := time.Now()
		sub := fmt.Sprintf("guarantee-%d", i)
		start := time.Now()
		if err := a.engine.Revoke(ctx, subjectRevocation(sub, at)); err != nil {
			t.Fatal(err)
		}
		revokeTook = append(revokeTook, time.Since(start))
		if !b.view.Revoked(subjectClaims(sub, at)) {
			t.Fatalf("revocation %d: B accepts the token right after A's Revoke returned", i)
		}
	}

	// 2. The lag, without the wait: B's position is polled while A stores.
	var lag []time.Duration
	for i := range n {
		start := time.Now()
		seq, err := a.store.PutRevocation(ctx, subjectRevocation(fmt.Sprintf("lag-%d", i), start))
		if err != nil {
			t.Fatal(err)
		}
		for b.view.Position().Seq < seq {
			if time.Since(start) > 5*time.Second {
				t.Fatalf("revocation %d did not reach B", seq)
			}
			time.Sleep(50 * time.Microsecond)
		}
		lag = append(lag, time.Since(start))
	}
	t.Logf("fan-out lag A->B over %d revocations: p50 %v, p99 %v, max %v", n,
		percentile(lag, 0.50), percentile(lag, 0.99), percentile(lag, 1))
	t.Logf("Revoke on A (stored, applied on A, acknowledged by B) over %d: p50 %v, p99 %v, max %v", n,
		percentile(revokeTook, 0.50), percentile(revokeTook, 0.99), percentile(revokeTook, 1))
	select {
	case e := <-a.events:
		if e.Kind == tokencore.EventLagging {
			t.Errorf("an instance did not confirm in time: %+v", e)
		}
	default:
	}
}

// TestFollowerDetectsGap: a revocation whose feed entry is missing (a
// number taken and a record written, nothing appended: what a lost message
// looks like) is found by the number check and applied within about one
// Poll, not at the next full reload.
func TestFollowerDetectsGap(t *testing.T) {
	prefix := storetest.NewRedisPrefix(t)
	b := startInstance(t, storetest.RedisAddr, prefix, tokencore.FollowerConfig{})
	ctx := t.Context()
	now := time.Now()
	if _, err := b.store.PutRevocation(ctx, subjectRevocation("before", now)); err != nil {
		t.Fatal(err)
	}
	raw := redis.NewClient(&redis.Options{Addr: storetest.RedisAddr})
	defer raw.Close()
	// Write the record and its number as PutRevocation would, but no feed
	// entry.
	r := subjectRevocation("lost", now)
	enc := fmt.Sprintf(`{"kind":"subject","key":"lost","not_before":%q,"expires_at":%q}`,
		r.NotBefore.Format(time.RFC3339Nano), r.ExpiresAt.Format(time.RFC3339Nano))
	name := strconv.Itoa(len("subject")) + ":subject" + "lost"
	start := time.Now()
	if _, err := raw.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, prefix+"r:"+name, "v", enc)
		p.ZAdd(ctx, prefix+"exp:r", redis.Z{Score: float64(r.ExpiresAt.Unix()), Member: name})
		p.Incr(ctx, prefix+"rev:seq")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for !b.view.Revoked(subjectClaims("lost", now)) {
		if time.Since(start) > 2*time.Second {
			t.Fatal("the gap was not filled")
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("gap found and filled after %v (check every 50ms)", took)
	// About one 50ms check; the bound leaves room for a loaded machine and
	// is still far from the periodic reload (15 min) this used to wait for.
	if took > 300*time.Millisecond {
		t.Errorf("gap filled after %v, want within about one 50ms check", took)
	}
}

// TestFollowerStoreLostHistory: the store restarts empty (no persistence)
// and new revocations are made, more than B had seen: the epoch tells B
// that its numbers are from another history, and B reloads instead of
// skipping the new ones. The old entries stay in B's view (fail closed).
func TestFollowerStoreLostHistory(t *testing.T) {
	srv := storetest.StartRedisServer(t)
	prefix := storetest.NewRedisPrefix(t)
	b := startInstance(t, srv.Addr(), prefix, tokencore.FollowerConfig{})
	writer := openRedisAt(t, srv.Addr(), prefix)
	ctx := t.Context()
	now := time.Now()
	for i := range 3 {
		if _, err := writer.PutRevocation(ctx, subjectRevocation(fmt.Sprint("old-", i), now)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return b.view.Position().Seq == 3 })
	srv.Stop()
	srv.Start() // empty again
	for i := range 10 {
		for {
			if _, err := writer.PutRevocation(ctx, subjectRevocation(fmt.Sprint("new-", i), now)); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond) // the client reconnects
		}
	}
	waitFor(t, func() bool {
		for i := range 10 {
			if !b.view.Revoked(subjectClaims(fmt.Sprint("new-", i), now)) {
				return false
			}
		}
		return true
	})
	if !b.view.Revoked(subjectClaims("old-0", now)) {
		t.Error("a revocation the store lost was dropped from the view before it expired")
	}
}

// TestFollowerWaitsForLiveInstancesOnly: a registered instance that never
// acknowledges makes a revocation wait the bound, not forever, and is
// reported; once its registration expires, it is not waited for.
func TestFollowerWaitsForLiveInstancesOnly(t *testing.T) {
	prefix := storetest.NewRedisPrefix(t)
	a := startInstance(t, storetest.RedisAddr, prefix, tokencore.FollowerConfig{FanoutWait: 400 * time.Millisecond})
	ctx := t.Context()
	if err := a.store.RegisterInstance(ctx, "silent", 0, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := a.engine.Revoke(ctx, subjectRevocation("x", time.Now())); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 400*time.Millisecond || took > 1400*time.Millisecond {
		t.Errorf("Revoke with a silent instance took %v, want the 400ms bound", took)
	}
	var reported []string
	for e := range a.events {
		if e.Kind == tokencore.EventLagging {
			reported = e.Instances
			break
		}
	}
	if !slices.Equal(reported, []string{"silent"}) {
		t.Errorf("lagging instances reported: %q, want [silent]", reported)
	}
	time.Sleep(1500 * time.Millisecond) // its registration expires
	start = time.Now()
	if err := a.engine.Revoke(ctx, subjectRevocation("y", time.Now())); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= 400*time.Millisecond {
		t.Errorf("Revoke after the silent instance expired took %v: a dead instance is still waited for", took)
	}
}

// TestFollowerConcurrentRevocations: revocations made at once through
// several instances are applied by all of them, in order, with no number
// skipped. A Revoke waits for the other live instances only up to its
// bound (FanoutWait; TestFollowerWaitsForLiveInstancesOnly tests that
// wait), so on a loaded machine an instance may still be applying the
// last numbers when the last Revoke returns: the test gives them a few
// seconds to catch up, which a skipped or lost number never would.
func TestFollowerConcurrentRevocations(t *testing.T) {
	prefix := storetest.NewRedisPrefix(t)
	ins := []*instance{
		startInstance(t, storetest.RedisAddr, prefix, tokencore.FollowerConfig{}),
		startInstance(t, storetest.RedisAddr, prefix, tokencore.FollowerConfig{}),
		startInstance(t, storetest.RedisAddr, prefix, tokencore.FollowerConfig{}),
	}
	now := time.Now()
	var wg sync.WaitGroup
	for i, in := range ins {
		wg.Go(func() {
			for j := range 30 {
				if err := in.engine.Revoke(t.Context(), subjectRevocation(fmt.Sprintf("c-%d-%d", i, j), now)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for k, in := range ins {
		deadline := time.Now().Add(10 * time.Second)
		for in.view.Position().Seq < 90 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if p := in.view.Position(); p.Seq != 90 {
			t.Errorf("instance %d applied up to %d, want 90", k, p.Seq)
		}
		for i := range ins {
			for j := range 30 {
				if !in.view.Revoked(subjectClaims(fmt.Sprintf("c-%d-%d", i, j), now)) {
					t.Fatalf("instance %d misses c-%d-%d", k, i, j)
				}
			}
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// slowPosition is the real Redis store whose FeedPosition, once armed,
// does not answer until the caller's deadline: a position check stuck on
// a slow round trip (a loaded machine, a congested link).
type slowPosition struct {
	*redisstore.Store
	armed   atomic.Bool
	entered chan struct{}
}

func (s *slowPosition) FeedPosition(ctx context.Context) (tokencore.FeedPosition, error) {
	if s.armed.CompareAndSwap(true, false) {
		close(s.entered)
		<-ctx.Done()
		return tokencore.FeedPosition{}, ctx.Err()
	}
	return s.Store.FeedPosition(ctx)
}

// TestFollowerFeedDoesNotWaitForPositionCheck: while B's periodic position
// check hangs, a revocation stored by A still reaches B's view through the
// feed at once. Before, the feed reader applied entries under the lock the
// check held, so every revocation that arrived during a slow check waited
// for it: the tail of the fan-out lag on a loaded machine.
func TestFollowerFeedDoesNotWaitForPositionCheck(t *testing.T) {
	prefix := storetest.NewRedisPrefix(t)
	a := startInstance(t, storetest.RedisAddr, prefix, tokencore.FollowerConfig{})
	slow := &slowPosition{Store: openRedisAt(t, storetest.RedisAddr, prefix), entered: make(chan struct{})}
	view := tokencore.NewRevocationView()
	// A long Poll gives the stuck check a long deadline (two Polls).
	f, err := tokencore.StartFollower(t.Context(), slow, view, tokencore.FollowerConfig{Poll: 2 * time.Second, MaxStaleness: 10 * time.Second, FanoutWait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	slow.armed.Store(true)
	select {
	case <-slow.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the follower made no position check")
	}
	start := time.Now()
	seq, err := a.store.PutRevocation(t.Context(), subjectRevocation("during-check", start))
	if err != nil {
		t.Fatal(err)
	}
	for view.Position().Seq < seq {
		if time.Since(start) > time.Second {
			t.Fatalf("B applied nothing for %v while its position check hung (position %d, want %d)", time.Since(start), view.Position().Seq, seq)
		}
		time.Sleep(100 * time.Microsecond)
	}
	if !view.Revoked(subjectClaims("during-check", start)) {
		t.Fatal("B's view does not refuse the revoked subject")
	}
	t.Logf("applied %v after the put, with the position check still hanging", time.Since(start))
}
