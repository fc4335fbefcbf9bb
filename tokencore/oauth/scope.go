package oauth

import (
	"slices"
	"strings"
)

// Scope limits. A request's scope parameter is space-delimited scope tokens
// (RFC 6749 §3.3); these bounds keep parsing and subset checks cheap
// whatever a client sends.
const (
	// MaxScopeLength bounds the scope parameter, in bytes.
	MaxScopeLength = 4096
	// MaxScopes bounds the number of distinct scope tokens in one request.
	MaxScopes = 128
)

// descInvalidScope is authlib's description for every invalid_scope.
const descInvalidScope = "The requested scope is invalid, unknown, or malformed."

// ParseScope splits a scope parameter into its tokens, dropping duplicates
// and keeping the first-seen order. Runs of spaces are tolerated (authlib
// splits on whitespace), but any character outside the scope-token set
// %x21 / %x23-5B / %x5D-7E — tabs and newlines included — makes the scope
// invalid, as does exceeding MaxScopeLength or MaxScopes. An empty or
// all-space scope yields nil, no error: the parameter counts as absent.
func ParseScope(s string) ([]string, *Error) {
	if len(s) > MaxScopeLength {
		return nil, NewError(ErrInvalidScope, descInvalidScope)
	}
	var out []string
	for tok := range strings.SplitSeq(s, " ") {
		if tok == "" {
			continue
		}
		if !isScopeToken(tok) {
			return nil, NewError(ErrInvalidScope, descInvalidScope)
		}
		if slices.Contains(out, tok) {
			continue
		}
		if len(out) == MaxScopes {
			return nil, NewError(ErrInvalidScope, descInvalidScope)
		}
		out = append(out, tok)
	}
	return out, nil
}

// JoinScope renders scope tokens as a scope parameter value.
func JoinScope(scopes []string) string {
	return strings.Join(scopes, " ")
}

// ContainsScope reports whether scope is one of scopes (case-sensitive).
func ContainsScope(scopes []string, scope string) bool {
	return slices.Contains(scopes, scope)
}

// Narrow applies a refresh request's scope parameter to the scope of the
// grant (RFC 6749 §6, authlib's _validate_token_scope):
//
//   - no or empty requested scope: the granted scope, unchanged (a copy);
//   - otherwise the grant must have a scope and every requested token must
//     be in it, compared case-sensitively; the result is the requested
//     tokens in request order;
//   - anything else (widening, a scope on a scopeless grant, a malformed
//     scope) is invalid_scope "The requested scope is invalid, unknown, or
//     malformed."
//
// Narrowing concerns the new access token only; the grant, and a rotated
// refresh token, keep the granted scope (RFC 6749 §6).
func Narrow(granted []string, requested string) ([]string, *Error) {
	req, err := ParseScope(requested)
	if err != nil {
		return nil, err
	}
	if len(req) == 0 {
		return slices.Clone(granted), nil
	}
	if len(granted) == 0 {
		return nil, NewError(ErrInvalidScope, descInvalidScope)
	}
	for _, s := range req {
		if !slices.Contains(granted, s) {
			return nil, NewError(ErrInvalidScope, descInvalidScope)
		}
	}
	return req, nil
}

// isScopeToken reports whether s is a non-empty scope-token: 1*( %x21 /
// %x23-5B / %x5D-7E ) (RFC 6749 §3.3).
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
