package oauth

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// POST .../auth/authorization/issue and .../auth/authorization/fail: the
// app's login page completes an authorization request (Authlete's APIs of
// the same names). Both take the ticket the authorization endpoint gave
// the login page and answer action LOCATION with responseContent, the URL
// the app sends the browser to: the client's redirect URI with the code,
// or with the error.

type issueRequest struct {
	Ticket     string               `json:"ticket"`
	Subject    string               `json:"subject"`
	Claims     json.RawMessage      `json:"claims"`
	ACR        string               `json:"acr"`
	AuthTime   int64                `json:"authTime"`
	Scopes     *[]string            `json:"scopes"`
	Properties []tokencore.Property `json:"properties"`
}

type failRequest struct {
	Ticket      string `json:"ticket"`
	Reason      string `json:"reason"`
	Description string `json:"description"`
}

// LocationResponse is the answer of authorization/issue and /fail.
type LocationResponse struct {
	Result
	ResponseContent string `json:"responseContent,omitempty"`
}

// authorizationTimeSkew bounds how far in the future an authTime may be.
const authorizationTimeSkew = time.Minute

// Result codes of the two APIs (tokengate's, in Authlete's pattern).
const (
	codeIssue = "A040"
	codeFail  = "A041"
)

// reservedClaim reports the claims the app may not supply: those the
// server sets on ID tokens and UserInfo answers itself.
func reservedClaim(name string) bool {
	return protectedIDTokenClaim(name) || name == "at_hash" || name == "c_hash"
}

// validClaims checks the app's claims: one JSON object without duplicate
// members, at most MaxExtraClaimsBytes, and no reserved claim. A JSON
// string holding the object (Authlete's form, and a form body's) is
// accepted too. It returns the compact object, or nil for none.
func validClaims(raw json.RawMessage) (json.RawMessage, string) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, ""
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, "'claims' is not a JSON object."
		}
		raw = json.RawMessage(s)
	}
	if len(raw) > MaxExtraClaimsBytes {
		return nil, "'claims' is too large."
	}
	if err := tokencore.CheckStrictJSON(raw); err != nil {
		return nil, "'claims' is not a JSON object without duplicate members."
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "'claims' is not a JSON object."
	}
	for k := range m {
		if k == "" || reservedClaim(k) {
			return nil, "'claims' holds a claim the server sets itself (" + shorten(k) + ")."
		}
	}
	if len(m) == 0 {
		return nil, ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, "'claims' is not a JSON object."
	}
	return buf.Bytes(), ""
}

// newCode returns a fresh authorization code for a grant: the grant's ID,
// a dot, and 256 random bits. The ID lets the token endpoint find the
// grant; the random part is the secret, stored only as a hash.
func newCode(grantID string) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return grantID + "." + base64.RawURLEncoding.EncodeToString(b[:])
}

// authorizationIssue is POST .../auth/authorization/issue: the app has
// authenticated the user of a ticket. It creates the grant, with no token
// yet and the code as its first secret, and answers the redirect to the
// client with code, state and iss.
//
//   - ticket must open, be unexpired and unused: the grant is created under
//     the ticket's ID, so a second issue conflicts (BAD_REQUEST);
//   - the client and redirect URI must still be registered (FORBIDDEN);
//   - subject as in token/create; claims an object for UserInfo (see
//     validClaims); acr and authTime as in token/create;
//   - scopes, when given, may only narrow the requested scope (the user
//     consented to less).
func (s *Service) authorizationIssue(ctx context.Context, req ManageRequest) ManageResponse {
	bad := func(format string, args ...any) ManageResponse {
		return answer(result(codeIssue+"201", ActionBadRequest, format, args...), nil)
	}
	var in issueRequest
	if err := decodeManageBody(req.ContentType, req.Body, &in); err != nil {
		return bad("%s", err.Error())
	}
	now := s.now()
	t, err := s.openTicket(in.Ticket, now)
	if err != nil {
		return bad("The ticket is missing, invalid or expired.")
	}
	client := s.clients.lookup(t.ClientID)
	if client == nil || !slices.Contains(client.RedirectURIs, t.RedirectURI) || !client.AllowsGrant(GrantTypeAuthorizationCode) {
		return answer(result(codeIssue+"301", ActionForbidden, "The client of the ticket is no longer registered for this redirect URI."), nil)
	}
	if !validSubject(in.Subject) {
		return bad("'subject' is required: printable ASCII, at most %d characters.", MaxSubjectLength)
	}
	scopes := t.Scopes
	if in.Scopes != nil {
		narrowed, ok := cleanScopes(*in.Scopes)
		if !ok || slices.ContainsFunc(narrowed, func(sc string) bool { return !slices.Contains(t.Scopes, sc) }) {
			return bad("'scopes' may only narrow the requested scope.")
		}
		scopes = narrowed
	}
	claims, desc := validClaims(in.Claims)
	if desc != "" {
		return bad("%s", desc)
	}
	if len(in.ACR) > MaxACRLength || !isVSChars(in.ACR) {
		return bad("'acr' must be printable ASCII, at most %d characters.", MaxACRLength)
	}
	if err := validateProperties(in.Properties); err != nil {
		return bad("'properties': %s.", err.Error())
	}
	authTime := now
	if in.AuthTime != 0 {
		authTime = time.Unix(in.AuthTime, 0)
		if in.AuthTime < 0 || authTime.After(now.Add(authorizationTimeSkew)) {
			return bad("'authTime' must be a time in the past, in seconds since the epoch.")
		}
	}
	code := newCode(t.ID)
	g := &tokencore.Grant{
		ID: t.ID, Kind: tokencore.GrantKindOAuth, Subject: in.Subject, ClientID: client.ID,
		GrantType: GrantTypeAuthorizationCode, Scopes: nonNil(scopes), AuthTime: authTime, ACR: in.ACR,
		Properties: in.Properties, Claims: claims,
		Status: tokencore.GrantActive, CreatedAt: now, UpdatedAt: now,
		Code: &tokencore.AuthorizationCode{
			Hash: tokencore.TokenHash(code), ExpiresAt: now.Add(CodeTTL),
			TicketExpiresAt: time.Unix(t.Expiry, 0),
			RedirectURI:     t.RedirectURI, RedirectOmitted: t.RedirectOmitted,
			Challenge: t.Challenge, Nonce: t.Nonce,
		},
	}
	g.RecomputeExpiry()
	switch err := s.e.Store.CreateGrant(ctx, g); {
	case errors.Is(err, tokencore.ErrConflict):
		return bad("The ticket was already used.")
	case err != nil:
		return manageServerError(codeIssue+"101", err)
	}
	q := url.Values{"code": {code}, "iss": {s.cfg.Issuer}}
	if t.State != "" {
		q.Set("state", t.State)
	}
	resp := LocationResponse{
		Result:          result(codeIssue+"001", ActionLocation, "An authorization code was issued: client = %s", client.ID),
		ResponseContent: appendQuery(t.RedirectURI, q),
	}
	return answer(resp.Result, resp)
}

// failReasons maps Authlete's authorization/fail reasons to the error
// sent to the client (OpenID Connect Core §3.1.2.6).
func failReason(reason string) (ErrorCode, bool) {
	switch reason {
	case "DENIED", "ACR_NOT_SATISFIED":
		return ErrAccessDenied, true
	case "NOT_LOGGED_IN", "NOT_AUTHENTICATED", "MAX_AGE_NOT_SUPPORTED", "EXCEEDS_MAX_AGE", "DIFFERENT_SUBJECT":
		return ErrLoginRequired, true
	case "CONSENT_REQUIRED":
		return ErrConsentRequired, true
	case "INTERACTION_REQUIRED":
		return ErrInteractionRequired, true
	case "ACCOUNT_SELECTION_REQUIRED":
		return ErrAccountSelectionRequired, true
	case "INVALID_TARGET":
		return ErrInvalidTarget, true
	case "UNKNOWN", "SERVER_ERROR":
		return ErrServerError, true
	}
	return "", false
}

// authorizationFail is POST .../auth/authorization/fail: the app ends an
// authorization request without a user (refused, not logged in, ...). The
// ticket must be valid and unused (a ticket already issued cannot be
// failed afterwards); reason is one of Authlete's (see failReason);
// description, optional, becomes error_description.
func (s *Service) authorizationFail(ctx context.Context, req ManageRequest) ManageResponse {
	bad := func(format string, args ...any) ManageResponse {
		return answer(result(codeFail+"201", ActionBadRequest, format, args...), nil)
	}
	var in failRequest
	if err := decodeManageBody(req.ContentType, req.Body, &in); err != nil {
		return bad("%s", err.Error())
	}
	t, err := s.openTicket(in.Ticket, s.now())
	if err != nil {
		return bad("The ticket is missing, invalid or expired.")
	}
	code, ok := failReason(in.Reason)
	if !ok {
		return bad("'reason' must be one of Authlete's authorization failure reasons.")
	}
	if len(in.Description) > maxDescriptionLen {
		return bad("'description' is too long.")
	}
	switch g, err := s.lookupGrant(ctx, t.ID); {
	case err != nil:
		return manageServerError(codeFail+"101", err)
	case g != nil:
		return bad("The ticket was already used.")
	}
	resp := LocationResponse{
		Result:          result(codeFail+"001", ActionLocation, "The authorization request failed: %s", code),
		ResponseContent: s.errorLocation(t.RedirectURI, code, in.Description, t.State),
	}
	return answer(resp.Result, resp)
}
