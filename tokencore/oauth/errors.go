package oauth

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// ErrorCode is an OAuth error code as sent in the "error" member. It is
// itself an error, so callers branch on a returned *Error with
// errors.Is(err, oauth.ErrInvalidGrant) without comparing strings. Codes are
// constants: there is no package-level error value anyone could modify.
type ErrorCode string

// Error returns the code itself.
func (c ErrorCode) Error() string { return string(c) }

// Error codes of RFC 6749 §5.2, RFC 7009 §2.2.1 and the server_error a
// token endpoint answers when it fails internally.
const (
	// ErrInvalidRequest: a parameter is missing, repeated or malformed, or
	// the request uses more than one client authentication method.
	ErrInvalidRequest ErrorCode = "invalid_request"
	// ErrInvalidClient: client authentication failed.
	ErrInvalidClient ErrorCode = "invalid_client"
	// ErrInvalidGrant: the grant (here: the refresh token) is invalid,
	// expired, revoked, or was issued to another client.
	ErrInvalidGrant ErrorCode = "invalid_grant"
	// ErrUnauthorizedClient: the client may not use this grant type.
	ErrUnauthorizedClient ErrorCode = "unauthorized_client"
	// ErrUnsupportedGrantType: the grant type is not supported.
	ErrUnsupportedGrantType ErrorCode = "unsupported_grant_type"
	// ErrInvalidScope: the requested scope is invalid, unknown, malformed
	// or exceeds what was granted.
	ErrInvalidScope ErrorCode = "invalid_scope"
	// ErrUnsupportedTokenType: the server cannot revoke (RFC 7009) or
	// introspect tokens of this type.
	ErrUnsupportedTokenType ErrorCode = "unsupported_token_type"
	// ErrServerError: an internal failure; the description must not reveal
	// the cause.
	ErrServerError ErrorCode = "server_error"
	// ErrTemporarilyUnavailable: the store cannot be reached (RFC 6749
	// §4.1.2.1's code, used here for every endpoint): 503 with Retry-After;
	// nothing was changed and the same request can be retried.
	ErrTemporarilyUnavailable ErrorCode = "temporarily_unavailable"
)

// maxDescriptionLen bounds the rendered description. Descriptions may quote
// a request parameter name, and a client must not be able to make us echo
// an arbitrarily large value.
const maxDescriptionLen = 512

// Error is an OAuth error response (RFC 6749 §5.2). It is both a Go error and
// everything a handler needs to answer: status, JSON body, and the
// WWW-Authenticate challenge for 401s.
type Error struct {
	// Code is the "error" member, normally one of the ErrorCode constants.
	Code string
	// Description is the "error_description" member; omitted when empty.
	// It is rendered restricted to the characters RFC 6749 allows, so it may
	// be built from request data, but it must never contain a secret.
	Description string
	// Status is the HTTP status: 400 unless the error says otherwise.
	Status int
	// AuthScheme, when set on a 401, is the scheme of the WWW-Authenticate
	// challenge: "Basic" for invalid_client (RFC 6749 §5.2 requires the
	// header to match the scheme the client tried; RFC 9110 §15.5.2 requires
	// a challenge on every 401).
	AuthScheme string
	// Allow, set on a 405, lists the methods the endpoint accepts (RFC
	// 9110 §15.5.6 requires the Allow header on every 405).
	Allow string

	// replay describes the refresh-token replay behind an invalid_grant
	// (see Replay); it is never rendered.
	replay *tokencore.ReplayError

	// cause is the internal failure behind a server_error (see Cause); it
	// is never rendered.
	cause error
	// refusal is the redemption rule's refusal behind an invalid_grant
	// (see Refusal); it is never rendered.
	refusal error
}

// NewError returns an error with the status RFC 6749 and RFC 7009 give the
// code: 500 for server_error, 400 for everything else. invalid_client starts
// at 400 too; Clients.Authenticate raises it to 401 where authlib does.
func NewError(code ErrorCode, description string) *Error {
	status := http.StatusBadRequest
	switch code {
	case ErrServerError:
		status = http.StatusInternalServerError
	case ErrTemporarilyUnavailable:
		status = http.StatusServiceUnavailable
	}
	return &Error{Code: string(code), Description: description, Status: status}
}

// Error implements error as "code: description".
func (e *Error) Error() string {
	if e == nil {
		return string(ErrServerError)
	}
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// Is makes errors.Is(err, ErrInvalidGrant) true for an *Error with that code.
func (e *Error) Is(target error) bool {
	var c ErrorCode
	if e == nil || !errors.As(target, &c) {
		return false
	}
	return e.Code == string(c)
}

// HTTPStatus returns Status, or 400 when it was left unset, so a
// half-filled Error can never produce a 200 or an invalid status.
func (e *Error) HTTPStatus() int {
	if e == nil {
		return http.StatusInternalServerError
	}
	if e.Status < 400 || e.Status > 599 {
		return http.StatusBadRequest
	}
	return e.Status
}

// Body returns the JSON body: {"error":…} then "error_description" when it
// is non-empty, in that order (authlib's order). Both values are sanitized
// to the RFC 6749 character set, so they need no JSON escaping and the body
// is built directly and cannot fail.
func (e *Error) Body() []byte {
	code, desc := string(ErrServerError), ""
	if e != nil {
		code, desc = sanitizeCode(e.Code), sanitizeDescription(e.Description, '\'')
	}
	var b strings.Builder
	b.Grow(len(code) + len(desc) + 40)
	b.WriteString(`{"error":"`)
	b.WriteString(code)
	b.WriteByte('"')
	if desc != "" {
		b.WriteString(`,"error_description":"`)
		b.WriteString(desc)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// WWWAuthenticate returns the challenge for a 401 with an AuthScheme, else
// "". The format is authlib's: no realm, error_description always present,
// and a double quote in the description replaced by "|", e.g.
//
//	Basic error="invalid_client", error_description="The client does not exist on this server."
func (e *Error) WWWAuthenticate() string {
	if e == nil || e.HTTPStatus() != http.StatusUnauthorized || e.AuthScheme == "" {
		return ""
	}
	scheme := sanitizeToken(e.AuthScheme)
	if scheme == "" {
		return ""
	}
	return scheme + ` error="` + sanitizeCode(e.Code) +
		`", error_description="` + sanitizeDescription(e.Description, '|') + `"`
}

// Headers returns the response headers for this error: the JSON headers
// every token-endpoint answer carries (see Headers) plus WWW-Authenticate
// when there is a challenge, and Retry-After on a 503. A new map is
// returned on every call.
func (e *Error) Headers() http.Header {
	h := Headers()
	if c := e.WWWAuthenticate(); c != "" {
		h.Set("WWW-Authenticate", c)
	}
	if e.HTTPStatus() == http.StatusServiceUnavailable {
		h.Set("Retry-After", retryAfterSeconds())
	}
	if e.HTTPStatus() == http.StatusMethodNotAllowed && e.Allow != "" {
		h.Set("Allow", e.Allow)
	}
	return h
}

// retryAfterSeconds is tokencore.StoreRetryAfter in whole seconds.
func retryAfterSeconds() string {
	return strconv.Itoa(int((tokencore.StoreRetryAfter + time.Second - 1) / time.Second))
}

// descriptionChar reports whether c may appear in error_description:
// %x20-21 / %x23-5B / %x5D-7E (RFC 6749 §5.2), i.e. printable ASCII
// without '"' and '\'. authlib refuses anything else with a 500.
func descriptionChar(c byte) bool {
	return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'
}

// sanitizeDescription maps a description into the allowed set: '"' becomes
// quote (authlib's "|" in the challenge, "'" in the body), '\' becomes '/',
// any other byte outside the set (controls, non-ASCII) becomes '?'. The
// result is truncated to maxDescriptionLen.
func sanitizeDescription(s string, quote byte) string {
	if len(s) > maxDescriptionLen {
		s = s[:maxDescriptionLen]
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if !descriptionChar(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case descriptionChar(c):
		case c == '"':
			b[i] = quote
		case c == '\\':
			b[i] = '/'
		default:
			b[i] = '?'
		}
	}
	return string(b)
}

// sanitizeCode restricts an error code to the RFC 6749 §A.7 set (%x20-21 /
// %x23-5B / %x5D-7E), falling back to server_error when nothing is left,
// since "error" is required.
func sanitizeCode(s string) string {
	s = sanitizeDescription(s, '\'')
	if s == "" {
		return string(ErrServerError)
	}
	return s
}

// sanitizeToken keeps an auth-scheme name to RFC 9110 token characters
// (letters, digits and a few marks), dropping the rest, so a misconfigured
// scheme cannot inject into the header.
func sanitizeToken(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
			return r
		}
		return -1
	}, s)
}
