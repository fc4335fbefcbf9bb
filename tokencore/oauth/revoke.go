package oauth

import (
	"context"
	"errors"

	"github.com/tokengate/tokengate/tokencore"
)

// Revoke is the revocation endpoint, POST <prefix>/revoke (RFC 7009).
//
// The client authenticates as at the token endpoint (all three methods:
// RFC 7009 §2.1 lets public clients revoke their tokens); token is
// required (invalid_request). token_type_hint is only a hint, and is not
// needed: the formats are told apart by their shape, and an unknown hint
// value is ignored (§2.2) rather than refused (authlib answers
// unsupported_token_type).
//
// Revoking either token of a grant revokes the grant: its refresh token
// and every access token it issued, which the proxy refuses from the next
// request on (the refresh token is the grant, and §2.1 says revoking it
// SHOULD revoke the access tokens; revoking an access token MAY revoke the
// refresh token, and a client revoking one token is logging out). A token
// the redemption rule does not let the client act on
// (tokencore.Grant.RedeemableAt) — another client's, or a FOLIO session's —
// is refused with invalid_grant (§2.1: "the request is refused") and
// revokes nothing; a token that is invalid, expired, already revoked or
// unknown is a 200 with nothing to do (§2.2).
func (s *Service) Revoke(ctx context.Context, req Request) *Error {
	form, authorization, oerr := s.formRequest(req)
	if oerr != nil {
		return oerr
	}
	client, oerr := s.clients.Authenticate(authorization, form)
	if oerr != nil {
		return oerr
	}
	token := form.Get("token")
	if token == "" {
		return NewError(ErrInvalidRequest, descMissingToken)
	}
	g, err := s.grantOfToken(ctx, token)
	if err != nil {
		return serverError(err)
	}
	if g == nil || g.Status != tokencore.GrantActive {
		return nil
	}
	if err := g.RedeemableAt(oauthEndpoint(client)); err != nil {
		return refused(err)
	}
	if _, err := s.e.RevokeGrant(ctx, g.ID); err != nil && !errors.Is(err, tokencore.ErrNotFound) {
		return serverError(err)
	}
	return nil
}

// grantOfToken returns the grant of an authentic token, or nil when the
// token is not valid: an access token the proxy would refuse (expired,
// revoked, forged) or a refresh token that does not decrypt. A refresh
// token that was rotated away still names its grant.
func (s *Service) grantOfToken(ctx context.Context, token string) (*tokencore.Grant, error) {
	jws, jwe := tokenShape(token)
	var grantID string
	switch {
	case jws:
		c, err := s.verifier.Verify(token, "")
		if errors.Is(err, tokencore.ErrStoreUnavailable) {
			return nil, err
		}
		if err != nil {
			return nil, nil
		}
		grantID = c.GrantID
	case jwe:
		rc, err := s.e.ParseRefreshToken(token)
		if err != nil {
			return nil, nil
		}
		grantID = rc.GrantID
	default:
		return nil, nil
	}
	return s.lookupGrant(ctx, grantID)
}
