package oauth

import (
	"context"
	"errors"

	"github.com/tokengate/tokengate/tokencore"
)

// POST .../auth/token/revoke.

type revokeRequest struct {
	AccessTokenIdentifier  string `json:"accessTokenIdentifier"`
	RefreshTokenIdentifier string `json:"refreshTokenIdentifier"`
	ClientIdentifier       string `json:"clientIdentifier"`
	Subject                string `json:"subject"`
}

// RevokeResponse is the answer of POST .../auth/token/revoke.
type RevokeResponse struct {
	Result
	Count int `json:"count"`
}

// manageRevoke is POST .../auth/token/revoke with Authlete's precedence,
// the first rule that applies wins:
//
//  1. accessTokenIdentifier: that access token and its refresh token (the
//     grant);
//  2. refreshTokenIdentifier: that refresh token and its access token;
//  3. clientIdentifier and subject: every grant of that client and user;
//  4. clientIdentifier: every grant of the client;
//  5. subject: every grant of the user;
//  6. nothing: 400.
//
// Identifiers are token values or their hashes. Revoked grants stay as
// tombstones, so a replay of their refresh tokens is still recognised;
// the proxy refuses their access tokens from the next request on. count is
// the number of grants revoked now (0 when nothing matched: still 200).
func (s *Service) manageRevoke(ctx context.Context, req ManageRequest) ManageResponse {
	const code = "A312"
	var in revokeRequest
	if err := decodeManageBody(req.ContentType, req.Body, &in); err != nil {
		return answer(result(code+"201", ActionBadRequest, "%s", err.Error()), nil)
	}
	var grants []*tokencore.Grant
	switch {
	case in.AccessTokenIdentifier != "", in.RefreshTokenIdentifier != "":
		id, field := in.AccessTokenIdentifier, accessField
		if id == "" {
			id, field = in.RefreshTokenIdentifier, refreshField
		}
		g, err := s.resolveIdentifier(ctx, id, field, true, true)
		if isRefusal(err) {
			resp := RevokeResponse{Result: result(code+"001", ActionOK, "Revoked 0 access token(s)."), Count: 0}
			return withRefusal(answer(resp.Result, resp), err)
		} else if err != nil {
			return manageServerError(code+"101", err)
		}
		if g != nil {
			grants = append(grants, g)
		}
	case in.ClientIdentifier != "" || in.Subject != "":
		if len(in.ClientIdentifier) > MaxClientIDLength || len(in.Subject) > tokencore.MaxKeyFieldLen {
			return answer(result(code+"201", ActionBadRequest, "'clientIdentifier' or 'subject' is too long."), nil)
		}
		all, _, err := s.e.Store.ListGrants(ctx, tokencore.GrantFilter{
			ClientID: in.ClientIdentifier, Subject: in.Subject, ActiveOnly: true, Now: s.now(),
		})
		if err != nil {
			return manageServerError(code+"102", err)
		}
		grants = all
	default:
		return answer(result(code+"202", ActionBadRequest,
			"One of accessTokenIdentifier, refreshTokenIdentifier, clientIdentifier or subject is required."), nil)
	}
	n := 0
	for _, g := range grants {
		if g.RedeemableAt(operatorEndpoint()) != nil || g.Status != tokencore.GrantActive {
			continue
		}
		if _, err := s.e.RevokeGrant(ctx, g.ID); err != nil {
			if errors.Is(err, tokencore.ErrNotFound) {
				continue
			}
			return manageServerError(code+"103", err)
		}
		n++
	}
	resp := RevokeResponse{Result: result(code+"001", ActionOK, "Revoked %d access token(s).", n), Count: n}
	return answer(resp.Result, resp)
}
