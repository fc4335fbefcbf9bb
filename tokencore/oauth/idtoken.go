package oauth

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokengate/tokengate/tokencore"
)

// ErrIDTokenClaims is wrapped when extra ID-token claims are refused.
var ErrIDTokenClaims = errors.New("oauth: invalid ID token claims")

// protectedIDTokenClaim reports the claims OIDC Core §12.2 fixes on a
// refreshed ID token (plus tokengate's token type); extra claims given to
// the reissue API may not replace them. nonce is refused too: errata set
// 2 says a refreshed ID token SHOULD NOT carry one, and the gateway never
// saw the original.
func protectedIDTokenClaim(name string) bool {
	switch name {
	case "iss", "sub", "aud", "exp", "iat", "nbf", "auth_time", "azp", "acr", "nonce", "type", "jti":
		return true
	}
	return false
}

// MaxExtraIDTokenClaims bounds the extra claims of a reissued ID token.
const MaxExtraIDTokenClaims = 64

// idTokenAllowed reports whether a refresh returns an ID token: the scope
// after the request still holds openid, the client is registered for it
// and allowed to receive reissued ID tokens, and the grant has a user
// (Authlete's ID_TOKEN_REISSUABLE conditions, A.10).
func (s *Service) idTokenAllowed(g *tokencore.Grant, c *Client, scopes []string) bool {
	return len(s.idKeys) > 0 && c != nil && c.IDTokenReissue && g.Subject != "" && g.ClientID == c.ID &&
		slices.Contains(scopes, ScopeOpenID) && slices.Contains(c.Scopes, ScopeOpenID)
}

// signIDToken signs an ID token for g following OIDC Core §12.2: iss is the
// issuer, sub the grant's subject, aud the original audience (the client,
// or the audience recorded on the grant), iat now, auth_time the time of
// the original authentication, azp the client, acr the original one, and
// no nonce. It expires with the access token it accompanies (or after the
// client's access lifetime for a persistent access token). extra claims
// (the reissue API) are added unless they collide with those above;
// audString renders aud as a string instead of an array. The key is the
// one of the algorithm the client registered (Client.IDTokenAlg).
func (s *Service) signIDToken(g *tokencore.Grant, accessExp, now time.Time, extra map[string]any, audString bool) (string, error) {
	return s.signIDTokenNonce(g, accessExp, now, extra, audString, "")
}

// signIDTokenNonce is signIDToken with the nonce of the authorization
// request, for the first ID token of an authorization code grant (OIDC
// Core §3.1.3.6); "" leaves it out.
func (s *Service) signIDTokenNonce(g *tokencore.Grant, accessExp, now time.Time, extra map[string]any, audString bool, nonce string) (string, error) {
	key := s.IDTokenKey(s.clients.lookup(g.ClientID).IDTokenAlg())
	if key == nil {
		return "", tokencore.ErrNoAsymmetricKey
	}
	if len(extra) > MaxExtraIDTokenClaims {
		return "", fmt.Errorf("%w: more than %d extra claims", ErrIDTokenClaims, MaxExtraIDTokenClaims)
	}
	claims := jwt.MapClaims{}
	for k, v := range extra {
		if protectedIDTokenClaim(k) {
			return "", fmt.Errorf("%w: claim %q cannot be set", ErrIDTokenClaims, shorten(k))
		}
		claims[k] = v
	}
	exp := accessExp
	if exp.IsZero() {
		access, _ := s.ttls(s.clients.lookup(g.ClientID))
		exp = now.Add(access)
	}
	aud := g.IDTokenAudience
	if aud == "" {
		aud = g.ClientID
	}
	claims["iss"] = s.cfg.Issuer
	claims["sub"] = g.Subject
	if audString {
		claims["aud"] = aud
	} else {
		claims["aud"] = []string{aud}
	}
	claims["exp"] = exp.Unix()
	claims["iat"] = now.Unix()
	claims["azp"] = g.ClientID
	claims["type"] = tokencore.TypeID // never accepted as a bearer token
	if !g.AuthTime.IsZero() {
		claims["auth_time"] = g.AuthTime.Unix()
	}
	if g.ACR != "" {
		claims["acr"] = g.ACR
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	return s.e.Keys.SignWith(key, claims)
}

// IDTokenKey returns the key that signs ID tokens of algorithm alg, or nil
// when there is none or no client may receive an ID token.
func (s *Service) IDTokenKey(alg string) *tokencore.Key { return s.idKeys[alg] }

// IDTokenAlgs lists the algorithms ID tokens may be signed with, RS256
// first (for the metadata document); empty when no client may receive one.
func (s *Service) IDTokenAlgs() []string {
	var algs []string
	for _, alg := range idTokenAlgs {
		if s.idKeys[alg] != nil {
			algs = append(algs, alg)
		}
	}
	return algs
}
