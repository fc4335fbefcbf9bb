package tokencore

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token types, in the "type" claim (mod-authtoken's vocabulary).
const (
	TypeAccess        = "access"
	TypeRefresh       = "refresh"
	TypeLegacyAccess  = "legacy-access"
	TypeDummy         = "dummy"
	TypeDummyExpiring = "dummy-expiring"
	TypeID            = "id" // OpenID Connect ID tokens minted by tokengate
)

// AccessClaims is the payload of the access tokens tokengate mints. The
// field order is mod-authtoken's (type, iat, tenant, sub, user_id, exp), so
// FOLIO modules reading the payload see what they are used to; jti and fid
// (the grant) are tokengate's additions and make the token revocable.
type AccessClaims struct {
	Type     string `json:"type"`
	IssuedAt int64  `json:"iat,omitempty"`
	Tenant   string `json:"tenant,omitempty"`
	Subject  string `json:"sub"`
	UserID   string `json:"user_id,omitempty"`
	Expiry   int64  `json:"exp,omitempty"`
	ID       string `json:"jti,omitempty"`
	GrantID  string `json:"fid,omitempty"`
	Issuer   string `json:"iss,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	Scope    string `json:"scope,omitempty"`
	// Audience is the aud of RFC 9068 access tokens, when the client or
	// the service names the resources the token is for; never in FOLIO's.
	Audience []string `json:"aud,omitempty"`
	// Dummy and ExtraPermissions only appear in FOLIO dummy tokens.
	Dummy            bool     `json:"dummy,omitempty"`
	ExtraPermissions []string `json:"extra_permissions,omitempty"`
}

// The jwt.Claims methods; golang-jwt only needs them to validate, and
// tokengate validates times itself (see Verifier), but NewWithClaims wants them.

func (c AccessClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return numericDate(c.Expiry), nil
}
func (c AccessClaims) GetIssuedAt() (*jwt.NumericDate, error)  { return numericDate(c.IssuedAt), nil }
func (c AccessClaims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }
func (c AccessClaims) GetIssuer() (string, error)              { return c.Issuer, nil }
func (c AccessClaims) GetSubject() (string, error)             { return c.Subject, nil }
func (c AccessClaims) GetAudience() (jwt.ClaimStrings, error)  { return c.Audience, nil }

func numericDate(sec int64) *jwt.NumericDate {
	if sec == 0 {
		return nil
	}
	return jwt.NewNumericDate(time.Unix(sec, 0))
}

// RefreshClaims is the JWE payload of refresh tokens, in mod-authtoken's
// order (type, exp, iat, sub, user_id, tenant, jti, prn) plus fid, the grant.
type RefreshClaims struct {
	Type     string `json:"type"`
	Expiry   int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
	Subject  string `json:"sub"`
	UserID   string `json:"user_id"`
	Tenant   string `json:"tenant"`
	ID       string `json:"jti"`
	Prn      string `json:"prn"`
	GrantID  string `json:"fid,omitempty"`
	ClientID string `json:"client_id,omitempty"`
}

// Claims is a verified token as the gateway sees it: the claims every rule
// needs, typed, and the whole payload for claim-to-header mappings.
type Claims struct {
	Type     string
	Subject  string
	UserID   string
	Tenant   string
	TokenID  string // jti
	GrantID  string // fid
	ClientID string
	// Scope is space-separated (RFC 6749 §3.3); for external issuers it is
	// normalized from "scope" or from "scp" (a string or an array).
	Scope  string
	Issuer string
	// Audience is the aud claim, a string or an array on the wire.
	Audience []string
	// JOSEType is the typ of the JOSE header ("" when absent): "at+jwt"
	// marks an RFC 9068 access token (see Verifier.checkType).
	JOSEType string
	// TrustedIssuer names the external issuer (as configured) that
	// verified the token; empty for tokengate's own tokens.
	TrustedIssuer string
	// Unix seconds; zero when the claim is absent.
	IssuedAt  int64
	ExpiresAt int64
	NotBefore int64
	// Raw is the whole payload as decoded JSON. Callers must not modify it:
	// it is shared by every request that hits the verification cache.
	Raw map[string]any
}

// CheckTenant is the tenant rule of every bearer verification: a request
// naming a tenant (X-Okapi-Tenant, or the default tenant) is refused with a
// token of another tenant. A token without a tenant claim passes.
func (c *Claims) CheckTenant(tenant string) error {
	if tenant != "" && c.Tenant != "" && c.Tenant != tenant {
		return ErrTokenWrongTenant
	}
	return nil
}

// claimsFromMap types the registered and tokengate claims of a payload.
// A claim of the wrong JSON type makes the token malformed.
func claimsFromMap(m map[string]any) (*Claims, error) {
	c := &Claims{Raw: m}
	var ok bool
	for name, dst := range map[string]*string{
		"type": &c.Type, "sub": &c.Subject, "user_id": &c.UserID, "tenant": &c.Tenant,
		"jti": &c.TokenID, "fid": &c.GrantID, "client_id": &c.ClientID, "scope": &c.Scope, "iss": &c.Issuer,
	} {
		v, present := m[name]
		if !present || v == nil {
			continue
		}
		if *dst, ok = v.(string); !ok {
			return nil, claimTypeError(name)
		}
	}
	switch aud := m["aud"].(type) {
	case nil:
	case string:
		c.Audience = []string{aud}
	case []any:
		c.Audience = make([]string, len(aud))
		for i, a := range aud {
			if c.Audience[i], ok = a.(string); !ok {
				return nil, claimTypeError("aud")
			}
		}
	default:
		return nil, claimTypeError("aud")
	}
	for name, dst := range map[string]*int64{"iat": &c.IssuedAt, "exp": &c.ExpiresAt, "nbf": &c.NotBefore} {
		v, present := m[name]
		if !present || v == nil {
			continue
		}
		f, isNum := v.(float64)
		if !isNum || f < 0 || f > 1<<53 {
			return nil, claimTypeError(name)
		}
		*dst = int64(f)
	}
	return c, nil
}

type claimTypeError string

func (e claimTypeError) Error() string { return "claim " + string(e) + " has the wrong type" }
func (e claimTypeError) Unwrap() error { return ErrTokenMalformed }
