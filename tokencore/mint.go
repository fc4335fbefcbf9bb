package tokencore

import (
	"fmt"
	"strings"
	"time"
)

// MintSpec says which tokens to mint for a grant and for how long.
type MintSpec struct {
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	// WithRefresh mints a refresh token as well.
	WithRefresh bool
	// AccessScopes is the scope of the access token; nil means the grant's.
	AccessScopes []string
	// AccessPersistent mints an access token without exp (management API).
	AccessPersistent bool
	// Profile is the format of the access token: ProfileFOLIO (the zero
	// value, mod-authtoken's) or ProfileJWTAccess (RFC 9068).
	Profile AccessProfile
	// Audience is the aud of the access token; empty: none.
	Audience []string
}

// IssuedTokens are freshly minted tokens. They exist only in the response
// to the caller; the grant keeps their identifiers and hashes.
type IssuedTokens struct {
	AccessToken      string
	AccessID         string
	AccessExpiresAt  time.Time // zero for a persistent token
	AccessScopes     []string
	RefreshToken     string
	RefreshID        string
	RefreshExpiresAt time.Time
}

// MintTokens mints an access token (and a refresh token if asked) for g as
// of now. It does not touch g or the store: callers record the result with
// Apply inside their atomic store update, so minting (signature work) stays
// outside the store's critical section.
func (e *Engine) MintTokens(g *Grant, spec MintSpec, now time.Time) (*IssuedTokens, error) {
	scopes := spec.AccessScopes
	if scopes == nil {
		scopes = g.Scopes
	}
	t := &IssuedTokens{AccessID: NewTokenID(), AccessScopes: scopes}
	ac := AccessClaims{
		Type:     TypeAccess,
		IssuedAt: now.Unix(),
		Tenant:   g.Tenant,
		Subject:  g.Subject,
		UserID:   g.UserID,
		ID:       t.AccessID,
		GrantID:  g.ID,
		Issuer:   e.Issuer,
		ClientID: g.ClientID,
		Scope:    strings.Join(scopes, " "),
	}
	ac.Audience = spec.Audience
	if !spec.AccessPersistent {
		t.AccessExpiresAt = now.Add(spec.AccessTTL).Truncate(time.Second)
		ac.Expiry = t.AccessExpiresAt.Unix()
	}
	var err error
	if t.AccessToken, err = e.Keys.SignTyped(e.Keys.Signer(), spec.Profile.headerType(spec.AccessPersistent), ac); err != nil {
		return nil, err
	}
	if spec.WithRefresh {
		t.RefreshID = NewTokenID()
		t.RefreshExpiresAt = now.Add(spec.RefreshTTL).Truncate(time.Second)
		rc := RefreshClaims{
			Type:     TypeRefresh,
			Expiry:   t.RefreshExpiresAt.Unix(),
			IssuedAt: now.Unix(),
			Subject:  g.Subject,
			UserID:   g.UserID,
			Tenant:   g.Tenant,
			ID:       t.RefreshID,
			Prn:      TypeRefresh,
			GrantID:  g.ID,
			ClientID: g.ClientID,
		}
		if t.RefreshToken, err = e.Keys.Seal(rc.AppendJSON(make([]byte, 0, 384))); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Apply records the minted tokens on g: identifiers, hashes, expiries, and
// the latest access expiry the grant ever issued (MaxAccessExpiresAt, which
// a shorter-lived token never lowers). The previous refresh token is
// remembered for the grace window. A refresh token is kept as is when none
// was minted (an access-only reissue).
func (t *IssuedTokens) Apply(g *Grant, now time.Time, persistent bool) {
	g.AccessID = t.AccessID
	g.AccessHash = TokenHash(t.AccessToken)
	g.AccessExpiresAt = t.AccessExpiresAt
	g.AccessScopes = t.AccessScopes
	g.AccessPersistent = persistent
	if persistent {
		// A token that never expires: its grant's revocation must be kept
		// as long as a revocation of a persistent token ever is.
		g.noteAccessExpiry(now.Add(persistentRevocationTTL))
	} else {
		g.noteAccessExpiry(t.AccessExpiresAt)
	}
	if t.RefreshToken != "" {
		if g.RefreshID != "" {
			g.PreviousRefreshID = g.RefreshID
			g.PreviousRotatedAt = now
		}
		g.RefreshID = t.RefreshID
		g.RefreshHash = TokenHash(t.RefreshToken)
		g.RefreshExpiresAt = t.RefreshExpiresAt
	}
	g.UpdatedAt = now
	g.RecomputeExpiry()
}

// ParseRefreshToken decrypts a refresh token (JWE dir/A256GCM) and checks
// its shape and type. Expiry and the store are the caller's business.
func (e *Engine) ParseRefreshToken(token string) (*RefreshClaims, error) {
	if len(token) == 0 || len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: empty or larger than %d bytes", ErrTokenMalformed, MaxTokenBytes)
	}
	switch strings.Count(token, ".") {
	case 4:
	case 2:
		return nil, fmt.Errorf("%w: a signed token is not a refresh token", ErrTokenWrongType)
	default:
		return nil, fmt.Errorf("%w: not a compact JWE", ErrTokenMalformed)
	}
	payload, err := e.Keys.Open(token)
	if err != nil {
		return nil, err
	}
	// Strict first: json.Unmarshal into a struct keeps the last of two
	// "sub" members and matches names case-insensitively.
	if err := CheckStrictJSON(payload); err != nil {
		return nil, fmt.Errorf("%w: refresh payload: %w", ErrTokenMalformed, err)
	}
	var rc RefreshClaims
	if err := decodeRefreshClaims(payload, &rc); err != nil {
		return nil, fmt.Errorf("%w: refresh payload: %w", ErrTokenMalformed, err)
	}
	if rc.Type != TypeRefresh {
		return nil, fmt.Errorf("%w: type %q", ErrTokenWrongType, rc.Type)
	}
	if rc.ID == "" || rc.Subject == "" {
		return nil, fmt.Errorf("%w: refresh token without jti or sub", ErrTokenMalformed)
	}
	return &rc, nil
}
