package tokencore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// RevocationFollower keeps one instance's RevocationView in step with a
// store that several instances share (Redis), and makes a revocation wait
// until every live instance has applied it.
//
// It reads the store's numbered revocation feed from the last number the
// view applied (at-least-once, in order), so nothing published while it was
// disconnected is lost; it compares the store's number with the view's every
// Poll, so a gap (a missed entry, a reconnect, a store that lost its
// history) is found within one Poll and filled at once. Each time it finds
// the view complete it confirms it (the view is trusted for MaxStaleness
// from then on) and records the number it applied in the store's instance
// registry, with a heartbeat that keeps the instance listed as live.
type RevocationFollower struct {
	store Store
	feed  RevocationFeed
	reg   InstanceRegistry
	view  *RevocationView
	cfg   FollowerConfig
	born  time.Time

	syncMu sync.Mutex // one sync (position check, catch-up, reload) at a time
	// ackMu orders the registrations, so that the registry never goes back
	// to a number below one already registered by a concurrent ack. It is
	// taken after syncMu when both are held.
	ackMu    sync.Mutex
	acked    uint64    // guarded by ackMu: the number last registered
	beatAt   time.Time // guarded by ackMu: when it was registered
	stale    atomic.Bool
	failedAt atomic.Int64 // ns after born of the last failed synchronous catch-up

	flightMu sync.Mutex
	flight   *syncCall // the synchronous catch-up in progress, shared by requests

	cancel context.CancelFunc
	done   chan struct{}
}

type syncCall struct {
	done chan struct{}
	err  error
}

// FollowerConfig tunes a RevocationFollower; zero fields take the defaults.
type FollowerConfig struct {
	// InstanceID names this instance in the registry (default: host name
	// and random hex, unique per process).
	InstanceID string
	// Poll is how often the store's number is compared with the view's:
	// the bound on finding a gap (default 50ms).
	Poll time.Duration
	// FanoutWait bounds how long a revocation waits for every live
	// instance to apply it (default 250ms).
	FanoutWait time.Duration
	// MaxStaleness is how long the view is trusted after the last check
	// that found it complete (default 250ms). Past it, decisions catch up
	// with the store first; if the store cannot be reached they are
	// refused, unless ServeStale. Keep it at most FanoutWait: then an
	// instance that did not confirm a revocation within the wait can no
	// longer accept the revoked token once the revoking request answered.
	MaxStaleness time.Duration
	// ServeStale answers from the view even when it is stale and the store
	// cannot be reached (the operator prefers availability to the
	// guarantee above). Default false: fail closed.
	ServeStale bool
	// Heartbeat is how often the registration is renewed (default 500ms),
	// InstanceTTL how long it lives without renewal (default 2s): an
	// instance that stopped (or lost the store) is no longer waited for
	// after InstanceTTL.
	Heartbeat   time.Duration
	InstanceTTL time.Duration
	// OnEvent, when set, is told what operators want to know about: the
	// view turning stale and fresh again, reloads, instances that did not
	// confirm a revocation in time. Called from the follower's goroutines;
	// it must not block.
	OnEvent func(FollowerEvent)
}

// Defaults of FollowerConfig.
const (
	DefaultFollowPoll   = 50 * time.Millisecond
	DefaultFanoutWait   = 250 * time.Millisecond
	DefaultMaxStaleness = 250 * time.Millisecond
	DefaultHeartbeat    = 500 * time.Millisecond
	DefaultInstanceTTL  = 2 * time.Second
)

// FollowerEvent is one notable change seen by a follower.
type FollowerEvent struct {
	Kind FollowerEventKind
	// Err is the cause of a stale view or a reload, if any.
	Err error
	// Seq is the revocation number concerned.
	Seq uint64
	// Instances are the instances that did not confirm Seq in time.
	Instances []string
}

// FollowerEventKind says what a FollowerEvent is about.
type FollowerEventKind string

// Follower events.
const (
	// EventStale: the store could not be reached and the view is past its
	// staleness bound.
	EventStale FollowerEventKind = "stale"
	// EventFresh: the view is complete and confirmed again after EventStale.
	EventFresh FollowerEventKind = "fresh"
	// EventReload: the whole revocation set was read again (a gap the feed
	// could not fill, or a store that lost its history).
	EventReload FollowerEventKind = "reload"
	// EventLagging: instances had not applied revocation Seq when the
	// fan-out wait ended.
	EventLagging FollowerEventKind = "lagging"
)

// NewInstanceID returns host-<random hex>, unique per process.
func NewInstanceID() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "instance"
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// StartFollower registers the instance, loads every stored revocation into
// view, attaches itself to view and starts following the feed until Stop.
// The store must implement RevocationFeed and InstanceRegistry.
//
// The instance registers (as having applied nothing) before it loads, so a
// revocation made while it starts waits for it too.
func StartFollower(ctx context.Context, store Store, view *RevocationView, cfg FollowerConfig) (*RevocationFollower, error) {
	feed, ok1 := store.(RevocationFeed)
	reg, ok2 := store.(InstanceRegistry)
	if !ok1 || !ok2 {
		return nil, errors.New("revocation follower: the store has no revocation feed (only a shared store does)")
	}
	cfg = cfg.withDefaults()
	f := &RevocationFollower{store: store, feed: feed, reg: reg, view: view, cfg: cfg, born: time.Now(), done: make(chan struct{})}
	if err := reg.RegisterInstance(ctx, cfg.InstanceID, 0, cfg.InstanceTTL); err != nil {
		return nil, fmt.Errorf("registering instance %s: %w", cfg.InstanceID, err)
	}
	f.syncMu.Lock()
	sent := time.Now()
	err := f.reloadLocked(ctx, nil)
	if err == nil {
		view.confirm(sent)
		err = f.ack(ctx, true)
	}
	f.syncMu.Unlock()
	if err != nil {
		_ = reg.UnregisterInstance(context.WithoutCancel(ctx), cfg.InstanceID)
		return nil, fmt.Errorf("loading revocations: %w", err)
	}
	view.attach(f, cfg.MaxStaleness)
	runCtx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go f.run(runCtx)
	return f, nil
}

func (c FollowerConfig) withDefaults() FollowerConfig {
	if c.InstanceID == "" {
		c.InstanceID = NewInstanceID()
	}
	if c.Poll <= 0 {
		c.Poll = DefaultFollowPoll
	}
	if c.FanoutWait <= 0 {
		c.FanoutWait = DefaultFanoutWait
	}
	if c.MaxStaleness <= 0 {
		c.MaxStaleness = DefaultMaxStaleness
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.InstanceTTL <= 0 {
		c.InstanceTTL = DefaultInstanceTTL
	}
	if c.InstanceTTL < 2*c.Heartbeat {
		c.InstanceTTL = 2 * c.Heartbeat
	}
	return c
}

// InstanceID is the name this instance registered under.
func (f *RevocationFollower) InstanceID() string { return f.cfg.InstanceID }

// Stop ends the following, detaches from the view and unregisters the
// instance, so revocations stop waiting for it at once.
func (f *RevocationFollower) Stop() {
	f.cancel()
	<-f.done
	f.view.detach()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = f.reg.UnregisterInstance(ctx, f.cfg.InstanceID)
}

// Reload reads the whole revocation set again: a safety net run rarely
// (revocation_sync); the feed and the number check do the real work.
func (f *RevocationFollower) Reload(ctx context.Context) error {
	f.syncMu.Lock()
	defer f.syncMu.Unlock()
	sent := time.Now()
	if err := f.reloadLocked(ctx, nil); err != nil {
		return err
	}
	f.view.confirm(sent)
	return f.ack(ctx, false)
}

// run follows the store: one goroutine reads the feed (a blocking read,
// entries applied and acknowledged as they come), and every Poll the
// store's number is compared with the view's (gap detection, confirmation,
// heartbeat). The check has its own ticker because a blocking read
// returns on Redis' timer, which is only as fine as its hz (100ms by
// default), and a gap must be found within one Poll.
func (f *RevocationFollower) run(ctx context.Context) {
	defer close(f.done)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { f.readFeed(ctx) })
	tick := time.NewTicker(f.cfg.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := f.syncBounded(ctx); err != nil && ctx.Err() == nil {
				f.noteFailure(err)
			}
		}
	}
}

// feedBlock is how long one read of the feed waits for new entries. It
// only bounds how long Stop waits for the reader; new entries end the wait
// at once.
const feedBlock = 500 * time.Millisecond

// readFeed applies the feed's entries as they arrive.
func (f *RevocationFollower) readFeed(ctx context.Context) {
	for ctx.Err() == nil {
		rs, err := f.feed.ReadRevocations(ctx, f.view.Position().Seq, feedBlock)
		if err != nil {
			if ctx.Err() == nil {
				f.noteFailure(err)
				sleepCtx(ctx, f.cfg.Poll)
			}
			continue
		}
		if len(rs) > 0 {
			f.applyBounded(ctx, rs)
		}
	}
}

// syncBounded runs one sync with a deadline, so a store that hangs cannot
// hold syncMu (which request-path catch-ups wait for) for long.
func (f *RevocationFollower) syncBounded(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, f.syncTimeout())
	defer cancel()
	return f.sync(ctx)
}

func (f *RevocationFollower) syncTimeout() time.Duration {
	return max(2*f.cfg.Poll, 100*time.Millisecond)
}

// applyBounded applies entries read from the feed and acknowledges them
// at once: a revoker is waiting for exactly that.
//
// The entries go into the view without waiting for syncMu: the view
// applies feed entries in order under its own lock (ApplyFeed skips what
// it has and stops at a gap), so a position check or a catch-up in flight
// cannot be disturbed by them, and a revocation must not wait behind that
// check's round trip to Redis (on a loaded machine, the tail of the
// fan-out). Only a gap, which needs a reload, takes syncMu; the
// acknowledgement takes ackMu alone.
func (f *RevocationFollower) applyBounded(ctx context.Context, rs []NumberedRevocation) {
	ctx, cancel := context.WithTimeout(ctx, f.syncTimeout())
	defer cancel()
	if !f.view.ApplyFeed(rs) {
		f.syncMu.Lock()
		err := f.reloadLocked(ctx, fmt.Errorf("revocations after number %d are no longer in the feed", f.view.Position().Seq))
		f.syncMu.Unlock()
		if err != nil {
			f.noteFailure(err)
			return
		}
	}
	if err := f.ack(ctx, false); err != nil {
		f.noteFailure(err)
	}
}

// sync compares the store's position with the view's, fills a gap or
// reloads after a lost history, confirms the view and acknowledges.
func (f *RevocationFollower) sync(ctx context.Context) error {
	f.syncMu.Lock()
	defer f.syncMu.Unlock()
	sent := time.Now()
	// The view's position is read first: the feed reader applies entries
	// without syncMu, so one stored after the store's position was read
	// could otherwise put the view ahead of it, which means a lost
	// history.
	cur := f.view.Position()
	pos, err := f.feed.FeedPosition(ctx)
	if err != nil {
		return err
	}
	switch {
	case pos.Seq < cur.Seq || cur.Epoch != "" && pos.Epoch != cur.Epoch:
		if err := f.reloadLocked(ctx, fmt.Errorf("the store's revocation history changed (number %d, epoch %q; this instance had %d, %q)",
			pos.Seq, pos.Epoch, cur.Seq, cur.Epoch)); err != nil {
			return err
		}
	case pos.Seq > cur.Seq:
		if err := f.catchUpLocked(ctx, pos.Seq); err != nil {
			return err
		}
	}
	if pos.Epoch != "" {
		f.view.adoptEpoch(pos.Epoch)
	}
	f.view.confirm(sent)
	if f.stale.CompareAndSwap(true, false) {
		f.event(FollowerEvent{Kind: EventFresh, Seq: f.view.Position().Seq})
	}
	return f.ack(ctx, false)
}

// catchUpLocked reads the feed until the view has applied target; a gap
// the feed cannot fill becomes a reload.
func (f *RevocationFollower) catchUpLocked(ctx context.Context, target uint64) error {
	for f.view.Position().Seq < target {
		rs, err := f.feed.ReadRevocations(ctx, f.view.Position().Seq, 0)
		if err != nil {
			return err
		}
		if len(rs) == 0 || !f.view.ApplyFeed(rs) {
			return f.reloadLocked(ctx, fmt.Errorf("revocations after number %d are no longer in the feed", f.view.Position().Seq))
		}
	}
	return nil
}

// reloadLocked reads the position, then every revocation, and loads them
// at that position: whatever is stored after the position read comes
// through the feed. reason, when not nil, is reported (EventReload).
func (f *RevocationFollower) reloadLocked(ctx context.Context, reason error) error {
	if reason != nil {
		f.event(FollowerEvent{Kind: EventReload, Err: reason, Seq: f.view.Position().Seq})
	}
	pos, err := f.feed.FeedPosition(ctx)
	if err != nil {
		return err
	}
	rs, err := f.store.Revocations(ctx, time.Now())
	if err != nil {
		return err
	}
	f.view.LoadAt(rs, pos)
	return nil
}

// ack records the applied number in the registry when it moved, and
// renews the registration every Heartbeat.
func (f *RevocationFollower) ack(ctx context.Context, force bool) error {
	f.ackMu.Lock()
	defer f.ackMu.Unlock()
	applied := f.view.Position().Seq
	if !force && applied == f.acked && time.Since(f.beatAt) < f.cfg.Heartbeat {
		return nil
	}
	if err := f.reg.RegisterInstance(ctx, f.cfg.InstanceID, applied, f.cfg.InstanceTTL); err != nil {
		return err
	}
	f.acked, f.beatAt = applied, time.Now()
	return nil
}

// noteFailure reports the view stale once it is past its bound.
func (f *RevocationFollower) noteFailure(err error) {
	if !f.view.fresh() && f.stale.CompareAndSwap(false, true) {
		f.event(FollowerEvent{Kind: EventStale, Err: err, Seq: f.view.Position().Seq})
	}
}

func (f *RevocationFollower) event(e FollowerEvent) {
	if f.cfg.OnEvent != nil {
		f.cfg.OnEvent(e)
	}
}

// ensureFresh is the request path's catch-up (see viewFollower): one sync
// at a time, shared by every request that finds the view past its bound;
// after a failed one, requests do not try again for one Poll (the
// background loop keeps trying), so an outage costs them no waiting.
func (f *RevocationFollower) ensureFresh() error {
	f.flightMu.Lock()
	if c := f.flight; c != nil {
		f.flightMu.Unlock()
		<-c.done
		return f.staleResult(c.err)
	}
	if failed := f.failedAt.Load(); failed != 0 && time.Since(f.born) < time.Duration(failed)+f.cfg.Poll {
		f.flightMu.Unlock()
		return f.staleResult(errors.New("the last catch-up with the store failed"))
	}
	c := &syncCall{done: make(chan struct{})}
	f.flight = c
	f.flightMu.Unlock()

	c.err = f.syncBounded(context.Background())
	if c.err != nil {
		f.failedAt.Store(max(int64(time.Since(f.born)), 1))
		f.noteFailure(c.err)
	}
	f.flightMu.Lock()
	f.flight = nil
	f.flightMu.Unlock()
	close(c.done)
	return f.staleResult(c.err)
}

// staleResult turns a catch-up's outcome into the view's answer.
func (f *RevocationFollower) staleResult(err error) error {
	if err == nil || f.view.fresh() || f.cfg.ServeStale {
		return nil
	}
	return fmt.Errorf("%w: not confirmed for more than %v: %w", ErrRevocationsStale, f.cfg.MaxStaleness, err)
}

func (f *RevocationFollower) awaitApplied(ctx context.Context, seq uint64) { f.AwaitApplied(ctx, seq) }

// AwaitApplied polls the registry until no other live instance lags
// behind seq, or FanoutWait has passed, and returns the instances still
// lagging then (nil when every live instance applied seq). This instance
// is not waited for: the revocations it stores are in its view before
// they are numbered (Engine.Revoke). The polls start 100µs apart and
// back off to 1ms: an acknowledgement takes about two Redis round trips.
func (f *RevocationFollower) AwaitApplied(ctx context.Context, seq uint64) []string {
	deadline := time.Now().Add(f.cfg.FanoutWait)
	pause := 100 * time.Microsecond
	for {
		lagging, err := f.reg.LaggingInstances(ctx, seq)
		lagging = slices.DeleteFunc(lagging, func(id string) bool { return id == f.cfg.InstanceID })
		if err == nil && len(lagging) == 0 {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			f.event(FollowerEvent{Kind: EventLagging, Seq: seq, Instances: lagging, Err: err})
			return lagging
		}
		sleepCtx(ctx, min(pause, left))
		pause = min(2*pause, time.Millisecond)
	}
}

// sleepCtx sleeps d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
