package oauth

import (
	"context"
	"errors"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// Token types in introspection answers: RFC 7662 §2.2 reports the RFC 6749
// token type of an access token; a refresh token has none, so the
// vocabulary of token_type_hint (RFC 7009 §2.1) is used.
const (
	introspectTypeAccess  = TokenTypeBearer
	introspectTypeRefresh = "refresh_token"
)

const (
	descMissingToken     = "Missing 'token' parameter."
	descPublicIntrospect = "Public clients cannot use the introspection endpoint."
)

// caller is who called introspection or revocation: a client, or a
// resource server (introspection only).
type caller struct {
	client         *Client
	resourceServer string
}

// endpoint is the caller as the redemption rule sees it: a resource server
// may see the tokens of every client, a client its own; both see OAuth and
// management grants only, never a FOLIO session (tenant-scoped, and
// checked by the proxy of its tenant, not here).
func (c caller) endpoint() tokencore.Endpoint {
	if c.resourceServer != "" {
		return operatorEndpoint()
	}
	return oauthEndpoint(c.client)
}

// authenticateIntrospector identifies the caller of the introspection
// endpoint: a resource server with HTTP Basic, else a confidential client
// (Clients.Authenticate). Public clients are refused: RFC 7662 §2.1 wants
// the caller authorized so the endpoint cannot be used to scan for tokens,
// and a client_id alone proves nothing.
func (s *Service) authenticateIntrospector(authorization string, form Form) (caller, *Error) {
	id, secret, ok, perr := ParseBasicAuth(authorization)
	if perr != nil {
		return caller{}, perr
	}
	if ok {
		if hash, isRS := s.rs[id]; isRS {
			if form.Get("client_secret") != "" {
				return caller{}, NewError(ErrInvalidRequest, descTwoMethods)
			}
			if cid := form.Get("client_id"); cid != "" && cid != id {
				return caller{}, NewError(ErrInvalidRequest, descClientIDMismatch)
			}
			if secret == "" || !VerifySecret(hash, secret) {
				return caller{}, clientFailed(descCannotAuthenticate, true)
			}
			return caller{resourceServer: id}, nil
		}
	}
	c, oerr := s.clients.Authenticate(authorization, form)
	if oerr != nil {
		return caller{}, oerr
	}
	if c.AuthMethod == AuthNone {
		return caller{}, clientFailed(descPublicIntrospect, true)
	}
	return caller{client: c}, nil
}

// Introspect is the introspection endpoint, POST <prefix>/introspect
// (RFC 7662). The caller authenticates (authenticateIntrospector); token is
// required (invalid_request). token_type_hint is not needed: the two token
// formats are told apart by their shape, so a wrong or unknown hint
// changes nothing.
//
// An access token is active exactly when the proxy would accept it right
// now: the same Verifier (signature, expiry, and the one revocation
// decision, tokencore.RevocationView.Revoked), and nothing else, so the
// two can never disagree. A refresh token is active when it is the
// current refresh token of an active grant and has not expired. The
// caller only sees what the redemption rule lets it see
// (tokencore.Grant.RedeemableAt): a client its own tokens, a resource
// server every client's, neither a FOLIO session's. Anything else —
// unknown, expired, revoked, rotated away, another client's, another
// protocol's — is {"active":false} and nothing more (RFC 7662 §2.2).
func (s *Service) Introspect(ctx context.Context, req Request) (*IntrospectionResponse, *Error) {
	form, authorization, oerr := s.formRequest(req)
	if oerr != nil {
		return nil, oerr
	}
	who, oerr := s.authenticateIntrospector(authorization, form)
	if oerr != nil {
		return nil, oerr
	}
	token := form.Get("token")
	if token == "" {
		return nil, NewError(ErrInvalidRequest, descMissingToken)
	}
	resp, err := s.introspect(ctx, who, token)
	if err != nil {
		return nil, serverError(err)
	}
	return resp, nil
}

// inactive is the answer for every token the caller may not see as active.
func inactive() *IntrospectionResponse { return &IntrospectionResponse{Active: false} }

func (s *Service) introspect(ctx context.Context, who caller, token string) (*IntrospectionResponse, error) {
	now := s.now()
	at := who.endpoint()
	jws, jwe := tokenShape(token)
	switch {
	case jws:
		// The proxy's verdict, and who may see it: no store read, whose
		// state could differ from the revocation view the proxy asks.
		c, err := s.verifier.Verify(token, "")
		if errors.Is(err, tokencore.ErrStoreUnavailable) {
			return nil, err // the revocation view cannot be confirmed: 503, not a verdict
		}
		if err != nil || c.RedeemableAt(at) != nil {
			return inactive(), nil
		}
		return &IntrospectionResponse{
			Active: true, Scope: c.Scope, ClientID: c.ClientID, Sub: c.Subject, TokenType: introspectTypeAccess,
			Exp: c.ExpiresAt, Iat: c.IssuedAt, Iss: c.Issuer, Jti: c.TokenID, Aud: c.Audience,
		}, nil
	case jwe:
		rc, err := s.e.ParseRefreshToken(token)
		if err != nil || rc.RedeemableAt(at) != nil {
			return inactive(), nil
		}
		g, err := s.lookupGrant(ctx, rc.GrantID)
		if err != nil {
			return nil, err
		}
		if g == nil || g.RedeemableAt(at) != nil || !refreshActive(g, rc.ID, now) {
			return inactive(), nil
		}
		return &IntrospectionResponse{
			Active: true, Scope: JoinScope(g.Scopes), ClientID: g.ClientID, Sub: g.Subject,
			TokenType: introspectTypeRefresh, Exp: g.RefreshExpiresAt.Unix(), Iat: rc.IssuedAt, Jti: rc.ID,
			Iss: s.cfg.Issuer,
		}, nil
	}
	return inactive(), nil
}

// refreshActive reports whether refreshID is the live refresh token of g.
func refreshActive(g *tokencore.Grant, refreshID string, now time.Time) bool {
	return g.Status == tokencore.GrantActive && g.RefreshID != "" && g.RefreshID == refreshID &&
		now.Before(g.RefreshExpiresAt)
}
