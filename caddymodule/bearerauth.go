package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/issuer"
	"github.com/tokengate/tokengate/tokencore/policy"
)

// BearerConfig is how a request's bearer token is read, verified and turned
// into identity. tokengate_protect and the tokengate authentication
// provider share it (and bearerAuth, which applies it), so a token is
// accepted, and its identity asserted, the same way by both.
type BearerConfig struct {
	// Cookie, if set, is a cookie that may carry the token (e.g.
	// folioAccessToken).
	Cookie string `json:"cookie,omitempty"`
	// DisableOkapiHeader stops reading the token from X-Okapi-Token.
	DisableOkapiHeader bool `json:"disable_okapi_header,omitempty"`
	// Leeway tolerates clock drift on exp and nbf (default 0).
	Leeway caddy.Duration `json:"leeway,omitempty"`
	// AcceptLegacy accepts FOLIO's non-expiring legacy-access tokens.
	AcceptLegacy bool `json:"accept_legacy,omitempty"`
	// ClaimHeaders maps a claim name to a request header for the upstream.
	// A claim name with dots is a path into nested objects when the token
	// has no member of that exact name (realm_access.roles). Each mapped
	// claim is also the placeholder {http.auth.user.<claim>}.
	ClaimHeaders map[string]string `json:"claim_headers,omitempty"`
	// Realm of the WWW-Authenticate challenge (default "tokengate").
	Realm string `json:"realm,omitempty"`
	// Issuers whose tokens are accepted: `self` (tokengate's own) and
	// names of the app's trusted_issuers. Default: self only.
	Issuers []string `json:"issuers,omitempty"`
}

// validate checks the configuration.
func (c *BearerConfig) validate() error {
	if c.Leeway < 0 || time.Duration(c.Leeway) > 5*time.Minute {
		return errors.New("leeway must be between 0 and 5m")
	}
	for claim, header := range c.ClaimHeaders {
		if claim == "" || header == "" || strings.ContainsAny(header, " :\r\n") {
			return fmt.Errorf("invalid claim header mapping %q -> %q", claim, header)
		}
	}
	if strings.ContainsAny(c.Realm, "\"\\\r\n") {
		return errors.New("realm must not contain quotes, backslashes or line breaks")
	}
	for _, ck := range credentialCookies {
		if cookieNameIs(c.Cookie, ck) {
			return fmt.Errorf("cookie %s is EDI's: tokengate handlers remove it from every request", c.Cookie)
		}
	}
	return nil
}

// identityClaims are the claims every verified token maps to
// {http.auth.user.<claim>} (and to caddyauth.User.Metadata), besides the
// subject as {http.auth.user.id}; the claim_header claims are added.
var identityClaims = []string{"tenant", "user_id", "client_id", "scope", "iss"}

// bearerAuth is the verification and identity step of tokengate_protect
// and of the tokengate authentication provider: reading the token,
// verifying it, and asserting its identity to the upstream, to the
// placeholders and to later handlers (VerifiedClaims).
type bearerAuth struct {
	cfg       *BearerConfig
	app       *App
	verifier  *tokencore.Verifier
	route     *issuer.Route // nil: tokengate's own tokens only
	creds     *gatewayCredentials
	claimHdrs []claimHeader
	userKeys  []string // the {http.auth.user.<key>} claims
	counters  map[string]prometheus.Counter
	logger    *zap.Logger
}

type claimHeader struct{ claim, header string }

// provision joins the tokengate app and builds the verifier.
func (b *bearerAuth) provision(ctx caddy.Context, cfg *BearerConfig) error {
	b.cfg = cfg
	b.logger = ctx.Logger()
	app, err := tokengateApp(ctx)
	if err != nil {
		return err
	}
	b.app = app
	b.verifier = app.engine.Verifier(tokencore.VerifierOptions{Leeway: time.Duration(cfg.Leeway), AcceptLegacy: cfg.AcceptLegacy})
	// Every claim header joins the app's list, so that every tokengate
	// handler of the config strips client copies of it.
	b.creds = app.credentials()
	b.userKeys = slices.Clone(identityClaims)
	for claim, header := range cfg.ClaimHeaders {
		if err := b.creds.registerClaimHeader(header); err != nil {
			return err
		}
		b.claimHdrs = append(b.claimHdrs, claimHeader{claim, http.CanonicalHeaderKey(header)})
		if !slices.Contains(b.userKeys, claim) {
			b.userKeys = append(b.userKeys, claim)
		}
	}
	if err := b.useIssuers(cfg.Issuers); err != nil {
		return err
	}
	if cfg.Realm == "" {
		cfg.Realm = "tokengate"
	}
	b.counters = app.metrics.verifyCounters()
	return nil
}

// scrub is the first step on every request once the path is known to be
// unambiguous: the app's list of headers and cookies is stripped
// (gatewayCredentials.scrub), and so are the EDI cookies and the
// credentials this route does not verify. It returns the client's
// X-Okapi-Tenant, read before the gateway asserts the token's.
func (b *bearerAuth) scrub(r *http.Request) (tenant string) {
	b.creds.scrub(r)
	// The client's view of the tenant (a credential header: scrub keeps
	// its canonical spelling) is read before it is asserted.
	tenant = r.Header.Get(HeaderTenant)
	stripEDICookies(r.Header)
	if b.cfg.DisableOkapiHeader {
		b.creds.dropUnverified(r.Header, HeaderToken)
	} else {
		b.creds.dropUnverified(r.Header)
	}
	return tenant
}

// verify reads the request's token and verifies it for tenant (the
// app's default tenant when empty). Errors are those policy.ChallengeFor
// maps to an answer.
func (b *bearerAuth) verify(r *http.Request, tenant string) (*tokencore.Claims, error) {
	token, err := requestToken(r, !b.cfg.DisableOkapiHeader, b.cfg.Cookie)
	if err != nil {
		return nil, policy.InvalidRequest(err)
	}
	if token == "" {
		return nil, policy.ErrNoToken
	}
	if tenant == "" {
		tenant = b.app.DefaultTenant
	}
	return b.verifyToken(r.Context(), token, tenant)
}

// assert hands the verified identity on: the identity headers for the
// upstream, the placeholders {http.auth.user.id}, {http.auth.user.<claim>}
// and {tokengate.claims.<claim>}, and the claims for later handlers
// (VerifiedClaims).
func (b *bearerAuth) assert(r *http.Request, claims *tokencore.Claims) {
	b.counters["valid"].Inc()
	setIdentity(r.Header, claims)
	for _, ch := range b.claimHdrs {
		setOrDel(r.Header, ch.header, lookupString(claims, ch.claim))
	}
	for _, ch := range b.app.issuerHeaders[claims.TrustedIssuer] {
		setOrDel(r.Header, ch.header, lookupString(claims, ch.claim))
	}
	caddyhttp.SetVar(r.Context(), verifiedVar, verified{claims})
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.auth.user.id", claims.Subject)
		repl.Map(func(key string) (any, bool) {
			if name, ok := strings.CutPrefix(key, "tokengate.claims."); ok {
				return lookupString(claims, name), true
			}
			if name, ok := strings.CutPrefix(key, "http.auth.user."); ok && slices.Contains(b.userKeys, name) {
				return userValue(claims, name), true
			}
			return nil, false
		})
	}
}

// metadata is the caddyauth.User.Metadata of a verified token: the same
// {http.auth.user.<claim>} values assert gives tokengate_protect's routes.
func (b *bearerAuth) metadata(claims *tokencore.Claims) map[string]string {
	m := make(map[string]string, len(b.userKeys))
	for _, k := range b.userKeys {
		m[k] = userValue(claims, k)
	}
	return m
}

// challenge counts and logs a refused request and returns its answer.
func (b *bearerAuth) challenge(r *http.Request, err error) policy.Challenge {
	c := policy.ChallengeFor(err)
	b.counters[c.Result].Inc()
	if ce := b.logger.Check(zapcore.DebugLevel, "bearer request refused"); ce != nil {
		ce.Write(zap.Int("status", c.Status), zap.String("reason", err.Error()), zap.String("remote", r.RemoteAddr))
	}
	return c
}

// refuse answers a refused request: the challenge, its JSON body, and
// Retry-After for a 503.
func (b *bearerAuth) refuse(w http.ResponseWriter, r *http.Request, err error) error {
	writeChallenge(w, b.challenge(r, err), b.cfg.Realm)
	return nil
}

// writeChallenge writes an RFC 6750 answer.
func writeChallenge(w http.ResponseWriter, c policy.Challenge, realm string) {
	if h := c.Header(realm); h != "" {
		w.Header().Set("WWW-Authenticate", h)
	}
	if c.Status == http.StatusServiceUnavailable {
		setRetryAfter(w, tokencore.StoreRetryAfter)
	}
	writeJSON(w, c.Status, c.Body())
}

// userValue is {http.auth.user.<name>}: the identity claims from the
// verified token's typed fields (an external issuer's tenant_claim,
// azp or scp land there, normalized), any other claim by lookupString.
func userValue(claims *tokencore.Claims, name string) string {
	var v string
	switch name {
	case "tenant":
		v = claims.Tenant
	case "user_id":
		v = claims.UserID
	case "client_id":
		v = claims.ClientID
	case "scope":
		v = claims.Scope
	case "iss":
		v = claims.Issuer
	default:
		return lookupString(claims, name)
	}
	return claimString(v)
}

// lookupString renders the claim name of a token for a header or a
// placeholder ("" when absent).
func lookupString(claims *tokencore.Claims, name string) string {
	v, _ := claims.Lookup(name)
	return claimString(v)
}

// verifiedVar is the Caddy request variable that holds the verified
// token of a request (see VerifiedClaims).
const verifiedVar = "tokengate.verified"

// verified is the value of verifiedVar. Only a tokengate handler makes
// one: an operator's `vars tokengate.verified ...` is a string, which
// VerifiedClaims does not take for a verified token.
type verified struct{ claims *tokencore.Claims }

// String keeps {http.vars.tokengate.verified} to the subject.
func (v verified) String() string { return v.claims.Subject }

// VerifiedClaims returns the claims of the token that tokengate_protect or
// the tokengate authentication provider verified for the request of ctx
// (and that its policy admitted), and false when none did. Handlers placed
// after them read the caller's identity here instead of from headers. The
// claims are shared with the verification cache: do not modify them.
func VerifiedClaims(ctx context.Context) (*tokencore.Claims, bool) {
	v, ok := caddyhttp.GetVar(ctx, verifiedVar).(verified)
	if !ok || v.claims == nil {
		return nil, false
	}
	return v.claims, true
}
