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
