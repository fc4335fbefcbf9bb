package policy

import (
	"errors"
	"net/http"

	"github.com/tokengate/tokengate/tokencore"
)

// Errors of a bearer request that are not the token's verdict. The glue
// wraps its own causes with them, so ChallengeFor sees every outcome.
var (
	// ErrNoToken: the request carries no token at all (RFC 6750 §3.1: the
	// challenge then has no error code).
	ErrNoToken = errors.New("a bearer token is required")
	// ErrInvalidRequest: the request carries its token badly (several
	// Authorization headers, another scheme, conflicting tokens).
	ErrInvalidRequest = errors.New("invalid bearer request")
)

// InvalidRequest wraps why a request carries its token badly (the
// glue's fixed texts, such as tokencore.ErrNotBearer): it is
// ErrInvalidRequest, described by cause.
func InvalidRequest(cause error) error { return requestError{cause} }

type requestError struct{ cause error }

func (e requestError) Error() string        { return e.cause.Error() }
func (e requestError) Unwrap() error        { return e.cause }
func (e requestError) Is(target error) bool { return target == ErrInvalidRequest }

// Challenge is how a protected resource answers a request it refuses (RFC
// 6750 §3): the status, the error code for WWW-Authenticate and the JSON
// body, and the scope a token needs when a scope was missing.
type Challenge struct {
	// Status is 400, 401, 403 or 503.
	Status int
	// Code is the RFC 6750 error code (invalid_request, invalid_token,
	// insufficient_scope), "" when the request had no token, or
	// temporarily_unavailable for a 503 (body only).
	Code string
	// Description is safe to send (no token material, no claim value).
	Description string
	// Scope, with insufficient_scope, is the scope a token needs.
	Scope string
	// Result classifies the outcome for metrics: missing, invalid,
	// expired, revoked, forbidden or unavailable.
	Result string
}

// ChallengeFor is the one mapping from a refused bearer request (a
// verification error of tokencore, a policy Refusal, ErrNoToken,
// ErrInvalidRequest) to its answer:
//
//   - no token: 401 without an error code;
//   - a badly carried token: 400 invalid_request;
//   - a token that is not valid (malformed, bad signature, expired,
//     revoked, wrong type): 401 invalid_token;
//   - a valid token the route does not admit: 403 insufficient_scope,
//     with the scope it needs when a scope rule failed (RFC 6750 §3.1
//     defines insufficient_scope as "the request requires higher
//     privileges than provided by the access token", which is every
//     policy refusal), and for a token of another tenant, which is
//     mod-authtoken's 403 for an X-Okapi-Tenant mismatch;
//   - the revocations cannot be confirmed: 503, no challenge.
func ChallengeFor(err error) Challenge {
	var refusal *Refusal
	switch {
	case errors.Is(err, ErrNoToken):
		return Challenge{Status: http.StatusUnauthorized, Description: ErrNoToken.Error(), Result: "missing"}
	case errors.Is(err, ErrInvalidRequest):
		desc := ErrInvalidRequest.Error()
		var re requestError
		if errors.As(err, &re) {
			desc = re.cause.Error()
		}
		return Challenge{Status: http.StatusBadRequest, Code: "invalid_request", Description: desc, Result: "invalid"}
	case errors.Is(err, tokencore.ErrIssuerUnavailable):
		return Challenge{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
			Description: "the token's issuer cannot be reached to confirm its keys; retry later", Result: "unavailable"}
	case errors.Is(err, tokencore.ErrStoreUnavailable):
		return Challenge{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
			Description: "the token store cannot be reached to confirm revocations; retry later", Result: "unavailable"}
	case errors.As(err, &refusal):
		return Challenge{Status: http.StatusForbidden, Code: "insufficient_scope", Description: refusal.Description,
			Scope: refusal.Scope, Result: "forbidden"}
	case errors.Is(err, tokencore.ErrTokenWrongTenant):
		return Challenge{Status: http.StatusForbidden, Code: "insufficient_scope",
			Description: "the token belongs to another tenant", Result: "forbidden"}
	case errors.Is(err, tokencore.ErrTokenExpired):
		return invalidToken("the token has expired", "expired")
	case errors.Is(err, tokencore.ErrTokenRevoked):
		return invalidToken("the token has been revoked", "revoked")
	case errors.Is(err, tokencore.ErrTokenNotYetValid):
		return invalidToken("the token is not valid yet", "invalid")
	case errors.Is(err, tokencore.ErrTokenWrongType):
		return invalidToken("the token is not an access token", "invalid")
	case errors.Is(err, tokencore.ErrTokenSignature):
		return invalidToken("the token signature is invalid", "invalid")
	case errors.Is(err, tokencore.ErrTokenAudience):
		return invalidToken("the token is meant for another audience", "invalid")
	case errors.Is(err, tokencore.ErrTokenIssuer):
		return invalidToken("the token's issuer is not trusted here", "invalid")
	case errors.Is(err, tokencore.ErrTokenInactive):
		return invalidToken("the token is not active", "invalid")
	default:
		return invalidToken("the token is malformed", "invalid")
	}
}

func invalidToken(desc, result string) Challenge {
	return Challenge{Status: http.StatusUnauthorized, Code: "invalid_token", Description: desc, Result: result}
}

// Header is the WWW-Authenticate value of the challenge for realm (which
// the caller has checked holds no quote, backslash or line break), or ""
// for a 503, which challenges nothing.
func (c Challenge) Header(realm string) string {
	if c.Status == http.StatusServiceUnavailable {
		return ""
	}
	h := `Bearer realm="` + realm + `"`
	if c.Code == "" {
		return h
	}
	h += `, error="` + c.Code + `", error_description="` + quotable(c.Description) + `"`
	if c.Scope != "" {
		h += `, scope="` + c.Scope + `"`
	}
	return h
}

// Body is the JSON body of the answer.
func (c Challenge) Body() map[string]string {
	code := c.Code
	if code == "" {
		code = "unauthorized"
	}
	b := map[string]string{"error": code, "error_description": c.Description}
	if c.Scope != "" {
		b["scope"] = c.Scope
	}
	return b
}

// quotable drops what a quoted-string cannot hold as it is; descriptions
// are fixed texts and validated rule names, so this is a last guard.
func quotable(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c > 0x7e {
			b := make([]byte, 0, len(s))
			for j := 0; j < len(s); j++ {
				if c := s[j]; c >= 0x20 && c != '"' && c != '\\' && c <= 0x7e {
					b = append(b, c)
				}
			}
			return string(b)
		}
	}
	return s
}
