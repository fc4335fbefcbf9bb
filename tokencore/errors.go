package tokencore

import (
	"errors"
	"fmt"
	"time"
)

// ReplayError is a refresh-token replay (it wraps ErrRefreshReused) with the
// revocation it caused, for the security log of the gateway: it names the
// grant and the user, never a token.
type ReplayError struct {
	// Protocol is where the token was replayed: "folio" or "oauth".
	Protocol string
	// GrantID, Tenant and UserID identify the replayed grant (as far as
	// the token told).
	GrantID, Tenant, UserID string
	// Revoked is how many grants the replay revoked (every grant of the
	// user for FOLIO, the grant for OAuth).
	Revoked int
	// Err is the cause, wrapping ErrRefreshReused.
	Err error
}

func (e *ReplayError) Error() string { return e.Err.Error() }
func (e *ReplayError) Unwrap() error { return e.Err }

// Store errors. Stores wrap these with %w so callers branch with errors.Is.
// Every store error of the engine and of the store packages is declared
// here.
var (
	// ErrNotFound means the record does not exist (or was swept).
	ErrNotFound = errors.New("tokencore: not found")
	// ErrConflict means a record with the same identity already exists.
	ErrConflict = errors.New("tokencore: already exists")
	// ErrStoreUnavailable means the store could not do what was asked, for
	// a reason that is not the request's: Redis unreachable, refusing
	// writes (READONLY, LOADING) or not confirming them on its replicas in
	// time (ErrNotReplicated), a bbolt commit that failed (disk full, I/O
	// error), a store closed under a config reload. Every store wraps such
	// failures with it (and keeps the backend's error in the chain), so
	// that each protocol maps it, in one place, to 503 with Retry-After
	// (StoreRetryAfter) in its own error shape. A caller that gets it may
	// retry the same request once the store is back.
	ErrStoreUnavailable = errors.New("tokencore: store unavailable")
	// ErrStoreClosed means the store was used after Close. A closed store
	// is unavailable (the process is reloading or shutting down), so the
	// error wraps ErrStoreUnavailable.
	ErrStoreClosed = fmt.Errorf("tokencore: store closed: %w", ErrStoreUnavailable)
	// ErrNotReplicated means a Redis write was committed on the primary but
	// fewer replicas than required confirmed it within the timeout (WAIT):
	// it may be lost if the primary fails over now. It wraps
	// ErrStoreUnavailable; the caller retries, and the retry is confirmed
	// again.
	ErrNotReplicated = fmt.Errorf("tokencore: write not confirmed by the replicas: %w", ErrStoreUnavailable)
	// ErrRevocationsStale means this instance has not been able to confirm
	// for longer than its staleness bound that its revocation view holds
	// every stored revocation, and is configured to refuse rather than
	// answer from a view that may miss one. It wraps ErrStoreUnavailable.
	ErrRevocationsStale = fmt.Errorf("tokencore: revocation view is stale: %w", ErrStoreUnavailable)
	// ErrStoreLocked means the store could not be opened because another
	// process holds it (bbolt allows one process per file). Only this
	// failure may be explained to an operator as "another process".
	ErrStoreLocked = errors.New("tokencore: store is locked by another process")
	// ErrStoreNotOpen is returned by a StoreHandle before its store is
	// attached. It wraps ErrStoreClosed: the store is not usable (yet),
	// through no fault of the request.
	ErrStoreNotOpen = fmt.Errorf("tokencore: store not open yet: %w", ErrStoreClosed)
	// ErrInvalidRecord means a store refused a record: a grant without an
	// ID, with a key field that is too long, or too large as a whole; a
	// revocation without a kind or with a key that is too long; an update
	// that changed a record's identity. Records come from the gateway
	// itself, so this is a bug or an abuse attempt, never a condition to
	// retry.
	ErrInvalidRecord = errors.New("tokencore: invalid record")
	// ErrStoreNotBound is returned by BindStore when the store is not the
	// one the keys were used with.
	ErrStoreNotBound = errors.New("the store is not the store of these keys")
	// ErrStoreIdentityLost is returned by AdvanceGeneration when the store
	// has lost its identity while in use (a Redis flushed under a running
	// gateway).
	ErrStoreIdentityLost = errors.New("the store has lost its identity (was it emptied?)")
)

// StoreRetryAfter is the Retry-After the protocols send with a 503 for
// ErrStoreUnavailable: long enough for a Redis reconnect or failover to
// settle, short enough that a client retrying once does not give up.
const StoreRetryAfter = 2 * time.Second

// WrapUnavailable wraps err with ErrStoreUnavailable (once); nil stays nil.
func WrapUnavailable(err error) error {
	if err == nil || errors.Is(err, ErrStoreUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
}

// Token errors returned by verification and by the grant operations. They
// are the vocabulary of every protocol: the sentinels of tokencore/edi's
// codecs wrap them (edi.ErrExpired is a tokencore.ErrTokenExpired), so a
// caller branches on one set whatever token it verified.
var (
	// ErrTokenMalformed: the token cannot be parsed (wrong shape, bad
	// encoding, too large, unexpected claims).
	ErrTokenMalformed = errors.New("token is malformed")
	// ErrTokenSignature: the signature does not verify, the key is unknown,
	// or the token's algorithm is not the algorithm of its key.
	ErrTokenSignature = errors.New("token signature is invalid")
	// ErrTokenExpired: exp has passed.
	ErrTokenExpired = errors.New("token is expired")
	// ErrTokenNotYetValid: nbf or iat is in the future.
	ErrTokenNotYetValid = errors.New("token is not valid yet")
	// ErrTokenRevoked: the token, its grant or its subject was revoked.
	ErrTokenRevoked = errors.New("token is revoked")
	// ErrTokenWrongType: a valid token used where another type is required
	// (a refresh token as a bearer token, an access token at /token/refresh).
	ErrTokenWrongType = errors.New("token has the wrong type")
	// ErrTokenWrongTenant: the token belongs to another tenant.
	ErrTokenWrongTenant = errors.New("token belongs to another tenant")
	// ErrRefreshReused: a refresh token that was already rotated (or never
	// stored) was presented again. The grant has been revoked.
	ErrRefreshReused = errors.New("refresh token was already used")
	// ErrGrantInactive: the grant exists but was revoked or has expired.
	ErrGrantInactive = errors.New("grant is not active")
	// ErrTokenAudience: a token of an external issuer is not meant for
	// this gateway (none of its aud values is an accepted audience).
	ErrTokenAudience = errors.New("token is meant for another audience")
	// ErrTokenIssuer: the token's issuer is not one the route trusts.
	ErrTokenIssuer = errors.New("token issuer is not trusted")
	// ErrTokenInactive: the issuer's introspection endpoint says the
	// (opaque) token is not active: unknown, expired or revoked there.
	ErrTokenInactive = errors.New("token is not active")
	// ErrIssuerUnavailable: an external issuer's keys or introspection
	// endpoint could not be reached, and what was known of them is older
	// than the configured stale window (fail closed). The client may
	// retry; the token itself may be fine.
	ErrIssuerUnavailable = errors.New("token issuer cannot be reached")
)
