package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// POST .../auth/token/update.

type updateRequest struct {
	AccessToken           string                `json:"accessToken"`
	AccessTokenHash       string                `json:"accessTokenHash"`
	RefreshToken          string                `json:"refreshToken"`
	RefreshTokenHash      string                `json:"refreshTokenHash"`
	AccessTokenExpiresAt  int64                 `json:"accessTokenExpiresAt"`
	RefreshTokenExpiresAt int64                 `json:"refreshTokenExpiresAt"`
	Scopes                *[]string             `json:"scopes"`
	Properties            *[]tokencore.Property `json:"properties"`
	AccessTokenPersistent bool                  `json:"accessTokenPersistent"`
	// AccessTokenValueUpdated mints a new access-token value.
	AccessTokenValueUpdated bool `json:"accessTokenValueUpdated"`

	// Accepted without effect: tokengate has no per-scope lifetimes,
	// external attachments or token IDs to set.
	AccessTokenExpiresAtUpdatedOnScopeUpdate  bool   `json:"accessTokenExpiresAtUpdatedOnScopeUpdate"`
	RefreshTokenExpiresAtUpdatedOnScopeUpdate bool   `json:"refreshTokenExpiresAtUpdatedOnScopeUpdate"`
	ForExternalAttachment                     bool   `json:"forExternalAttachment"`
	TokenID                                   string `json:"tokenId"`

	// Refused when set.
	CertificateThumbprint string          `json:"certificateThumbprint"`
	DPoPKeyThumbprint     string          `json:"dpopKeyThumbprint"`
	AuthorizationDetails  json.RawMessage `json:"authorizationDetails"`
}

// UpdateResponse is the answer of POST .../auth/token/update.
type UpdateResponse struct {
	Result
	AccessToken           string               `json:"accessToken,omitempty"`
	TokenType             string               `json:"tokenType,omitempty"`
	AccessTokenExpiresAt  int64                `json:"accessTokenExpiresAt"`
	RefreshTokenExpiresAt int64                `json:"refreshTokenExpiresAt"`
	Scopes                []string             `json:"scopes"`
	Properties            []tokencore.Property `json:"properties"`
	TokenID               string               `json:"tokenId,omitempty"`
}

// errTokenMoved: the identified token stopped being current while the
// update was prepared (a concurrent refresh or revocation).
var errTokenMoved = errors.New("token is no longer current")

// manageUpdate is POST .../auth/token/update. The token is selected by
// accessToken, accessTokenHash, refreshToken, refreshTokenHash, the first
// given wins (none: BAD_REQUEST; no live token: NOT_FOUND). Then:
//
//   - scopes replaces the scope of the grant and of its access token;
//     scopes the client is not registered for are silently dropped;
//   - properties replaces the properties;
//   - refreshTokenExpiresAt (ms; 0 = unchanged) moves the refresh token's
//     expiry in place: the grant record is authoritative for it;
//   - accessTokenExpiresAt (ms), a scope change, or
//     accessTokenValueUpdated need a new access token: an access
//     token is a signed JWT whose exp and scope cannot change, so a new
//     value is minted and returned in accessToken, and the old value is
//     revoked at once (the proxy refuses it from the next request on).
//
// Expiries must be in the future and at most MaxManagedDuration away.
//
// It runs in three steps: decodeUpdate reads the body alone, planUpdate
// reads the grant and decides every change without changing anything, and
// applyUpdate mints, revokes and swaps.
func (s *Service) manageUpdate(ctx context.Context, req ManageRequest) ManageResponse {
	in, refused := decodeUpdate(req)
	if refused != nil {
		return *refused
	}
	plan, refused := s.planUpdate(ctx, in)
	if refused != nil {
		return *refused
	}
	return s.applyUpdate(ctx, plan)
}

// updateCode is the API number of update's result codes.
const updateCode = "A135"

// updateBad is update's BAD_REQUEST answer.
func updateBad(format string, args ...any) *ManageResponse {
	r := answer(result(updateCode+"201", ActionBadRequest, format, args...), nil)
	return &r
}

// updateNotFound answers a token that is unknown, not live, not the
// operator's to act on (refusal, logged through ManageResponse.Refusal) or
// no longer current.
func updateNotFound(refusal error) *ManageResponse {
	r := withRefusal(answer(result(updateCode+"301", ActionNotFound, "The access token does not exist."), nil), refusal)
	return &r
}

// updateServerError answers a failed store or signing call of step outcome.
func updateServerError(outcome string, err error) *ManageResponse {
	r := manageServerError(updateCode+outcome, err)
	return &r
}

// decodeUpdate decodes the body and refuses, before any store read, what
// tokengate does not support and a request that names no token.
func decodeUpdate(req ManageRequest) (updateRequest, *ManageResponse) {
	var in updateRequest
	if err := decodeManageBody(req.ContentType, req.Body, &in); err != nil {
		return in, updateBad("%s", err.Error())
	}
	if in.CertificateThumbprint != "" || in.DPoPKeyThumbprint != "" ||
		len(in.AuthorizationDetails) > 0 && string(in.AuthorizationDetails) != "null" {
		return in, updateBad("Sender-constrained tokens and authorization details are not supported.")
	}
	if in.AccessTokenPersistent {
		return in, updateBad(descNoPersistent)
	}
	if in.AccessToken == "" && in.AccessTokenHash == "" && in.RefreshToken == "" && in.RefreshTokenHash == "" {
		return in, updateBad("One of accessToken, accessTokenHash, refreshToken or refreshTokenHash is required.")
	}
	return in, nil
}

// updatePlan is every change an update makes, decided against the grant as
// read at now. The swap applies it only if that grant's tokens are still
// current.
type updatePlan struct {
	grant *tokencore.Grant
	now   time.Time
	// scopes, when set, replaces the scope of the grant (and, through the
	// reissue, of its access token).
	scopes *[]string
	// properties, when set, replaces the properties.
	properties *[]tokencore.Property
	// refreshExpiresAt, when set, moves the refresh token's expiry.
	refreshExpiresAt time.Time
	// reissue mints a new access token of accessTTL and accessScopes (a
	// persistent one, without TTL, if the grant has one) and revokes the
	// old one.
	reissue      bool
	accessTTL    time.Duration
	accessScopes []string
	persistent   bool
}

// planUpdate reads the named grant and decides the update, or refuses it.
// It changes nothing.
func (s *Service) planUpdate(ctx context.Context, in updateRequest) (updatePlan, *ManageResponse) {
	g, refused := s.updateTarget(ctx, in)
	if refused != nil {
		return updatePlan{}, refused
	}
	now := s.now()
	if g == nil || !g.Active(now) {
		return updatePlan{}, updateNotFound(nil)
	}
	if err := validateProperties(derefProps(in.Properties)); err != nil {
		return updatePlan{}, updateBad("'properties': %s.", err.Error())
	}
	p := updatePlan{grant: g, now: now, properties: in.Properties, accessScopes: g.AccessScopes, persistent: g.AccessPersistent}
	scopesChanged := false
	if in.Scopes != nil {
		scopes, ok := updateScopes(*in.Scopes, s.clients.lookup(g.ClientID))
		if !ok {
			return updatePlan{}, updateBad("'scopes' holds an invalid scope or too many scopes.")
		}
		p.scopes, p.accessScopes = &scopes, scopes
		scopesChanged = !slices.Equal(scopes, g.Scopes) || !slices.Equal(scopes, g.AccessScopes)
	}
	accessExp, refreshExp, refused := updateExpiries(in, g, now)
	if refused != nil {
		return updatePlan{}, refused
	}
	p.refreshExpiresAt = refreshExp
	p.reissue = in.AccessTokenValueUpdated || scopesChanged || !accessExp.IsZero()
	if p.reissue {
		switch {
		case p.persistent: // only grants made elsewhere can have one
		case !accessExp.IsZero():
			p.accessTTL = accessExp.Sub(now)
		default:
			p.accessTTL = g.AccessExpiresAt.Sub(now) // keep the current expiry
		}
		if !p.persistent && p.accessTTL < time.Second {
			return updatePlan{}, updateNotFound(nil) // expires within the second: nothing left to update
		}
	}
	return p, nil
}

// updateExpiries reads the requested expiries (zero: unchanged): each in
// the future and at most MaxManagedDuration away, a refresh expiry only for
// a grant with a refresh token.
func updateExpiries(in updateRequest, g *tokencore.Grant, now time.Time) (access, refresh time.Time, refused *ManageResponse) {
	if in.AccessTokenExpiresAt > 0 {
		var ok bool
		if access, ok = managedExpiry(in.AccessTokenExpiresAt, now); !ok {
			return access, refresh, updateBad("'accessTokenExpiresAt' must be in the future, at most %s away.", MaxManagedDuration)
		}
	}
	if in.RefreshTokenExpiresAt > 0 {
		var ok bool
		if refresh, ok = managedExpiry(in.RefreshTokenExpiresAt, now); !ok {
			return access, refresh, updateBad("'refreshTokenExpiresAt' must be in the future, at most %s away.", MaxManagedDuration)
		}
		if g.RefreshID == "" {
			return access, refresh, updateBad("The token has no refresh token.")
		}
	}
	return access, refresh, nil
}

// updateTarget resolves the token the request names, the first given of
// accessToken, accessTokenHash, refreshToken, refreshTokenHash (nil when
// none matches).
func (s *Service) updateTarget(ctx context.Context, in updateRequest) (*tokencore.Grant, *ManageResponse) {
	var (
		g   *tokencore.Grant
		err error
	)
	switch {
	case in.AccessToken != "":
		g, err = s.resolveIdentifier(ctx, in.AccessToken, accessField, false, true)
	case in.AccessTokenHash != "":
		g, err = s.resolveIdentifier(ctx, in.AccessTokenHash, accessField, true, false)
	case in.RefreshToken != "":
		g, err = s.resolveIdentifier(ctx, in.RefreshToken, refreshField, false, true)
	default:
		g, err = s.resolveIdentifier(ctx, in.RefreshTokenHash, refreshField, true, false)
	}
	if isRefusal(err) {
		return nil, updateNotFound(err)
	} else if err != nil {
		return nil, updateServerError("101", err)
	}
	return g, nil
}

// updateScopes is the new scope of a grant: the requested scopes (checked
// as scope tokens, duplicates dropped) that client is registered for;
// others are dropped silently. false for an invalid list.
func updateScopes(requested []string, client *Client) ([]string, bool) {
	cleaned, ok := cleanScopes(requested)
	if !ok {
		return nil, false
	}
	scopes := []string{}
	for _, sc := range cleaned {
		if client != nil && slices.Contains(client.Scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	return scopes, true
}

// managedExpiry is an expiry given in milliseconds, and whether it is in
// the future and at most MaxManagedDuration away.
func managedExpiry(ms int64, now time.Time) (time.Time, bool) {
	t := time.UnixMilli(ms)
	return t, t.After(now) && t.Sub(now) <= MaxManagedDuration
}

// applyUpdate carries out a plan: mints the new access token, revokes the
// old one, then swaps the grant record, and answers.
func (s *Service) applyUpdate(ctx context.Context, p updatePlan) ManageResponse {
	var minted *tokencore.IssuedTokens
	if p.reissue {
		var err error
		spec := tokencore.MintSpec{AccessTTL: p.accessTTL, AccessScopes: p.accessScopes, AccessPersistent: p.persistent}
		if minted, err = s.mint(p.grant, spec, p.now); err != nil {
			return manageServerError(updateCode+"102", err)
		}
		// The old access token is revoked before the grant moves on to the
		// new one. If the revocation cannot be stored, nothing changed and
		// the same call (naming the same, still current token) can be
		// retried; if the update fails after it, the old token is refused
		// already and the retry issues the new one. The other order left a
		// grant updated whose old token stayed valid, and a retry that could
		// no longer find it.
		if err := s.e.Revoke(ctx, replacedAccessRevocation(p.grant, p.now)); err != nil {
			return manageServerError(updateCode+"104", err)
		}
	}
	updated, err := s.e.Store.UpdateGrant(ctx, p.grant.ID, p.swap(minted))
	switch {
	case errors.Is(err, errTokenMoved), errors.Is(err, tokencore.ErrNotFound):
		return *updateNotFound(nil)
	case err != nil:
		return manageServerError(updateCode+"103", err)
	}
	resp := UpdateResponse{
		Result:                result(updateCode+"001", ActionOK, "Updated the access token successfully."),
		TokenType:             TokenTypeBearer,
		AccessTokenExpiresAt:  millis(updated.AccessExpiresAt),
		RefreshTokenExpiresAt: millis(updated.RefreshExpiresAt),
		Scopes:                nonNil(slices.Clone(updated.AccessScopes)),
		Properties:            nonNil(slices.Clone(updated.Properties)),
		TokenID:               updated.AccessID,
	}
	if minted != nil {
		resp.AccessToken = minted.AccessToken
	}
	return answer(resp.Result, resp)
}

// replacedAccessRevocation refuses the grant's current access token until
// it expires, plus the most leeway any verifier grants
// (tokencore.RevocationMargin); a persistent one for
// persistentRevocationKeep.
func replacedAccessRevocation(g *tokencore.Grant, now time.Time) tokencore.Revocation {
	keep := g.AccessExpiresAt.Add(tokencore.RevocationMargin)
	if g.AccessExpiresAt.IsZero() {
		keep = now.Add(persistentRevocationKeep)
	}
	return tokencore.Revocation{Kind: tokencore.RevocationOfToken, Key: g.AccessID, NotBefore: now, ExpiresAt: keep}
}

// swap is the store update of the plan: it refuses with errTokenMoved when
// the grant's tokens are no longer those the plan was made for.
func (p updatePlan) swap(minted *tokencore.IssuedTokens) func(*tokencore.Grant) error {
	return func(cur *tokencore.Grant) error {
		if !cur.Active(p.now) || cur.AccessID != p.grant.AccessID || cur.RefreshID != p.grant.RefreshID {
			return errTokenMoved
		}
		if p.scopes != nil {
			cur.Scopes = slices.Clone(*p.scopes)
		}
		if p.properties != nil {
			cur.Properties = slices.Clone(*p.properties)
		}
		if !p.refreshExpiresAt.IsZero() {
			cur.RefreshExpiresAt = p.refreshExpiresAt
		}
		if minted != nil {
			minted.Apply(cur, p.now, p.persistent)
		}
		cur.UpdatedAt = p.now
		cur.RecomputeExpiry()
		return nil
	}
}

func derefProps(p *[]tokencore.Property) []tokencore.Property {
	if p == nil {
		return nil
	}
	return *p
}
