package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
// the others are tokengate's and listed in docs/oauth.md.
//
// This file holds the entry point (Manage), the answer helpers and the
// shared enums; each API has its own file (manage_list.go, manage_create.go,
// manage_update.go, manage_delete.go, manage_revoke.go, manage_reissue.go,
// authorize_issue.go for authorization/issue and /fail),
// beside operator authentication (manage_auth.go), identifier resolution
// (manage_identify.go) and body decoding (manage_decode.go).

// Management actions and the HTTP status each is answered with (A.11).
const (
	ActionOK          = "OK"
	ActionBadRequest  = "BAD_REQUEST"
	ActionForbidden   = "FORBIDDEN"
	ActionNotFound    = "NOT_FOUND"
	ActionServerError = "INTERNAL_SERVER_ERROR"
	ActionCallerError = "CALLER_ERROR"
	// ActionLocation: the answer's responseContent is the URL the app
	// redirects the browser to (authorization/issue and /fail).
	ActionLocation = "LOCATION"
)

func actionStatus(action string) int {
	switch action {
	case ActionOK, ActionLocation:
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

// ManageUnreadableBody is the answer to a request whose body the handler
// could not read: larger than its limit (tooLarge) or cut off. Nothing was
// done, so it is a BAD_REQUEST the caller can correct.
func ManageUnreadableBody(tooLarge bool) ManageResponse {
	msg := "The request body cannot be read."
	if tooLarge {
		msg = "The request body is too large."
	}
	return answer(result("A001201", ActionBadRequest, "%s", msg), nil)
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
	case route == "/auth/token/create", route == "/auth/token/update", route == "/auth/token/revoke", route == "/idtoken/reissue",
		route == "/auth/authorization/issue", route == "/auth/authorization/fail":
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
	case "/auth/authorization/issue":
		return s.authorizationIssue(ctx, req)
	case "/auth/authorization/fail":
		return s.authorizationFail(ctx, req)
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
