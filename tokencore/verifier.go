package tokencore

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenBytes bounds every token the gateway parses. Real tokens are well
// under 2 KiB; the bound stops oversized headers from costing parse work.
const MaxTokenBytes = 16 << 10

// VerifierOptions are the rules a Verifier applies beyond the signature.
type VerifierOptions struct {
	// Leeway tolerates clock drift on exp and nbf; at most MaxLeeway.
	Leeway time.Duration
	// AcceptLegacy accepts mod-authtoken's non-expiring "legacy-access"
	// tokens and tokens with no type claim. Off by default: a token that
	// never expires can only be stopped by revoking its user.
	AcceptLegacy bool
}

// Verifier checks bearer tokens: signature by the key the header names (the
// key decides the algorithm), token type, expiry and not-before with leeway,
// tenant, and the revocation view. Signature verdicts are cached.
type Verifier struct {
	keys   *KeySet
	cache  *VerifyCache
	view   *RevocationView
	opts   VerifierOptions
	now    func() time.Time
	parser *jwt.Parser
	scope  string
}

// NewVerifier builds a verifier. cache may be nil (no caching); view must
// not be nil; now may be nil (time.Now).
func NewVerifier(keys *KeySet, cache *VerifyCache, view *RevocationView, opts VerifierOptions, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	// Revocations outlive the tokens they name by MaxLeeway only: a larger
	// leeway would accept a revoked token after its revocation lapsed.
	opts.Leeway = min(max(opts.Leeway, 0), MaxLeeway)
	return &Verifier{
		keys:  keys,
		cache: cache,
		view:  view,
		opts:  opts,
		now:   now,
		// Time claims are validated below, with the gateway's own rules and
		// clock, so golang-jwt only checks structure and signature here.
		parser: jwt.NewParser(jwt.WithValidMethods(keys.Algorithms()), jwt.WithoutClaimsValidation()),
		scope:  fmt.Sprintf("v1|%s|legacy=%t", keys.Fingerprint(), opts.AcceptLegacy),
	}
}

// Verify returns the claims of a valid access token. tenant, when not
// empty, must equal the token's tenant claim (if the token has one).
// Errors wrap the Err* token sentinels, or ErrStoreNotOpen when the
// revocation view has not been loaded (after waiting up to ViewLoadWait).
func (v *Verifier) Verify(token, tenant string) (*Claims, error) {
	if !v.view.waitLoaded() {
		// Before the signature work: no verdict without the revocations.
		return nil, fmt.Errorf("revocations not loaded: %w", ErrStoreNotOpen)
	}
	c, err := v.verifySignature(token)
	if err != nil {
		return nil, err
	}
	if err := v.checkTime(c); err != nil {
		return nil, err
	}
	if err := c.CheckTenant(tenant); err != nil {
		return nil, err
	}
	if err := v.view.Admit(c); err != nil {
		return nil, err
	}
	return c, nil
}

// Admit is the revocation step of every bearer-token verifier, tokengate's
// own and the external issuers' (tokencore/issuer): no verdict until the
// revocations are loaded (ErrStoreNotOpen), none from a view that is stale
// while the store is unreachable (wraps ErrStoreUnavailable), and
// ErrTokenRevoked when Revoked refuses c.
func (v *RevocationView) Admit(c *Claims) error {
	if !v.waitLoaded() {
		// The store is not open (the HTTP app may start serving before
		// the tokengate app has opened it, and waiting did not help).
		return fmt.Errorf("revocations not loaded: %w", ErrStoreNotOpen)
	}
	if err := v.Check(); err != nil {
		return err
	}
	if v.Revoked(c) { // the one revocation decision (RevocationView.Revoked)
		return ErrTokenRevoked
	}
	return nil
}

// verifySignature returns the structurally valid, correctly signed claims of
// token, from the cache when it was verified before.
func (v *Verifier) verifySignature(token string) (*Claims, error) {
	if len(token) == 0 || len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: empty or larger than %d bytes", ErrTokenMalformed, MaxTokenBytes)
	}
	if n := strings.Count(token, "."); n != 2 {
		if n == 4 {
			return nil, fmt.Errorf("%w: an encrypted (refresh) token is not a bearer token", ErrTokenWrongType)
		}
		return nil, fmt.Errorf("%w: not a compact JWS", ErrTokenMalformed)
	}
	var key CacheKey
	if v.cache != nil {
		key = cacheKey(v.scope, token)
		if c, ok := v.cache.Get(key); ok {
			if claims, ok := c.(*Claims); ok {
				return claims, nil
			}
		}
	}
	// The strict checks run on cache misses only: a cached token passed them.
	if err := CheckCompactJWS(token); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenMalformed, err)
	}
	var m jwt.MapClaims
	parsed, err := v.parser.ParseWithClaims(token, &m, v.keys.keyFor)
	if err != nil {
		return nil, classifyJWTError(err)
	}
	c, err := claimsFromMap(m)
	if err != nil {
		return nil, err
	}
	switch typ := parsed.Header["typ"].(type) {
	case nil:
	case string:
		c.JOSEType = typ
	default:
		return nil, fmt.Errorf("%w: typ is not a string", ErrTokenMalformed)
	}
	if err := v.checkType(c); err != nil {
		return nil, err
	}
	if v.cache != nil {
		ttl := v.cache.maxTTL
		if c.ExpiresAt != 0 {
			ttl = time.Unix(c.ExpiresAt, 0).Add(v.opts.Leeway).Sub(v.now())
		}
		v.cache.Put(key, c, ttl)
	}
	return c, nil
}

// checkType is the one rule on which signed tokens are bearer tokens. The
// header's typ tells the two access-token formats apart: "at+jwt" is an
// RFC 9068 access token (OAuth grants), which must carry that profile's
// claims; no typ (or "JWT") is mod-authtoken's format, told by its type
// claim: access tokens, and legacy ones when configured. Any other typ,
// and refresh, dummy and ID tokens, are never bearer tokens.
func (v *Verifier) checkType(c *Claims) error {
	switch formatOf(c.JOSEType) {
	case formatJWTAccess:
		return checkJWTAccessClaims(c)
	case formatOther:
		return fmt.Errorf("%w: typ %q", ErrTokenWrongType, c.JOSEType)
	}
	switch c.Type {
	case TypeAccess:
		if c.ExpiresAt == 0 {
			return fmt.Errorf("%w: access token without exp", ErrTokenMalformed)
		}
		if c.Subject == "" {
			return fmt.Errorf("%w: access token without sub", ErrTokenMalformed)
		}
		return nil
	case TypeLegacyAccess, "":
		if !v.opts.AcceptLegacy {
			return fmt.Errorf("%w: legacy or untyped token", ErrTokenWrongType)
		}
		if _, hasAud := c.Raw["aud"]; hasAud || c.Subject == "" {
			// An untyped token with an audience is an ID token, not FOLIO's.
			return fmt.Errorf("%w: not a legacy access token", ErrTokenWrongType)
		}
		if dummy, _ := c.Raw["dummy"].(bool); dummy {
			return fmt.Errorf("%w: dummy token", ErrTokenWrongType)
		}
		return nil
	}
	return fmt.Errorf("%w: type %q", ErrTokenWrongType, c.Type)
}

// checkTime applies exp and nbf with leeway: a token is expired from exp on.
func (v *Verifier) checkTime(c *Claims) error {
	now := v.now()
	if c.ExpiresAt != 0 && !now.Before(time.Unix(c.ExpiresAt, 0).Add(v.opts.Leeway)) {
		return ErrTokenExpired
	}
	if c.NotBefore != 0 && now.Add(v.opts.Leeway).Before(time.Unix(c.NotBefore, 0)) {
		return ErrTokenNotYetValid
	}
	return nil
}

// classifyJWTError maps golang-jwt's errors onto tokencore's sentinels.
func classifyJWTError(err error) error {
	switch {
	case errors.Is(err, ErrTokenSignature), errors.Is(err, ErrTokenMalformed):
		return err
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return fmt.Errorf("%w: %w", ErrTokenSignature, err)
	default:
		return fmt.Errorf("%w: %w", ErrTokenMalformed, err)
	}
}
