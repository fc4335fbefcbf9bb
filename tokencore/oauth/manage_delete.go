package oauth

import (
	"context"
	"errors"
	"net/http"

	"github.com/tokengate/tokengate/tokencore"
)

// DELETE .../auth/token/delete/{accessTokenIdentifier}.

// manageDelete is DELETE .../auth/token/delete/{accessTokenIdentifier}:
// the grant whose current access token is identified (value or hash) is
// revoked — so the proxy refuses its tokens at once — and then removed
// from the store (Authlete's "delete the token entry itself"). 204 on
// success, 404 with an envelope for an unknown identifier. Revoked
// (tombstoned) grants can be deleted too.
func (s *Service) manageDelete(ctx context.Context, id string) ManageResponse {
	const code = "A137"
	g, err := s.resolveIdentifier(ctx, id, accessField, true, true)
	if err != nil && !isRefusal(err) {
		return manageServerError(code+"101", err)
	}
	if g == nil {
		return withRefusal(answer(result(code+"301", ActionNotFound, "The access token does not exist."), nil), err)
	}
	if g.Status == tokencore.GrantActive {
		if _, err := s.e.RevokeGrant(ctx, g.ID); err != nil && !errors.Is(err, tokencore.ErrNotFound) {
			return manageServerError(code+"102", err)
		}
	}
	if err := s.e.Store.DeleteGrant(ctx, g.ID); err != nil && !errors.Is(err, tokencore.ErrNotFound) {
		return manageServerError(code+"103", err)
	}
	// A 204 has no body, so it names no Content-Type (RFC 9110 §8.3).
	h := Headers()
	h.Del("Content-Type")
	return ManageResponse{Status: http.StatusNoContent, Header: h}
}
