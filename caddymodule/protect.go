package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/tokengate/tokengate/tokencore"

	"github.com/tokengate/tokengate/tokencore/policy"
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
// everything else is checked on every request. Then the route's policy
// (Require) decides whether the token may pass.
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
// other token in those places was refused as a conflict.
//
// The placeholders {tokengate.claims.<name>} hold the claims,
// {http.auth.user.id} the subject and {http.auth.user.<claim>} the claims
// tenant, user_id, client_id, scope, iss and every claim_header claim (so
// Caddy's `expression` matcher can test them); later handlers get the
// claims from VerifiedClaims. The answers follow RFC 6750 §3.1
// (policy.ChallengeFor): 401 invalid_token for a token that is not valid,
// 403 insufficient_scope for a valid token the route does not admit (with
// the scope it needs when a scope is missing) or of another tenant; the
// request then never reaches the next handler.
type Protect struct {
	BearerConfig
	// PublicPaths are path patterns (as the `path` matcher) served without
	// a token. Identity headers are still stripped there.
	PublicPaths []string `json:"public_paths,omitempty"`
	// AllowPreflight lets CORS preflight requests (OPTIONS with Origin and
	// Access-Control-Request-Method) through without a token.
	AllowPreflight bool `json:"allow_preflight,omitempty"`
	// Require is what the route requires of a valid token (scopes,
	// claims, issuer, client): the same rules as tokengate_require.
	Require *policy.Rules `json:"require,omitempty"`

	auth   bearerAuth
	public caddyhttp.MatchPath
	policy *policy.Policy
}

// CaddyModule returns the Caddy module information.
func (Protect) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokengate_protect", New: func() caddy.Module { return new(Protect) }}
}

// Provision joins the tokengate app and builds the verifier and the policy.
func (p *Protect) Provision(ctx caddy.Context) error {
	if err := p.auth.provision(ctx, &p.BearerConfig); err != nil {
		return err
	}
	if len(p.PublicPaths) > 0 {
		p.public = caddyhttp.MatchPath(p.PublicPaths)
		if err := p.public.Provision(ctx); err != nil {
			return err
		}
	}
	if p.Require != nil {
		pol, err := policy.New(*p.Require)
		if err != nil {
			return fmt.Errorf("require: %w", err)
		}
		p.policy = pol
	}
	return nil
}

// Validate checks the configuration.
func (p *Protect) Validate() error {
	return p.BearerConfig.validate()
}

// ServeHTTP authenticates the request and applies the route's policy, or
// answers.
func (p *Protect) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !p.auth.creds.admit(w, r) {
		return nil
	}
	tenant := p.auth.scrub(r)

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

	claims, err := p.auth.verify(r, tenant)
	if err == nil {
		err = p.policy.Check(claims)
	}
	if err != nil {
		return p.auth.refuse(w, r, err)
	}
	p.auth.assert(r, claims)
	return next.ServeHTTP(w, r)
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
