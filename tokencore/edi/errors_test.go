package edi

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tokengate/tokengate/tokencore"
)

// TestErrorsAreTheEngines: each EDI verification sentinel is the engine's
// token error said of an EDI or PASTA token, so a caller branches on one
// vocabulary for every protocol, and the EDI sentinels stay distinct from
// one another (the service's answers depend on which one it got).
func TestErrorsAreTheEngines(t *testing.T) {
	engine := []error{tokencore.ErrTokenMalformed, tokencore.ErrTokenSignature, tokencore.ErrTokenExpired,
		tokencore.ErrTokenNotYetValid, tokencore.ErrTokenRevoked}
	for _, tc := range []struct {
		err  error
		want error // the engine's error it is; nil: none
	}{
		{ErrMalformed, tokencore.ErrTokenMalformed},
		{ErrSignature, tokencore.ErrTokenSignature},
		{ErrExpired, tokencore.ErrTokenExpired},
		{ErrNotYetValid, tokencore.ErrTokenNotYetValid},
		{ErrClaims, tokencore.ErrTokenMalformed},
		{ErrRevoked, tokencore.ErrTokenRevoked},
		{ErrPastaExpired, tokencore.ErrTokenExpired},
		{ErrUnbound, nil},
		{ErrNoCredentials, nil},
	} {
		wrapped := fmt.Errorf("verifying: %w", tc.err)
		for _, e := range engine {
			if got := errors.Is(wrapped, e); got != (e == tc.want) {
				t.Errorf("errors.Is(%q, %q) = %v", tc.err, e, got)
			}
		}
	}
	edi := []error{ErrMalformed, ErrSignature, ErrExpired, ErrNotYetValid, ErrClaims, ErrRevoked, ErrPastaExpired}
	for i, a := range edi {
		for j, b := range edi {
			if i != j && errors.Is(a, b) {
				t.Errorf("%q is also %q", a, b)
			}
		}
	}
}
