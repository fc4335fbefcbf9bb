package tokencore

import (
	"errors"
	"strings"
)

// Why an Authorization header carries no usable bearer token. Callers
// answer both as a client error (400), never by guessing which header
// or scheme was meant.
var (
	ErrSeveralAuthorization = errors.New("more than one Authorization header")
	ErrNotBearer            = errors.New("the Authorization scheme must be Bearer")
)

// BearerToken is the token of the Authorization header lines of a request
// (RFC 6750 §2.1; the scheme is case-insensitive), "" when there is none.
// It is the one reading of Authorization shared by every handler and
// protocol, so a token is accepted or refused the same way everywhere.
func BearerToken(authorization []string) (string, error) {
	switch len(authorization) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", ErrSeveralAuthorization
	}
	scheme, value, _ := strings.Cut(authorization[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNotBearer
	}
	return strings.TrimSpace(value), nil
}
