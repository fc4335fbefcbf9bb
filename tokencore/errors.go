package tokencore

import "errors"

// Store errors. Stores wrap these with %w so callers branch with errors.Is.
var (
	// ErrNotFound means the record does not exist (or was swept).
	ErrNotFound = errors.New("tokencore: not found")
	// ErrConflict means a record with the same identity already exists.
	ErrConflict = errors.New("tokencore: already exists")
	// ErrStoreClosed means the store was used after Close.
	ErrStoreClosed = errors.New("tokencore: store closed")
	// ErrStoreLocked means the store could not be opened because another
	// process holds it (bbolt allows one process per file). Only this
	// failure may be explained to an operator as "another process".
	ErrStoreLocked = errors.New("tokencore: store is locked by another process")
)

// Token errors returned by verification and by the grant operations.
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
)
