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
func (s *Service) manageUpdate(ctx context.Context, req ManageRequest) ManageResponse {
	const code = "A135"
	bad := func(format string, args ...any) ManageResponse {
		return answer(result(code+"201", ActionBadRequest, format, args...), nil)
	}
	var in updateRequest
	if err := decodeManageBody(req.ContentType, req.Body, &in); err != nil {
		return bad("%s", err.Error())
	}
	if in.CertificateThumbprint != "" || in.DPoPKeyThumbprint != "" ||
		len(in.AuthorizationDetails) > 0 && string(in.AuthorizationDetails) != "null" {
		return bad("Sender-constrained tokens and authorization details are not supported.")
	}
	if in.AccessTokenPersistent {
		return bad(descNoPersistent)
	}
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
	case in.RefreshTokenHash != "":
		g, err = s.resolveIdentifier(ctx, in.RefreshTokenHash, refreshField, true, false)
	default:
		return bad("One of accessToken, accessTokenHash, refreshToken or refreshTokenHash is required.")
	}
	notFound := answer(result(code+"301", ActionNotFound, "The access token does not exist."), nil)
	if isRefusal(err) {
		return withRefusal(notFound, err)
	} else if err != nil {
		return manageServerError(code+"101", err)
	}
	now := s.now()
	if g == nil || !g.Active(now) {
		return notFound
	}
	client := s.clients.lookup(g.ClientID)
	if err := validateProperties(derefProps(in.Properties)); err != nil {
		return bad("'properties': %s.", err.Error())
	}
	// Scopes.
	accessScopes, scopesChanged := g.AccessScopes, false
	var newScopes []string
	if in.Scopes != nil {
		cleaned, ok := cleanScopes(*in.Scopes)
		if !ok {
			return bad("'scopes' holds an invalid scope or too many scopes.")
		}
		newScopes = []string{}
		for _, sc := range cleaned {
			if client != nil && slices.Contains(client.Scopes, sc) {
				newScopes = append(newScopes, sc)
			}
		}
		scopesChanged = !slices.Equal(newScopes, g.Scopes) || !slices.Equal(newScopes, g.AccessScopes)
		accessScopes = newScopes
	}
	// Expiries.
	inRange := func(ms int64) (time.Time, bool) {
		t := time.UnixMilli(ms)
		return t, t.After(now) && t.Sub(now) <= MaxManagedDuration
	}
	var accessExp, refreshExp time.Time
	if in.AccessTokenExpiresAt > 0 {
		var ok bool
		if accessExp, ok = inRange(in.AccessTokenExpiresAt); !ok {
			return bad("'accessTokenExpiresAt' must be in the future, at most %s away.", MaxManagedDuration)
		}
	}
	if in.RefreshTokenExpiresAt > 0 {
		var ok bool
		if refreshExp, ok = inRange(in.RefreshTokenExpiresAt); !ok {
			return bad("'refreshTokenExpiresAt' must be in the future, at most %s away.", MaxManagedDuration)
		}
		if g.RefreshID == "" {
			return bad("The token has no refresh token.")
		}
	}
	persistent := g.AccessPersistent // only grants made elsewhere can have one
	reissue := in.AccessTokenValueUpdated || scopesChanged || !accessExp.IsZero()
	var minted *tokencore.IssuedTokens
	if reissue {
		ttl := time.Duration(0)
		switch {
		case persistent:
		case !accessExp.IsZero():
			ttl = accessExp.Sub(now)
		default:
			ttl = g.AccessExpiresAt.Sub(now) // keep the current expiry
		}
		if !persistent && ttl < time.Second {
			return notFound // expires within the second: nothing left to update
		}
		if minted, err = s.mint(g, tokencore.MintSpec{AccessTTL: ttl, AccessScopes: accessScopes, AccessPersistent: persistent}, now); err != nil {
			return manageServerError(code+"102", err)
		}
	}
	if minted != nil {
		// The old access token is revoked before the grant moves on to the
		// new one. If the revocation cannot be stored, nothing changed and
		// the same call (naming the same, still current token) can be
		// retried; if the update fails after it, the old token is refused
		// already and the retry issues the new one. The other order left a
		// grant updated whose old token stayed valid, and a retry that could
		// no longer find it.
		// It is refused until it expires, plus the most leeway any verifier
		// grants (tokencore.RevocationMargin).
		keep := g.AccessExpiresAt.Add(tokencore.RevocationMargin)
		if g.AccessExpiresAt.IsZero() {
			keep = now.Add(persistentRevocationKeep)
		}
		r := tokencore.Revocation{Kind: tokencore.RevokeToken, Key: g.AccessID, NotBefore: now, ExpiresAt: keep}
		if err := s.e.Revoke(ctx, r); err != nil {
			return manageServerError(code+"104", err)
		}
	}
	updated, err := s.e.Store.UpdateGrant(ctx, g.ID, func(cur *tokencore.Grant) error {
		if !cur.Active(now) || cur.AccessID != g.AccessID || cur.RefreshID != g.RefreshID {
			return errTokenMoved
		}
		if in.Scopes != nil {
			cur.Scopes = slices.Clone(newScopes)
		}
		if in.Properties != nil {
			cur.Properties = slices.Clone(*in.Properties)
		}
		if !refreshExp.IsZero() {
			cur.RefreshExpiresAt = refreshExp
		}
		if minted != nil {
			minted.Apply(cur, now, persistent)
		}
		cur.UpdatedAt = now
		cur.RecomputeExpiry()
		return nil
	})
	switch {
	case errors.Is(err, errTokenMoved), errors.Is(err, tokencore.ErrNotFound):
		return notFound
	case err != nil:
		return manageServerError(code+"103", err)
	}
	resp := UpdateResponse{
		Result:                result(code+"001", ActionOK, "Updated the access token successfully."),
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

func derefProps(p *[]tokencore.Property) []tokencore.Property {
	if p == nil {
		return nil
	}
	return *p
}
