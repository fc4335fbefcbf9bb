package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// Descriptions of token-endpoint errors. authlib's wording where it has
// one (B.5 of the spec), ours otherwise; all plain ASCII without quotes.
const (
	descMissingGrantType   = "Missing 'grant_type' parameter."
	descMissingRefresh     = "Missing 'refresh_token' in request."
	descInvalidRefresh     = "The refresh token is invalid, expired or revoked."
	descRefreshReused      = "The refresh token was already used; the grant has been revoked."
	descPublicClientCC     = "A public client cannot use 'grant_type=client_credentials'."
	descUnauthorizedClient = "The client is not authorized to use 'grant_type=%s'"
)

// Token is the token endpoint, POST <prefix>/token. It supports
// grant_type=authorization_code (authcode.go), refresh_token and
// client_credentials.
//
// Order of the checks (authlib's, with the RFC where it differs):
//
//  1. POST, form body, one Authorization header (formRequest);
//  2. grant_type present (invalid_request when missing or empty — RFC 6749
//     §3.2 makes an empty parameter a missing one; authlib answers
//     unsupported_grant_type) and supported (unsupported_grant_type, no
//     description, as authlib);
//  3. client authentication (Clients.Authenticate);
//  4. the client is registered for the grant type (unauthorized_client);
//  5. the grant's own rules (refresh or clientCredentials).
//
// A *Error is returned for every failure; its Cause is set only for
// internal failures (server_error), which the caller should log.
func (s *Service) Token(ctx context.Context, req Request) (*TokenResponse, *Error) {
	form, authorization, oerr := s.formRequest(req)
	if oerr != nil {
		return nil, oerr
	}
	gt := form.Get("grant_type")
	switch gt {
	case "":
		return nil, NewError(ErrInvalidRequest, descMissingGrantType)
	case GrantTypeRefreshToken, GrantTypeClientCredentials:
	case GrantTypeAuthorizationCode:
		// Codes exist only where the authorization endpoint is on; the
		// metadata lists the grant type then, and only then.
		if !s.AuthorizationEnabled() {
			return nil, NewError(ErrUnsupportedGrantType, "")
		}
	default:
		return nil, NewError(ErrUnsupportedGrantType, "")
	}
	client, oerr := s.clients.Authenticate(authorization, form)
	if oerr != nil {
		return nil, oerr
	}
	if !client.AllowsGrant(gt) {
		return nil, NewError(ErrUnauthorizedClient, fmt.Sprintf(descUnauthorizedClient, gt))
	}
	switch gt {
	case GrantTypeClientCredentials:
		return s.clientCredentials(ctx, client, form)
	case GrantTypeAuthorizationCode:
		return s.authorizationCode(ctx, client, form)
	}
	return s.refresh(ctx, client, form)
}

// Sentinels returned from inside the rotation compare-and-swap.
var (
	errRotated       = errors.New("refresh token already rotated")
	errRotatedGrace  = errors.New("refresh token rotated within the grace window")
	errGrantInactive = errors.New("grant is not active")
	errRefreshExpiry = errors.New("refresh token expired")
)

// refresh is grant_type=refresh_token (RFC 6749 §6, OAuth 2.1 §4.3, OIDC
// Core §12). Everything is validated before the refresh token is consumed,
// so a request refused for its scope leaves the token usable (DIRAC burns
// it). Then:
//
//   - the token must decrypt and name a grant that exists; the grant must
//     be redeemable here (tokencore.Grant.RedeemableAt: an OAuth or
//     management grant, without a tenant, of the authenticated client),
//     checked on the token's claims before the store is read and on the
//     stored grant after. Otherwise invalid_grant, nothing changes, and it
//     is not a replay: the holder keeps refreshing;
//   - a revoked grant is invalid_grant;
//   - a token that is not the grant's current refresh token was rotated
//     away: a replay. Unless it is within the grace window, the whole grant
//     is revoked — refresh token and access tokens, enforced by the proxy
//     on the next request — and the answer is invalid_grant (RFC 9700
//     §4.14.2, OAuth 2.1 §4.3.1);
//   - an expired token (the grant's RefreshExpiresAt is authoritative, so
//     the management API can change it) is invalid_grant;
//   - the requested scope may only narrow the grant's (invalid_scope); the
//     narrowed scope applies to the new access token only, the grant and
//     the new refresh token keep the granted scope (RFC 6749 §6);
//   - rotation is always on: a new refresh token every time, recorded by a
//     compare-and-swap on the grant, so of concurrent refreshes of one
//     token exactly one wins and the others are replays.
func (s *Service) refresh(ctx context.Context, client *Client, form Form) (*TokenResponse, *Error) {
	token := form.Get("refresh_token")
	if token == "" {
		return nil, NewError(ErrInvalidRequest, descMissingRefresh)
	}
	rc, err := s.e.ParseRefreshToken(token)
	if err != nil {
		return nil, NewError(ErrInvalidGrant, descInvalidRefresh)
	}
	at := oauthEndpoint(client)
	if err := rc.RedeemableAt(at); err != nil {
		return nil, refused(err)
	}
	if rc.GrantID == "" {
		return nil, NewError(ErrInvalidGrant, descInvalidRefresh)
	}
	g, err := s.lookupGrant(ctx, rc.GrantID)
	if err != nil {
		return nil, serverError(err)
	}
	if g == nil {
		return nil, NewError(ErrInvalidGrant, descInvalidRefresh)
	}
	if err := g.RedeemableAt(at); err != nil {
		return nil, refused(err)
	}
	if g.Subject != rc.Subject {
		return nil, NewError(ErrInvalidGrant, descInvalidRefresh)
	}
	now := s.now()
	if g.Status != tokencore.GrantActive {
		return nil, NewError(ErrInvalidGrant, descInvalidRefresh)
	}
	if g.RefreshID != rc.ID {
		if resp, ok := s.graceAnswer(g, rc.ID, now); ok {
			return resp, nil
		}
		return nil, s.replayed(ctx, g.ID)
	}
	if !now.Before(g.RefreshExpiresAt) {
		return nil, NewError(ErrInvalidGrant, descInvalidRefresh)
	}
	scopes, oerr := Narrow(g.Scopes, form.Get("scope"))
	if oerr != nil {
		return nil, oerr
	}
	// authlib's get_allowed_scope: a scope the client is no longer
	// registered for (the config changed) is silently left out.
	scopes = client.AllowedScopes(scopes)
	if scopes == nil {
		scopes = []string{} // nil would mean "the grant's scope" to MintTokens
	}
	accessTTL, refreshTTL := s.ttls(client)
	minted, err := s.mint(g, tokencore.MintSpec{
		AccessTTL: accessTTL, RefreshTTL: refreshTTL, WithRefresh: true, AccessScopes: scopes,
	}, now)
	if err != nil {
		return nil, serverError(err)
	}
	resp := tokenResponse(minted, now)
	if s.idTokenAllowed(g, client, scopes) {
		if resp.IDToken, err = s.signIDToken(g, minted.AccessExpiresAt, now, nil, false); err != nil {
			return nil, serverError(err)
		}
	}
	var sealed []byte
	if s.cfg.RefreshGrace > 0 {
		if sealed, err = s.seal(resp); err != nil {
			return nil, serverError(err)
		}
	}
	var grace []byte
	_, err = s.e.Store.UpdateGrant(ctx, g.ID, func(cur *tokencore.Grant) error {
		switch {
		case cur.Status != tokencore.GrantActive:
			return errGrantInactive
		case cur.RefreshID != rc.ID:
			if s.withinGrace(cur, rc.ID, now) {
				grace = slices.Clone(cur.GraceResponse)
				return errRotatedGrace
			}
			return errRotated
		case !now.Before(cur.RefreshExpiresAt):
			return errRefreshExpiry
		}
		minted.Apply(cur, now, false)
		cur.LastRefreshedAt = now
		cur.GraceResponse = sealed
		return nil
	})
	switch {
	case err == nil:
		return resp, nil
	case errors.Is(err, errRotatedGrace):
		return s.openGrace(grace)
	case errors.Is(err, errRotated):
		return nil, s.replayed(ctx, g.ID)
	case errors.Is(err, errGrantInactive), errors.Is(err, errRefreshExpiry), errors.Is(err, tokencore.ErrNotFound):
		return nil, NewError(ErrInvalidGrant, descInvalidRefresh)
	default:
		return nil, serverError(err)
	}
}

// replayed revokes the grant of a replayed refresh token and returns the
// invalid_grant answer.
func (s *Service) replayed(ctx context.Context, grantID string) *Error {
	replay := &tokencore.ReplayError{Protocol: "oauth", GrantID: grantID, Err: tokencore.ErrRefreshReused}
	if g, err := s.e.RevokeGrant(ctx, grantID); err == nil {
		replay.Revoked, replay.UserID = 1, g.UserID
	} else if !errors.Is(err, tokencore.ErrNotFound) {
		return serverError(fmt.Errorf("revoking replayed grant: %w", err))
	}
	e := NewError(ErrInvalidGrant, descRefreshReused)
	e.replay = replay
	return e
}

// withinGrace reports whether presenting the refresh token refreshID again
// at now is forgiven: it is the token rotated away last, less than
// RefreshGrace ago, and the first answer was kept.
func (s *Service) withinGrace(g *tokencore.Grant, refreshID string, now time.Time) bool {
	return s.cfg.RefreshGrace > 0 && g.Status == tokencore.GrantActive &&
		g.PreviousRefreshID == refreshID && len(g.GraceResponse) > 0 &&
		now.Sub(g.PreviousRotatedAt) <= s.cfg.RefreshGrace
}

// graceAnswer returns the kept answer when the presentation is forgiven.
func (s *Service) graceAnswer(g *tokencore.Grant, refreshID string, now time.Time) (*TokenResponse, bool) {
	if !s.withinGrace(g, refreshID, now) {
		return nil, false
	}
	resp, oerr := s.openGrace(g.GraceResponse)
	return resp, oerr == nil
}

// seal encrypts a token response with the refresh-token key, so the grace
// copy kept in the store is as unreadable as a refresh token.
func (s *Service) seal(resp *TokenResponse) ([]byte, error) {
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, err
	}
	sealed, err := s.e.Keys.Seal(b)
	return []byte(sealed), err
}

func (s *Service) openGrace(sealed []byte) (*TokenResponse, *Error) {
	b, err := s.e.Keys.Open(string(sealed))
	var resp TokenResponse
	if err == nil {
		err = json.Unmarshal(b, &resp)
	}
	if err != nil {
		return nil, serverError(fmt.Errorf("opening grace response: %w", err))
	}
	return &resp, nil
}

// tokenResponse is the RFC 6749 §5.1 body for minted tokens.
func tokenResponse(t *tokencore.IssuedTokens, now time.Time) *TokenResponse {
	r := &TokenResponse{
		AccessToken:  t.AccessToken,
		TokenType:    TokenTypeBearer,
		RefreshToken: t.RefreshToken,
		Scope:        JoinScope(t.AccessScopes),
	}
	if !t.AccessExpiresAt.IsZero() {
		r.ExpiresIn = t.AccessExpiresAt.Unix() - now.Unix()
	}
	return r
}

// clientCredentials is grant_type=client_credentials (RFC 6749 §4.4): a
// confidential client obtains an access token for itself. The requested
// scope must be registered for the client (invalid_scope otherwise); no
// scope means every registered scope. No refresh token is issued
// (§4.4.3), and no ID token (there is no user). The grant is stored like
// any other, without a subject (Authlete lists such tokens with subject
// null), so it can be introspected, listed and revoked; the access
// token's sub is the client ID (RFC 9068 §2.2).
func (s *Service) clientCredentials(ctx context.Context, client *Client, form Form) (*TokenResponse, *Error) {
	if client.AuthMethod == AuthNone {
		return nil, NewError(ErrUnauthorizedClient, descPublicClientCC)
	}
	scopes, oerr := ParseScope(form.Get("scope"))
	if oerr != nil {
		return nil, oerr
	}
	if len(scopes) == 0 {
		scopes = slices.Clone(client.Scopes)
	} else if !client.AllowsScopes(scopes) {
		return nil, NewError(ErrInvalidScope, descInvalidScope)
	}
	if scopes == nil {
		scopes = []string{}
	}
	now := s.now()
	accessTTL, _ := s.ttls(client)
	g := &tokencore.Grant{
		ID: tokencore.NewGrantID(), Kind: tokencore.GrantKindOAuth, ClientID: client.ID,
		GrantType: GrantTypeClientCredentials, Scopes: scopes,
		Status: tokencore.GrantActive, CreatedAt: now,
	}
	minted, err := s.mint(g, tokencore.MintSpec{AccessTTL: accessTTL, AccessScopes: scopes}, now)
	if err != nil {
		return nil, serverError(err)
	}
	minted.Apply(g, now, false)
	if err := s.e.Store.CreateGrant(ctx, g); err != nil {
		return nil, serverError(err)
	}
	return tokenResponse(minted, now), nil
}

// mint mints the tokens of an OAuth or management grant g: every access
// token of this service is an RFC 9068 access token (typ at+jwt, client_id,
// aud when configured for the client or the service). A grant without a
// subject (client credentials) gets access tokens whose sub is the client
// ID: every access token has a subject, the proxy requires one.
func (s *Service) mint(g *tokencore.Grant, spec tokencore.MintSpec, now time.Time) (*tokencore.IssuedTokens, error) {
	spec.Profile = tokencore.ProfileJWTAccess
	spec.Audience = s.audience(s.clients.lookup(g.ClientID))
	if g.Subject == "" {
		c := g.Clone()
		c.Subject = g.ClientID
		return s.e.MintTokens(c, spec, now)
	}
	return s.e.MintTokens(g, spec, now)
}
