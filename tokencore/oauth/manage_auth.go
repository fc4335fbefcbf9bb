package oauth

import (
	"net/http"
	"strings"
)

// Operator authentication of the management API.

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
