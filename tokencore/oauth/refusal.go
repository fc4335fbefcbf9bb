package oauth

import (
	"errors"

	"github.com/tokengate/tokengate/tokencore"
)

// Descriptions of refusals by the redemption rule.
const (
	descWrongEndpoint     = "The token was not issued for this endpoint."
	descNotIssuedToClient = "The token was not issued to this client."
)

// refused is the invalid_grant answer to a token the redemption rule
// (tokencore.Grant.RedeemableAt) refuses: another client's token, or a
// token of another protocol (a FOLIO session). Nothing of its grant was
// changed. The refusal (a *tokencore.RedeemError) is kept for the
// handler's warn log.
func refused(err error) *Error {
	desc := descWrongEndpoint
	if errors.Is(err, tokencore.ErrWrongClient) {
		desc = descNotIssuedToClient
	}
	e := NewError(ErrInvalidGrant, desc)
	e.refusal = err
	return e
}

// Refusal returns the redemption rule's refusal behind an invalid_grant
// (a *tokencore.RedeemError, wrapping tokencore.ErrWrongEndpoint), for the
// handler to log at warn; nil for every other error.
func (e *Error) Refusal() error {
	if e == nil {
		return nil
	}
	return e.refusal
}

// oauthEndpoint is where an authenticated client presents a token.
func oauthEndpoint(c *Client) tokencore.Endpoint {
	return tokencore.Endpoint{Protocol: tokencore.ProtocolOAuth, ClientID: c.ID}
}

// operatorEndpoint is the management API: the operator acts for every
// client, on OAuth grants only.
func operatorEndpoint() tokencore.Endpoint {
	return tokencore.Endpoint{Protocol: tokencore.ProtocolOAuth, AnyClient: true}
}
