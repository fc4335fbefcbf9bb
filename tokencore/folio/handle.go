package folio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Request is one HTTP request to the FOLIO token API, as the handler
// decodes it. Only what mod-authtoken's rules read is here: the handler
// needs no knowledge of them.
type Request struct {
	// Method is the HTTP method.
	Method string
	// Path is the request path relative to the handler's prefix, e.g.
	// "/token/sign".
	Path string
	// Tenant is X-Okapi-Tenant as received ("" when absent); the service
	// applies Config.DefaultTenant the same way for every endpoint.
	Tenant string
	// AccessToken is the caller's bearer token (X-Okapi-Token or
	// Authorization: Bearer, extracted as tokengate_protect does), read
	// only by /token/invalidate-all.
	AccessToken string
	// AccessTokenErr, when set, is why the bearer token could not be read
	// (several conflicting tokens, another Authorization scheme): a 400
	// at /token/invalidate-all.
	AccessTokenErr error
	// TrustedSigner is the result of the handler's signer authentication
	// (address range and/or signer secret): only a trusted signer may call
	// /token/sign, /token and /refreshtoken.
	TrustedSigner bool
	// Body is the request body, bounded by the caller (an
	// http.MaxBytesReader: its *http.MaxBytesError is a 413). It is read
	// only by the endpoints that take one, after the method, tenant and
	// signer checks. Nil reads as empty.
	Body io.Reader
}

// Response is the answer to a Request: mod-authtoken's status, headers
// and body (JSON on success, text/plain on failure).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Err is the cause of a refusal or failure, for the handler's log (a
	// *tokencore.RedeemError or *tokencore.ReplayError among others);
	// never sent to the client.
	Err error
}

// The endpoint paths, relative to the handler's prefix.
const (
	PathSign          = "/token/sign"
	PathRefresh       = "/token/refresh"
	PathInvalidate    = "/token/invalidate"
	PathInvalidateAll = "/token/invalidate-all"
	PathLegacy        = "/token"
	PathLegacyRefresh = "/refreshtoken"
	PathHealth        = "/admin/health"
)

// signPermissions are the endpoints that mint tokens for any subject, with
// the module permission mod-authtoken requires for each (named in its 401
// message). Only a trusted signer may call them.
var signPermissions = map[string]string{
	PathSign:          "auth.token.sign.post",
	PathLegacy:        "auth.token.post",
	PathLegacyRefresh: "auth.refreshtoken.post",
}

// Serves reports whether path (relative to the prefix) is an endpoint of
// the API; the handler passes any other request on.
func Serves(path string) bool {
	switch path {
	case PathSign, PathRefresh, PathInvalidate, PathInvalidateAll, PathLegacy, PathLegacyRefresh, PathHealth:
		return true
	}
	return false
}

// SignerOnly reports whether only a trusted signer may call path, so the
// handler authenticates the signer only there.
func SignerOnly(path string) bool {
	_, ok := signPermissions[path]
	return ok
}

// Handle answers one request of the FOLIO token API: routing, the method,
// tenant and signer checks, decoding, the operation, and the 201/204
// choice, with mod-authtoken's messages.
func (f *Service) Handle(ctx context.Context, req Request) Response {
	switch {
	case !Serves(req.Path):
		return plain(http.StatusNotFound, "Not Found", nil)
	case req.Path == PathHealth:
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			return methodNotAllowed("GET, HEAD")
		}
		return plain(http.StatusOK, "OK", nil)
	case req.Method != http.MethodPost:
		return methodNotAllowed("POST")
	}
	tenant := req.Tenant
	if tenant == "" {
		tenant = f.cfg.DefaultTenant
	}
	if tenant == "" {
		return plain(http.StatusBadRequest, "Missing header: X-Okapi-Tenant", nil)
	}
	if perm, needsSigner := signPermissions[req.Path]; needsSigner && !req.TrustedSigner {
		return plain(http.StatusUnauthorized,
			fmt.Sprintf("Missing required module-level permissions for endpoint '%s': %s", req.Path, perm), nil)
	}
	if req.Path == PathInvalidateAll {
		return answer(http.StatusNoContent, nil, f.invalidateAll(ctx, tenant, req))
	}
	body, ferr := readBody(req.Body)
	if ferr != nil {
		return failure(ferr)
	}
	switch req.Path {
	case PathSign:
		p, ferr := DecodeSignRequest(body)
		if ferr != nil {
			return failure(ferr)
		}
		result, ferr := f.Sign(ctx, tenant, p)
		return answer(http.StatusCreated, result, ferr)
	case PathLegacy:
		p, ferr := DecodeSignRequest(body)
		if ferr != nil {
			return failure(ferr)
		}
		tok, ferr := f.Legacy(ctx, tenant, p)
		return answer(http.StatusCreated, map[string]string{"token": tok}, ferr)
	case PathLegacyRefresh:
		userID, sub, ferr := DecodeLegacyRefreshRequest(body)
		if ferr != nil {
			return failure(ferr)
		}
		tok, ferr := f.LegacyRefresh(ctx, tenant, userID, sub)
		return answer(http.StatusCreated, map[string]string{"refreshToken": tok}, ferr)
	case PathRefresh:
		tok, ferr := DecodeRefreshRequest(body)
		if ferr != nil {
			return failure(ferr)
		}
		// X-Okapi-User-Id is never compared: identity comes from tokens
		// only, and the gateway strips a client's asserted headers.
		result, ferr := f.Refresh(ctx, tenant, "", tok)
		return answer(http.StatusCreated, result, ferr)
	default: // PathInvalidate
		tok, ferr := DecodeRefreshRequest(body)
		if ferr != nil {
			return failure(ferr)
		}
		return answer(http.StatusNoContent, nil, f.Invalidate(ctx, tenant, tok))
	}
}

// invalidateAll reads the caller's access token and logs its user out.
func (f *Service) invalidateAll(ctx context.Context, tenant string, req Request) *Error {
	if req.AccessTokenErr != nil {
		return &Error{Status: http.StatusBadRequest, Message: "Bad Request: " + req.AccessTokenErr.Error(), Err: req.AccessTokenErr}
	}
	if req.AccessToken == "" {
		return invalid(http.StatusUnauthorized, errors.New("no access token"))
	}
	return f.InvalidateAll(ctx, tenant, req.AccessToken)
}

// readBody reads the bounded body: over the caller's bound is a 413.
func readBody(r io.Reader) ([]byte, *Error) {
	if r == nil {
		return nil, nil
	}
	body, err := io.ReadAll(r)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Message: "Request Entity Too Large", Err: err}
	}
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Message: "Bad Request: cannot read body", Err: err}
	}
	return body, nil
}

// answer is the response of an operation: its error, or status with the
// JSON result (201; the tokens must not be cached) or nothing (204).
func answer(status int, result any, ferr *Error) Response {
	if ferr != nil {
		return failure(ferr)
	}
	if status == http.StatusNoContent {
		return Response{Status: status, Header: http.Header{}}
	}
	var body []byte
	if a, ok := result.(interface{ AppendJSON([]byte) []byte }); ok {
		body = a.AppendJSON(make([]byte, 0, 1024)) // Tokens: no reflection, no compaction pass
	} else {
		var err error
		if body, err = json.Marshal(result); err != nil {
			return failure(&Error{Status: http.StatusInternalServerError, Message: "Error: cannot encode response", Err: err})
		}
	}
	return Response{Status: status, Header: jsonHeaders(), Body: body}
}

// jsonHeaders are the headers of a 201: JSON, and the tokens must not be
// cached. The three values share one backing array (one allocation, not
// three), each capped at its length so an append by a later handler
// copies instead of writing into its neighbour.
func jsonHeaders() http.Header {
	v := [...]string{"no-store", "no-cache", "application/json"}
	return http.Header{"Cache-Control": v[0:1:1], "Pragma": v[1:2:2], "Content-Type": v[2:3:3]}
}

// failure is mod-authtoken's text/plain error, with Retry-After for a
// store that is unavailable.
func failure(ferr *Error) Response {
	resp := plain(ferr.Status, ferr.Message, ferr.Err)
	if ferr.RetryAfter > 0 {
		resp.Header.Set("Retry-After", strconv.Itoa(int((ferr.RetryAfter+time.Second-1)/time.Second)))
	}
	return resp
}

func methodNotAllowed(allow string) Response {
	resp := plain(http.StatusMethodNotAllowed, "Method Not Allowed", nil)
	resp.Header.Set("Allow", allow)
	return resp
}

// plain is a text/plain answer, mod-authtoken's error format.
func plain(status int, msg string, cause error) Response {
	h := http.Header{}
	h.Set("Content-Type", "text/plain")
	return Response{Status: status, Header: h, Body: []byte(msg), Err: cause}
}
