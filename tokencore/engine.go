package tokencore

import (
	"context"
	"crypto/rand"
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
	Store Store
	View  *RevocationView
	Cache *VerifyCache
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Issuer, when set, is the iss claim of minted tokens.
	Issuer string
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

// NewGrantID returns a random record identifier (grants, API keys): 128
// bits as 32 lowercase hex characters. Hex, not base64url, because record IDs
// travel in URL paths and on command lines, where an ID starting with '-'
// reads as a flag.
func NewGrantID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// NewTokenID returns a random UUID v4, the jti format mod-authtoken stores.
func NewTokenID() string { return uuid.NewString() }

// Revoke makes r effective: in this process's view at once (so the next
// request is refused even if persisting fails), then in the store, from
// which other instances and restarts learn it.
func (e *Engine) Revoke(ctx context.Context, r Revocation) error {
	e.View.Apply(r)
	if err := e.Store.PutRevocation(ctx, r); err != nil {
		return fmt.Errorf("persisting revocation: %w", err)
	}
	return nil
}

// persistentRevocationTTL keeps the revocation of a grant whose access token
// is persistent (never expires) for this long after the revocation; the
// grant tombstone itself is never swept, so a restart reloads it.
const persistentRevocationTTL = 100 * 365 * 24 * time.Hour

// RevokeGrant marks the grant revoked and refuses every token it issued.
// Revoking an already revoked grant is not an error.
func (e *Engine) RevokeGrant(ctx context.Context, id string) (*Grant, error) {
	now := e.now()
	g, err := e.Store.UpdateGrant(ctx, id, func(g *Grant) error {
		if g.Status == GrantRevoked {
			return errAlreadyRevoked
		}
		g.Status = GrantRevoked
		g.RevokedAt = now
		g.UpdatedAt = now
		g.GraceResponse = nil
		return nil
	})
	already := errors.Is(err, errAlreadyRevoked)
	if already {
		// Nothing to write: the grant and its revocation were stored when it
		// was revoked. Only make sure this process's view has it.
		g, err = e.Store.GetGrant(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	exp := g.AccessExpiresAt
	if g.AccessPersistent || exp.IsZero() {
		exp = g.RevokedAt.Add(persistentRevocationTTL)
	}
	r := Revocation{Kind: RevokeGrant, Key: g.ID, NotBefore: g.RevokedAt, ExpiresAt: exp}
	if already {
		e.View.Apply(r)
		return g, nil
	}
	if err := e.Revoke(ctx, r); err != nil {
		return g, err
	}
	return g, nil
}

// errAlreadyRevoked makes RevokeGrant's update write nothing.
var errAlreadyRevoked = errors.New("grant already revoked")

// RevokeGrants revokes every active grant matching f and returns how many.
func (e *Engine) RevokeGrants(ctx context.Context, f GrantFilter) (int, error) {
	f.ActiveOnly, f.Now, f.Start, f.End = true, e.now(), 0, 0
	grants, _, err := e.Store.ListGrants(ctx, f)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, g := range grants {
		if _, err := e.RevokeGrant(ctx, g.ID); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// SyncRevocations reloads the store's revocations into the view and prunes
// expired ones; run periodically it also catches revocations made by other
// instances whose broadcast was missed.
func (e *Engine) SyncRevocations(ctx context.Context) error {
	now := e.now()
	rs, err := e.Store.Revocations(ctx, now)
	if err != nil {
		return err
	}
	e.View.Load(rs)
	e.View.Prune(now)
	return nil
}
