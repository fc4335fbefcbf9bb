package tokencore

import (
	"sync/atomic"
	"time"
)

// How long a revocation lasts. A revocation must refuse every token it
// names for as long as that token can be accepted anywhere; afterwards it
// can be forgotten (swept from the store, pruned from the view), because
// the token's own expiry refuses it. Two kinds of entries:
//
//   - a grant revocation names the tokens of one grant, whose latest
//     access expiry the grant records: Grant.RevocationExpiry;
//   - a user or subject revocation names every token of a principal,
//     issued through any configured path: the longest access lifetime any
//     of them can issue, Engine.PrincipalRevocationExpiry.

// MaxLeeway is the most clock-drift tolerance a Verifier applies to exp;
// larger values are cut to it. Every revocation outlives the expiry of the
// tokens it names by this margin, so no verifier can accept a token its
// revocation has already forgotten.
const MaxLeeway = 5 * time.Minute

// RevocationMargin is how much longer than the tokens it names a
// revocation is kept.
const RevocationMargin = MaxLeeway

// accessLifetimes is the longest access-token lifetime any path of the
// gateway declared (nanoseconds; 0 = none declared).
type accessLifetimes struct{ max atomic.Int64 }

// NonExpiringLifetime is the lifetime a service declares when it can issue
// access tokens that never expire (FOLIO's legacy tokens): revocations of
// their principals then last as long as the engine remembers anything.
const NonExpiringLifetime = persistentRevocationTTL

// DeclareAccessLifetime records that some path of this gateway can issue
// access tokens living d. Each issuing service declares its longest
// lifetime when it is built (folio.New, oauth.NewService, the EDI service),
// so the engine knows how long a user or subject revocation must last.
func (e *Engine) DeclareAccessLifetime(d time.Duration) {
	for {
		cur := e.lifetimes.max.Load()
		if int64(d) <= cur || e.lifetimes.max.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// MaxAccessLifetime is the longest declared access-token lifetime; 0 when
// no path declared one.
func (e *Engine) MaxAccessLifetime() time.Duration {
	return time.Duration(e.lifetimes.max.Load())
}

// PrincipalRevocationExpiry is the ExpiresAt of a user or subject
// revocation made at now: it refuses every token of the principal issued
// until now, through any path, so it lasts the longest declared access
// lifetime plus RevocationMargin. With nothing declared (an engine used
// without its services) it fails closed and lasts persistentRevocationTTL.
func (e *Engine) PrincipalRevocationExpiry(now time.Time) time.Time {
	d := e.MaxAccessLifetime()
	if d <= 0 {
		return now.Add(persistentRevocationTTL)
	}
	return now.Add(d + RevocationMargin)
}
