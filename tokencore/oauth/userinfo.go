package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tokengate/tokengate/tokencore"
)

// claimScope returns the OpenID scope value that releases a standard
// claim (OpenID Connect Core §5.4), "" for a claim no scope names (an
// app-specific claim).
func claimScope(name string) string {
	switch name {
	case "name", "family_name", "given_name", "middle_name", "nickname", "preferred_username",
		"profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at":
		return "profile"
	case "email", "email_verified":
		return "email"
	case "address":
		return "address"
	case "phone_number", "phone_number_verified":
		return "phone"
	}
	return ""
}

// UserInfoResponse is the answer of the UserInfo endpoint: status,
// headers and JSON body. Cause is an internal failure to log.
type UserInfoResponse struct {
	Status int
	Header http.Header
	Body   []byte
	Cause  error
}

// userInfoError is a Bearer error (RFC 6750 §3): the challenge in
// WWW-Authenticate, and the code in the JSON body too. An empty code is
// the answer to a request without a token, whose challenge carries no
// error (§3.1).
func userInfoError(status int, code, desc string) UserInfoResponse {
	h := Headers()
	challenge := `Bearer realm="userinfo"`
	if code != "" {
		challenge += `, error="` + code + `", error_description="` + sanitizeDescription(desc, '|') + `"`
	} else {
		code = "invalid_token"
	}
	h.Set("WWW-Authenticate", challenge)
	return UserInfoResponse{Status: status, Header: h, Body: (&Error{Code: code, Description: desc}).Body()}
}

// userInfoFailure answers an OAuth error that is not about the token: a
// wrong method, or an internal failure (serverError: 503 with Retry-After
// for an unavailable store, else 500), whose cause is kept for the log.
func userInfoFailure(oerr *Error) UserInfoResponse {
	return UserInfoResponse{Status: oerr.HTTPStatus(), Header: oerr.Headers(), Body: oerr.Body(), Cause: oerr.Cause()}
}

// UserInfo is the UserInfo endpoint, GET or POST <prefix>/userinfo
// (OpenID Connect Core §5.3). The access token comes in the Authorization
// header (RFC 6750 §2.1) and is judged exactly as the proxy judges it
// (signature, expiry, revocation); it must be an OAuth token (a client's,
// no tenant) whose scope holds openid, of a grant with a user. The answer
// is sub plus the claims the app supplied at authorization/issue: a
// standard claim only when the token's scope holds the scope that
// releases it (profile, email, address, phone; §5.4), an app-specific
// claim always (the app chose to supply it). A missing or bad token is a
// 401 with a Bearer challenge; a token without openid is 403
// insufficient_scope; an unreachable store 503.
func (s *Service) UserInfo(ctx context.Context, req Request) UserInfoResponse {
	if req.Method != http.MethodGet && req.Method != http.MethodPost {
		oerr := NewError(ErrInvalidRequest, "The endpoint accepts only GET and POST.")
		oerr.Status = http.StatusMethodNotAllowed
		r := userInfoFailure(oerr)
		r.Header.Set("Allow", "GET, POST")
		return r
	}
	token, err := tokencore.BearerToken(req.Authorization)
	if err != nil {
		return userInfoError(http.StatusBadRequest, string(ErrInvalidRequest), err.Error())
	}
	if token == "" {
		return userInfoError(http.StatusUnauthorized, "", "No access token.")
	}
	const descInvalidToken = "The access token is invalid, expired or revoked."
	c, err := s.verifier.Verify(token, "")
	if errors.Is(err, tokencore.ErrStoreUnavailable) {
		return userInfoFailure(serverError(err))
	}
	if err != nil || c.RedeemableAt(operatorEndpoint()) != nil {
		return userInfoError(http.StatusUnauthorized, "invalid_token", descInvalidToken)
	}
	scopes := strings.Fields(c.Scope)
	if !slices.Contains(scopes, ScopeOpenID) {
		return userInfoError(http.StatusForbidden, "insufficient_scope", "The access token does not hold the openid scope.")
	}
	g, err := s.lookupGrant(ctx, c.GrantID)
	if err != nil {
		return userInfoFailure(serverError(err))
	}
	if g == nil || g.Subject == "" || g.Subject != c.Subject || g.Status != tokencore.GrantActive {
		return userInfoError(http.StatusUnauthorized, "invalid_token", descInvalidToken)
	}
	out := map[string]json.RawMessage{}
	if len(g.Claims) > 0 {
		var all map[string]json.RawMessage
		if err := json.Unmarshal(g.Claims, &all); err != nil {
			return userInfoFailure(serverError(fmt.Errorf("claims of grant %s: %w", g.ID, err)))
		}
		for k, v := range all {
			if sc := claimScope(k); sc == "" || slices.Contains(scopes, sc) {
				out[k] = v
			}
		}
	}
	sub, _ := json.Marshal(g.Subject)
	out["sub"] = sub
	body, err := json.Marshal(out)
	if err != nil {
		return userInfoFailure(serverError(err))
	}
	return UserInfoResponse{Status: http.StatusOK, Header: Headers(), Body: body}
}
