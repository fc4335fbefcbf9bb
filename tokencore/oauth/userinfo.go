package oauth

import (
	"context"
	"encoding/json"
	"errors"
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
// WWW-Authenticate and the same code in the JSON body.
func userInfoError(status int, code, desc string) UserInfoResponse {
	h := Headers()
	challenge := `Bearer realm="userinfo"`
	if code != "" {
		challenge += `, error="` + code + `", error_description="` + sanitizeDescription(desc, '|') + `"`
	}
	h.Set("WWW-Authenticate", challenge)
	body := (&Error{Code: code, Description: desc}).Body()
	if code == "" {
		body = []byte(`{"error":"invalid_token","error_description":"` + sanitizeDescription(desc, '\'') + `"}`)
	}
	return UserInfoResponse{Status: status, Header: h, Body: body}
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
		r := userInfoError(http.StatusMethodNotAllowed, string(ErrInvalidRequest), "The endpoint accepts only GET and POST.")
		r.Header.Del("WWW-Authenticate")
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
	const invalid = "invalid_token"
	c, err := s.verifier.Verify(token, "")
	if errors.Is(err, tokencore.ErrStoreUnavailable) {
		r := userInfoError(http.StatusServiceUnavailable, string(ErrTemporarilyUnavailable), "The token store is unavailable; retry later.")
		r.Header.Del("WWW-Authenticate")
		r.Header.Set("Retry-After", retryAfterSeconds())
		r.Cause = err
		return r
	}
	if err != nil || c.RedeemableAt(operatorEndpoint()) != nil {
		return userInfoError(http.StatusUnauthorized, invalid, "The access token is invalid, expired or revoked.")
	}
	if !slices.Contains(strings.Fields(c.Scope), ScopeOpenID) {
		return userInfoError(http.StatusForbidden, "insufficient_scope", "The access token does not hold the openid scope.")
	}
	g, err := s.lookupGrant(ctx, c.GrantID)
	if err != nil {
		r := userInfoError(http.StatusServiceUnavailable, string(ErrTemporarilyUnavailable), "The token store is unavailable; retry later.")
		r.Header.Del("WWW-Authenticate")
		r.Header.Set("Retry-After", retryAfterSeconds())
		r.Cause = err
		if !errors.Is(err, tokencore.ErrStoreUnavailable) {
			r.Status = http.StatusInternalServerError
			r.Header.Del("Retry-After")
			r.Body = NewError(ErrServerError, "The server failed to process the request.").Body()
		}
		return r
	}
	if g == nil || g.Subject == "" || g.Subject != c.Subject || g.Status != tokencore.GrantActive {
		return userInfoError(http.StatusUnauthorized, invalid, "The access token is invalid, expired or revoked.")
	}
	out := map[string]json.RawMessage{}
	if len(g.Claims) > 0 {
		var all map[string]json.RawMessage
		if err := json.Unmarshal(g.Claims, &all); err != nil {
			r := userInfoError(http.StatusInternalServerError, string(ErrServerError), "The server failed to process the request.")
			r.Header.Del("WWW-Authenticate")
			r.Cause = err
			return r
		}
		scopes := strings.Fields(c.Scope)
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
		r := userInfoError(http.StatusInternalServerError, string(ErrServerError), "The server failed to process the request.")
		r.Header.Del("WWW-Authenticate")
		r.Cause = err
		return r
	}
	return UserInfoResponse{Status: http.StatusOK, Header: Headers(), Body: body}
}
