package tokencore

import (
	"context"
	"time"
)

// Store persists grants and revocations. It is the model interface of
// tokengate's state, in the manner of certmagic.Storage: one contract, several
// backends, each in its own package under tokencore/store so that an
// importer of the engine links only the backends it opens: memory (tests,
// a single instance that may forget), bolt (embedded, the default) and
// redis (several gateway instances). tokencore/storetest is the
// conformance suite every backend runs.
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
//     is the server's configuration, and with replicas a write of grants and
//     revocations returns only once a replica confirmed it, see
//     the Redis store's Options.ReplicaAcks).
//   - A failure that is not the request's (the backend unreachable, a failed
//     commit, a write the replicas did not confirm, a closed store) wraps
//     ErrStoreUnavailable; the backend's error stays in the chain.
//   - The store keeps its own secondary indexes (token hash, subject, client,
//     tenant+user) consistent with the grant fields on every write; callers
//     never maintain them.
//   - Sweep removes grants whose ExpiresAt has passed and revocations whose
//     ExpiresAt has passed. A grant with a zero ExpiresAt is never swept.
//
// Store is what a backend of the gateway implements: the records of every
// protocol. The protocols themselves ask for less, as fosite declares one
// storage interface per flow: the Engine, and with it FOLIO and OAuth,
// needs a TokenStore (grants and revocations); the EDI service and manager
// need an EDIStore beside it, and refuse an engine whose store has none. A
// backend for FOLIO and OAuth alone therefore implements TokenStore and not
// the nine EDI methods; the conformance suite (tokencore/storetest) checks
// the whole contract of the backends that implement it.
type Store interface {
	TokenStore
	EDIStore
}

// TokenStore is the store of the Engine: the grants (token families) of
// FOLIO and OAuth and the revocations every protocol checks.
type TokenStore interface {
	GrantStore
	RevocationStore

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
	// RevocationOfGrant: every token of the grant (family) with ID Key.
	RevocationOfGrant RevocationKind = "grant"
	// RevocationOfToken: the single token whose jti is Key.
	RevocationOfToken RevocationKind = "token"
	// RevocationOfUser: every token of user Key (UserKey(tenant, userID)) issued
	// at or before NotBefore (FOLIO invalidate-all).
	RevocationOfUser RevocationKind = "user"
	// RevocationOfSubject: every token whose subject is Key issued at or before
	// NotBefore's second (EDI subject revocation, no jti needed).
	RevocationOfSubject RevocationKind = "subject"
)

// Revocation is one entry of the revocation view. Revocations are persisted
// (numbered, see RevocationStore) so they survive restarts, and fanned out to
// every instance, because access tokens are checked against them on every
// proxied request.
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

// RevocationStore persists revocations and numbers them.
//
// Every stored revocation gets the next number of the store's one
// revocation sequence, assigned in the transaction that stores it (bbolt:
// the bucket's sequence; Redis: an INCR in the script that writes it;
// memory: a counter under the lock). Numbers start at 1, grow with every
// successful PutRevocation, storing the same (Kind, Key) again included,
// and are never handed out twice (they survive a restart of a persistent
// store). A refused revocation (ErrInvalidRecord) takes no number. The
// sequence is what lets an instance know it has every revocation: its
// view is complete when it has applied every number up to the store's
// RevocationSeq, and a number it never saw is a gap it must fill.
type RevocationStore interface {
	// PutRevocation stores a revocation and returns its number. Storing
	// the same (Kind, Key) again keeps the later NotBefore and the later
	// ExpiresAt, and takes a new number.
	PutRevocation(ctx context.Context, r Revocation) (uint64, error)
	// Revocations returns every revocation that has not expired at now.
	Revocations(ctx context.Context, now time.Time) ([]Revocation, error)
	// RevocationSeq returns the number of the last stored revocation, 0
	// when none was ever stored.
	RevocationSeq(ctx context.Context) (uint64, error)
}

// NumberedRevocation is a revocation with its number in the store's
// sequence and the epoch of that sequence (see FeedPosition), as read from
// a RevocationFeed.
type NumberedRevocation struct {
	Seq   uint64
	Epoch string
	Revocation
}

// FeedPosition is where a RevocationFeed stands: the number of its last
// revocation and its epoch.
type FeedPosition struct {
	Seq uint64
	// Epoch identifies the history the numbers belong to. It changes when
	// the store lost its revocations (a Redis restarted empty, a failover
	// to a replica that lacked them): numbers then start again, and an
	// instance that had applied the old ones must reload instead of
	// waiting for numbers it has already seen. Empty until the first
	// revocation is stored.
	Epoch string
}

// RevocationFeed is implemented by stores that several gateway instances
// share (Redis). Each instance follows the feed from the last number it
// applied (RevocationFollower), so a revocation stored by any instance
// reaches every other at once, and one missed for any reason (a dropped
// connection, a restart) is read again rather than lost: the feed is
// at-least-once and in order.
type RevocationFeed interface {
	// FeedPosition returns the current number and epoch, read together.
	FeedPosition(ctx context.Context) (FeedPosition, error)
	// ReadRevocations returns the revocations numbered after `after`, in
	// order; when there is none yet it waits up to block for the next (0:
	// it does not wait). The value of each is the merged revocation as
	// stored by that put. A first number above after+1 means the feed no
	// longer holds the ones between (it is trimmed to a bounded length):
	// the reader reloads the whole set (Revocations).
	ReadRevocations(ctx context.Context, after uint64, block time.Duration) ([]NumberedRevocation, error)
}

// InstanceRegistry is implemented by stores that several gateway instances
// share (Redis): the live instances and the last revocation number each has
// applied, so that a revoking request can wait until every live instance
// has applied its revocation.
type InstanceRegistry interface {
	// RegisterInstance records that instance id is alive for ttl from now
	// and has applied every revocation up to applied. Instances call it as
	// a heartbeat and whenever they applied more.
	RegisterInstance(ctx context.Context, id string, applied uint64, ttl time.Duration) error
	// UnregisterInstance removes id (a graceful stop).
	UnregisterInstance(ctx context.Context, id string) error
	// LaggingInstances returns the IDs of the live instances that have not
	// applied seq yet. An instance whose registration expired is not live
	// and is forgotten.
	LaggingInstances(ctx context.Context, seq uint64) ([]string, error)
}

// DiskSpace is what a store's state occupies on disk.
type DiskSpace struct {
	// Bytes is the size of the store's files.
	Bytes int64
	// FreeBytes is the part of Bytes that holds no record and is reused by
	// the next writes (bbolt's free and pending pages). Bytes - FreeBytes
	// is what the live records and their indexes take: an embedded store's
	// files never shrink, so this is the figure that shows whether
	// sweeping keeps up with the grants a gateway writes.
	FreeBytes int64
}

// DiskSpacer is implemented by the stores that keep their state in local
// files (bbolt), for the store size metrics. It must be cheap: it is read
// on every scrape of the metrics.
type DiskSpacer interface {
	DiskSpace(ctx context.Context) (DiskSpace, error)
}
