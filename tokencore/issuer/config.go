package issuer

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// Config describes one trusted issuer. Exactly one key source is set:
// Discovery, JWKSURL or StaticJWKS.
type Config struct {
	// Name is the operator's name of the issuer (`keycloak`); it is part
	// of every cache key, and routes list issuers by it.
	Name string
	// Issuer is the exact iss value of the issuer's tokens (and of its
	// discovery document).
	Issuer string
	// Discovery fetches <Issuer>/.well-known/openid-configuration for
	// jwks_uri (and introspection_endpoint when introspection is on).
	Discovery bool
	// JWKSURL is the issuer's JWK Set.
	JWKSURL string
	// StaticJWKS is a JWK Set or PEM public keys (a key file), never
	// refetched.
	StaticJWKS []byte

	// Audiences: a token must name at least one of them in aud.
	Audiences []string
	// Algorithms the issuer may use (default RS256, PS256, ES256, EdDSA).
	// The key still decides: a token whose alg is not its key's is
	// refused. HMAC and none are never accepted.
	Algorithms []string
	// Typ, when set, is the required typ header: "at+jwt" (RFC 9068; also
	// accepted as "application/at+jwt"). Empty accepts any typ.
	Typ string
	// Leeway tolerates clock drift on exp and nbf (at most
	// tokencore.MaxLeeway).
	Leeway time.Duration
	// UserIDClaim and TenantClaim, when set, name the claims that are the
	// token's user and tenant, so that tokengate's revocations by user
	// apply to it and X-Okapi-User-Id / X-Okapi-Tenant carry them.
	UserIDClaim, TenantClaim string

	// KeysMinRefresh and KeysMaxRefresh bound how long a fetched JWK Set
	// is used before it is fetched again: its Cache-Control max-age,
	// clamped (defaults 1m and 24h; without max-age, DefaultKeysRefresh).
	KeysMinRefresh, KeysMaxRefresh time.Duration
	// StaleWindow is how long, past that, keys that cannot be refetched
	// are still used (default 15m). Then tokens are refused.
	StaleWindow time.Duration
	// UnknownKIDInterval is the least time between two fetches caused by
	// tokens naming a kid the set lacks (default 30s): a flood of made-up
	// kids costs at most one fetch per interval.
	UnknownKIDInterval time.Duration

	// Introspection, when set, checks opaque (non-JWT) tokens with RFC
	// 7662 introspection.
	Introspection *IntrospectionConfig

	// AllowHTTPLoopback allows http:// URLs whose host is a loopback
	// address or localhost (tests, sidecars). Every other fetch is https.
	AllowHTTPLoopback bool
	// FetchTimeout bounds each fetch (default 5s).
	FetchTimeout time.Duration
}

// IntrospectionConfig is an RFC 7662 endpoint and the client credentials
// tokengate authenticates with (client_secret_basic).
type IntrospectionConfig struct {
	// Endpoint; empty with Discovery means the discovered
	// introspection_endpoint.
	Endpoint     string
	ClientID     string
	ClientSecret string
	// CacheTTL is the longest an active answer is reused (default 1m;
	// never past the token's exp).
	CacheTTL time.Duration
	// InactiveTTL is how long an inactive answer is reused (default 5s).
	InactiveTTL time.Duration
}

// Defaults.
const (
	DefaultKeysMinRefresh     = time.Minute
	DefaultKeysMaxRefresh     = 24 * time.Hour
	DefaultKeysRefresh        = 10 * time.Minute
	DefaultStaleWindow        = 15 * time.Minute
	DefaultUnknownKIDInterval = 30 * time.Second
	DefaultFetchTimeout       = 5 * time.Second
	DefaultIntrospectionTTL   = time.Minute
	DefaultInactiveTTL        = 5 * time.Second
	// MaxDocumentBytes bounds every fetched document (discovery, JWK Set,
	// introspection answer).
	MaxDocumentBytes = 256 << 10
	// maxIntrospectionsInFlight bounds concurrent introspection calls per
	// issuer: a flood of made-up opaque tokens waits, it does not become
	// a flood at the issuer.
	maxIntrospectionsInFlight = 16
)

// DefaultAlgorithms are accepted when Config.Algorithms is empty.
var defaultAlgorithms = []string{"RS256", "PS256", "ES256", "EdDSA"}

// supportedAlgorithms are the asymmetric JWS algorithms tokengate verifies.
var supportedAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// withDefaults returns c with every unset bound at its default.
func (c Config) withDefaults() Config {
	if len(c.Algorithms) == 0 {
		c.Algorithms = defaultAlgorithms
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.KeysMinRefresh, DefaultKeysMinRefresh)
	def(&c.KeysMaxRefresh, DefaultKeysMaxRefresh)
	def(&c.StaleWindow, DefaultStaleWindow)
	def(&c.UnknownKIDInterval, DefaultUnknownKIDInterval)
	def(&c.FetchTimeout, DefaultFetchTimeout)
	c.Leeway = min(max(c.Leeway, 0), tokencore.MaxLeeway)
	if c.Introspection != nil {
		ic := *c.Introspection
		def(&ic.CacheTTL, DefaultIntrospectionTTL)
		def(&ic.InactiveTTL, DefaultInactiveTTL)
		c.Introspection = &ic
	}
	return c
}

// Validate checks c; errors name the issuer.
func (c Config) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("trusted issuer %q: %w", c.Name, err)
	}
	return nil
}

func (c Config) validate() error {
	if c.Name == "" || c.Name == "self" || strings.ContainsAny(c.Name, " \t\r\n|") {
		return errors.New("a name is required (not `self`, no spaces)")
	}
	if c.Issuer == "" {
		return errors.New("the issuer identifier (iss) is required")
	}
	sources := 0
	for _, set := range []bool{c.Discovery, c.JWKSURL != "", len(c.StaticJWKS) > 0} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		return errors.New("discovery, jwks_url and key_file are exclusive")
	}
	if sources == 0 && c.Introspection == nil {
		return errors.New("one of discovery, jwks_url, key_file or introspection is required")
	}
	if c.Discovery {
		if err := c.checkURL(c.Issuer); err != nil {
			return fmt.Errorf("discovery: %w", err)
		}
	}
	if c.JWKSURL != "" {
		if err := c.checkURL(c.JWKSURL); err != nil {
			return fmt.Errorf("jwks_url: %w", err)
		}
	}
	if len(c.Audiences) == 0 {
		// RFC 9068 §4: the resource server must check aud. Without one,
		// a token the issuer minted for any other API would pass here.
		return errors.New("at least one audience is required")
	}
	for _, a := range c.Algorithms {
		if !slices.Contains(supportedAlgorithms, a) {
			return fmt.Errorf("algorithm %q is not supported (only asymmetric JWS algorithms: %s)", a, strings.Join(supportedAlgorithms, " "))
		}
	}
	switch strings.ToLower(c.Typ) {
	case "", "at+jwt", "jwt":
	default:
		return fmt.Errorf("typ %q: only at+jwt or jwt can be required", c.Typ)
	}
	if c.Leeway < 0 || c.Leeway > tokencore.MaxLeeway {
		return fmt.Errorf("leeway must be between 0 and %s", tokencore.MaxLeeway)
	}
	if c.KeysMinRefresh > 0 && c.KeysMaxRefresh > 0 && c.KeysMinRefresh > c.KeysMaxRefresh {
		return errors.New("keys_min_refresh must not exceed keys_max_refresh")
	}
	if ic := c.Introspection; ic != nil {
		if ic.Endpoint == "" && !c.Discovery {
			return errors.New("introspection needs an endpoint (or discovery)")
		}
		if ic.Endpoint != "" {
			if err := c.checkURL(ic.Endpoint); err != nil {
				return fmt.Errorf("introspection endpoint: %w", err)
			}
		}
		if ic.ClientID == "" || ic.ClientSecret == "" {
			return errors.New("introspection needs a client id and secret")
		}
	}
	return nil
}

// checkURL applies the fetch policy: https, or http to a loopback host
// when AllowHTTPLoopback is set. Plain http anywhere else would let anyone
// on the path substitute the issuer's keys.
func (c Config) checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute URL without credentials", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if c.AllowHTTPLoopback && isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q: only https (http only to a loopback host with allow_http_loopback)", raw)
	}
	return fmt.Errorf("%q: scheme must be https", raw)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
