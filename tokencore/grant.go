package tokencore

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"time"
)

// GrantKind says which protocol created a grant. It only affects how the
// grant's tokens are minted and listed; every kind shares one record shape.
type GrantKind string

// Grant kinds.
const (
	GrantKindFolio  GrantKind = "folio"  // /token/sign and /token/refresh
	GrantKindOAuth  GrantKind = "oauth"  // OAuth 2.0 token endpoint
	GrantKindManage GrantKind = "manage" // token management API
)

// GrantStatus is the life state of a grant.
type GrantStatus string

// Grant statuses. A revoked grant is kept (as a tombstone) until it expires
// so that replaying one of its refresh tokens is still recognised.
const (
	GrantActive  GrantStatus = "active"
	GrantRevoked GrantStatus = "revoked"
)

// Property is an Authlete-style key/value attached to a grant.
type Property struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Hidden bool   `json:"hidden,omitempty"`
}

// Grant is one token family: what was granted to whom, and the identity of
// the tokens currently issued for it. Raw token values are never stored;
// only their identifiers (jti) and hashes (TokenHash).
type Grant struct {
	ID        string    `json:"id"`
	Kind      GrantKind `json:"kind"`
	Subject   string    `json:"sub,omitempty"`
	UserID    string    `json:"user_id,omitempty"`
	Tenant    string    `json:"tenant,omitempty"`
	ClientID  string    `json:"client_id,omitempty"`
	GrantType string    `json:"grant_type,omitempty"`
	// Scopes is what the grant covers. A refresh may narrow the scope of the
	// new access token (AccessScopes) but never changes Scopes (RFC 6749 §6).
	Scopes     []string   `json:"scopes,omitempty"`
	AuthTime   time.Time  `json:"auth_time,omitzero"`
	ACR        string     `json:"acr,omitempty"`
	Properties []Property `json:"properties,omitempty"`
	// Nonce-free ID-token parameters remembered for reissue (OIDC Core §12.2).
	IDTokenAudience string `json:"id_token_aud,omitempty"`
	// Code is the authorization code of a grant created by the
	// authorization endpoint (see AuthorizationCode); nil otherwise.
	Code *AuthorizationCode `json:"code,omitempty"`
	// Claims are the user's claims the app supplied when it completed the
	// authorization (a JSON object), served by the UserInfo endpoint.
	Claims json.RawMessage `json:"claims,omitempty"`

	Status          GrantStatus `json:"status"`
	CreatedAt       time.Time   `json:"created_at"`
	UpdatedAt       time.Time   `json:"updated_at"`
	LastRefreshedAt time.Time   `json:"last_refreshed_at,omitzero"`
	RevokedAt       time.Time   `json:"revoked_at,omitzero"`

	// The current access token.
	AccessID         string    `json:"access_id,omitempty"`
	AccessHash       string    `json:"access_hash,omitempty"`
	AccessExpiresAt  time.Time `json:"access_expires_at,omitzero"`
	AccessScopes     []string  `json:"access_scopes,omitempty"`
	AccessPersistent bool      `json:"access_persistent,omitempty"`

	// MaxAccessExpiresAt is the latest expiry of any access token ever
	// issued from the grant. It only ever grows: a refresh with a shorter
	// lifetime leaves earlier, longer-lived tokens alive, and a revocation
	// of the grant must refuse them until they expire (RevocationExpiry);
	// the record is not swept before it either (RecomputeExpiry). Zero in
	// records written before it was kept.
	MaxAccessExpiresAt time.Time `json:"max_access_expires_at,omitzero"`

	// The current refresh token; empty when the grant has none.
	RefreshID        string    `json:"refresh_id,omitempty"`
	RefreshHash      string    `json:"refresh_hash,omitempty"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at,omitzero"`

	// The refresh token rotated away last, and when; used by the optional
	// grace window for concurrent refreshes. GraceResponse holds the answer
	// given to the winner, sealed with the gateway's refresh-token key, so
	// that a loser within the window receives the same pair.
	PreviousRefreshID string    `json:"previous_refresh_id,omitempty"`
	PreviousRotatedAt time.Time `json:"previous_rotated_at,omitzero"`
	GraceResponse     []byte    `json:"grace_response,omitempty"`

	// ExpiresAt is when the whole record may be swept: the latest of the
	// access, refresh and MaxAccessExpiresAt expiries (zero = never, for
	// persistent tokens). A revoked grant is therefore kept, as the
	// tombstone that recognises a replay, while any of its tokens lives.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Clone returns a deep copy, so stores can hand out records callers may edit.
func (g *Grant) Clone() *Grant {
	if g == nil {
		return nil
	}
	c := *g
	c.Scopes = slices.Clone(g.Scopes)
	c.AccessScopes = slices.Clone(g.AccessScopes)
	c.Properties = slices.Clone(g.Properties)
	c.GraceResponse = slices.Clone(g.GraceResponse)
	g.cloneCode(&c)
	return &c
}

// Active reports whether the grant may still be used at time now.
func (g *Grant) Active(now time.Time) bool {
	if g.Status != GrantActive {
		return false
	}
	return g.ExpiresAt.IsZero() || now.Before(g.ExpiresAt)
}

// RecomputeExpiry sets ExpiresAt to the latest expiry of any token the
// grant ever issued: its current access and refresh tokens and every
// earlier access token (MaxAccessExpiresAt), and a pending authorization
// code.
func (g *Grant) RecomputeExpiry() {
	if g.AccessPersistent {
		g.ExpiresAt = time.Time{}
		return
	}
	g.ExpiresAt = latest(g.AccessExpiresAt, g.RefreshExpiresAt, g.MaxAccessExpiresAt, g.codeExpiry())
}

// noteAccessExpiry raises MaxAccessExpiresAt to exp; it is never lowered.
func (g *Grant) noteAccessExpiry(exp time.Time) {
	if exp.After(g.MaxAccessExpiresAt) {
		g.MaxAccessExpiresAt = exp
	}
}

// RevocationExpiry is the ExpiresAt of the revocation of this grant: the
// revocation must refuse every access token the grant ever issued for as
// long as any of them can be accepted, that is until the latest expiry of
// any of them (MaxAccessExpiresAt, not the current token's) plus
// RevocationMargin, the most leeway a verifier may grant. For a grant
// whose access token never expires, and for one that never issued an
// access token with an expiry, the revocation is kept for
// persistentRevocationTTL after RevokedAt. Records written before
// MaxAccessExpiresAt was kept fall back to the latest expiry they know of,
// refresh included: earlier access tokens were minted while that refresh
// token (or a longer one) lived, under the same lifetimes.
func (g *Grant) RevocationExpiry() time.Time {
	last := latest(g.MaxAccessExpiresAt, g.AccessExpiresAt)
	if g.MaxAccessExpiresAt.IsZero() {
		last = latest(last, g.RefreshExpiresAt)
	}
	if g.AccessPersistent || last.IsZero() {
		return g.RevokedAt.Add(persistentRevocationTTL)
	}
	return last.Add(RevocationMargin)
}

// latest returns the latest of ts (zero when all are zero).
func latest(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

// TokenHash is the identifier under which a token is stored and listed:
// base64url without padding of SHA-256 over the token's ASCII bytes (the
// construction of DPoP "ath" and PKCE S256; Authlete's hashes have the same
// shape). A raw token can therefore never be recovered from a store.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
