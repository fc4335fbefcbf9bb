package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tokengate/tokengate/tokencore"
)

// Descriptions of authorization_code errors.
const (
	descMissingCode      = "Missing 'code' in request."
	descInvalidCode      = "The authorization code is invalid, expired or was issued to another client."
	descCodeReused       = "The authorization code was already used; every token issued from it has been revoked."
	descRedirectMismatch = "'redirect_uri' does not match the authorization request."
	descMissingVerifier  = "Missing 'code_verifier' in request."
	descInvalidVerifier  = "'code_verifier' must be 43 to 128 characters [A-Za-z0-9-._~]."
	descVerifierFailed   = "The code_verifier does not match the code_challenge."
	descNoChallenge      = "The authorization request had no code_challenge: 'code_verifier' is not allowed."
)

// ErrCodeReused is the cause of the replay of an authorization code. It
// wraps tokencore.ErrRefreshReused: like a rotated refresh token, a
// redeemed code presented again is a replay of the grant's secret.
var ErrCodeReused = fmt.Errorf("%w: authorization code redeemed twice", tokencore.ErrRefreshReused)

// Sentinels returned from inside the redemption compare-and-swap.
var errCodeRedeemed = errors.New("authorization code already redeemed")

// authorizationCode is grant_type=authorization_code (RFC 6749 §4.1.3,
// RFC 7636 §4.6, OpenID Connect Core §3.1.3). Every check is made before
// the code is consumed, so a request refused for its redirect_uri or its
// verifier leaves the code to its legitimate holder:
//
//   - the code names its grant (its part before the dot); the grant must
//     exist and hold a code whose hash matches (constant time), and be
//     redeemable by the authenticated client (tokencore.Grant.RedeemableAt;
//     another client's code is invalid_grant and changes nothing);
//   - a code already redeemed is a replay: the grant and every token
//     issued from it are revoked (RFC 6749 §4.1.2, RFC 9700 §4.5.3.1);
//   - a revoked grant or an expired code is invalid_grant;
//   - redirect_uri must be the authorization request's, when it named one;
//   - PKCE: with a challenge, code_verifier is required, well-formed, and
//     BASE64URL(SHA256(verifier)) equals the challenge (constant time);
//     without one, a code_verifier is refused (RFC 9700 §2.1.1: the
//     downgrade attack);
//   - redemption is a compare-and-swap on the grant, like a refresh
//     rotation: exactly one of concurrent redemptions wins, the others are
//     replays. The winner gets an access token, a refresh token when the
//     client may refresh, and an ID token with the nonce when the scope
//     holds openid.
func (s *Service) authorizationCode(ctx context.Context, client *Client, form Form) (*TokenResponse, *Error) {
	code := form.Get("code")
	if code == "" {
		return nil, NewError(ErrInvalidRequest, descMissingCode)
	}
	grantID, _, ok := strings.Cut(code, ".")
	if !ok || len(code) > tokencore.MaxTokenBytes {
		return nil, NewError(ErrInvalidGrant, descInvalidCode)
	}
	g, err := s.lookupGrant(ctx, grantID)
	if err != nil {
		return nil, serverError(err)
	}
	if g == nil || g.Code == nil ||
		subtle.ConstantTimeCompare([]byte(tokencore.TokenHash(code)), []byte(g.Code.Hash)) != 1 {
		return nil, NewError(ErrInvalidGrant, descInvalidCode)
	}
	if err := g.RedeemableAt(oauthEndpoint(client)); err != nil {
		return nil, refused(err)
	}
	if g.Status != tokencore.GrantActive {
		return nil, NewError(ErrInvalidGrant, descInvalidCode)
	}
	if !g.CodePending() {
		return nil, s.codeReplayed(ctx, g.ID)
	}
	now := s.now()
	if !now.Before(g.Code.ExpiresAt) {
		return nil, NewError(ErrInvalidGrant, descInvalidCode)
	}
	if oerr := checkRedirect(g.Code, form); oerr != nil {
		return nil, oerr
	}
	if oerr := checkVerifier(g.Code.Challenge, form); oerr != nil {
		return nil, oerr
	}
	scopes := client.AllowedScopes(g.Scopes)
	if scopes == nil {
		scopes = []string{}
	}
	accessTTL, refreshTTL := s.ttls(client)
	minted, err := s.e.MintTokens(g, tokencore.MintSpec{
		AccessTTL: accessTTL, RefreshTTL: refreshTTL, WithRefresh: client.AllowsGrant(GrantTypeRefreshToken),
		AccessScopes: scopes,
	}, now)
	if err != nil {
		return nil, serverError(err)
	}
	resp := tokenResponse(minted, now)
	if len(s.idKeys) > 0 && slices.Contains(scopes, ScopeOpenID) {
		if resp.IDToken, err = s.signIDTokenNonce(g, minted.AccessExpiresAt, now, nil, false, g.Code.Nonce); err != nil {
			return nil, serverError(err)
		}
	}
	hash := g.Code.Hash
	_, err = s.e.Store.UpdateGrant(ctx, g.ID, func(cur *tokencore.Grant) error {
		switch {
		case cur.Status != tokencore.GrantActive:
			return errGrantInactive
		case cur.Code == nil || cur.Code.Hash != hash:
			return errGrantInactive
		case !cur.CodePending():
			return errCodeRedeemed
		}
		cur.Code.RedeemedAt = now
		minted.Apply(cur, now, false)
		return nil
	})
	switch {
	case err == nil:
		return resp, nil
	case errors.Is(err, errCodeRedeemed):
		return nil, s.codeReplayed(ctx, g.ID)
	case errors.Is(err, errGrantInactive), errors.Is(err, tokencore.ErrNotFound):
		return nil, NewError(ErrInvalidGrant, descInvalidCode)
	default:
		return nil, serverError(err)
	}
}

// codeReplayed revokes the grant of a code presented twice and returns
// the invalid_grant answer, with the replay for the security log.
func (s *Service) codeReplayed(ctx context.Context, grantID string) *Error {
	oerr := s.replayed(ctx, grantID)
	if oerr.Code == string(ErrInvalidGrant) {
		oerr.Description = descCodeReused
		if oerr.replay != nil {
			oerr.replay.Err = ErrCodeReused
		}
	}
	return oerr
}

// checkRedirect applies RFC 6749 §4.1.3: redirect_uri is required when
// the authorization request named one, and must then be identical. When
// the request named none, a redirect_uri given now must be the one used.
func checkRedirect(c *tokencore.AuthorizationCode, form Form) *Error {
	got := form.Get("redirect_uri")
	if got == "" && c.RedirectOmitted {
		return nil
	}
	if got == "" {
		return NewError(ErrInvalidGrant, descRedirectMismatch)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(c.RedirectURI)) != 1 {
		return NewError(ErrInvalidGrant, descRedirectMismatch)
	}
	return nil
}

// checkVerifier applies PKCE (RFC 7636 §4.6) to a token request.
func checkVerifier(challenge string, form Form) *Error {
	verifier := form.Get("code_verifier")
	if challenge == "" {
		if form.Has("code_verifier") {
			return NewError(ErrInvalidGrant, descNoChallenge)
		}
		return nil
	}
	if verifier == "" {
		return NewError(ErrInvalidRequest, descMissingVerifier)
	}
	if !validVerifier(verifier) {
		return NewError(ErrInvalidRequest, descInvalidVerifier)
	}
	if subtle.ConstantTimeCompare([]byte(S256Challenge(verifier)), []byte(challenge)) != 1 {
		return NewError(ErrInvalidGrant, descVerifierFailed)
	}
	return nil
}

// S256Challenge is the S256 code_challenge of a verifier:
// BASE64URL(SHA256(ASCII(verifier))) without padding (RFC 7636 §4.2).
func S256Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// validVerifier: 43 to 128 unreserved characters (RFC 7636 §4.1).
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, r := range v {
		if !isBase64URL(r) && r != '.' && r != '~' {
			return false
		}
	}
	return true
}
