package tokencore

import (
	"encoding/json"
	"time"
)

// AuthorizationCode is the authorization code (RFC 6749 §4.1) a grant was
// created with, when it was created by the authorization endpoint: the
// grant exists from the moment the app's login completes, with no token
// yet, and its first secret is the code. Redeeming the code works like a
// refresh rotation: one compare-and-swap on the grant marks the code
// redeemed and records the first tokens, so of two redemptions exactly one
// wins, and the other is a replay that revokes the grant (RFC 6749 §4.1.2).
// The code itself is never stored, only its TokenHash.
type AuthorizationCode struct {
	// Hash is the TokenHash of the code.
	Hash string `json:"hash"`
	// ExpiresAt is when the code can no longer be redeemed.
	ExpiresAt time.Time `json:"expires_at"`
	// TicketExpiresAt is when the ticket the code was issued for expires.
	// The grant's ID is the ticket's, and the record is kept at least
	// until then, so the ticket cannot be issued a second time.
	TicketExpiresAt time.Time `json:"ticket_expires_at,omitzero"`
	// RedeemedAt is when the code was exchanged for tokens (zero while
	// pending). It is kept, so a second presentation is recognised.
	RedeemedAt time.Time `json:"redeemed_at,omitzero"`
	// RedirectURI is where the code was sent. The token request must
	// repeat it (RFC 6749 §4.1.3) unless the authorization request named
	// none (RedirectOmitted).
	RedirectURI     string `json:"redirect_uri,omitempty"`
	RedirectOmitted bool   `json:"redirect_omitted,omitempty"`
	// Challenge is the PKCE S256 code_challenge (RFC 7636), "" when the
	// client opted out of PKCE.
	Challenge string `json:"challenge,omitempty"`
	// Nonce is the OpenID nonce, returned in the first ID token.
	Nonce string `json:"nonce,omitempty"`
}

// CodePending reports whether the grant waits for its authorization code
// to be redeemed: it has no token yet, and only the token endpoint may act
// on it.
func (g *Grant) CodePending() bool {
	return g.Code != nil && g.Code.RedeemedAt.IsZero()
}

// cloneCode deep-copies the code part of a grant.
func (g *Grant) cloneCode(c *Grant) {
	if g.Code != nil {
		code := *g.Code
		c.Code = &code
	}
	if g.Claims != nil {
		c.Claims = append(json.RawMessage(nil), g.Claims...)
	}
}

// codeExpiry is how long the code part keeps the record: until the code
// and its ticket have expired (zero for a grant without code). A grant
// whose code is never redeemed is swept then.
func (g *Grant) codeExpiry() time.Time {
	if g.Code == nil {
		return time.Time{}
	}
	return latest(g.Code.ExpiresAt, g.Code.TicketExpiresAt)
}
