package tokencore

import (
	"context"
	"time"
)

// Store persists grants and revocations. It is the model interface of
// tokengate's state, in the manner of certmagic.Storage: one contract, several
// backends (MemoryStore for tests, BoltStore embedded and the default,
// RedisStore for several gateway instances).
//
// Contract, for every implementation:
//
//   - Every method takes a context and honours its cancellation.
//   - Missing records are reported as an error wrapping ErrNotFound; a
//     CreateGrant over an existing ID wraps ErrConflict.
//   - Records handed out are copies: editing them changes nothing stored.
//   - UpdateGrant is atomic: the read, the call of fn and the write happen as
//     one step with respect to every other writer of that grant, on every
//     instance sharing the store. This is what makes refresh-token rotation
//     have exactly one winner. fn may be called more than once (optimistic
//     backends retry on conflict), so it must only edit the grant it is given.
//     If fn returns an error nothing is written and UpdateGrant returns it
//     unwrapped, so callers can branch on their own error values.
//   - A successful write is durable: once a method returns nil, a crash of the
//     process does not lose it (bbolt fsyncs each transaction; Redis durability
//     is the server's configuration).
//   - The store keeps its own secondary indexes (token hash, subject, client,
//     tenant+user) consistent with the grant fields on every write; callers
//     never maintain them.
//   - Sweep removes grants whose ExpiresAt has passed and revocations whose
//     ExpiresAt has passed. A grant with a zero ExpiresAt is never swept.
type Store interface {
	GrantStore
	RevocationStore
	EDIStore

	// Sweep deletes expired records and returns how many it removed.
	Sweep(ctx context.Context, now time.Time) (int, error)
	// Close releases the store. Further calls fail with ErrStoreClosed.
	Close() error
}

// GrantStore holds grants (token families) and their indexes.
type GrantStore interface {
	// CreateGrant stores a new grant.
	CreateGrant(ctx context.Context, g *Grant) error
	// GetGrant returns the grant with this ID.
	GetGrant(ctx context.Context, id string) (*Grant, error)
	// GrantByTokenHash returns the grant whose current access token or current
	// refresh token has this TokenHash.
	GrantByTokenHash(ctx context.Context, hash string) (*Grant, error)
	// UpdateGrant atomically applies fn to the grant and stores the result.
	UpdateGrant(ctx context.Context, id string, fn func(g *Grant) error) (*Grant, error)
	// DeleteGrant removes the grant and its index entries.
	DeleteGrant(ctx context.Context, id string) error
	// ListGrants returns the grants matching the filter, ordered by
	// CreatedAt then ID, cut to the filter's window, and the total count of
	// matches before the cut.
	ListGrants(ctx context.Context, f GrantFilter) ([]*Grant, int, error)
}

// GrantFilter selects grants for ListGrants. Empty fields do not filter.
// At least one of the index fields (Subject, ClientID, Tenant+UserID) should
// be set for large stores; an empty filter lists every grant.
type GrantFilter struct {
	Subject  string
	ClientID string
	Tenant   string
	UserID   string
	Kind     GrantKind
	// ActiveOnly drops revoked and expired grants (as of Now).
	ActiveOnly bool
	Now        time.Time
	// Start (inclusive) and End (exclusive) cut the ordered result; End 0
	// means no cut.
	Start, End int
}

// RevocationKind says what a Revocation names.
type RevocationKind string

// Revocation kinds.
const (
	// RevokeGrant: every token of the grant (family) with ID Key.
	RevokeGrant RevocationKind = "grant"
	// RevokeToken: the single token whose jti is Key.
	RevokeToken RevocationKind = "token"
	// RevokeUser: every token of user Key (UserKey(tenant, userID)) issued
	// at or before NotBefore (FOLIO invalidate-all).
	RevokeUser RevocationKind = "user"
	// RevokeSubject: every token whose subject is Key issued at or before
	// NotBefore's second (EDI subject revocation, no jti needed).
	RevokeSubject RevocationKind = "subject"
)

// Revocation is one entry of the revocation view. Revocations are persisted
// so they survive restarts, and fanned out to every instance, because
// access tokens are checked against them on every proxied request.
type Revocation struct {
	Kind RevocationKind `json:"kind"`
	Key  string         `json:"key"`
	// NotBefore: for user and subject revocations, tokens whose iat is at
	// or before it (in whole seconds: a token of the same second is refused
	// too) are refused. For grant and token revocations, the time of
	// revocation.
	NotBefore time.Time `json:"not_before"`
	// ExpiresAt: when every token the entry could refuse has expired, so
	// the entry can be forgotten.
	ExpiresAt time.Time `json:"expires_at"`
}

// UserKey is the Revocation key of a FOLIO user: users are per tenant.
func UserKey(tenant, userID string) string { return tenant + "\x00" + userID }

// RevocationStore persists revocations.
type RevocationStore interface {
	// PutRevocation stores a revocation. Storing the same (Kind, Key) again
	// keeps the later NotBefore and the later ExpiresAt.
	PutRevocation(ctx context.Context, r Revocation) error
	// Revocations returns every revocation that has not expired at now.
	Revocations(ctx context.Context, now time.Time) ([]Revocation, error)
}

// RevocationBroadcaster is implemented by stores shared between gateway
// instances (Redis). Subscribe calls fn for every revocation stored by any
// instance, including this one, until ctx is done.
type RevocationBroadcaster interface {
	SubscribeRevocations(ctx context.Context, fn func(Revocation)) error
}
