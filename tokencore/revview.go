package tokencore

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// RevocationView is the in-memory mirror of every revocation that can still
// refuse a token. It is checked on every proxied request, after the
// verification cache, so a revocation takes effect on the very next request
// without a store round trip: the cache only ever saves signature work.
//
// The view is filled from the store at start (Load), updated by every
// revocation this process stores (Apply, after the store has it), and, on a
// store shared by several instances, by a RevocationFollower that applies
// the store's numbered feed in order (ApplyFeed) and records how far it got
// (Position).
//
// With a follower attached the view is trusted only while the follower has
// confirmed, less than its staleness bound ago, that it holds every number
// the store has handed out. Past that, every decision first catches up with
// the store; if the store cannot be reached the view refuses (Check returns
// ErrRevocationsStale, Revoked reports true) unless the operator chose to
// serve from a stale view. Without a follower (bbolt, memory: this process
// is the store's only writer) the view is always trusted.
type RevocationView struct {
	// pending is set on a view made by NewPendingRevocationView until its
	// first Load: a view that has not seen the store refuses every token.
	pending atomic.Bool
	// settled is closed at the first Load, or by Abandon; nil for a view
	// that was never pending.
	settled    chan struct{}
	settleOnce sync.Once

	mu       sync.RWMutex
	grants   map[string]Revocation
	tokens   map[string]Revocation
	users    map[string]Revocation
	subjects map[string]Revocation
	// pos is the feed position up to which every revocation is in the
	// maps: the last number applied in order, and its epoch. Guarded by mu,
	// so a reader never sees a number whose revocation is not applied.
	pos FeedPosition

	// follower and the trust clock (see RevocationFollower). born anchors
	// the monotonic clock; confirmed is the time (ns after born) at which
	// the last successful check of completeness was started; maxStale is
	// how long that check is trusted.
	follower  atomic.Pointer[followerRef]
	born      time.Time
	confirmed atomic.Int64
	maxStale  atomic.Int64
}

// viewFollower is what the view needs of its follower.
type viewFollower interface {
	// ensureFresh catches the view up with the store now, or reports
	// (wrapping ErrRevocationsStale) that it cannot and the view must not
	// answer; nil also when the operator chose to serve a stale view.
	ensureFresh() error
	// awaitApplied waits (bounded) until every live instance has applied
	// the revocation numbered seq.
	awaitApplied(ctx context.Context, seq uint64)
}

type followerRef struct{ f viewFollower }

// NewRevocationView returns an empty view.
func NewRevocationView() *RevocationView {
	return &RevocationView{
		grants:   map[string]Revocation{},
		tokens:   map[string]Revocation{},
		users:    map[string]Revocation{},
		subjects: map[string]Revocation{},
		born:     time.Now(),
	}
}

// ViewLoadWait bounds how long a verdict waits for a pending view's first
// load. Caddy starts its apps in no fixed order, so the HTTP server may
// take requests while the tokengate app is still opening its store; those
// requests wait for it (a few milliseconds with bbolt) rather than fail.
const ViewLoadWait = 10 * time.Second

// NewPendingRevocationView returns an empty view that is not loaded until
// its first Load. The gateway's view is one: handlers may serve before the
// store is open and its revocations loaded, and an empty view would accept
// revoked tokens in that window. Until then a verdict (Revoked,
// SubjectRevoked) waits up to ViewLoadWait for the load, and refuses the
// token if it has not happened: fail closed.
func NewPendingRevocationView() *RevocationView {
	v := NewRevocationView()
	v.pending.Store(true)
	v.settled = make(chan struct{})
	return v
}

// Loaded reports whether the view has been loaded from the store (always
// true for a view made by NewRevocationView).
func (v *RevocationView) Loaded() bool { return !v.pending.Load() }

// Abandon wakes everything waiting for the first load, which will not
// come (the store could not be opened); the view stays unloaded and keeps
// refusing every token.
func (v *RevocationView) Abandon() { v.settle() }

func (v *RevocationView) settle() {
	if v.settled != nil {
		v.settleOnce.Do(func() { close(v.settled) })
	}
}

// waitLoaded reports whether the view is loaded, waiting up to
// ViewLoadWait for a pending view's first load.
func (v *RevocationView) waitLoaded() bool {
	if !v.pending.Load() {
		return true
	}
	t := time.NewTimer(ViewLoadWait)
	defer t.Stop()
	select {
	case <-v.settled:
	case <-t.C:
	}
	return !v.pending.Load()
}

func (v *RevocationView) table(k RevocationKind) map[string]Revocation {
	switch k {
	case RevocationOfGrant:
		return v.grants
	case RevocationOfToken:
		return v.tokens
	case RevocationOfUser:
		return v.users
	case RevocationOfSubject:
		return v.subjects
	}
	return nil
}

// Apply adds a revocation; for an existing (Kind, Key) the later NotBefore
// and ExpiresAt win, as in the store. It does not move the feed position:
// a revocation this process stored is applied at once, ahead of its
// number, which the follower reaches in order.
func (v *RevocationView) Apply(r Revocation) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.applyLocked(r)
}

func (v *RevocationView) applyLocked(r Revocation) {
	t := v.table(r.Kind)
	if t == nil {
		return
	}
	if old, ok := t[r.Key]; ok {
		r = MergeRevocation(old, r)
	}
	t[r.Key] = r
}

// ApplyFeed applies numbered revocations in order from the view's position:
// numbers at or below it are already applied (the feed is at-least-once),
// the next one is applied and becomes the position. At the first number
// past the next one, or an entry of another epoch (the store lost its
// history and numbers started again), it stops and returns false: the
// caller reloads the whole set (LoadAt). A view that knew no epoch yet
// takes the first entry's.
func (v *RevocationView) ApplyFeed(rs []NumberedRevocation) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, r := range rs {
		if r.Epoch != "" && v.pos.Epoch != "" && r.Epoch != v.pos.Epoch {
			return false
		}
		switch {
		case r.Seq <= v.pos.Seq:
		case r.Seq == v.pos.Seq+1:
			v.applyLocked(r.Revocation)
			v.pos.Seq = r.Seq
			if v.pos.Epoch == "" {
				v.pos.Epoch = r.Epoch
			}
		default:
			return false
		}
	}
	return true
}

// LoadAt applies every revocation of rs (a whole set read after pos) and
// sets the position to pos, even below the current one: after the store
// lost its history the numbers start again. Entries are merged in, never
// removed, so a revocation the store lost still refuses until it expires.
//
// Like Load, it is a first load of a pending view: the view trusts itself
// from then on.
func (v *RevocationView) LoadAt(rs []Revocation, pos FeedPosition) {
	v.mu.Lock()
	for _, r := range rs {
		v.applyLocked(r)
	}
	v.pos = pos
	v.mu.Unlock()
	v.pending.Store(false)
	v.settle()
}

// Position returns the feed position the view has applied in order.
func (v *RevocationView) Position() FeedPosition {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.pos
}

// adoptEpoch records the epoch of a history whose first revocation the
// view applied through the feed while it knew of none.
func (v *RevocationView) adoptEpoch(epoch string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.pos.Epoch == "" {
		v.pos.Epoch = epoch
	}
}

// attach makes f the view's follower, trusted for maxStale after each
// confirmation. Called once, before the view serves traffic.
func (v *RevocationView) attach(f viewFollower, maxStale time.Duration) {
	v.maxStale.Store(int64(maxStale))
	v.follower.Store(&followerRef{f})
}

// detach removes the follower: the view is trusted again as it is (the
// store is being closed and the process shuts down or reloads).
func (v *RevocationView) detach() { v.follower.Store(nil) }

// confirm records that at `at` (when a check was sent) the view held
// every revocation the store had numbered.
func (v *RevocationView) confirm(at time.Time) {
	ns := int64(at.Sub(v.born))
	for {
		old := v.confirmed.Load()
		if ns <= old || v.confirmed.CompareAndSwap(old, ns) {
			return
		}
	}
}

// fresh reports whether the last confirmation is within the bound.
func (v *RevocationView) fresh() bool {
	return int64(time.Since(v.born)) <= v.confirmed.Load()+v.maxStale.Load()
}

// Check reports whether the view may decide now: nil when it is trusted,
// possibly after catching up with the store; an error wrapping
// ErrRevocationsStale (and so ErrStoreUnavailable) when it is stale and
// the store cannot be reached. Callers that can answer 503 call it before
// Revoked; Revoked itself refuses when Check fails.
func (v *RevocationView) Check() error {
	ref := v.follower.Load()
	if ref == nil || v.fresh() {
		return nil
	}
	return ref.f.ensureFresh()
}

// AwaitFanout returns once every live instance sharing the store has
// applied the revocation numbered seq, or the follower's bound has
// passed (an instance that has not confirmed by then no longer trusts its
// view, see RevocationView). Without a follower it returns at once.
func (v *RevocationView) AwaitFanout(ctx context.Context, seq uint64) {
	if ref := v.follower.Load(); ref != nil && seq > 0 {
		ref.f.awaitApplied(ctx, seq)
	}
}

// MergeRevocation keeps the stricter of two entries for the same key.
func MergeRevocation(a, b Revocation) Revocation {
	if a.NotBefore.After(b.NotBefore) {
		b.NotBefore = a.NotBefore
	}
	if a.ExpiresAt.After(b.ExpiresAt) {
		b.ExpiresAt = a.ExpiresAt
	}
	return b
}

// Load applies every revocation in rs (from Store.Revocations); the view is
// loaded from then on.
func (v *RevocationView) Load(rs []Revocation) {
	for _, r := range rs {
		v.Apply(r)
	}
	v.pending.Store(false)
	v.settle()
}

// Prune forgets entries that expired before now.
func (v *RevocationView) Prune(now time.Time) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, t := range []map[string]Revocation{v.grants, v.tokens, v.users, v.subjects} {
		for k, r := range t {
			if !r.ExpiresAt.IsZero() && r.ExpiresAt.Before(now) {
				delete(t, k)
				n++
			}
		}
	}
	return n
}

// Len is the number of entries (for metrics and tests).
func (v *RevocationView) Len() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.grants) + len(v.tokens) + len(v.users) + len(v.subjects)
}

// Revoked reports whether the token described by c is refused: its grant or
// jti is revoked, its FOLIO user was logged out everywhere at or after its
// iat, or its subject was revoked at or after its iat.
//
// It is the one revocation decision of the gateway: the proxy
// (Verifier.Verify), OAuth introspection, FOLIO invalidate-all and the EDI
// proxy and refresh (SubjectRevoked) all ask it and nothing else, so they
// cannot disagree about a token. Its entries last as long as any token
// they name can be accepted (Grant.RevocationExpiry,
// Engine.PrincipalRevocationExpiry).
//
// A user revocation refuses tokens issued in the same second as the
// revocation too (iat has one-second resolution; failing closed costs at
// most a new login within that second).
func (v *RevocationView) Revoked(c *Claims) bool {
	if !v.waitLoaded() {
		return true // not loaded: fail closed
	}
	if v.Check() != nil {
		return true // stale and the store unreachable: fail closed
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if c.GrantID != "" && len(v.grants) > 0 {
		if _, ok := v.grants[c.GrantID]; ok {
			return true
		}
	}
	if c.TokenID != "" && len(v.tokens) > 0 {
		if _, ok := v.tokens[c.TokenID]; ok {
			return true
		}
	}
	if c.UserID != "" && len(v.users) > 0 {
		if r, ok := v.users[UserKey(c.Tenant, c.UserID)]; ok && c.IssuedAt <= r.NotBefore.Unix() {
			return true
		}
	}
	if c.Subject != "" && len(v.subjects) > 0 {
		if r, ok := v.subjects[c.Subject]; ok && SubjectRevokedAt(r, c.IssuedAt) {
			return true
		}
	}
	return false
}

// SubjectRevokedAt applies the subject rule (EDI spec §7.4): a token whose
// iat is at or before the revocation time is refused. iat has one-second
// resolution while NotBefore is exact, so a token minted in the second of the
// revocation is refused as well: fail closed.
func SubjectRevokedAt(r Revocation, iat int64) bool {
	return iat <= r.NotBefore.Unix()
}

// SubjectRevoked reports whether tokens of subject issued at iat are
// refused, for tokens that carry nothing else Revoked could match (EDI
// tokens): it asks Revoked, the one decision.
func (v *RevocationView) SubjectRevoked(subject string, iat int64) bool {
	return v.Revoked(&Claims{Subject: subject, IssuedAt: iat})
}
