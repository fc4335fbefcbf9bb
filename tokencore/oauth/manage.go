package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// The token management API: Authlete's /api/{serviceId}/auth/token/* and
// /idtoken/reissue shapes on tokengate grants. A login service that has
// authenticated a user creates the user's tokens here; operators list,
// update, revoke and delete them. Tokens created here are ordinary grants:
// they refresh at the token endpoint, introspect, and are checked by the
// proxy like any other.
//
// Every answer carries Authlete's result envelope: resultCode,
// resultMessage ("[code] text") and, except for caller errors, action.
// The codes follow Authlete's "A + API number + outcome" pattern; where the
// spec gives a code (A109001, A135001, A312001, A001202) it is that one,
// the others are tokengate's and listed in the README.

// Management actions and the HTTP status each is answered with (A.11).
const (
	ActionOK          = "OK"
	ActionBadRequest  = "BAD_REQUEST"
	ActionForbidden   = "FORBIDDEN"
	ActionNotFound    = "NOT_FOUND"
	ActionServerError = "INTERNAL_SERVER_ERROR"
	ActionCallerError = "CALLER_ERROR"
)

func actionStatus(action string) int {
	switch action {
	case ActionOK:
		return http.StatusOK
	case ActionForbidden:
		return http.StatusForbidden
	case ActionNotFound:
		return http.StatusNotFound
	case ActionServerError:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// Limits of management requests. Records are bounded by the store (64 KiB
// per grant); these keep every valid request well inside that, so a large
// request is a 400 and never a store failure.
const (
	MaxSubjectLength      = 100 // Authlete: ASCII, at most 100 characters
	MaxProperties         = 32
	MaxPropertyKeyLength  = 128
	MaxPropertyValueBytes = 1024
	MaxACRLength          = 256
	MaxExtraClaimsBytes   = 8 << 10
	// MaxManagedDuration bounds accessTokenDuration and
	// refreshTokenDuration (and expiries set through update).
	MaxManagedDuration = 10 * 366 * 24 * time.Hour
	// DefaultListWindow and MaxListWindow are Authlete's list window: end
	// defaults to start+5, and end-start may not exceed 20.
	DefaultListWindow = 5
	MaxListWindow     = 20
)

// descNoPersistent refuses accessTokenPersistent: the proxy and
// introspection accept only access tokens with an exp (a token that never
// expires can only be stopped by revocation), so a persistent token would
// be refused everywhere. A long accessTokenDuration is the alternative.
const descNoPersistent = "accessTokenPersistent is not supported: every access token expires (use a long accessTokenDuration)."

// persistentRevocationKeep is how long the revocation of a persistent
// (never expiring) access token is kept.
const persistentRevocationKeep = 100 * 365 * 24 * time.Hour

// Result is the envelope of every management answer.
type Result struct {
	ResultCode    string `json:"resultCode"`
	ResultMessage string `json:"resultMessage"`
	Action        string `json:"action,omitempty"`
}

func result(code, action, format string, args ...any) Result {
	return Result{ResultCode: code, ResultMessage: "[" + code + "] " + fmt.Sprintf(format, args...), Action: action}
}

// ManageRequest is what the management API needs of an HTTP request.
type ManageRequest struct {
	Method string
	// Path below the API prefix, e.g. "/auth/token/create".
	Path        string
	Query       url.Values
	ContentType string
	Body        []byte
}

// ManageResponse is a management answer: status, extra headers and the
// JSON body (nil for 204). Every answer also gets the JSON and no-store
// headers of Headers, since create, update and reissue carry tokens.
type ManageResponse struct {
	Status int
	Header http.Header
	Body   []byte
	// Refusal, when set, is the redemption rule's refusal of a token the
	// request named (a *tokencore.RedeemError: a FOLIO session's token
	// given to the OAuth management API). It is never sent; the handler
	// logs it at warn.
	Refusal error
}

func manageJSON(status int, v any) ManageResponse {
	b, err := marshalJSON(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"resultCode":"A001101","resultMessage":"[A001101] Internal server error.","action":"INTERNAL_SERVER_ERROR"}`)
	}
	return ManageResponse{Status: status, Header: Headers(), Body: b}
}

// answer renders a response struct whose envelope decides the status.
func answer(r Result, v any) ManageResponse {
	if v == nil {
		v = r
	}
	return manageJSON(actionStatus(r.Action), v)
}

// manageServerError is the answer to a failed store or signing call. A
// store that is unavailable is a 503 with Retry-After, in Authlete's
// envelope with its INTERNAL_SERVER_ERROR action (what callers branch
// on); nothing was changed, so the same call can be retried.
func manageServerError(code string, err error) ManageResponse {
	if errors.Is(err, tokencore.ErrStoreUnavailable) {
		r := answer(result(code, ActionServerError, "The token store is temporarily unavailable; nothing was changed, retry later."), nil)
		r.Status = http.StatusServiceUnavailable
		r.Header.Set("Retry-After", retryAfterSeconds())
		return r
	}
	return answer(result(code, ActionServerError, "Internal server error."), nil)
}

// ManageAuthenticate checks the operator's bearer key (Authlete v3 callers
// authenticate with "Authorization: Bearer <token>"). isOperator compares
// the key with the configured hashes. It returns nil for an operator, else
// the 401 answer, with a Bearer challenge (RFC 6750 §3: no error code when
// no credentials were sent).
func ManageAuthenticate(authorization []string, isOperator func(key string) bool) *ManageResponse {
	const realm = `Bearer realm="tokengate-manage"`
	var key string
	if len(authorization) == 1 {
		scheme, v, ok := strings.Cut(authorization[0], " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			key = strings.TrimSpace(v)
		}
	}
	if len(authorization) == 0 || key == "" {
		r := answer(Result{ResultCode: "A001202", ResultMessage: "[A001202] Authorization header is missing."}, nil)
		r.Status = http.StatusUnauthorized
		r.Header.Set("WWW-Authenticate", realm)
		return &r
	}
	if len(key) > MaxAuthorizationLength || !isOperator(key) {
		r := answer(Result{ResultCode: "A001203", ResultMessage: "[A001203] The operator key is invalid."}, nil)
		r.Status = http.StatusUnauthorized
		r.Header.Set("WWW-Authenticate", realm+`, error="invalid_token"`)
		return &r
	}
	return nil
}

// Manage serves one management request (the caller authenticated it with
// ManageAuthenticate first). Unknown paths are 404 and known paths with
// another method 405, both with an envelope.
func (s *Service) Manage(ctx context.Context, req ManageRequest) ManageResponse {
	route := req.Path
	method := http.MethodPost
	switch {
	case route == "/auth/token/get/list":
		method = http.MethodGet
	case strings.HasPrefix(route, "/auth/token/delete/") && len(route) > len("/auth/token/delete/"):
		method = http.MethodDelete
	case route == "/auth/token/create", route == "/auth/token/update", route == "/auth/token/revoke", route == "/idtoken/reissue":
	default:
		return answer(result("A001404", ActionNotFound, "No management API at this path."), nil)
	}
	if req.Method != method {
		r := answer(result("A001405", ActionBadRequest, "This API accepts only %s.", method), nil)
		r.Status = http.StatusMethodNotAllowed
		r.Header.Set("Allow", method)
		return r
	}
	switch route {
	case "/auth/token/get/list":
		return s.manageList(ctx, req.Query)
	case "/auth/token/create":
		return s.manageCreate(ctx, req)
	case "/auth/token/update":
		return s.manageUpdate(ctx, req)
	case "/auth/token/revoke":
		return s.manageRevoke(ctx, req)
	case "/idtoken/reissue":
		return s.manageReissue(ctx, req)
	}
	return s.manageDelete(ctx, strings.TrimPrefix(route, "/auth/token/delete/"))
}

// grantTypeNames are Authlete's grant_type enum, in the spec's order.
func grantTypeNames() []string {
	return []string{"AUTHORIZATION_CODE", "IMPLICIT", "PASSWORD", "CLIENT_CREDENTIALS", "REFRESH_TOKEN",
		"CIBA", "DEVICE_CODE", "TOKEN_EXCHANGE", "JWT_BEARER", "PRE_AUTHORIZED_CODE"}
}

// grantTypeValue is the OAuth grant type an enum name stands for ("" for
// an unknown name).
func grantTypeValue(name string) string {
	switch name {
	case "AUTHORIZATION_CODE":
		return GrantTypeAuthorizationCode
	case "IMPLICIT":
		return "implicit"
	case "PASSWORD":
		return "password"
	case "CLIENT_CREDENTIALS":
		return GrantTypeClientCredentials
	case "REFRESH_TOKEN":
		return GrantTypeRefreshToken
	case "CIBA":
		return "urn:openid:params:grant-type:ciba"
	case "DEVICE_CODE":
		return GrantTypeDeviceCode
	case "TOKEN_EXCHANGE":
		return "urn:ietf:params:oauth:grant-type:token-exchange"
	case "JWT_BEARER":
		return "urn:ietf:params:oauth:grant-type:jwt-bearer"
	case "PRE_AUTHORIZED_CODE":
		return "urn:ietf:params:oauth:grant-type:pre-authorized_code"
	}
	return ""
}

// grantTypeName is the enum name of an OAuth grant type ("" if none).
func grantTypeName(gt string) string {
	for _, name := range grantTypeNames() {
		if grantTypeValue(name) == gt {
			return name
		}
	}
	return ""
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// nonNil keeps JSON lists as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// --- list ---------------------------------------------------------------

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
		if g.RedeemableAt(operatorEndpoint()) != nil || g.Status != tokencore.GrantActive {
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

// --- create -------------------------------------------------------------

type createRequest struct {
	GrantType             string               `json:"grantType"`
	ClientID              flexString           `json:"clientId"`
	ClientIdentifier      string               `json:"clientIdentifier"`
	Subject               string               `json:"subject"`
	Scopes                []string             `json:"scopes"`
	AccessTokenDuration   int64                `json:"accessTokenDuration"`
	RefreshTokenDuration  int64                `json:"refreshTokenDuration"`
	Properties            []tokencore.Property `json:"properties"`
	AccessTokenPersistent bool                 `json:"accessTokenPersistent"`
	AuthTime              int64                `json:"authTime"`
	ACR                   string               `json:"acr"`

	// Accepted without effect: they concern client aliases, federation,
	// external attachments and Native SSO, which tokengate has not.
	ClientIDAliasUsed     bool   `json:"clientIdAliasUsed"`
	ClientEntityIDUsed    bool   `json:"clientEntityIdUsed"`
	MetadataDocumentUsed  bool   `json:"metadataDocumentUsed"`
	ForExternalAttachment bool   `json:"forExternalAttachment"`
	SessionID             string `json:"sessionId"`

	// Refused when set: tokengate mints its own token values, and binds
	// tokens to nothing but their client.
	AccessToken           string          `json:"accessToken"`
	RefreshToken          string          `json:"refreshToken"`
	CertificateThumbprint string          `json:"certificateThumbprint"`
	DPoPKeyThumbprint     string          `json:"dpopKeyThumbprint"`
	AuthorizationDetails  json.RawMessage `json:"authorizationDetails"`
	Resources             []string        `json:"resources"`
	JWTAtClaims           string          `json:"jwtAtClaims"`
}

// CreateResponse is the answer of POST .../auth/token/create.
type CreateResponse struct {
	Result
	AccessToken        string               `json:"accessToken,omitempty"`
	RefreshToken       string               `json:"refreshToken,omitempty"`
	TokenType          string               `json:"tokenType,omitempty"`
	ExpiresIn          int64                `json:"expiresIn"`
	ExpiresAt          int64                `json:"expiresAt"`
	GrantType          string               `json:"grantType,omitempty"`
	ClientID           string               `json:"clientId,omitempty"`
	ClientIdentifier   string               `json:"clientIdentifier,omitempty"`
	Subject            string               `json:"subject,omitempty"`
	Scopes             []string             `json:"scopes"`
	Properties         []tokencore.Property `json:"properties"`
	RefreshTokenScopes []string             `json:"refreshTokenScopes,omitempty"`
	TokenID            string               `json:"tokenId,omitempty"`
}

// validSubject reports whether sub is an Authlete subject: printable
// ASCII, 1 to 100 characters.
func validSubject(sub string) bool {
	return sub != "" && len(sub) <= MaxSubjectLength && isVSChars(sub)
}

// validateProperties bounds the properties of a grant.
func validateProperties(ps []tokencore.Property) error {
	if len(ps) > MaxProperties {
		return fmt.Errorf("at most %d properties are allowed", MaxProperties)
	}
	for _, p := range ps {
		if p.Key == "" || len(p.Key) > MaxPropertyKeyLength || len(p.Value) > MaxPropertyValueBytes {
			return fmt.Errorf("a property key must have 1-%d bytes and a value at most %d", MaxPropertyKeyLength, MaxPropertyValueBytes)
		}
	}
	return nil
}

// cleanScopes validates a scope list: scope tokens, no duplicates (the
// first occurrence is kept), at most MaxScopes.
func cleanScopes(in []string) ([]string, bool) {
	out := []string{}
	for _, sc := range in {
		if !isScopeToken(sc) {
			return nil, false
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, len(out) <= MaxScopes
}

// durationSeconds converts a management duration (seconds; 0 = default).
func durationSeconds(sec int64, def time.Duration) (time.Duration, bool) {
	if sec < 0 || sec > int64(MaxManagedDuration/time.Second) {
		return 0, false
	}
	if sec == 0 {
		return def, true
	}
	return time.Duration(sec) * time.Second, true
}

// manageCreate is POST .../auth/token/create: a new grant (Kind manage)
// for a client and a subject the caller has authenticated, and its first
// tokens.
//
//   - grantType is required, one of Authlete's enum except REFRESH_TOKEN,
//     and the client must be registered for that grant type (FORBIDDEN);
//   - clientId or clientIdentifier names a configured client (FORBIDDEN
//     for an unknown one, as Authlete answers a client of another service);
//   - subject is required (printable ASCII, at most 100) except for
//     CLIENT_CREDENTIALS, where it is ignored;
//   - scopes must be registered for the client (Authlete: unsupported
//     scopes are an error); omitted means none;
//   - accessTokenDuration / refreshTokenDuration in seconds, 0 = the
//     client's lifetimes; accessTokenPersistent is refused (see
//     descNoPersistent);
//   - authTime (seconds) and acr describe the user authentication; they
//     become auth_time and acr of later ID tokens; authTime defaults to now;
//   - a refresh token is minted unless the grant type is IMPLICIT or
//     CLIENT_CREDENTIALS, or the client is not registered for refresh_token.
func (s *Service) manageCreate(ctx context.Context, req ManageRequest) ManageResponse {
	const code = "A109"
	bad := func(format string, args ...any) ManageResponse {
		return answer(result(code+"201", ActionBadRequest, format, args...), nil)
	}
	var in createRequest
	if err := decodeManageBody(req.ContentType, req.Body, &in); err != nil {
		return bad("%s", err.Error())
	}
	switch {
	case in.AccessToken != "" || in.RefreshToken != "":
		return bad("Caller-supplied token values are not supported.")
	case in.CertificateThumbprint != "" || in.DPoPKeyThumbprint != "":
		return bad("Sender-constrained tokens are not supported.")
	case len(in.AuthorizationDetails) > 0 && string(in.AuthorizationDetails) != "null", len(in.Resources) > 0, in.JWTAtClaims != "":
		return bad("authorizationDetails, resources and jwtAtClaims are not supported.")
	case in.AccessTokenPersistent:
		return bad(descNoPersistent)
	}
	if in.GrantType == "" {
		return bad("'grantType' is required.")
	}
	gt := grantTypeValue(in.GrantType)
	if gt == "" || gt == GrantTypeRefreshToken {
		return bad("'grantType' must be one of Authlete's grant types other than REFRESH_TOKEN.")
	}
	clientID := string(in.ClientID)
	if in.ClientIdentifier != "" {
		if clientID != "" && clientID != in.ClientIdentifier {
			return bad("'clientId' and 'clientIdentifier' name different clients.")
		}
		clientID = in.ClientIdentifier
	}
	if clientID == "" {
		return bad("'clientId' or 'clientIdentifier' is required.")
	}
	client := s.clients.lookup(clientID)
	if client == nil {
		return answer(result(code+"301", ActionForbidden, "The client does not exist in this service."), nil)
	}
	if !client.AllowsGrant(gt) {
		return answer(result(code+"302", ActionForbidden, "The client is not registered for the grant type %s.", in.GrantType), nil)
	}
	subject := in.Subject
	if gt == GrantTypeClientCredentials {
		subject = ""
	} else if !validSubject(subject) {
		return bad("'subject' is required: printable ASCII, at most %d characters.", MaxSubjectLength)
	}
	scopes, ok := cleanScopes(in.Scopes)
	if !ok {
		return bad("'scopes' holds an invalid scope or too many scopes.")
	}
	if !client.AllowsScopes(scopes) {
		return bad("'scopes' holds a scope the client is not registered for.")
	}
	defAccess, defRefresh := s.ttls(client)
	accessTTL, ok1 := durationSeconds(in.AccessTokenDuration, defAccess)
	refreshTTL, ok2 := durationSeconds(in.RefreshTokenDuration, defRefresh)
	if !ok1 || !ok2 {
		return bad("Durations must be between 0 and %d seconds.", int64(MaxManagedDuration/time.Second))
	}
	if err := validateProperties(in.Properties); err != nil {
		return bad("'properties': %s.", err.Error())
	}
	if len(in.ACR) > MaxACRLength || !isVSChars(in.ACR) {
		return bad("'acr' must be printable ASCII, at most %d characters.", MaxACRLength)
	}
	now := s.now()
	authTime := now
	if in.AuthTime != 0 {
		authTime = time.Unix(in.AuthTime, 0)
		if in.AuthTime < 0 || authTime.After(now.Add(time.Minute)) {
			return bad("'authTime' must be a time in the past, in seconds since the epoch.")
		}
	}
	withRefresh := gt != "implicit" && gt != GrantTypeClientCredentials && client.AllowsGrant(GrantTypeRefreshToken)
	g := &tokencore.Grant{
		ID: tokencore.NewGrantID(), Kind: tokencore.GrantKindManage, Subject: subject, ClientID: client.ID,
		GrantType: gt, Scopes: scopes, ACR: in.ACR, Properties: in.Properties,
		Status: tokencore.GrantActive, CreatedAt: now,
	}
	if subject != "" {
		g.AuthTime = authTime
	}
	minted, err := s.mint(g, tokencore.MintSpec{
		AccessTTL: accessTTL, RefreshTTL: refreshTTL, WithRefresh: withRefresh,
		AccessScopes: scopes, AccessPersistent: in.AccessTokenPersistent,
	}, now)
	if err != nil {
		return manageServerError(code+"101", err)
	}
	minted.Apply(g, now, in.AccessTokenPersistent)
	if err := s.e.Store.CreateGrant(ctx, g); err != nil {
		return manageServerError(code+"102", err)
	}
	resp := CreateResponse{
		Result:       result(code+"001", ActionOK, "An access token was created successfully: %s, client = %s", gt, client.ID),
		AccessToken:  minted.AccessToken,
		RefreshToken: minted.RefreshToken,
		TokenType:    TokenTypeBearer,
		ExpiresAt:    millis(minted.AccessExpiresAt),
		GrantType:    in.GrantType,
		ClientID:     client.ID, ClientIdentifier: client.ID,
		Subject:    subject,
		Scopes:     scopes,
		Properties: nonNil(in.Properties),
		TokenID:    minted.AccessID,
	}
	if !minted.AccessExpiresAt.IsZero() {
		resp.ExpiresIn = minted.AccessExpiresAt.Unix() - now.Unix()
	}
	if withRefresh {
		resp.RefreshTokenScopes = scopes
	}
	return answer(resp.Result, resp)
}

// --- identifiers --------------------------------------------------------

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

// --- update -------------------------------------------------------------

type updateRequest struct {
	AccessToken           string                `json:"accessToken"`
	AccessTokenHash       string                `json:"accessTokenHash"`
	RefreshToken          string                `json:"refreshToken"`
	RefreshTokenHash      string                `json:"refreshTokenHash"`
	AccessTokenExpiresAt  int64                 `json:"accessTokenExpiresAt"`
	RefreshTokenExpiresAt int64                 `json:"refreshTokenExpiresAt"`
	Scopes                *[]string             `json:"scopes"`
	Properties            *[]tokencore.Property `json:"properties"`
	AccessTokenPersistent bool                  `json:"accessTokenPersistent"`
	// AccessTokenValueUpdated mints a new access-token value.
	AccessTokenValueUpdated bool `json:"accessTokenValueUpdated"`

	// Accepted without effect: tokengate has no per-scope lifetimes,
	// external attachments or token IDs to set.
	AccessTokenExpiresAtUpdatedOnScopeUpdate  bool   `json:"accessTokenExpiresAtUpdatedOnScopeUpdate"`
	RefreshTokenExpiresAtUpdatedOnScopeUpdate bool   `json:"refreshTokenExpiresAtUpdatedOnScopeUpdate"`
	ForExternalAttachment                     bool   `json:"forExternalAttachment"`
	TokenID                                   string `json:"tokenId"`

	// Refused when set.
	CertificateThumbprint string          `json:"certificateThumbprint"`
	DPoPKeyThumbprint     string          `json:"dpopKeyThumbprint"`
	AuthorizationDetails  json.RawMessage `json:"authorizationDetails"`
}

// UpdateResponse is the answer of POST .../auth/token/update.
type UpdateResponse struct {
	Result
	AccessToken           string               `json:"accessToken,omitempty"`
	TokenType             string               `json:"tokenType,omitempty"`
	AccessTokenExpiresAt  int64                `json:"accessTokenExpiresAt"`
	RefreshTokenExpiresAt int64                `json:"refreshTokenExpiresAt"`
	Scopes                []string             `json:"scopes"`
	Properties            []tokencore.Property `json:"properties"`
	TokenID               string               `json:"tokenId,omitempty"`
}

// errTokenMoved: the identified token stopped being current while the
// update was prepared (a concurrent refresh or revocation).
var errTokenMoved = errors.New("token is no longer current")

// manageUpdate is POST .../auth/token/update. The token is selected by
// accessToken, accessTokenHash, refreshToken, refreshTokenHash, the first
// given wins (none: BAD_REQUEST; no live token: NOT_FOUND). Then:
//
//   - scopes replaces the scope of the grant and of its access token;
//     scopes the client is not registered for are silently dropped;
//   - properties replaces the properties;
//   - refreshTokenExpiresAt (ms; 0 = unchanged) moves the refresh token's
//     expiry in place: the grant record is authoritative for it;
//   - accessTokenExpiresAt (ms), a scope change, or
//     accessTokenValueUpdated need a new access token: an access
//     token is a signed JWT whose exp and scope cannot change, so a new
//     value is minted and returned in accessToken, and the old value is
//     revoked at once (the proxy refuses it from the next request on).
//
// Expiries must be in the future and at most MaxManagedDuration away.
func (s *Service) manageUpdate(ctx context.Context, req ManageRequest) ManageResponse {
	const code = "A135"
	bad := func(format string, args ...any) ManageResponse {
		return answer(result(code+"201", ActionBadRequest, format, args...), nil)
	}
	var in updateRequest
	if err := decodeManageBody(req.ContentType, req.Body, &in); err != nil {
		return bad("%s", err.Error())
	}
	if in.CertificateThumbprint != "" || in.DPoPKeyThumbprint != "" ||
		len(in.AuthorizationDetails) > 0 && string(in.AuthorizationDetails) != "null" {
		return bad("Sender-constrained tokens and authorization details are not supported.")
	}
	if in.AccessTokenPersistent {
		return bad(descNoPersistent)
	}
	var (
		g   *tokencore.Grant
		err error
	)
	switch {
	case in.AccessToken != "":
		g, err = s.resolveIdentifier(ctx, in.AccessToken, accessField, false, true)
	case in.AccessTokenHash != "":
		g, err = s.resolveIdentifier(ctx, in.AccessTokenHash, accessField, true, false)
	case in.RefreshToken != "":
		g, err = s.resolveIdentifier(ctx, in.RefreshToken, refreshField, false, true)
	case in.RefreshTokenHash != "":
		g, err = s.resolveIdentifier(ctx, in.RefreshTokenHash, refreshField, true, false)
	default:
		return bad("One of accessToken, accessTokenHash, refreshToken or refreshTokenHash is required.")
	}
	notFound := answer(result(code+"301", ActionNotFound, "The access token does not exist."), nil)
	if isRefusal(err) {
		return withRefusal(notFound, err)
	} else if err != nil {
		return manageServerError(code+"101", err)
	}
	now := s.now()
	if g == nil || !g.Active(now) {
		return notFound
	}
	client := s.clients.lookup(g.ClientID)
	if err := validateProperties(derefProps(in.Properties)); err != nil {
		return bad("'properties': %s.", err.Error())
	}
	// Scopes.
	accessScopes, scopesChanged := g.AccessScopes, false
	var newScopes []string
	if in.Scopes != nil {
		cleaned, ok := cleanScopes(*in.Scopes)
		if !ok {
			return bad("'scopes' holds an invalid scope or too many scopes.")
		}
		newScopes = []string{}
		for _, sc := range cleaned {
			if client != nil && slices.Contains(client.Scopes, sc) {
				newScopes = append(newScopes, sc)
			}
		}
		scopesChanged = !slices.Equal(newScopes, g.Scopes) || !slices.Equal(newScopes, g.AccessScopes)
		accessScopes = newScopes
	}
	// Expiries.
	inRange := func(ms int64) (time.Time, bool) {
		t := time.UnixMilli(ms)
		return t, t.After(now) && t.Sub(now) <= MaxManagedDuration
	}
	var accessExp, refreshExp time.Time
	if in.AccessTokenExpiresAt > 0 {
		var ok bool
		if accessExp, ok = inRange(in.AccessTokenExpiresAt); !ok {
			return bad("'accessTokenExpiresAt' must be in the future, at most %s away.", MaxManagedDuration)
		}
	}
	if in.RefreshTokenExpiresAt > 0 {
		var ok bool
		if refreshExp, ok = inRange(in.RefreshTokenExpiresAt); !ok {
			return bad("'refreshTokenExpiresAt' must be in the future, at most %s away.", MaxManagedDuration)
		}
		if g.RefreshID == "" {
			return bad("The token has no refresh token.")
		}
	}
	persistent := g.AccessPersistent // only grants made elsewhere can have one
	reissue := in.AccessTokenValueUpdated || scopesChanged || !accessExp.IsZero()
	var minted *tokencore.IssuedTokens
	if reissue {
		ttl := time.Duration(0)
		switch {
		case persistent:
		case !accessExp.IsZero():
			ttl = accessExp.Sub(now)
		default:
			ttl = g.AccessExpiresAt.Sub(now) // keep the current expiry
		}
		if !persistent && ttl < time.Second {
			return notFound // expires within the second: nothing left to update
		}
		if minted, err = s.mint(g, tokencore.MintSpec{AccessTTL: ttl, AccessScopes: accessScopes, AccessPersistent: persistent}, now); err != nil {
			return manageServerError(code+"102", err)
		}
	}
	if minted != nil {
		// The old access token is revoked before the grant moves on to the
		// new one. If the revocation cannot be stored, nothing changed and
		// the same call (naming the same, still current token) can be
		// retried; if the update fails after it, the old token is refused
		// already and the retry issues the new one. The other order left a
		// grant updated whose old token stayed valid, and a retry that could
		// no longer find it.
		// It is refused until it expires, plus the most leeway any verifier
		// grants (tokencore.RevocationMargin).
		keep := g.AccessExpiresAt.Add(tokencore.RevocationMargin)
		if g.AccessExpiresAt.IsZero() {
			keep = now.Add(persistentRevocationKeep)
		}
		r := tokencore.Revocation{Kind: tokencore.RevokeToken, Key: g.AccessID, NotBefore: now, ExpiresAt: keep}
		if err := s.e.Revoke(ctx, r); err != nil {
			return manageServerError(code+"104", err)
		}
	}
	updated, err := s.e.Store.UpdateGrant(ctx, g.ID, func(cur *tokencore.Grant) error {
		if !cur.Active(now) || cur.AccessID != g.AccessID || cur.RefreshID != g.RefreshID {
			return errTokenMoved
		}
		if in.Scopes != nil {
			cur.Scopes = slices.Clone(newScopes)
		}
		if in.Properties != nil {
			cur.Properties = slices.Clone(*in.Properties)
		}
		if !refreshExp.IsZero() {
			cur.RefreshExpiresAt = refreshExp
		}
		if minted != nil {
			minted.Apply(cur, now, persistent)
		}
		cur.UpdatedAt = now
		cur.RecomputeExpiry()
		return nil
	})
	switch {
	case errors.Is(err, errTokenMoved), errors.Is(err, tokencore.ErrNotFound):
		return notFound
	case err != nil:
		return manageServerError(code+"103", err)
	}
	resp := UpdateResponse{
		Result:                result(code+"001", ActionOK, "Updated the access token successfully."),
		TokenType:             TokenTypeBearer,
		AccessTokenExpiresAt:  millis(updated.AccessExpiresAt),
		RefreshTokenExpiresAt: millis(updated.RefreshExpiresAt),
		Scopes:                nonNil(slices.Clone(updated.AccessScopes)),
		Properties:            nonNil(slices.Clone(updated.Properties)),
		TokenID:               updated.AccessID,
	}
	if minted != nil {
		resp.AccessToken = minted.AccessToken
	}
	return answer(resp.Result, resp)
}

func derefProps(p *[]tokencore.Property) []tokencore.Property {
	if p == nil {
		return nil
	}
	return *p
}

// --- delete -------------------------------------------------------------

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
	return ManageResponse{Status: http.StatusNoContent, Header: Headers()}
}

// --- revoke -------------------------------------------------------------

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

// --- ID token reissue ---------------------------------------------------

type reissueRequest struct {
	AccessToken     string `json:"accessToken"`
	RefreshToken    string `json:"refreshToken"`
	Sub             string `json:"sub"`
	Claims          string `json:"claims"`
	IDTHeaderParams string `json:"idtHeaderParams"`
	IDTokenAudType  string `json:"idTokenAudType"`
}

// ReissueResponse is the answer of POST .../idtoken/reissue.
type ReissueResponse struct {
	Result
	ResponseContent string `json:"responseContent,omitempty"`
	IDToken         string `json:"idToken,omitempty"`
}

// manageReissue is POST .../idtoken/reissue (Authlete A.10): a new ID token
// for the grant whose current access and refresh tokens are given, signed
// as a refreshed ID token (OIDC Core §12.2, see signIDToken). The grant's
// current scope must hold openid, it must have a user, and its client must
// be registered for openid and for ID-token reissue. sub, when given, must
// be the grant's subject (§12.2: "sub MUST be identical"; Authlete allows
// an override). claims is a JSON object string of extra claims, which may
// not replace the §12.2 claims. idTokenAudType "string" renders aud as a
// string (default array). idtHeaderParams is refused: the key decides the
// header. Every request problem is CALLER_ERROR (400), as Authlete's.
func (s *Service) manageReissue(ctx context.Context, req ManageRequest) ManageResponse {
	const code = "A368"
	callerErr := func(format string, args ...any) ManageResponse {
		return answer(result(code+"201", ActionCallerError, format, args...), nil)
	}
	var in reissueRequest
	if err := decodeManageBody(req.ContentType, req.Body, &in); err != nil {
		return callerErr("%s", err.Error())
	}
	if in.AccessToken == "" || in.RefreshToken == "" {
		return callerErr("'accessToken' and 'refreshToken' are required.")
	}
	if in.IDTHeaderParams != "" {
		return callerErr("'idtHeaderParams' is not supported.")
	}
	audString := false
	switch in.IDTokenAudType {
	case "", "array":
	case "string":
		audString = true
	default:
		return callerErr("'idTokenAudType' must be array or string.")
	}
	var extra map[string]any
	if in.Claims != "" {
		if len(in.Claims) > MaxExtraClaimsBytes || json.Unmarshal([]byte(in.Claims), &extra) != nil || extra == nil {
			return callerErr("'claims' must be a JSON object of at most %d bytes.", MaxExtraClaimsBytes)
		}
	}
	ga, errA := s.resolveIdentifier(ctx, in.AccessToken, accessField, false, true)
	if errA != nil && !isRefusal(errA) {
		return manageServerError(code+"101", errA)
	}
	gr, errR := s.resolveIdentifier(ctx, in.RefreshToken, refreshField, false, true)
	if errR != nil && !isRefusal(errR) {
		return manageServerError(code+"102", errR)
	}
	now := s.now()
	if ga == nil || gr == nil || ga.ID != gr.ID || !ga.Active(now) || !refreshActive(gr, gr.RefreshID, now) {
		return withRefusal(callerErr("The tokens are not the current access and refresh tokens of one live grant."), errors.Join(errA, errR))
	}
	g := ga
	if in.Sub != "" && in.Sub != g.Subject {
		return callerErr("'sub' must be the subject of the grant.")
	}
	if !s.idTokenAllowed(g, s.clients.lookup(g.ClientID), g.AccessScopes) {
		return callerErr("The grant cannot receive an ID token (openid scope, a user and a client allowed to reissue are needed).")
	}
	idToken, err := s.signIDToken(g, g.AccessExpiresAt, now, extra, audString)
	if errors.Is(err, ErrIDTokenClaims) {
		return callerErr("'claims' may not set iss, sub, aud, exp, iat, nbf, auth_time, azp, acr, nonce, type or jti.")
	} else if err != nil {
		return manageServerError(code+"103", err)
	}
	content := TokenResponse{
		AccessToken: in.AccessToken, TokenType: TokenTypeBearer, RefreshToken: in.RefreshToken,
		Scope: JoinScope(g.AccessScopes), IDToken: idToken,
	}
	if !g.AccessExpiresAt.IsZero() {
		content.ExpiresIn = max(g.AccessExpiresAt.Unix()-now.Unix(), 0)
	}
	body, err := content.Body()
	if err != nil {
		return manageServerError(code+"104", err)
	}
	resp := ReissueResponse{
		Result:          result(code+"001", ActionOK, "An ID token was reissued successfully."),
		ResponseContent: string(body), IDToken: idToken,
	}
	return answer(resp.Result, resp)
}
