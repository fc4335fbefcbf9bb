package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// The ticket of an authorization request: what the authorization endpoint
// validated, sealed (JWE dir/A256GCM with the gateway's refresh-token key)
// so that the endpoint writes nothing to the store and the app's login
// page cannot read or change it. The app hands it back to
// authorization/issue or authorization/fail; issue creates the grant under
// the ticket's ID, so a second issue of one ticket conflicts in the store
// and the ticket is single-use (see AuthorizationIssue).

// TicketTTL is how long the app's login page has to complete an
// authorization request; CodeTTL how long the client has to redeem the
// authorization code (RFC 6749 §4.1.2 recommends at most ten minutes).
const (
	TicketTTL = 10 * time.Minute
	CodeTTL   = time.Minute
)

// typeTicket is the type of a ticket's payload. Refresh tokens are sealed
// with the same key; their type differs, so neither is accepted as the
// other.
const typeTicket = "authz_ticket"

// ErrTicket is wrapped by every refusal of a ticket.
var ErrTicket = errors.New("oauth: invalid, expired or foreign authorization ticket")

// ticket is the validated authorization request.
type ticket struct {
	Type     string `json:"type"`
	ID       string `json:"jti"`
	ClientID string `json:"client_id"`
	// RedirectURI is where the answer goes; RedirectOmitted records that
	// the request named none (the client's only registered URI was used),
	// so the token request need not repeat it (RFC 6749 §4.1.3).
	RedirectURI     string   `json:"redirect_uri"`
	RedirectOmitted bool     `json:"redirect_omitted,omitempty"`
	Scopes          []string `json:"scopes,omitempty"`
	State           string   `json:"state,omitempty"`
	Nonce           string   `json:"nonce,omitempty"`
	Challenge       string   `json:"challenge,omitempty"`
	IssuedAt        int64    `json:"iat"`
	Expiry          int64    `json:"exp"`
}

// sealTicket encrypts t.
func (s *Service) sealTicket(t *ticket) (string, error) {
	t.Type = typeTicket
	b, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	return s.e.Keys.Seal(b)
}

// openTicket decrypts and checks a ticket: shape, type and expiry at now.
func (s *Service) openTicket(sealed string, now time.Time) (*ticket, error) {
	if sealed == "" || len(sealed) > tokencore.MaxTokenBytes {
		return nil, fmt.Errorf("%w: empty or too large", ErrTicket)
	}
	b, err := s.e.Keys.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTicket, err)
	}
	if err := tokencore.CheckStrictJSON(b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTicket, err)
	}
	var t ticket
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTicket, err)
	}
	switch {
	case t.Type != typeTicket:
		return nil, fmt.Errorf("%w: not a ticket", ErrTicket)
	case t.ID == "" || t.ClientID == "" || t.RedirectURI == "":
		return nil, fmt.Errorf("%w: incomplete", ErrTicket)
	case now.Unix() >= t.Expiry:
		return nil, fmt.Errorf("%w: expired", ErrTicket)
	}
	return &t, nil
}
