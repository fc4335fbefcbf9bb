package oauth

import (
	"context"
	"errors"

	"github.com/tokengate/tokengate/tokencore"
)

// Identifiers: the token values or hashes a management request names a grant by.

// tokenField says which token of a grant an identifier must name.
type tokenField int

const (
	accessField tokenField = iota
	refreshField
)

// resolveIdentifier finds the grant whose current access (or refresh)
// token is identified by id: a raw token value, or its hash
// (tokencore.TokenHash, base64url SHA-256), in that order (spec A.8). nil
// when nothing matches. Only grants the operator may act on are found
// (tokencore.Grant.RedeemableAt: OAuth and management grants); an
// identifier of another grant (a FOLIO session) gives no grant and the
// rule's refusal, a *tokencore.RedeemError (see isRefusal), which callers
// answer like an unknown identifier and report in ManageResponse.Refusal.
func (s *Service) resolveIdentifier(ctx context.Context, id string, field tokenField, asHash, asValue bool) (*tokencore.Grant, error) {
	if id == "" || len(id) > tokencore.MaxTokenBytes {
		return nil, nil
	}
	var candidates []string
	if asValue {
		candidates = append(candidates, tokencore.TokenHash(id))
	}
	if asHash && len(id) <= tokencore.MaxKeyFieldLen {
		candidates = append(candidates, id)
	}
	var refusal error
	for _, h := range candidates {
		g, err := s.e.Store.GrantByTokenHash(ctx, h)
		if errors.Is(err, tokencore.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if field == accessField && g.AccessHash == h || field == refreshField && g.RefreshHash == h {
			if err := g.RedeemableAt(operatorEndpoint()); err != nil {
				refusal = err
				continue
			}
			return g, nil
		}
	}
	return nil, refusal
}

// isRefusal reports whether err from resolveIdentifier is the redemption
// rule's refusal rather than a store failure.
func isRefusal(err error) bool { return errors.Is(err, tokencore.ErrWrongEndpoint) }

// withRefusal attaches the rule's refusal to an answer, for the log.
func withRefusal(r ManageResponse, refusal error) ManageResponse {
	r.Refusal = refusal
	return r
}
