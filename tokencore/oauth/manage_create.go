package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// POST .../auth/token/create and the checks of grant input it shares with update.

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
//
// It runs in three steps, as update does: decodeCreate reads the body and
// refuses what tokengate does not support, planCreate checks the input
// against the client and decides the grant and its lifetimes without
// changing anything, and applyCreate mints, stores and answers.
func (s *Service) manageCreate(ctx context.Context, req ManageRequest) ManageResponse {
	in, refused := decodeCreate(req)
	if refused != nil {
		return *refused
	}
	plan, refused := s.planCreate(in)
	if refused != nil {
		return *refused
	}
	return s.applyCreate(ctx, in, plan)
}

// createCode is the API number of create's result codes.
const createCode = "A109"

// createBad is create's BAD_REQUEST answer.
func createBad(format string, args ...any) *ManageResponse {
	r := answer(result(createCode+"201", ActionBadRequest, format, args...), nil)
	return &r
}

// createForbidden is create's FORBIDDEN answer for a client of outcome.
func createForbidden(outcome, format string, args ...any) *ManageResponse {
	r := answer(result(createCode+outcome, ActionForbidden, format, args...), nil)
	return &r
}

// decodeCreate decodes the body and refuses, before anything else, what
// tokengate does not support and a request without a grant type.
func decodeCreate(req ManageRequest) (createRequest, *ManageResponse) {
	var in createRequest
	if err := decodeManageBody(req.ContentType, req.Body, &in); err != nil {
		return in, createBad("%s", err.Error())
	}
	switch {
	case in.AccessToken != "" || in.RefreshToken != "":
		return in, createBad("Caller-supplied token values are not supported.")
	case in.CertificateThumbprint != "" || in.DPoPKeyThumbprint != "":
		return in, createBad("Sender-constrained tokens are not supported.")
	case len(in.AuthorizationDetails) > 0 && string(in.AuthorizationDetails) != "null", len(in.Resources) > 0, in.JWTAtClaims != "":
		return in, createBad("authorizationDetails, resources and jwtAtClaims are not supported.")
	case in.AccessTokenPersistent:
		return in, createBad(descNoPersistent)
	case in.GrantType == "":
		return in, createBad("'grantType' is required.")
	}
	return in, nil
}

// createPlan is what planCreate decided: the client, the new grant (not
// yet stored, without tokens) and the lifetimes of its first tokens.
type createPlan struct {
	client                *Client
	grant                 *tokencore.Grant
	accessTTL, refreshTTL time.Duration
	withRefresh           bool
	now                   time.Time
}

// planCreate checks the input against the client registry and the limits
// and builds the grant; it reads and writes nothing.
func (s *Service) planCreate(in createRequest) (createPlan, *ManageResponse) {
	gt := grantTypeValue(in.GrantType)
	if gt == "" || gt == GrantTypeRefreshToken {
		return createPlan{}, createBad("'grantType' must be one of Authlete's grant types other than REFRESH_TOKEN.")
	}
	clientID := string(in.ClientID)
	if in.ClientIdentifier != "" {
		if clientID != "" && clientID != in.ClientIdentifier {
			return createPlan{}, createBad("'clientId' and 'clientIdentifier' name different clients.")
		}
		clientID = in.ClientIdentifier
	}
	if clientID == "" {
		return createPlan{}, createBad("'clientId' or 'clientIdentifier' is required.")
	}
	client := s.clients.lookup(clientID)
	if client == nil {
		return createPlan{}, createForbidden("301", "The client does not exist in this service.")
	}
	if !client.AllowsGrant(gt) {
		return createPlan{}, createForbidden("302", "The client is not registered for the grant type %s.", in.GrantType)
	}
	subject := in.Subject
	if gt == GrantTypeClientCredentials {
		subject = ""
	} else if !validSubject(subject) {
		return createPlan{}, createBad("'subject' is required: printable ASCII, at most %d characters.", MaxSubjectLength)
	}
	scopes, ok := cleanScopes(in.Scopes)
	if !ok {
		return createPlan{}, createBad("'scopes' holds an invalid scope or too many scopes.")
	}
	if !client.AllowsScopes(scopes) {
		return createPlan{}, createBad("'scopes' holds a scope the client is not registered for.")
	}
	defAccess, defRefresh := s.ttls(client)
	accessTTL, ok1 := durationSeconds(in.AccessTokenDuration, defAccess)
	refreshTTL, ok2 := durationSeconds(in.RefreshTokenDuration, defRefresh)
	if !ok1 || !ok2 {
		return createPlan{}, createBad("Durations must be between 0 and %d seconds.", int64(MaxManagedDuration/time.Second))
	}
	if err := validateProperties(in.Properties); err != nil {
		return createPlan{}, createBad("'properties': %s.", err.Error())
	}
	if len(in.ACR) > MaxACRLength || !isVSChars(in.ACR) {
		return createPlan{}, createBad("'acr' must be printable ASCII, at most %d characters.", MaxACRLength)
	}
	now := s.now()
	authTime := now
	if in.AuthTime != 0 {
		authTime = time.Unix(in.AuthTime, 0)
		if in.AuthTime < 0 || authTime.After(now.Add(time.Minute)) {
			return createPlan{}, createBad("'authTime' must be a time in the past, in seconds since the epoch.")
		}
	}
	g := &tokencore.Grant{
		ID: tokencore.NewGrantID(), Kind: tokencore.GrantKindManage, Subject: subject, ClientID: client.ID,
		GrantType: gt, Scopes: scopes, ACR: in.ACR, Properties: in.Properties,
		Status: tokencore.GrantActive, CreatedAt: now,
	}
	if subject != "" {
		g.AuthTime = authTime
	}
	return createPlan{
		client: client, grant: g, accessTTL: accessTTL, refreshTTL: refreshTTL, now: now,
		withRefresh: gt != "implicit" && gt != GrantTypeClientCredentials && client.AllowsGrant(GrantTypeRefreshToken),
	}, nil
}

// applyCreate mints the grant's first tokens, stores the grant and
// answers with the tokens.
func (s *Service) applyCreate(ctx context.Context, in createRequest, p createPlan) ManageResponse {
	g, now := p.grant, p.now
	minted, err := s.mint(g, tokencore.MintSpec{
		AccessTTL: p.accessTTL, RefreshTTL: p.refreshTTL, WithRefresh: p.withRefresh,
		AccessScopes: g.Scopes, AccessPersistent: in.AccessTokenPersistent,
	}, now)
	if err != nil {
		return manageServerError(createCode+"101", err)
	}
	minted.Apply(g, now, in.AccessTokenPersistent)
	if err := s.e.Store.CreateGrant(ctx, g); err != nil {
		return manageServerError(createCode+"102", err)
	}
	resp := CreateResponse{
		Result:       result(createCode+"001", ActionOK, "An access token was created successfully: %s, client = %s", g.GrantType, p.client.ID),
		AccessToken:  minted.AccessToken,
		RefreshToken: minted.RefreshToken,
		TokenType:    TokenTypeBearer,
		ExpiresAt:    millis(minted.AccessExpiresAt),
		GrantType:    in.GrantType,
		ClientID:     p.client.ID, ClientIdentifier: p.client.ID,
		Subject:    g.Subject,
		Scopes:     g.Scopes,
		Properties: nonNil(in.Properties),
		TokenID:    minted.AccessID,
	}
	if !minted.AccessExpiresAt.IsZero() {
		resp.ExpiresIn = minted.AccessExpiresAt.Unix() - now.Unix()
	}
	if p.withRefresh {
		resp.RefreshTokenScopes = g.Scopes
	}
	return answer(resp.Result, resp)
}
