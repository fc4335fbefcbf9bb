package folio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// Error is a failure of a FOLIO token endpoint: the status and the
// text/plain body mod-authtoken would send (its bodies are never JSON).
type Error struct {
	Status  int
	Message string
	Err     error // the cause, for logs; never sent to the client
	// RetryAfter, when positive, is sent as Retry-After (a 503 for a store
	// that is unavailable).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// FOLIO's fixed messages.
const (
	invalidTokenMessage = "Invalid token"
	legacyOffMessage    = "Error: Tenant not a legacy token tenant as specified in this module's environment or system property. Cannot issue non-expiring legacy token."
)

func badRequest(detail string) *Error {
	return &Error{Status: http.StatusBadRequest, Message: "Bad Request: " + detail}
}

func invalid(status int, cause error) *Error {
	return &Error{Status: status, Message: invalidTokenMessage, Err: cause}
}

// Config is the behaviour of the FOLIO token API.
type Config struct {
	TTL tokencore.TTLPolicy
	// LegacyTenants may use legacy POST /token; "*" allows every tenant.
	// Empty (the default) allows none: mod-authtoken allows all when unset,
	// but a token that never expires should be an explicit choice.
	LegacyTenants []string
	// RefreshGrace, when positive, lets a refresh token that was rotated less
	// than this long ago be presented again and receive the same new pair,
	// instead of counting as a replay. Off by default, like mod-authtoken.
	RefreshGrace time.Duration
	// DefaultTenant is the tenant of requests without X-Okapi-Tenant, for
	// every endpoint alike (refresh included); empty means the header is
	// required.
	DefaultTenant string
}

// Service implements mod-authtoken's token API on the engine.
type Service struct {
	e   *tokencore.Engine
	cfg Config
	v   *tokencore.Verifier
}

// New returns the FOLIO service. It declares to the engine the
// longest access lifetime it issues, so user and subject revocations last
// long enough (a legacy tenant's tokens never expire).
func New(e *tokencore.Engine, cfg Config) *Service {
	e.DeclareAccessLifetime(cfg.TTL.MaxAccess())
	if len(cfg.LegacyTenants) > 0 {
		e.DeclareAccessLifetime(tokencore.NonExpiringLifetime)
	}
	return &Service{e: e, cfg: cfg, v: e.Verifier(tokencore.VerifierOptions{})}
}

// now is the engine's clock.
func (f *Service) now() time.Time {
	if f.e.Now != nil {
		return f.e.Now()
	}
	return time.Now()
}

// Tokens is the 201 body of /token/sign and /token/refresh, keys in
// mod-authtoken's order; expirations are ISO-8601 instants in whole seconds.
type Tokens struct {
	AccessToken            string
	RefreshToken           string
	AccessTokenExpiration  time.Time
	RefreshTokenExpiration time.Time
	TenantID               string
}

const isoInstant = "2006-01-02T15:04:05Z"

// MarshalJSON writes the mod-authtoken response shape.
func (t Tokens) MarshalJSON() ([]byte, error) { return t.AppendJSON(nil), nil }

// AppendJSON appends the mod-authtoken response shape to dst, without
// reflection (every sign and refresh answers it): the bytes encoding/json
// wrote for the same fields.
func (t Tokens) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"accessToken":`...)
	dst = tokencore.AppendJSONString(dst, t.AccessToken)
	dst = append(dst, `,"refreshToken":`...)
	dst = tokencore.AppendJSONString(dst, t.RefreshToken)
	dst = append(dst, `,"accessTokenExpiration":"`...)
	dst = t.AccessTokenExpiration.UTC().AppendFormat(dst, isoInstant)
	dst = append(dst, `","refreshTokenExpiration":"`...)
	dst = t.RefreshTokenExpiration.UTC().AppendFormat(dst, isoInstant)
	dst = append(dst, `","tenantId":`...)
	dst = tokencore.AppendJSONString(dst, t.TenantID)
	return append(dst, '}')
}

// UnmarshalJSON reads the shape MarshalJSON writes (for the grace window).
func (t *Tokens) UnmarshalJSON(b []byte) error {
	var v struct {
		AccessToken, RefreshToken, AccessTokenExpiration, RefreshTokenExpiration string
		TenantID                                                                 string `json:"tenantId"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	ae, err1 := time.Parse(isoInstant, v.AccessTokenExpiration)
	re, err2 := time.Parse(isoInstant, v.RefreshTokenExpiration)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	*t = Tokens{v.AccessToken, v.RefreshToken, ae, re, v.TenantID}
	return nil
}

// Sign is POST /token/sign: a new grant with an access and a refresh token,
// or, for payload.dummy, an expiring dummy token ({"token":...}, nothing stored).
func (f *Service) Sign(ctx context.Context, tenant string, p SignPayload) (any, *Error) {
	now := f.now()
	ttl := f.cfg.TTL.For(tenant)
	if p.Dummy {
		tok, err := f.e.Keys.Sign(tokencore.AccessClaims{
			Type: tokencore.TypeDummyExpiring, Tenant: tenant, Subject: p.Subject, Dummy: true,
			ExtraPermissions: p.ExtraPermissions, Expiry: now.Add(ttl.Access).Unix(),
		})
		if err != nil {
			return nil, &Error{Status: 500, Message: "Error: cannot sign token", Err: err}
		}
		return map[string]string{"token": tok}, nil
	}
	if p.UserID == "" {
		// mod-authtoken fails with a 500 here; the caller's mistake is a 400.
		return nil, badRequest("missing property payload.user_id")
	}
	return f.newGrant(ctx, tenant, p.Subject, p.UserID, now)
}

// newGrant stores a new FOLIO grant and returns its first token pair.
// The grant's user must be a UUID (see GrantUserID).
func (f *Service) newGrant(ctx context.Context, tenant, sub, userID string, now time.Time) (Tokens, *Error) {
	userID, ok := GrantUserID(userID)
	if !ok {
		return Tokens{}, badRequest("user_id must be a UUID")
	}
	ttl := f.cfg.TTL.For(tenant)
	g := &tokencore.Grant{
		ID: tokencore.NewGrantID(), Kind: tokencore.GrantKindFolio, Subject: sub, UserID: userID, Tenant: tenant,
		Status: tokencore.GrantActive, CreatedAt: now, AuthTime: now,
	}
	t, err := f.e.MintTokens(g, tokencore.MintSpec{AccessTTL: ttl.Access, RefreshTTL: ttl.Refresh, WithRefresh: true}, now)
	if err != nil {
		return Tokens{}, &Error{Status: 500, Message: "Error: cannot sign token", Err: err}
	}
	t.Apply(g, now, false)
	if err := f.e.Store.CreateGrant(ctx, g); err != nil {
		return Tokens{}, storeFailure(err)
	}
	return tokensOf(t, tenant), nil
}

func tokensOf(t *tokencore.IssuedTokens, tenant string) Tokens {
	return Tokens{t.AccessToken, t.RefreshToken, t.AccessExpiresAt, t.RefreshExpiresAt, tenant}
}

// unavailableMessage is the text of the 503 answered while the store is
// unavailable: mod-authtoken's plain-text style, saying what to do.
const unavailableMessage = "Service Unavailable: the token store cannot be reached; nothing was changed, retry later"

// storeFailure is the answer to a failed store call, for every FOLIO
// endpoint: the store being unavailable (an outage, a write its replicas
// did not confirm, a revocation view that cannot be confirmed) is a 503
// with Retry-After, after which the same request can be retried; anything
// else (a damaged store) is mod-authtoken's 500.
func storeFailure(err error) *Error {
	if errors.Is(err, tokencore.ErrStoreUnavailable) {
		return &Error{Status: http.StatusServiceUnavailable, Message: unavailableMessage, Err: err, RetryAfter: tokencore.StoreRetryAfter}
	}
	return &Error{Status: 500, Message: "Unexpected exception during token validation", Err: err}
}

// Legacy is legacy POST /token: a non-expiring legacy-access token, only
// for tenants listed in LegacyTenants (404 with mod-authtoken's message
// otherwise), or a dummy token.
func (f *Service) Legacy(ctx context.Context, tenant string, p SignPayload) (string, *Error) {
	if !slices.Contains(f.cfg.LegacyTenants, "*") && !slices.Contains(f.cfg.LegacyTenants, tenant) {
		return "", &Error{Status: http.StatusNotFound, Message: legacyOffMessage}
	}
	c := tokencore.AccessClaims{Type: tokencore.TypeLegacyAccess, IssuedAt: f.now().Unix(), Tenant: tenant, Subject: p.Subject, UserID: p.UserID}
	if p.Dummy {
		c = tokencore.AccessClaims{Type: tokencore.TypeDummy, Tenant: tenant, Subject: p.Subject, Dummy: true, ExtraPermissions: p.ExtraPermissions}
	}
	tok, err := f.e.Keys.Sign(c)
	if err != nil {
		return "", &Error{Status: 500, Message: "Error: cannot sign token", Err: err}
	}
	return tok, nil
}

// LegacyRefresh is legacy POST /refreshtoken. mod-authtoken returns a
// refresh token it never stores (so it can never be used); tokengate stores
// a grant for it, so the token works at /token/refresh. The access token of
// that grant is minted but not returned.
func (f *Service) LegacyRefresh(ctx context.Context, tenant, userID, sub string) (string, *Error) {
	t, ferr := f.newGrant(ctx, tenant, sub, userID, f.now())
	if ferr != nil {
		return "", ferr
	}
	return t.RefreshToken, nil
}

// Sentinels used inside the rotation compare-and-swap.
var (
	errRotateReused   = errors.New("refresh token already rotated")
	errRotateGrace    = errors.New("refresh token rotated within the grace window")
	errRotateInactive = errors.New("grant inactive")
)

// Refresh is POST /token/refresh: rotate a refresh token. Only refresh
// tokens are accepted (mod-authtoken redeems any token type), and only
// those of FOLIO grants of the request's tenant (tokencore.Grant.RedeemableAt, on
// the token's claims first, then on its stored grant): any other is
// refused — 403 for another tenant's, 401 otherwise — before anything is
// consumed, and is not a replay. A FOLIO token that was already used,
// revoked, or is unknown to the store revokes every grant of its user in
// its tenant (mod-authtoken's reuse rule), access tokens included, and
// answers 401. A X-Okapi-User-Id header that differs from the token's user
// is a 403, as in mod-authtoken. An empty tenantHeader accepts the token's
// own tenant; Handle never passes one (it applies Config.DefaultTenant).
func (f *Service) Refresh(ctx context.Context, tenantHeader, userIDHeader, token string) (Tokens, *Error) {
	rc, err := f.e.ParseRefreshToken(token)
	if err != nil {
		return Tokens{}, invalid(http.StatusUnauthorized, err)
	}
	at := tokencore.Endpoint{Protocol: tokencore.ProtocolFolio, Tenant: tenantHeader}
	if err := rc.RedeemableAt(at); err != nil {
		return Tokens{}, refused(err)
	}
	tenant := rc.Tenant // not empty: the rule refuses a token without one
	if userIDHeader != "" && userIDHeader != rc.UserID {
		return Tokens{}, invalid(http.StatusForbidden, fmt.Errorf("%w: X-Okapi-User-Id differs from the token", tokencore.ErrTokenMalformed))
	}
	now := f.now()
	if now.Unix() >= rc.Expiry {
		return Tokens{}, invalid(http.StatusUnauthorized, tokencore.ErrTokenExpired)
	}
	if rc.GrantID == "" {
		return Tokens{}, f.reused(ctx, tenant, rc, fmt.Errorf("%w: token has no grant", tokencore.ErrRefreshReused))
	}
	g, err := f.e.Store.GetGrant(ctx, rc.GrantID)
	if errors.Is(err, tokencore.ErrNotFound) {
		return Tokens{}, f.reused(ctx, tenant, rc, fmt.Errorf("%w: grant not found", tokencore.ErrRefreshReused))
	} else if err != nil {
		return Tokens{}, storeFailure(err)
	}
	if err := g.RedeemableAt(at); err != nil {
		return Tokens{}, refused(err)
	}
	if g.Tenant != tenant || g.UserID != rc.UserID || g.Subject != rc.Subject {
		return Tokens{}, invalid(http.StatusUnauthorized, fmt.Errorf("%w: token does not match its grant", tokencore.ErrTokenMalformed))
	}
	ttl := f.cfg.TTL.For(tenant)
	minted, err := f.e.MintTokens(g, tokencore.MintSpec{AccessTTL: ttl.Access, RefreshTTL: ttl.Refresh, WithRefresh: true}, now)
	if err != nil {
		return Tokens{}, &Error{Status: 500, Message: "Error: cannot sign token", Err: err}
	}
	out := tokensOf(minted, tenant)
	var sealed []byte
	if f.cfg.RefreshGrace > 0 {
		s, err := f.e.Keys.Seal(out.AppendJSON(make([]byte, 0, 1024)))
		if err != nil {
			return Tokens{}, &Error{Status: 500, Message: "Error: cannot seal grace response", Err: err}
		}
		sealed = []byte(s)
	}
	var graceResponse []byte
	_, err = f.e.Store.UpdateGrant(ctx, g.ID, func(g *tokencore.Grant) error {
		if !g.Active(now) {
			return errRotateInactive
		}
		if g.RefreshID != rc.ID {
			if f.cfg.RefreshGrace > 0 && g.PreviousRefreshID == rc.ID && len(g.GraceResponse) > 0 &&
				now.Sub(g.PreviousRotatedAt) <= f.cfg.RefreshGrace {
				graceResponse = slices.Clone(g.GraceResponse)
				return errRotateGrace
			}
			return errRotateReused
		}
		minted.Apply(g, now, false)
		g.LastRefreshedAt = now
		g.GraceResponse = sealed
		return nil
	})
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, errRotateGrace):
		return f.graceAnswer(graceResponse)
	case errors.Is(err, errRotateReused), errors.Is(err, errRotateInactive), errors.Is(err, tokencore.ErrNotFound):
		return Tokens{}, f.reused(ctx, tenant, rc, fmt.Errorf("%w: %w", tokencore.ErrRefreshReused, err))
	default:
		return Tokens{}, storeFailure(err)
	}
}

// graceAnswer returns the pair given to the winner of a concurrent refresh.
func (f *Service) graceAnswer(sealed []byte) (Tokens, *Error) {
	b, err := f.e.Keys.Open(string(sealed))
	var out Tokens
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		return Tokens{}, &Error{Status: 500, Message: "Error: cannot open grace response", Err: err}
	}
	return out, nil
}

// refused is the answer to a token the redemption rule refuses: 403
// for a FOLIO token of another tenant (mod-authtoken's answer), 401
// "Invalid token" for a token that is not a FOLIO token at all. The cause
// (a *tokencore.RedeemError) is for the handler's warn log.
func refused(err error) *Error {
	status := http.StatusUnauthorized
	var re *tokencore.RedeemError
	if errors.As(err, &re) && errors.Is(re.Reason, tokencore.ErrTokenWrongTenant) && re.Tenant != "" {
		status = http.StatusForbidden
	}
	return invalid(status, err)
}

// reused applies mod-authtoken's reuse rule: revoke every grant of the user
// in the tenant (refresh and access tokens), then answer 401.
func (f *Service) reused(ctx context.Context, tenant string, rc *tokencore.RefreshClaims, cause error) *Error {
	replay := &tokencore.ReplayError{Protocol: "folio", GrantID: rc.GrantID, Tenant: tenant, UserID: rc.UserID, Err: cause}
	if rc.UserID != "" {
		n, err := f.e.RevokeGrants(ctx, tokencore.GrantFilter{Tenant: tenant, UserID: rc.UserID})
		if err != nil {
			return storeFailure(err)
		}
		replay.Revoked = n
	}
	if rc.UserID == "" && rc.GrantID != "" {
		// With a user, the grant was among the user's grants just revoked.
		if _, err := f.e.RevokeGrant(ctx, rc.GrantID); err == nil {
			replay.Revoked = 1
		} else if !errors.Is(err, tokencore.ErrNotFound) {
			return storeFailure(err)
		}
	}
	return invalid(http.StatusUnauthorized, replay)
}

// Invalidate is POST /token/invalidate: log out the session (grant) of one
// refresh token, access token included. Callable by the token's holder.
// Unlike mod-authtoken, a token that cannot be read is a 401 (not a 500),
// a token of another tenant is refused with 403, and a token that is not a
// FOLIO token (an OAuth refresh token) with 401, revoking nothing.
func (f *Service) Invalidate(ctx context.Context, tenantHeader, token string) *Error {
	rc, err := f.e.ParseRefreshToken(token)
	if err != nil {
		return invalid(http.StatusUnauthorized, err)
	}
	at := tokencore.Endpoint{Protocol: tokencore.ProtocolFolio, Tenant: tenantHeader}
	if err := rc.RedeemableAt(at); err != nil {
		return refused(err)
	}
	if rc.GrantID == "" {
		return nil // not ours: nothing stored to revoke, 204 like mod-authtoken
	}
	g, err := f.e.Store.GetGrant(ctx, rc.GrantID)
	if errors.Is(err, tokencore.ErrNotFound) {
		return nil
	} else if err != nil {
		return storeFailure(err)
	}
	if err := g.RedeemableAt(at); err != nil {
		return refused(err)
	}
	if g.Tenant != rc.Tenant || g.UserID != rc.UserID {
		return invalid(http.StatusForbidden, tokencore.ErrTokenWrongTenant)
	}
	if _, err := f.e.RevokeGrant(ctx, g.ID); err != nil && !errors.Is(err, tokencore.ErrNotFound) {
		return storeFailure(err)
	}
	return nil
}

// InvalidateAll is POST /token/invalidate-all: log the access token's user
// out everywhere. Every grant of the user is revoked, and a user
// revocation refuses every token issued to them until now, including
// already-issued access tokens and tokens minted by mod-authtoken.
func (f *Service) InvalidateAll(ctx context.Context, tenantHeader, accessToken string) *Error {
	c, err := f.v.Verify(accessToken, tenantHeader)
	if errors.Is(err, tokencore.ErrStoreUnavailable) {
		return storeFailure(err) // the revocation view cannot be confirmed
	}
	if err != nil {
		status := http.StatusUnauthorized
		if errors.Is(err, tokencore.ErrTokenWrongTenant) {
			status = http.StatusForbidden
		}
		return invalid(status, err)
	}
	if c.UserID == "" {
		return invalid(http.StatusUnauthorized, fmt.Errorf("%w: access token without user_id", tokencore.ErrTokenMalformed))
	}
	now := f.now()
	if _, err := f.e.RevokeGrants(ctx, tokencore.GrantFilter{Tenant: c.Tenant, UserID: c.UserID}); err != nil {
		return storeFailure(err)
	}
	// The entry refuses every token of the user issued until now, through
	// any path of the gateway: it lasts the longest access lifetime any of
	// them can issue (legacy-access tokens never expire).
	r := tokencore.Revocation{Kind: tokencore.RevocationOfUser, Key: tokencore.UserKey(c.Tenant, c.UserID), NotBefore: now, ExpiresAt: f.e.PrincipalRevocationExpiry(now)}
	if err := f.e.Revoke(ctx, r); err != nil {
		return storeFailure(err)
	}
	return nil
}

// GrantUserID checks the user id of a new FOLIO grant (/token/sign,
// /refreshtoken) and returns it in canonical form. mod-authtoken stores a
// grant's user in a PostgreSQL uuid column: another user id fails its
// INSERT (a 500 there, a 400 here, since it is the caller's mistake), and a
// token carrying one breaks /token/invalidate-all on a mod-authtoken that
// shares the secret. The form is 8-4-4-4-12 hexadecimal digits; upper case
// is accepted and lowered, because PostgreSQL compares uuids without case
// while tokengate's user revocations compare strings. Tokens that name no
// grant (dummy, legacy-access) keep whatever the caller sent, as in
// mod-authtoken.
func GrantUserID(id string) (string, bool) {
	if len(id) != 36 {
		return "", false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return "", false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return "", false
		}
	}
	return strings.ToLower(id), true
}
