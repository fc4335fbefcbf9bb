package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tokengate/tokengate/tokencore"
)

func init() {
	caddy.RegisterModule(Protect{})
}

// Identity headers the gateway sets for the upstream, and the FOLIO token
// header. Client-sent copies of these (and of every header of the app's
// list, identity.go) are removed from every request, protected or public,
// in any spelling.
const (
	HeaderUserID   = "X-Okapi-User-Id"
	HeaderTenant   = "X-Okapi-Tenant"
	HeaderToken    = "X-Okapi-Token"
	HeaderSubject  = "X-Tokengate-Subject"
	HeaderClientID = "X-Tokengate-Client-Id"
	HeaderScope    = "X-Tokengate-Scope"
)

// Protect checks the bearer token of every request before it goes on to
// the next handler (typically reverse_proxy). The token comes from
// `Authorization: Bearer`, `X-Okapi-Token`, or a configured cookie; it is
// verified by the key its header names (the key decides the algorithm),
// for expiry and not-before with leeway, for tenant and against the
// revocation view. Verdicts on signatures are cached (see tokencore.VerifyCache);
// everything else is checked on every request.
//
// On success the upstream receives X-Okapi-User-Id, X-Okapi-Tenant,
// X-Tokengate-Subject, X-Tokengate-Client-Id,
// X-Tokengate-Scope and the configured claim headers. Before anything else,
// on every request (public paths and preflights too), every header of the
// app's list (identity.go: the identity any tokengate handler asserts,
// every claim_header of the config) is removed in every spelling, and so
// are the EDI cookies (auth-token, edi-token: tokengate_edi_protect's to
// verify, never this handler's upstream's) and the FOLIO signer secrets.
// The token itself reaches the upstream only as the client
// sent it (Authorization, X-Okapi-Token or cookie): it was verified, and any
// other token in those places was refused as a conflict. The placeholders {tokengate.claims.<name>} hold the claims
// and {http.auth.user.id} the subject. On failure the answer is 401 with
// `WWW-Authenticate: Bearer` and an RFC 6750 error code; the request never
// reaches the next handler.
type Protect struct {
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
	ClaimHeaders map[string]string `json:"claim_headers,omitempty"`
	// PublicPaths are path patterns (as the `path` matcher) served without
	// a token. Identity headers are still stripped there.
	PublicPaths []string `json:"public_paths,omitempty"`
	// AllowPreflight lets CORS preflight requests (OPTIONS with Origin and
	// Access-Control-Request-Method) through without a token.
	AllowPreflight bool `json:"allow_preflight,omitempty"`
	// Realm of the WWW-Authenticate challenge (default "tokengate").
	Realm string `json:"realm,omitempty"`

	app       *App
	verifier  *tokencore.Verifier
	public    caddyhttp.MatchPath
	creds     *gatewayCredentials
	claimHdrs []claimHeader
	counters  map[string]prometheus.Counter
	logger    *zap.Logger
}

type claimHeader struct{ claim, header string }

// CaddyModule returns the Caddy module information.
func (Protect) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokengate_protect", New: func() caddy.Module { return new(Protect) }}
}

// Provision joins the tokengate app and builds the verifier.
func (p *Protect) Provision(ctx caddy.Context) error {
	p.logger = ctx.Logger()
	app, err := tokengateApp(ctx)
	if err != nil {
		return err
	}
	p.app = app
	p.verifier = app.engine.Verifier(tokencore.VerifierOptions{Leeway: time.Duration(p.Leeway), AcceptLegacy: p.AcceptLegacy})
	if len(p.PublicPaths) > 0 {
		p.public = caddyhttp.MatchPath(p.PublicPaths)
		if err := p.public.Provision(ctx); err != nil {
			return err
		}
	}
	// Every claim header joins the app's list, so that every tokengate
	// handler of the config strips client copies of it.
	p.creds = app.credentials()
	for claim, header := range p.ClaimHeaders {
		if err := p.creds.registerClaimHeader(header); err != nil {
			return err
		}
		p.claimHdrs = append(p.claimHdrs, claimHeader{claim, http.CanonicalHeaderKey(header)})
	}
	if p.Realm == "" {
		p.Realm = "tokengate"
	}
	p.counters = app.metrics.verifyCounters()
	return nil
}

// Validate checks the configuration.
func (p *Protect) Validate() error {
	if p.Leeway < 0 || time.Duration(p.Leeway) > 5*time.Minute {
		return errors.New("leeway must be between 0 and 5m")
	}
	for claim, header := range p.ClaimHeaders {
		if claim == "" || header == "" || strings.ContainsAny(header, " :\r\n") {
			return fmt.Errorf("invalid claim header mapping %q -> %q", claim, header)
		}
	}
	if strings.ContainsAny(p.Realm, "\"\\\r\n") {
		return errors.New("realm must not contain quotes, backslashes or line breaks")
	}
	for _, c := range credentialCookies {
		if cookieNameIs(p.Cookie, c) {
			return fmt.Errorf("cookie %s is EDI's: tokengate_protect removes it from every request", p.Cookie)
		}
	}
	return nil
}

// ServeHTTP authenticates the request or answers 401.
func (p *Protect) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !p.creds.admit(w, r) {
		return nil
	}
	// The client's view of the tenant (a credential header: admit keeps
	// its canonical spelling) is read before it is asserted.
	tenant := r.Header.Get(HeaderTenant)
	stripEDICookies(r.Header)
	if p.DisableOkapiHeader {
		p.creds.dropUnverified(r.Header, HeaderToken)
	} else {
		p.creds.dropUnverified(r.Header)
	}

	if p.AllowPreflight && r.Method == http.MethodOptions &&
		r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		r.Header.Del(HeaderTenant)
		return next.ServeHTTP(w, r)
	}
	if p.public != nil {
		if ok, err := p.public.MatchWithError(r); err != nil {
			return caddyhttp.Error(http.StatusInternalServerError, err)
		} else if ok {
			r.Header.Del(HeaderTenant)
			return next.ServeHTTP(w, r)
		}
	}

	token, err := p.tokenFrom(r)
	if err != nil {
		p.counters["invalid"].Inc()
		return p.challenge(w, http.StatusBadRequest, "invalid_request", err.Error())
	}
	if token == "" {
		p.counters["missing"].Inc()
		return p.challenge(w, http.StatusUnauthorized, "", "a bearer token is required")
	}
	if tenant == "" {
		tenant = p.app.DefaultTenant
	}
	claims, err := p.verifier.Verify(token, tenant)
	if errors.Is(err, tokencore.ErrStoreUnavailable) {
		p.counters["unavailable"].Inc()
		writeStoreUnavailable(w)
		return nil
	}
	if err != nil {
		result, desc := describeTokenError(err)
		p.counters[result].Inc()
		if c := p.logger.Check(zapcore.DebugLevel, "bearer token refused"); c != nil {
			c.Write(zap.String("reason", err.Error()), zap.String("remote", r.RemoteAddr))
		}
		return p.challenge(w, http.StatusUnauthorized, "invalid_token", desc)
	}
	p.counters["valid"].Inc()

	setIdentity(r.Header, claims)
	for _, ch := range p.claimHdrs {
		setOrDel(r.Header, ch.header, claimString(claims.Raw[ch.claim]))
	}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.auth.user.id", claims.Subject)
		repl.Map(func(key string) (any, bool) {
			name, ok := strings.CutPrefix(key, "tokengate.claims.")
			if !ok {
				return nil, false
			}
			v, ok := claims.Raw[name]
			if !ok {
				return "", true
			}
			return claimString(v), true
		})
	}
	return next.ServeHTTP(w, r)
}

// tokenFrom finds the token in the sources this route accepts.
func (p *Protect) tokenFrom(r *http.Request) (string, error) {
	return requestToken(r, !p.DisableOkapiHeader, p.Cookie)
}

// challenge answers an authentication failure (RFC 6750 §3): the error code
// is left out when the request carried no token at all.
func (p *Protect) challenge(w http.ResponseWriter, status int, code, desc string) error {
	h := `Bearer realm="` + p.Realm + `"`
	if code != "" {
		h += `, error="` + code + `", error_description="` + desc + `"`
	}
	w.Header().Set("WWW-Authenticate", h)
	if code == "" {
		code = "unauthorized"
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	return nil
}

// describeTokenError maps a verification error to a metric label and a
// description safe to show the client (no token material).
func describeTokenError(err error) (result, desc string) {
	switch {
	case errors.Is(err, tokencore.ErrTokenExpired):
		return "expired", "the token has expired"
	case errors.Is(err, tokencore.ErrTokenRevoked):
		return "revoked", "the token has been revoked"
	case errors.Is(err, tokencore.ErrTokenNotYetValid):
		return "invalid", "the token is not valid yet"
	case errors.Is(err, tokencore.ErrTokenWrongTenant):
		return "invalid", "the token belongs to another tenant"
	case errors.Is(err, tokencore.ErrTokenWrongType):
		return "invalid", "the token is not an access token"
	case errors.Is(err, tokencore.ErrTokenSignature):
		return "invalid", "the token signature is invalid"
	default:
		return "invalid", "the token is malformed"
	}
}

// identityHeaders are the headers setIdentity asserts, in canonical form.
var identityHeaders = [...]string{HeaderUserID, HeaderTenant, HeaderSubject, HeaderClientID, HeaderScope}

// setIdentity asserts the verified identity to the upstream: each header
// of identityHeaders holds its claim, or is removed when the claim is
// empty. The values share one backing array: one allocation per request
// instead of one per header, on the path every protected request takes.
func setIdentity(h http.Header, c *tokencore.Claims) {
	vals := make([]string, len(identityHeaders))
	for i, v := range [...]string{c.UserID, c.Tenant, c.Subject, c.ClientID, c.Scope} {
		if v == "" {
			delete(h, identityHeaders[i])
			continue
		}
		vals[i] = v
		h[identityHeaders[i]] = vals[i : i+1 : i+1]
	}
}

func setOrDel(h http.Header, key, value string) {
	if value == "" {
		h.Del(key)
		return
	}
	h.Set(key, value)
}

// claimString renders a claim for a header or placeholder, without control
// characters (a claim must never be able to forge another header line).
func claimString(v any) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, renderClaim(v))
}

func renderClaim(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	case []any:
		parts := make([]string, 0, len(t))
		for _, e := range t {
			parts = append(parts, renderClaim(e))
		}
		return strings.Join(parts, ",")
	default:
		b, _ := json.Marshal(t)
		return string(b)
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Protect)(nil)
	_ caddy.Validator             = (*Protect)(nil)
	_ caddyhttp.MiddlewareHandler = (*Protect)(nil)
)
