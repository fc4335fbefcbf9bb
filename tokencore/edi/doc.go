// Package edi implements the two token formats of the Environmental Data
// Initiative (EDI) authentication service, so that tokengate can stand in
// for EDI's "IAM" service (PASTAplus/auth) without its clients or the PASTA
// back-end services noticing.
//
// EDI hands every client a pair of tokens:
//
//   - The PASTA token ("auth-token"): the plaintext uid*authSystem*expiry_ms
//     followed by the groups, standard base64-encoded (B) and signed with
//     RSA PKCS#1 v1.5 over MD5 of the ASCII of B (S). Clients hold B-S.
//     PASTA services receive only B and trust it unchecked, which is why
//     this package never parses B without its signature: PastaVerifier only
//     accepts the signed external form, and PastaToken.Internal only ever
//     produces B from a token the caller already holds.
//   - The EDI token ("edi-token"): an ES256 JWT with exactly fifteen claims
//     (Claims), built and verified with golang-jwt. The key decides the
//     algorithm: only ES256 with a configured P-256 key is ever accepted,
//     whatever the token header says.
//
// The package has two layers. The codecs (Signer, Verifier,
// PastaSigner, PastaVerifier) sign, verify and parse; they keep no state
// beyond their immutable keys and know nothing of revocation or pairs.
// Service builds the protocol on them and on a tokencore.Engine: the refresh
// (spec §5) and key exchange (spec §6) endpoints and the validation of
// proxied traffic (spec §8), which check the subject revocations of the
// engine's view and the pair binding (PairBinding) themselves. Manager
// writes the subject and API-key records and revokes subjects and keys
// (spec §7). Codec verification errors wrap exactly one of the sentinels
// ErrMalformed, ErrSignature, ErrExpired, ErrNotYetValid or ErrClaims, so
// callers can branch with errors.Is.
//
// MD5 appears in this package only because the PASTA token format requires
// it; it must not be used anywhere else in tokengate.
package edi

import "time"

// MaxTokenLength bounds every token string this package parses or mints,
// in bytes. Real tokens are a few hundred bytes (PASTA) to about 2 KiB (EDI
// with many principals); the bound keeps oversized cookies and headers from
// costing base64, JSON or RSA work. Longer tokens are invalid (spec §2.1).
const MaxTokenLength = 16 << 10

// Defaults of the EDI service, used unless the operator configures others.
const (
	// DefaultIssuer is the iss claim of EDI tokens.
	DefaultIssuer = "https://auth.edirepository.org"
	// DefaultHostedDomain is the hd claim of EDI tokens.
	DefaultHostedDomain = "edirepository.org"
	// DefaultEDITTL is the lifetime of a minted EDI token.
	DefaultEDITTL = 8 * time.Hour
	// DefaultPastaTTL is the lifetime of a minted PASTA token.
	DefaultPastaTTL = 8 * time.Hour
	// MaxLeeway is the largest clock skew an Verifier tolerates. EDI
	// itself uses none; a minute covers clusters whose clocks drift without
	// stretching an 8-hour token noticeably.
	MaxLeeway = 60 * time.Second
)
