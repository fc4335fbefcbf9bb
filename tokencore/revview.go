package tokencore

import (
	"sync"
	"sync/atomic"
	"time"
)

// RevocationView is the in-memory mirror of every revocation that can still
// refuse a token. It is checked on every proxied request, after the
// verification cache, so a revocation takes effect on the very next request
// without a store round trip: the cache only ever saves signature work.
//
// The view is filled from the store at start (Load), updated synchronously by
// every revocation made through this process (Apply), and by the store's
// broadcast for revocations made by other instances.
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
}

// NewRevocationView returns an empty view.
func NewRevocationView() *RevocationView {
	return &RevocationView{
		grants:   map[string]Revocation{},
		tokens:   map[string]Revocation{},
		users:    map[string]Revocation{},
		subjects: map[string]Revocation{},
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
	case RevokeGrant:
		return v.grants
	case RevokeToken:
		return v.tokens
	case RevokeUser:
		return v.users
	case RevokeSubject:
		return v.subjects
	}
	return nil
}

// Apply adds a revocation; for an existing (Kind, Key) the later NotBefore
// and ExpiresAt win, as in the store.
func (v *RevocationView) Apply(r Revocation) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t := v.table(r.Kind)
	if t == nil {
		return
	}
	if old, ok := t[r.Key]; ok {
		r = mergeRevocation(old, r)
	}
	t[r.Key] = r
}

// mergeRevocation keeps the stricter of two entries for the same key.
func mergeRevocation(a, b Revocation) Revocation {
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
// iat, or its subject was revoked after its iat.
//
// A user revocation refuses tokens issued in the same second as the
// revocation too (iat has one-second resolution; failing closed costs at
// most a new login within that second).
func (v *RevocationView) Revoked(c *Claims) bool {
	if !v.waitLoaded() {
		return true // not loaded: fail closed
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
// iat is before the revocation time is refused. iat has one-second
// resolution while NotBefore is exact, so a token minted in the second of the
// revocation is refused as well: fail closed.
func SubjectRevokedAt(r Revocation, iat int64) bool {
	return iat <= r.NotBefore.Unix()
}

// SubjectRevoked reports whether tokens of subject issued at iat are refused.
func (v *RevocationView) SubjectRevoked(subject string, iat int64) bool {
	if !v.waitLoaded() {
		return true // not loaded: fail closed
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	r, ok := v.subjects[subject]
	return ok && SubjectRevokedAt(r, iat)
}
