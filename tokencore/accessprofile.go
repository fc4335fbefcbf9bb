package tokencore

import (
	"fmt"
	"strings"
)

// AccessProfile is the format of an access token tokengate mints.
type AccessProfile int

const (
	// ProfileFOLIO is mod-authtoken's format: the header {"alg","kid","typ":
	// "JWT"} (or {"alg":"HS256"} alone with a FOLIO secret) and the AccessClaims in
	// mod-authtoken's order. FOLIO modules read these tokens.
	ProfileFOLIO AccessProfile = iota
	// ProfileJWTAccess is RFC 9068's JWT profile for OAuth 2.0 access
	// tokens: the header typ "at+jwt" and the claims iss, exp, aud (when
	// configured), sub, client_id, iat, jti and scope. Standard resource
	// servers accept it; the OAuth token endpoint and the management API
	// mint it.
	ProfileJWTAccess
)

// TypAccessJWT is the JOSE header typ of RFC 9068 access tokens (§2.1).
const TypAccessJWT = "at+jwt"

// headerType is the typ header of an access token of profile p. A
// persistent token (no exp) keeps the plain format even for OAuth grants:
// RFC 9068 §2.2 requires exp, and a token without it is not an at+jwt.
func (p AccessProfile) headerType(persistent bool) string {
	if p == ProfileJWTAccess && !persistent {
		return TypAccessJWT
	}
	return ""
}

// tokenFormat is what the JOSE typ header says a signed token is.
type tokenFormat int

const (
	formatUntyped   tokenFormat = iota // no typ, or "JWT": mod-authtoken's tokens, ID tokens
	formatJWTAccess                    // "at+jwt": an RFC 9068 access token
	formatOther                        // anything else: never an access token
)

// formatOf classifies a typ header value. Media types are compared without
// case and with the "application/" prefix optional (RFC 7515 §4.1.9).
func formatOf(typ string) tokenFormat {
	if typ == "" {
		return formatUntyped
	}
	switch strings.TrimPrefix(strings.ToLower(typ), "application/") {
	case "jwt":
		return formatUntyped
	case TypAccessJWT:
		return formatJWTAccess
	}
	return formatOther
}

// checkJWTAccessClaims applies RFC 9068 §2.2 to a token whose header says
// at+jwt: the claims every such token carries must be there. (aud is
// REQUIRED by RFC 9068 too, but tokengate mints it only when an audience
// is configured, so its absence is accepted here.) The type claim, which
// tokengate adds for its own verifier, may only say "access".
func checkJWTAccessClaims(c *Claims) error {
	if c.Type != TypeAccess && c.Type != "" {
		return fmt.Errorf("%w: at+jwt token of type %q", ErrTokenWrongType, c.Type)
	}
	for _, claim := range []struct{ name, value string }{
		{"iss", c.Issuer}, {"sub", c.Subject}, {"client_id", c.ClientID}, {"jti", c.TokenID},
	} {
		if claim.value == "" {
			return fmt.Errorf("%w: at+jwt token without %s", ErrTokenMalformed, claim.name)
		}
	}
	if c.ExpiresAt == 0 || c.IssuedAt == 0 {
		return fmt.Errorf("%w: at+jwt token without exp or iat", ErrTokenMalformed)
	}
	return nil
}
