package oauth

import (
	"context"
	"net/url"
	"slices"
	"strconv"

	"github.com/tokengate/tokengate/tokencore"
)

// GET .../auth/token/get/list.

// TokenInfo is one element of a token list (Authlete's AccessToken DTO):
// hashes and metadata, never a token value. Times are milliseconds.
type TokenInfo struct {
	AccessTokenHash       string               `json:"accessTokenHash"`
	AccessTokenExpiresAt  int64                `json:"accessTokenExpiresAt"`
	RefreshTokenHash      *string              `json:"refreshTokenHash"`
	RefreshTokenExpiresAt int64                `json:"refreshTokenExpiresAt"`
	CreatedAt             int64                `json:"createdAt"`
	LastRefreshedAt       int64                `json:"lastRefreshedAt"`
	ClientID              string               `json:"clientId"`
	Subject               *string              `json:"subject"`
	GrantType             string               `json:"grantType"`
	Scopes                []string             `json:"scopes"`
	Properties            []tokencore.Property `json:"properties"`
	RefreshTokenScopes    []string             `json:"refreshTokenScopes"`
}

func tokenInfo(g *tokencore.Grant) TokenInfo {
	ti := TokenInfo{
		AccessTokenHash:      g.AccessHash,
		AccessTokenExpiresAt: millis(g.AccessExpiresAt),
		CreatedAt:            millis(g.CreatedAt),
		LastRefreshedAt:      millis(g.LastRefreshedAt),
		ClientID:             g.ClientID,
		GrantType:            grantTypeName(g.GrantType),
		Scopes:               nonNil(slices.Clone(g.AccessScopes)),
		Properties:           nonNil(slices.Clone(g.Properties)),
	}
	if g.RefreshHash != "" {
		h := g.RefreshHash
		ti.RefreshTokenHash = &h
		ti.RefreshTokenExpiresAt = millis(g.RefreshExpiresAt)
		ti.RefreshTokenScopes = nonNil(slices.Clone(g.Scopes))
	}
	if g.Subject != "" {
		sub := g.Subject
		ti.Subject = &sub
	}
	return ti
}

// ListClient is the reduced client object of a list filtered by client.
type ListClient struct {
	ClientID   string `json:"clientId"`
	ClientType string `json:"clientType"`
}

// ListResponse is the answer of GET .../auth/token/get/list.
type ListResponse struct {
	Result
	Start        int         `json:"start"`
	End          int         `json:"end"`
	TotalCount   int         `json:"totalCount"`
	Client       *ListClient `json:"client,omitempty"`
	Subject      *string     `json:"subject"`
	AccessTokens []TokenInfo `json:"accessTokens"`
}

// manageList is GET .../auth/token/get/list: the live grants of the OAuth
// world (token endpoint and management grants; FOLIO sessions belong to
// their tenants and are not listed), filtered by clientIdentifier and/or
// subject, ordered by creation, cut to the window [start, end).
// tokenStatus is VALID (unexpired), INVALID (expired, not yet swept) or
// ALL (default). Revoked grants are tombstones, not tokens, and are never
// listed. totalCount counts every match before the cut.
func (s *Service) manageList(ctx context.Context, q url.Values) ManageResponse {
	const code = "A091"
	bad := func(format string, args ...any) ManageResponse {
		return answer(result(code+"201", ActionBadRequest, format, args...), nil)
	}
	for name, vs := range q {
		if len(vs) > 1 {
			return bad("Duplicate '%s' parameter.", shorten(name))
		}
	}
	intParam := func(name string, def int) (int, bool) {
		v := q.Get(name)
		if v == "" {
			return def, true
		}
		n, err := strconv.Atoi(v)
		return n, err == nil
	}
	start, ok := intParam("start", 0)
	if !ok || start < 0 {
		return bad("'start' must be a non-negative integer.")
	}
	end, ok := intParam("end", start+DefaultListWindow)
	if !ok || end < start {
		return bad("'end' must be an integer not less than 'start'.")
	}
	if end-start > MaxListWindow {
		return bad("'end' - 'start' must not exceed %d.", MaxListWindow)
	}
	status := q.Get("tokenStatus")
	switch status {
	case "", "ALL", "VALID", "INVALID":
	default:
		return bad("'tokenStatus' must be VALID, INVALID or ALL.")
	}
	clientID, subject := q.Get("clientIdentifier"), q.Get("subject")
	if len(clientID) > MaxClientIDLength || len(subject) > tokencore.MaxKeyFieldLen {
		return bad("'clientIdentifier' or 'subject' is too long.")
	}
	now := s.now()
	all, _, err := s.e.Store.ListGrants(ctx, tokencore.GrantFilter{
		Subject: subject, ClientID: clientID, ActiveOnly: status == "VALID", Now: now,
	})
	if err != nil {
		return manageServerError(code+"101", err)
	}
	var match []*tokencore.Grant
	for _, g := range all {
		if g.RedeemableAt(operatorEndpoint()) != nil || g.Status != tokencore.GrantActive || g.CodePending() {
			continue
		}
		if status == "INVALID" && g.Active(now) {
			continue
		}
		match = append(match, g)
	}
	resp := ListResponse{
		Result: result(code+"001", ActionOK, "Listed the tokens."),
		Start:  start, End: end, TotalCount: len(match), AccessTokens: []TokenInfo{},
	}
	for _, g := range match[min(start, len(match)):min(end, len(match))] {
		resp.AccessTokens = append(resp.AccessTokens, tokenInfo(g))
	}
	if subject != "" {
		resp.Subject = &subject
	}
	if c := s.clients.lookup(clientID); c != nil {
		typ := "CONFIDENTIAL"
		if c.AuthMethod == AuthNone {
			typ = "PUBLIC"
		}
		resp.Client = &ListClient{ClientID: c.ID, ClientType: typ}
	}
	return answer(resp.Result, resp)
}
