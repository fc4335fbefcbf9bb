package tokencore

import (
	"errors"
	"fmt"
)

// Who may redeem a grant. Every grant belongs to one protocol, one client
// and one tenant, and its tokens are honoured only where all three match.
// This file is the one rule every endpoint applies before it consumes,
// rotates, revokes or reveals anything of a grant: FOLIO refresh and
// invalidate, the OAuth token, revocation and introspection endpoints and
// the management API. A refusal is not a replay: nothing of the grant
// changes, and the legitimate holder keeps working.

// Protocol is the family of endpoints a grant's tokens are redeemed at.
type Protocol string

// Protocols.
const (
	// ProtocolFolio: mod-authtoken's /token/refresh, /token/invalidate.
	// Its endpoints are tenant-scoped and authenticate no client.
	ProtocolFolio Protocol = "folio"
	// ProtocolOAuth: the OAuth token, revocation and introspection
	// endpoints and the management API. They have no tenant, and act for
	// an authenticated client (or an operator or resource server).
	ProtocolOAuth Protocol = "oauth"
)

// Protocol returns the protocol whose endpoints redeem grants of kind k;
// "" for a kind tokengate does not know (refused everywhere: a record
// written by a newer version, or damaged, is never redeemed by guesswork).
// Management-API grants are OAuth grants: they are created for an OAuth
// client and refresh at the token endpoint.
func (k GrantKind) Protocol() Protocol {
	switch k {
	case GrantKindFolio:
		return ProtocolFolio
	case GrantKindOAuth, GrantKindManage:
		return ProtocolOAuth
	}
	return ""
}

// Endpoint describes where a token is presented.
type Endpoint struct {
	Protocol Protocol
	// ClientID is the client the request authenticated as ("" when none).
	ClientID string
	// AnyClient lets the caller act on the grants of every client: an
	// operator of the management API, a resource server at introspection.
	AnyClient bool
	// Tenant is the tenant the request names (X-Okapi-Tenant); "" when it
	// names none. An absent tenant is not the empty tenant: it never
	// matches a grant without a tenant, because a tenant-scoped endpoint
	// never redeems such a grant.
	Tenant string
}

// Errors of the redemption rule. A *RedeemError wraps ErrWrongEndpoint and
// the sentinel of its reason, so callers branch with errors.Is.
var (
	// ErrWrongEndpoint: the grant is not redeemable at this endpoint.
	ErrWrongEndpoint = errors.New("grant is not redeemable at this endpoint")
	// ErrWrongProtocol: the grant belongs to another protocol's endpoints.
	ErrWrongProtocol = errors.New("grant belongs to another protocol")
	// ErrWrongClient: the grant belongs to another client (or to none,
	// where a client is required, or to one, where none can authenticate).
	ErrWrongClient = errors.New("grant belongs to another client")
	// ErrTokenWrongTenant (errors.go) is the reason for a tenant mismatch.
)

// RedeemError is a refusal of the rule: which grant, whose it is, and
// where it was presented. It carries identifiers only, never a token, so
// handlers log it as it is.
type RedeemError struct {
	Reason   error // ErrWrongProtocol, ErrWrongClient or ErrTokenWrongTenant
	GrantID  string
	Kind     GrantKind // "" when the grant was not loaded (judged by its token)
	Protocol Protocol  // the grant's protocol
	ClientID string    // the grant's client
	Tenant   string    // the grant's tenant
	At       Endpoint
}

func (e *RedeemError) Error() string {
	return fmt.Sprintf("%v: %v (grant %q of protocol %q, client %q, tenant %q; presented at %q as client %q, tenant %q)",
		ErrWrongEndpoint, e.Reason, e.GrantID, e.Protocol, e.ClientID, e.Tenant, e.At.Protocol, e.At.ClientID, e.At.Tenant)
}

// Unwrap makes errors.Is find ErrWrongEndpoint and the reason.
func (e *RedeemError) Unwrap() []error { return []error{ErrWrongEndpoint, e.Reason} }

// owner is the protocol, client and tenant a grant's tokens belong to.
type owner struct {
	grantID  string
	kind     GrantKind
	protocol Protocol
	clientID string
	tenant   string
}

// redeemableAt is the rule:
//
//   - the endpoint's protocol must be the grant's (a FOLIO grant only at
//     FOLIO's endpoints; an OAuth or management grant only at the OAuth
//     endpoints and the management API);
//   - at a FOLIO endpoint, the grant has no client (no client can
//     authenticate there) and has a tenant; when the request names a
//     tenant, it is the grant's. A request without a tenant is judged by
//     the grant's own tenant, as Okapi routes it;
//   - at an OAuth endpoint, the grant has no tenant (the endpoints have
//     none), and belongs to the authenticated client unless the caller may
//     act for every client.
func (o owner) redeemableAt(at Endpoint) error {
	refuse := func(reason error) error {
		return &RedeemError{Reason: reason, GrantID: o.grantID, Kind: o.kind, Protocol: o.protocol,
			ClientID: o.clientID, Tenant: o.tenant, At: at}
	}
	if o.protocol == "" || o.protocol != at.Protocol {
		return refuse(ErrWrongProtocol)
	}
	switch at.Protocol {
	case ProtocolFolio:
		if o.clientID != "" {
			return refuse(ErrWrongClient)
		}
		if o.tenant == "" || at.Tenant != "" && at.Tenant != o.tenant {
			return refuse(ErrTokenWrongTenant)
		}
		return nil
	case ProtocolOAuth:
		if o.tenant != "" || at.Tenant != "" {
			return refuse(ErrTokenWrongTenant)
		}
		if at.AnyClient {
			return nil
		}
		if at.ClientID == "" || o.clientID != at.ClientID {
			return refuse(ErrWrongClient)
		}
		return nil
	}
	return refuse(ErrWrongProtocol)
}

// RedeemableAt reports whether the grant's tokens may be redeemed (or
// revoked, or introspected) at the endpoint: nil, or a *RedeemError. It is
// authoritative: callers apply it to the stored grant before they change
// anything of it.
func (g *Grant) RedeemableAt(at Endpoint) error {
	return owner{grantID: g.ID, kind: g.Kind, protocol: g.Kind.Protocol(), clientID: g.ClientID, tenant: g.Tenant}.redeemableAt(at)
}

// tokenProtocol infers the protocol of a token from its own claims, which
// are the grant's (MintTokens copies them): only OAuth grants have a
// client, only FOLIO grants a tenant. A token with neither belongs to no
// protocol tokengate redeems.
func tokenProtocol(clientID, tenant string) Protocol {
	switch {
	case clientID != "":
		return ProtocolOAuth
	case tenant != "":
		return ProtocolFolio
	}
	return ""
}

// RedeemableAt applies the rule to a refresh token's own claims. Endpoints
// call it before they read the store, so a token of another protocol is
// refused even when its grant no longer exists, and never reaches the
// replay rules of the wrong protocol; the grant's own RedeemableAt is
// checked after loading it.
func (rc *RefreshClaims) RedeemableAt(at Endpoint) error {
	return owner{grantID: rc.GrantID, protocol: tokenProtocol(rc.ClientID, rc.Tenant), clientID: rc.ClientID, tenant: rc.Tenant}.redeemableAt(at)
}

// RedeemableAt applies the rule to a verified access token: an endpoint
// that acts on access tokens (introspection) sees only the tokens of the
// grants it may see, decided by the token's signed claims alone, so the
// answer never depends on whether the grant record is still stored.
func (c *Claims) RedeemableAt(at Endpoint) error {
	return owner{grantID: c.GrantID, protocol: tokenProtocol(c.ClientID, c.Tenant), clientID: c.ClientID, tenant: c.Tenant}.redeemableAt(at)
}
