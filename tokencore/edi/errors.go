package edi

import "errors"

// Verification errors. Every error returned by PastaVerifier.Verify and
// Verifier.Verify wraps exactly one of ErrMalformed, ErrSignature,
// ErrExpired, ErrNotYetValid and ErrClaims, so endpoint code can map them to
// responses with errors.Is. The text after the sentinel's is diagnostic only.
var (
	// ErrMalformed means the token cannot be decoded: wrong number of parts,
	// a character outside its base64 alphabet, a plaintext or payload that
	// does not parse, or a token longer than MaxTokenLength (then the error
	// also wraps ErrTooLarge).
	ErrMalformed = errors.New("edi: token is malformed")
	// ErrTooLarge accompanies ErrMalformed for tokens over MaxTokenLength,
	// and ErrUnencodable when minting would produce one.
	ErrTooLarge = errors.New("edi: token is too large")
	// ErrSignature means no configured key verifies the signature, the
	// algorithm is not the one of the keys (anything but ES256 for EDI
	// tokens), the signature has the wrong form, or a kid names no
	// configured key.
	ErrSignature = errors.New("edi: token signature is invalid")
	// ErrExpired means the EDI token's exp is not after now (less leeway).
	// PASTA verification never returns it; see PastaToken.Expired.
	ErrExpired = errors.New("edi: token is expired")
	// ErrNotYetValid means the EDI token's nbf or iat is in the future.
	ErrNotYetValid = errors.New("edi: token is not valid yet")
	// ErrClaims means a correctly signed EDI token does not carry exactly
	// the fifteen claims of Claims with the right types (this covers aud,
	// jti, the pre-2025 identityId and idpCname, and any unknown claim), or
	// its iss or hd differs from the configured value.
	ErrClaims = errors.New("edi: token claims are invalid")
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
