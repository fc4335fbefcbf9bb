package caddymodule

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/edi"
)

func init() {
	caddy.RegisterModule(EDIProtect{})
	httpcaddyfile.RegisterHandlerDirective("tokengate_edi_protect", parseEDIProtect)
}

// Identity headers of EDI-protected routes, besides X-Tokengate-Subject
// (the EDI token's sub). Client-sent copies are always removed.
const (
	HeaderPrincipals  = "X-Tokengate-Principals"
	HeaderPastaUID    = "X-Tokengate-Pasta-Uid"
	HeaderPastaGroups = "X-Tokengate-Pasta-Groups"
)

// EDIProtect checks the EDI tokens of every request before it goes on to
// the next handler (typically reverse_proxy to PASTA services), as EDI
// spec §8 describes:
//
//   - the EDI token comes from the edi-token cookie or Authorization:
//     Bearer; it is verified (ES256 by the configured keys, exact claims,
//     iss and hd, exp/nbf/iat with the configured leeway) through the
//     shared verification cache, and against the revocation view on every
//     request;
//   - the auth-token cookie, if present, must be a signed PASTA token that
//     has not expired and is bound to the EDI token (pair_binding strict);
//   - the upstream's Cookie header is rebuilt: client auth-token and
//     edi-token cookies are removed (any case), the verified edi-token and
//     the internal (unsigned) PASTA form are added, so a client-made
//     unsigned PASTA token never reaches a PASTA service;
//   - Authorization is removed when it carried the token, and
//     X-New-Auth-Token always;
//   - before anything else, on every request, every header of the app's
//     list (identity.go: the identity any tokengate handler asserts, every
//     claim_header of the config) is removed in every spelling, and so are
//     the credentials this handler does not verify (X-Okapi-Tenant,
//     X-Okapi-Token, the FOLIO signer secrets); then X-Tokengate-Subject
//     (sub), X-Tokengate-Principals (comma-separated EDI-IDs),
//     X-Tokengate-Pasta-Uid and X-Tokengate-Pasta-Groups are set.
//
// Failures are 401 with WWW-Authenticate: Bearer and a JSON body; the
// upstream is never called. With Anonymous, a request without any
// credentials goes on as the public user instead (auth-token for "public",
// no edi-token).
type EDIProtect struct {
	// Anonymous serves requests without credentials as the public user
	// (default: 401).
	Anonymous bool `json:"anonymous,omitempty"`
	// Realm of the WWW-Authenticate challenge (default "tokengate").
	Realm string `json:"realm,omitempty"`

	app      *App
	svc      *edi.Service
	creds    *gatewayCredentials
	counters map[string]prometheus.Counter
	logger   *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (EDIProtect) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokengate_edi_protect", New: func() caddy.Module { return new(EDIProtect) }}
}

// Provision joins the tokengate app's EDI service.
func (p *EDIProtect) Provision(ctx caddy.Context) error {
	p.logger = ctx.Logger()
	app, err := tokengateApp(ctx)
	if err != nil {
		return err
	}
	p.app = app
	if p.svc, err = app.ediService(ctx); err != nil {
		return err
	}
	p.creds = app.credentials()
	if p.Realm == "" {
		p.Realm = "tokengate"
	}
	p.counters = app.metrics.verifyCounters()
	return nil
}

// Validate checks the configuration.
func (p *EDIProtect) Validate() error {
	if strings.ContainsAny(p.Realm, "\"\\\r\n") {
		return errors.New("realm must not contain quotes, backslashes or line breaks")
	}
	return nil
}

// ServeHTTP authenticates the request or answers 401.
func (p *EDIProtect) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !p.creds.admit(w, r) {
		return nil
	}
	p.creds.dropUnverified(r.Header, HeaderTenant, HeaderToken)
	tokens, err := edi.ExtractTokens(r.Header)
	if errors.Is(err, edi.ErrNoCredentials) && p.Anonymous {
		return p.servePublic(w, r, next)
	}
	var id *edi.Identity
	if err == nil {
		id, err = p.svc.VerifyProxied(tokens)
	}
	if errors.Is(err, tokencore.ErrStoreUnavailable) {
		p.counters["unavailable"].Inc()
		writeStoreUnavailable(w)
		return nil
	}
	if err != nil {
		p.count(err)
		if c := p.logger.Check(zapcore.DebugLevel, "EDI token refused"); c != nil {
			c.Write(zap.String("reason", err.Error()), zap.String("remote", r.RemoteAddr))
		}
		code := "invalid_token"
		if errors.Is(err, edi.ErrNoCredentials) {
			code = ""
		}
		return p.challenge(w, code, edi.Describe(err))
	}
	p.counters["valid"].Inc()

	setOrDel(r.Header, "Cookie", edi.RebuildCookies(r.Header.Values("Cookie"), tokens.EDIToken, id.PastaInternal))
	if tokens.Bearer {
		r.Header.Del("Authorization")
	}
	c := id.Claims
	principals := strings.Join(c.Principals, ",")
	setOrDel(r.Header, HeaderSubject, claimString(c.Subject))
	setOrDel(r.Header, HeaderPrincipals, claimString(principals))
	if id.Pasta != nil {
		setOrDel(r.Header, HeaderPastaUID, claimString(id.Pasta.UID))
		setOrDel(r.Header, HeaderPastaGroups, claimString(strings.Join(id.Pasta.Groups, ",")))
	}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.auth.user.id", c.Subject)
		repl.Set("tokengate.edi.sub", c.Subject)
		repl.Set("tokengate.edi.principals", principals)
		if id.Pasta != nil {
			repl.Set("tokengate.edi.pasta_uid", id.Pasta.UID)
		}
	}
	return next.ServeHTTP(w, r)
}

// servePublic passes an anonymous request on as the public user: client
// token cookies removed, a public internal PASTA token added.
func (p *EDIProtect) servePublic(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	pub, err := p.svc.PublicPasta()
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	p.counters["missing"].Inc()
	setOrDel(r.Header, "Cookie", edi.RebuildCookies(r.Header.Values("Cookie"), "", pub))
	cfg := p.svc.Config()
	r.Header.Set(HeaderSubject, cfg.System.PublicAccess)
	r.Header.Set(HeaderPastaUID, cfg.PublicUID)
	return next.ServeHTTP(w, r)
}

// count records a refusal in the bearer verification metric.
func (p *EDIProtect) count(err error) {
	result := "invalid"
	switch {
	case errors.Is(err, edi.ErrNoCredentials):
		result = "missing"
	case errors.Is(err, edi.ErrExpired), errors.Is(err, edi.ErrPastaExpired):
		result = "expired"
	case errors.Is(err, edi.ErrRevoked):
		result = "revoked"
	}
	p.counters[result].Inc()
}

// challenge answers 401 (RFC 6750 §3): no error code when the request
// carried no token at all.
func (p *EDIProtect) challenge(w http.ResponseWriter, code, desc string) error {
	h := `Bearer realm="` + p.Realm + `"`
	if code != "" {
		h += `, error="` + code + `", error_description="` + strings.ReplaceAll(desc, `"`, "'") + `"`
	}
	w.Header().Set("WWW-Authenticate", h)
	if code == "" {
		code = "unauthorized"
	}
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": code, "error_description": desc})
	return nil
}

// parseEDIProtect sets up EDI token validation. Syntax:
//
//	tokengate_edi_protect [<matcher>] {
//	    anonymous          # serve requests without credentials as public
//	    realm <realm>      # default tokengate
//	}
func parseEDIProtect(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	p := new(EDIProtect)
	h.Next()
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	for h.NextBlock(0) {
		switch h.Val() {
		case "anonymous":
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			p.Anonymous = true
		case "realm":
			if !h.Args(&p.Realm) || h.NextArg() {
				return nil, h.ArgErr()
			}
		default:
			return nil, h.Errf("unknown tokengate_edi_protect option %q", h.Val())
		}
	}
	return p, nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*EDIProtect)(nil)
	_ caddy.Validator             = (*EDIProtect)(nil)
	_ caddyhttp.MiddlewareHandler = (*EDIProtect)(nil)
)
