package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/issuer"
)

// TrustedIssuerConfig is one external identity provider whose tokens
// routes may accept (`tokengate_protect { issuers ... }`). Exactly one of
// Discovery, JWKSURL, KeyFile gives the keys; Introspection checks opaque
// tokens. See docs/external-issuers.md.
type TrustedIssuerConfig struct {
	// Name the routes use (not `self`).
	Name string `json:"name"`
	// Issuer is the exact iss of the provider's tokens.
	Issuer string `json:"issuer"`
	// Discovery reads jwks_uri (and introspection_endpoint) from
	// <issuer>/.well-known/openid-configuration.
	Discovery bool `json:"discovery,omitempty"`
	// JWKSURL is the provider's JWK Set.
	JWKSURL string `json:"jwks_url,omitempty"`
	// KeyFile is a JWK Set or PEM public key file, read at provisioning.
	KeyFile string `json:"key_file,omitempty"`
	// Audiences accepted in aud (at least one).
	Audiences []string `json:"audiences,omitempty"`
	// Algorithms accepted (default RS256 PS256 ES256 EdDSA); the key
	// still decides. HMAC and none are refused.
	Algorithms []string `json:"algorithms,omitempty"`
	// Typ required in the JOSE header: `at+jwt` (RFC 9068) or empty (any).
	Typ string `json:"typ,omitempty"`
	// Leeway on exp and nbf (default 0, at most 5m).
	Leeway caddy.Duration `json:"leeway,omitempty"`
	// UserIDClaim and TenantClaim name the claims that fill
	// X-Okapi-User-Id and X-Okapi-Tenant (and let revocations by user apply).
	UserIDClaim string `json:"user_id_claim,omitempty"`
	TenantClaim string `json:"tenant_claim,omitempty"`
	// ClaimHeaders maps a claim to a request header for the upstream, for
	// this issuer's tokens (in addition to the route's claim_header).
	ClaimHeaders map[string]string `json:"claim_headers,omitempty"`
	// KeysMinRefresh and KeysMaxRefresh clamp the JWK Set's Cache-Control
	// max-age (default 1m and 24h; 10m without max-age).
	KeysMinRefresh caddy.Duration `json:"keys_min_refresh,omitempty"`
	KeysMaxRefresh caddy.Duration `json:"keys_max_refresh,omitempty"`
	// StaleWindow keeps keys that cannot be refreshed in use this long
	// past their refresh time (default 15m); then tokens are refused (503).
	StaleWindow caddy.Duration `json:"stale_window,omitempty"`
	// UnknownKIDInterval is the least time between refetches caused by an
	// unknown kid (default 30s).
	UnknownKIDInterval caddy.Duration `json:"unknown_kid_interval,omitempty"`
	// FetchTimeout bounds every fetch (default 5s).
	FetchTimeout caddy.Duration `json:"fetch_timeout,omitempty"`
	// AllowHTTPLoopback allows http:// URLs to loopback hosts (tests).
	AllowHTTPLoopback bool `json:"allow_http_loopback,omitempty"`
	// Introspection checks opaque tokens (RFC 7662).
	Introspection *IntrospectionConfig `json:"introspection,omitempty"`
}

// IntrospectionConfig is an RFC 7662 endpoint and tokengate's client there.
type IntrospectionConfig struct {
	// Endpoint (default: the discovered introspection_endpoint).
	Endpoint string `json:"endpoint,omitempty"`
	// ClientID and ClientSecret authenticate tokengate (client_secret_basic).
	// ClientSecret is a placeholder ({env.X}, {file.path}), never a literal.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	// CacheTTL bounds reuse of an active answer (default 1m, never past exp).
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`
	// InactiveTTL is how long an inactive answer is reused (default 5s).
	InactiveTTL caddy.Duration `json:"inactive_ttl,omitempty"`
}

// engineConfig turns the JSON config into the engine's, reading the key
// file and resolving the client secret.
func (tc TrustedIssuerConfig) engineConfig() (issuer.Config, error) {
	c := issuer.Config{
		Name: tc.Name, Issuer: tc.Issuer, Discovery: tc.Discovery, JWKSURL: tc.JWKSURL,
		Audiences: tc.Audiences, Algorithms: tc.Algorithms, Typ: tc.Typ, Leeway: time.Duration(tc.Leeway),
		UserIDClaim: tc.UserIDClaim, TenantClaim: tc.TenantClaim,
		KeysMinRefresh: time.Duration(tc.KeysMinRefresh), KeysMaxRefresh: time.Duration(tc.KeysMaxRefresh),
		StaleWindow: time.Duration(tc.StaleWindow), UnknownKIDInterval: time.Duration(tc.UnknownKIDInterval),
		FetchTimeout: time.Duration(tc.FetchTimeout), AllowHTTPLoopback: tc.AllowHTTPLoopback,
	}
	if tc.KeyFile != "" {
		data, err := os.ReadFile(tc.KeyFile)
		if err != nil {
			return c, fmt.Errorf("trusted issuer %q: key_file: %w", tc.Name, err)
		}
		c.StaticJWKS = data
	}
	if ic := tc.Introspection; ic != nil {
		secret, err := resolveSecret(fmt.Sprintf("trusted issuer %q: introspection client secret", tc.Name), ic.ClientSecret)
		if err != nil {
			return c, err
		}
		c.Introspection = &issuer.IntrospectionConfig{
			Endpoint: ic.Endpoint, ClientID: ic.ClientID, ClientSecret: secret,
			CacheTTL: time.Duration(ic.CacheTTL), InactiveTTL: time.Duration(ic.InactiveTTL),
		}
	}
	return c, c.Validate()
}

// provisionIssuers builds the trusted issuer set on the engine's cache and
// revocation view, and adds every issuer's claim headers to the list of
// headers every handler strips from clients.
func (a *App) provisionIssuers() error {
	cfgs := make([]issuer.Config, 0, len(a.TrustedIssuers))
	a.issuerHeaders = map[string][]claimHeader{}
	for _, tc := range a.TrustedIssuers {
		c, err := tc.engineConfig()
		if err != nil {
			return err
		}
		if a.Issuer != "" && c.Issuer == a.Issuer {
			return fmt.Errorf("trusted issuer %q has tokengate's own issuer %q", tc.Name, a.Issuer)
		}
		cfgs = append(cfgs, c)
		for claim, header := range tc.ClaimHeaders {
			if claim == "" || !validHeaderName(header) {
				return fmt.Errorf("trusted issuer %q: invalid claim header mapping %q -> %q", tc.Name, claim, header)
			}
			if err := a.credentials().registerClaimHeader(header); err != nil {
				return fmt.Errorf("trusted issuer %q: %w", tc.Name, err)
			}
			a.issuerHeaders[tc.Name] = append(a.issuerHeaders[tc.Name], claimHeader{claim, http.CanonicalHeaderKey(header)})
		}
	}
	logger := a.logger
	set, err := issuer.NewSet(cfgs, issuer.Deps{
		Cache: a.engine.Cache, View: a.engine.View,
		OnFetchError: func(name string, err error) {
			logger.Warn("fetching a trusted issuer's keys", zap.String("issuer", name), zap.Error(err))
		},
	})
	if err != nil {
		return err
	}
	a.issuers = set
	return nil
}

// startIssuers fetches the issuers' keys in the background until this
// config is unloaded (the caddy.Context is cancelled then).
func (a *App) startIssuers(ctx context.Context) {
	if a.issuers != nil {
		a.issuers.Start(ctx)
	}
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if r <= ' ' || r >= 0x7f || r == ':' {
			return false
		}
	}
	return true
}

// externalRoute returns the route selection of a tokengate_protect that
// lists issuers: `self` is tokengate's own tokens.
func (a *App) externalRoute(names []string) (*issuer.Route, error) {
	var ext []string
	self := false
	for _, n := range names {
		if n == "self" {
			self = true
			continue
		}
		ext = append(ext, n)
	}
	if a.issuers == nil {
		return nil, errors.New("issuers: no trusted_issuer is configured in the tokengate global option")
	}
	return a.issuers.Route(ext, self)
}

// useIssuers sets up the trusted issuers a route accepts (names, `self`
// among them; none: tokengate's own tokens only). Every trusted issuer's
// claim_header claims become {http.auth.user.<claim>} placeholders too.
func (b *bearerAuth) useIssuers(names []string) error {
	if len(names) > 0 {
		route, err := b.app.externalRoute(names)
		if err != nil {
			return err
		}
		b.route = route
	}
	for _, hs := range b.app.issuerHeaders {
		for _, ch := range hs {
			if !slices.Contains(b.userKeys, ch.claim) {
				b.userKeys = append(b.userKeys, ch.claim)
			}
		}
	}
	return nil
}

// verifyToken is the one verification of tokengate_protect and the
// authentication provider: the route's external issuer that the token
// names, else tokengate's own verifier. Either way the result is a
// *tokencore.Claims, and the tenant rule applies.
func (b *bearerAuth) verifyToken(ctx context.Context, token, tenant string) (*tokencore.Claims, error) {
	if b.route != nil {
		iss, err := b.route.Select(token)
		if err != nil {
			return nil, err
		}
		if iss != nil {
			c, err := iss.Verify(ctx, token)
			if err != nil {
				return nil, err
			}
			if err := c.CheckTenant(tenant); err != nil { // with tenant_claim
				return nil, err
			}
			return c, nil
		}
	}
	return b.verifier.Verify(token, tenant)
}
