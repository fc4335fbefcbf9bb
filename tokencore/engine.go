package tokencore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Engine bundles the state every protocol shares: keys, the store, the
// revocation view and the verification cache. One Engine serves every
// handler of a gateway, so a revocation made through any protocol is
// enforced by every verifier at once.
type Engine struct {
	Keys  *KeySet
	Store TokenStore
	View  *RevocationView
	Cache *VerifyCache
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Issuer, when set, is the iss claim of minted tokens.
	Issuer string

	// lifetimes is the longest access lifetime any service declared (see
	// DeclareAccessLifetime).
	lifetimes accessLifetimes
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Verifier returns a verifier sharing the engine's keys, cache and view.
func (e *Engine) Verifier(opts VerifierOptions) *Verifier {
	return NewVerifier(e.Keys, e.Cache, e.View, opts, e.Now)
}

// NewGrantID returns a record identifier (grants, API keys): 128 bits as 32
// lowercase hex characters, the first 48 the creation time in milliseconds
// since the Unix epoch and the other 80 random (as in a UUIDv7). Time first
// makes IDs of new records sort after the existing ones, so a store keyed
// by ID (bbolt's B+tree) appends each new grant to its last page instead of
// splitting pages at random places: denser pages, fewer dirty pages per
// commit. 80 random bits keep IDs unguessable. Hex, not base64url, because
// record IDs travel in URL paths and on command lines, where an ID
// starting with '-' reads as a flag.
func NewGrantID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// NewTokenID returns a random UUID v4, the jti format mod-authtoken stores.
func NewTokenID() string { return uuid.NewString() }

// Revoke makes r effective everywhere, or nowhere: it is stored first
// (numbered, and confirmed by the Redis replicas when there are any), and
// only then applied to this process's view; then the call waits, bounded,
// until every live instance sharing the store has applied it (see
// RevocationView.AwaitFanout). If storing fails, nothing changed anywhere
// and the error wraps the store's (ErrStoreUnavailable for an outage): the
// caller answers 503 and the client retries. One exception: a Redis write
// the replicas did not confirm (ErrNotReplicated) is on the primary, so
// every instance applies it, this one included; the caller still answers
// 503, because it could be lost in a failover, and the retry stores it
// again.
func (e *Engine) Revoke(ctx context.Context, r Revocation) error {
	seq, err := e.revoke(ctx, r)
	if err != nil {
		return err
	}
	e.View.AwaitFanout(ctx, seq)
	return nil
}

// revoke stores r and applies it to the view, without waiting for the
// other instances; it returns r's number.
func (e *Engine) revoke(ctx context.Context, r Revocation) (uint64, error) {
	seq, err := e.Store.PutRevocation(ctx, r)
	if errors.Is(err, ErrNotReplicated) {
		e.View.Apply(r)
	}
	if err != nil {
		return 0, fmt.Errorf("storing revocation: %w", err)
	}
	e.View.Apply(r)
	return seq, nil
}

// persistentRevocationTTL keeps the revocation of a grant whose access token
// is persistent (never expires) for this long after the revocation; the
// grant tombstone itself is never swept, so a restart reloads it.
const persistentRevocationTTL = 100 * 365 * 24 * time.Hour

// RevokeGrant refuses every token the grant issued, on every instance,
// and marks it revoked, before it returns (see Revoke).
//
// The revocation is stored before the grant is marked: a grant marked
// revoked always has its revocation stored, so every path that skips
// revoked grants (listing active grants, a second revoke of a revoked
// grant) is right to. If storing fails nothing changed; if marking fails
// afterwards the grant's tokens are refused everywhere already and the
// retry marks it. Revoking an already revoked grant is not an error, and
// stores its revocation again (idempotent): a grant marked by an earlier
// version, which marked first, may lack it.
func (e *Engine) RevokeGrant(ctx context.Context, id string) (*Grant, error) {
	g, seq, err := e.revokeGrant(ctx, id)
	if err != nil {
		return g, err
	}
	e.View.AwaitFanout(ctx, seq)
	return g, nil
}

// revokeGrant is RevokeGrant without the fan-out wait; it returns the
// number of the last revocation it stored.
func (e *Engine) revokeGrant(ctx context.Context, id string) (*Grant, uint64, error) {
	g, err := e.Store.GetGrant(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	if g.Status == GrantRevoked {
		seq, err := e.revoke(ctx, grantRevocation(g))
		return g, seq, err
	}
	now := e.now()
	pending := g.Clone()
	pending.RevokedAt = now
	first := grantRevocation(pending)
	seq, err := e.revoke(ctx, first)
	if err != nil {
		return g, 0, err
	}
	marked, err := e.Store.UpdateGrant(ctx, id, func(g *Grant) error {
		if g.Status == GrantRevoked {
			return errAlreadyRevoked
		}
		g.Status = GrantRevoked
		g.RevokedAt = now
		g.UpdatedAt = now
		g.GraceResponse = nil
		return nil
	})
	if errors.Is(err, errAlreadyRevoked) {
		marked, err = e.Store.GetGrant(ctx, id) // a concurrent revoke marked it
	}
	if err != nil {
		return g, seq, err
	}
	// A rotation between the read and the mark may have issued a token
	// that outlives the first entry: extend it.
	if r := grantRevocation(marked); r.ExpiresAt.After(first.ExpiresAt) {
		if seq, err = e.revoke(ctx, r); err != nil {
			return marked, 0, err
		}
	}
	return marked, seq, nil
}

// grantRevocation is the revocation that refuses every token g ever
// issued, for as long as any of them lives (Grant.RevocationExpiry).
func grantRevocation(g *Grant) Revocation {
	return Revocation{Kind: RevocationOfGrant, Key: g.ID, NotBefore: g.RevokedAt, ExpiresAt: g.RevocationExpiry()}
}

// errAlreadyRevoked makes RevokeGrant's update write nothing.
var errAlreadyRevoked = errors.New("grant already revoked")

// RevokeGrants revokes every active grant matching f and returns how many.
// It waits once, for the last of them, until every instance applied them.
func (e *Engine) RevokeGrants(ctx context.Context, f GrantFilter) (int, error) {
	f.ActiveOnly, f.Now, f.Start, f.End = true, e.now(), 0, 0
	grants, _, err := e.Store.ListGrants(ctx, f)
	if err != nil {
		return 0, err
	}
	n := 0
	var last uint64
	var errs []error
	for _, g := range grants {
		_, seq, err := e.revokeGrant(ctx, g.ID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		last = max(last, seq)
		n++
	}
	e.View.AwaitFanout(ctx, last)
	return n, errors.Join(errs...)
}

// SyncRevocations loads every stored revocation into the view, at the
// store's current number, and prunes expired entries: the start of a
// store that this process alone writes (bbolt, memory). A shared store is
// followed by a RevocationFollower instead.
func (e *Engine) SyncRevocations(ctx context.Context) error {
	now := e.now()
	seq, err := e.Store.RevocationSeq(ctx)
	if err != nil {
		return err
	}
	rs, err := e.Store.Revocations(ctx, now)
	if err != nil {
		return err
	}
	e.View.LoadAt(rs, FeedPosition{Seq: seq})
	e.View.Prune(now)
	return nil
}
