package oauth

import (
	"context"
	"encoding/json"
	"errors"
)

// POST .../idtoken/reissue.

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
