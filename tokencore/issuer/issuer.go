package issuer

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokengate/tokengate/tokencore"
)

// Deps are what an Issuer shares with the rest of the gateway.
type Deps struct {
	// Cache is the engine's verification cache (nil: no caching).
	Cache *tokencore.VerifyCache
	// View is the engine's revocation view; every verdict goes through
	// its Admit, so tokengate's revocations apply to external tokens.
	View *tokencore.RevocationView
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// HTTPClient supplies the transport (nil: http.DefaultTransport).
	HTTPClient *http.Client
	// OnFetchError is told about background fetch failures (logging).
	OnFetchError func(issuer string, err error)
}

// Issuer verifies the tokens of one trusted issuer.
type Issuer struct {
	cfg   Config
	deps  Deps
	keys  *keySource // nil: introspection only
	disc  *discovery // nil without discovery
	intro *introspector
	// scope identifies the configuration in cache keys: two issuers, or
	// two configurations of one, never share a verdict.
	scope string
}

// New builds an Issuer; Start begins fetching its keys.
func New(cfg Config, deps Deps) (*Issuer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.OnFetchError == nil {
		deps.OnFetchError = func(string, error) {}
	}
	if deps.View == nil {
		return nil, errors.New("issuer: a revocation view is required")
	}
	iss := &Issuer{cfg: cfg, deps: deps}
	iss.scope = configScope(&iss.cfg)
	f := newFetcher(&iss.cfg, deps.HTTPClient)
	if cfg.Discovery {
		iss.disc = &discovery{f: f, issuer: cfg.Issuer}
	}
	switch {
	case len(cfg.StaticJWKS) > 0:
		ks, err := staticSource(cfg.StaticJWKS)
		if err != nil {
			return nil, fmt.Errorf("trusted issuer %q: key file: %w", cfg.Name, err)
		}
		ks.cfg, ks.now, ks.scope = &iss.cfg, deps.Now, iss.scope
		snap := ks.snap.Load() // not shared yet
		snap.cacheScope = iss.scope + "|" + snap.fingerprint
		iss.keys = ks
	case cfg.JWKSURL != "" || cfg.Discovery:
		iss.keys = &keySource{cfg: &iss.cfg, f: f, now: deps.Now, ready: make(chan struct{}), url: iss.jwksURL, scope: iss.scope}
	}
	if cfg.Introspection != nil {
		iss.intro = &introspector{iss: iss, f: f, sem: make(chan struct{}, maxIntrospectionsInFlight)}
	}
	return iss, nil
}

// configScope hashes everything a verdict depends on.
func configScope(c *Config) string {
	b, _ := json.Marshal(struct {
		Name, Issuer, Typ, UserIDClaim, TenantClaim string
		Audiences, Algorithms                       []string
	}{c.Name, c.Issuer, c.Typ, c.UserIDClaim, c.TenantClaim, c.Audiences, c.Algorithms})
	sum := sha256.Sum256(b)
	return "issuer|v1|" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Name is the configured name of the issuer.
func (i *Issuer) Name() string { return i.cfg.Name }

// IssuerID is the iss value of the issuer's tokens.
func (i *Issuer) IssuerID() string { return i.cfg.Issuer }

// Introspects reports whether opaque tokens are checked by introspection.
func (i *Issuer) Introspects() bool { return i.intro != nil }

// Start fetches the keys in the background (a fetched JWK Set) until ctx
// ends.
func (i *Issuer) Start(ctx context.Context) {
	if i.keys == nil || i.keys.url == nil {
		return
	}
	go i.keys.run(ctx, func(err error) { i.deps.OnFetchError(i.cfg.Name, err) })
}

func (i *Issuer) jwksURL(ctx context.Context) (string, error) {
	if i.disc == nil {
		return i.cfg.JWKSURL, nil
	}
	m, err := i.disc.get(ctx)
	if err != nil {
		return "", err
	}
	return m.JWKSURI, nil
}

// Verify returns the claims of a valid token of this issuer: a JWT checked
// against the issuer's keys, or an opaque token by introspection. Time and
// revocation are checked on every call, cached or not. Errors wrap the
// tokencore token sentinels, tokencore.ErrIssuerUnavailable, or the
// revocation view's errors.
func (i *Issuer) Verify(ctx context.Context, token string) (*tokencore.Claims, error) {
	if len(token) == 0 || len(token) > tokencore.MaxTokenBytes {
		return nil, fmt.Errorf("%w: empty or larger than %d bytes", tokencore.ErrTokenMalformed, tokencore.MaxTokenBytes)
	}
	var (
		c   *tokencore.Claims
		err error
	)
	if i.keys != nil && strings.Count(token, ".") == 2 {
		c, err = i.verifyJWT(ctx, token)
	} else if i.intro != nil {
		c, err = i.intro.check(ctx, token)
	} else {
		err = fmt.Errorf("%w: not a compact JWS", tokencore.ErrTokenMalformed)
	}
	if err != nil {
		return nil, err
	}
	if err := checkTime(c, i.deps.Now(), i.cfg.Leeway); err != nil {
		return nil, err
	}
	if err := i.deps.View.Admit(c); err != nil {
		return nil, err
	}
	return c, nil
}

// verifyJWT returns the signature-checked claims of a JWT, from the cache
// when this issuer's configuration and current key set verified it before.
// A cache hit still requires a usable key set: when the issuer has been
// unreachable past the stale window, cached verdicts stop too.
func (i *Issuer) verifyJWT(ctx context.Context, token string) (*tokencore.Claims, error) {
	snap, err := i.keys.current(ctx)
	if err != nil {
		return nil, err
	}
	cache := i.deps.Cache
	var key tokencore.CacheKey
	if cache != nil {
		key = cache.Key(snap.cacheScope, token)
		if v, ok := cache.Get(key); ok {
			if c, ok := v.(*tokencore.Claims); ok {
				return c, nil
			}
		}
	}
	c, err := i.checkJWT(ctx, token, snap)
	if err != nil {
		return nil, err
	}
	if cache != nil {
		cache.Put(key, c, time.Unix(c.ExpiresAt, 0).Add(i.cfg.Leeway).Sub(i.deps.Now()))
	}
	return c, nil
}

type joseHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// checkJWT verifies token with snap (or the set refetched for an unknown
// kid) and applies the issuer's claim rules.
func (i *Issuer) checkJWT(ctx context.Context, token string, snap *keySnapshot) (*tokencore.Claims, error) {
	if err := tokencore.CheckCompactJWS(token); err != nil {
		return nil, fmt.Errorf("%w: %w", tokencore.ErrTokenMalformed, err)
	}
	seg, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %w", tokencore.ErrTokenMalformed, err)
	}
	var h joseHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %w", tokencore.ErrTokenMalformed, err)
	}
	if !i.typAccepted(h.Typ) {
		return nil, fmt.Errorf("%w: typ %q, %q required", tokencore.ErrTokenWrongType, h.Typ, i.cfg.Typ)
	}
	vk := snap.lookup(h.Kid)
	if vk == nil {
		vk = i.keys.refetchForKID(ctx, snap).lookup(h.Kid)
	}
	if vk == nil {
		return nil, fmt.Errorf("%w: no key with kid %q", tokencore.ErrTokenSignature, h.Kid)
	}
	if !vk.accepts(h.Alg, i.cfg.Algorithms) {
		return nil, fmt.Errorf("%w: alg %q is not the key's or not accepted", tokencore.ErrTokenSignature, h.Alg)
	}
	var m jwt.MapClaims
	p := jwt.NewParser(jwt.WithValidMethods([]string{h.Alg}), jwt.WithoutClaimsValidation())
	if _, err := p.ParseWithClaims(token, &m, func(*jwt.Token) (any, error) { return vk.key, nil }); err != nil {
		if errors.Is(err, jwt.ErrTokenSignatureInvalid) || errors.Is(err, jwt.ErrTokenUnverifiable) {
			return nil, fmt.Errorf("%w: %w", tokencore.ErrTokenSignature, err)
		}
		return nil, fmt.Errorf("%w: %w", tokencore.ErrTokenMalformed, err)
	}
	c, err := i.claims(m)
	if err != nil {
		return nil, err
	}
	if c.ExpiresAt == 0 {
		return nil, fmt.Errorf("%w: no exp", tokencore.ErrTokenMalformed) // RFC 9068 §2.2
	}
	return c, nil
}

// typAccepted applies the required typ; "application/" may prefix it
// (RFC 7515 §4.1.9).
func (i *Issuer) typAccepted(typ string) bool {
	if i.cfg.Typ == "" {
		return true
	}
	typ = strings.ToLower(typ)
	return strings.TrimPrefix(typ, "application/") == strings.ToLower(i.cfg.Typ)
}

// claims types the payload m of a token of this issuer (a JWT's claims or
// an introspection answer) and checks iss and aud. Only the claims of the
// issuer's vocabulary are read: tokengate's own (fid, type) never are, so
// an external token cannot name a tokengate grant.
func (i *Issuer) claims(m map[string]any) (*tokencore.Claims, error) {
	c := &tokencore.Claims{Raw: m, TrustedIssuer: i.cfg.Name}
	strs := map[string]*string{"sub": &c.Subject, "jti": &c.TokenID, "iss": &c.Issuer, "client_id": &c.ClientID}
	if i.cfg.UserIDClaim != "" {
		strs[i.cfg.UserIDClaim] = &c.UserID
	}
	if i.cfg.TenantClaim != "" {
		strs[i.cfg.TenantClaim] = &c.Tenant
	}
	for name, dst := range strs {
		if v, ok := m[name]; ok && v != nil {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%w: claim %s is not a string", tokencore.ErrTokenMalformed, name)
			}
			*dst = s
		}
	}
	if c.ClientID == "" {
		c.ClientID, _ = m["azp"].(string)
	}
	for name, dst := range map[string]*int64{"iat": &c.IssuedAt, "exp": &c.ExpiresAt, "nbf": &c.NotBefore} {
		if v, ok := m[name]; ok && v != nil {
			f, ok := v.(float64)
			if !ok || f < 0 || f > 1<<53 {
				return nil, fmt.Errorf("%w: claim %s is not a time", tokencore.ErrTokenMalformed, name)
			}
			*dst = int64(f)
		}
	}
	if _, bound := m["cnf"]; bound {
		// A sender-constrained token (DPoP, mTLS: RFC 9449, RFC 8705) is
		// only valid with a proof of its key, which a bearer gateway
		// does not check: accepting it would make it a bearer token again.
		return nil, fmt.Errorf("%w: sender-constrained (cnf) token", tokencore.ErrTokenWrongType)
	}
	var err error
	if c.Scope, err = scopeOf(m); err != nil {
		return nil, err
	}
	if c.Audience, err = stringList(m["aud"], "aud"); err != nil {
		return nil, err
	}
	if c.Issuer != i.cfg.Issuer {
		return nil, fmt.Errorf("%w: iss %q", tokencore.ErrTokenIssuer, c.Issuer)
	}
	if !intersects(c.Audience, i.cfg.Audiences) {
		return nil, fmt.Errorf("%w: aud %q", tokencore.ErrTokenAudience, c.Audience)
	}
	return c, nil
}

// scopeOf normalizes the scope: "scope" (RFC 8693 §4.2, RFC 9068 §2.2.3,
// a space-separated string) or "scp" (Entra ID, Okta: a string or an
// array of strings), as one space-separated string.
func scopeOf(m map[string]any) (string, error) {
	if v, ok := m["scope"]; ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("%w: claim scope is not a string", tokencore.ErrTokenMalformed)
		}
		return strings.Join(strings.Fields(s), " "), nil
	}
	list, err := stringList(m["scp"], "scp")
	if err != nil {
		return "", err
	}
	return strings.Join(strings.Fields(strings.Join(list, " ")), " "), nil
}

// stringList reads a claim that is a string or an array of strings.
func stringList(v any, name string) ([]string, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{t}, nil
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%w: claim %s holds a non-string", tokencore.ErrTokenMalformed, name)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: claim %s is neither a string nor an array", tokencore.ErrTokenMalformed, name)
}

func intersects(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// checkTime applies exp and nbf with leeway, as tokengate's own verifier.
func checkTime(c *tokencore.Claims, now time.Time, leeway time.Duration) error {
	if c.ExpiresAt != 0 && !now.Before(time.Unix(c.ExpiresAt, 0).Add(leeway)) {
		return tokencore.ErrTokenExpired
	}
	if c.NotBefore != 0 && now.Add(leeway).Before(time.Unix(c.NotBefore, 0)) {
		return tokencore.ErrTokenNotYetValid
	}
	return nil
}
