package edi

import (
	"errors"
	"fmt"

	"github.com/tokengate/tokengate/tokencore"
)

// Verification errors. Every error returned by PastaVerifier.Verify and
// Verifier.Verify wraps exactly one of ErrMalformed, ErrSignature,
// ErrExpired, ErrNotYetValid and ErrClaims, so endpoint code can map them to
// responses with errors.Is. The text after the sentinel's is diagnostic only.
//
// They are the engine's token errors (tokencore/errors.go) said of an EDI
// or PASTA token: each wraps its tokencore.ErrToken* (ErrClaims wraps
// tokencore.ErrTokenMalformed, "unexpected claims"), so one vocabulary
// serves every protocol, and the EDI sentinel still tells which codec
// refused.
var (
	// ErrMalformed means the token cannot be decoded: wrong number of parts,
	// a character outside its base64 alphabet, a plaintext or payload that
	// does not parse, or a token longer than MaxTokenLength (then the error
	// also wraps ErrTooLarge).
	ErrMalformed = fmt.Errorf("edi: %w", tokencore.ErrTokenMalformed)
	// ErrTooLarge accompanies ErrMalformed for tokens over MaxTokenLength,
	// and ErrUnencodable when minting would produce one.
	ErrTooLarge = errors.New("edi: token is too large")
	// ErrSignature means no configured key verifies the signature, the
	// algorithm is not the one of the keys (anything but ES256 for EDI
	// tokens), the signature has the wrong form, or a kid names no
	// configured key.
	ErrSignature = fmt.Errorf("edi: %w", tokencore.ErrTokenSignature)
	// ErrExpired means the EDI token's exp is not after now (less leeway).
	// PASTA verification never returns it; see PastaToken.Expired.
	ErrExpired = fmt.Errorf("edi: %w", tokencore.ErrTokenExpired)
	// ErrNotYetValid means the EDI token's nbf or iat is in the future.
	ErrNotYetValid = fmt.Errorf("edi: %w", tokencore.ErrTokenNotYetValid)
	// ErrClaims means a correctly signed EDI token does not carry exactly
	// the fifteen claims of Claims with the right types (this covers aud,
	// jti, the pre-2025 identityId and idpCname, and any unknown claim), or
	// its iss or hd differs from the configured value.
	ErrClaims = fmt.Errorf("edi: token claims are invalid: %w", tokencore.ErrTokenMalformed)
)

// Minting and configuration errors.
var (
	// ErrUnencodable means a token cannot be minted from the given values:
	// an empty field or a "*" in a PASTA field, an authSystem PASTA would
	// refuse, a time out of range, or a result over MaxTokenLength. Minting
	// refuses whatever verification would reject.
	ErrUnencodable = errors.New("edi: token cannot be encoded")
	// ErrKey means a key cannot be used: no key in the PEM data, the wrong
	// kind of key, an RSA key under 2048 bits or an EC key not on P-256.
	ErrKey = errors.New("edi: unusable key")
)

// Errors of the service and of ExtractTokens beyond the codec sentinels;
// the gateway answers them with 401.
var (
	// ErrRevoked: the EDI token's subject was revoked after it was issued.
	// It wraps tokencore.ErrTokenRevoked.
	ErrRevoked = fmt.Errorf("edi: token subject is revoked: %w", tokencore.ErrTokenRevoked)
	// ErrUnbound: the PASTA token does not belong to the EDI token's
	// subject (spec §5.3).
	ErrUnbound = errors.New("edi: PASTA token is not bound to the EDI token")
	// ErrPastaExpired: the PASTA token has expired (proxied traffic), or
	// expired longer ago than pasta_max_expired_age (refresh). It wraps
	// tokencore.ErrTokenExpired, not ErrExpired: that is the EDI token's.
	ErrPastaExpired = fmt.Errorf("edi: PASTA token is expired: %w", tokencore.ErrTokenExpired)
	// ErrNoCredentials: the request carries neither token.
	ErrNoCredentials = errors.New("edi: no edi-token")
	// ErrCredentials: the request carries its tokens in a way the gateway
	// refuses (see ExtractTokens).
	ErrCredentials = errors.New("edi: unusable credentials")
)
