package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tokengate/tokengate/tokencore/oauth"
)

func init() {
	caddy.RegisterModule(OAuthEndpoints{})
	httpcaddyfile.RegisterHandlerDirective("tokengate_oauth", parseOAuthEndpoints)
}

// OAuthEndpoints serves the OAuth 2.0 endpoints of the app's OAuth service
// (the `oauth` block of the tokengate global option):
//
//   - GET|POST <prefix>/authorize  authorization code flow with PKCE, to
//     the app's login page (when the oauth block sets login_url)
//   - POST <prefix>/token       authorization_code, refresh_token and
//     client_credentials grants
//   - POST <prefix>/revoke      RFC 7009 revocation
//   - POST <prefix>/introspect  RFC 7662 introspection
//   - GET|POST <prefix>/userinfo  OpenID Connect UserInfo
//   - GET  /.well-known/oauth-authorization-server (RFC 8414, inserted
//     before the issuer's path) and <issuer path>/.well-known/openid-configuration
//
// Other paths go to the next handler. Every rule is tokencore/oauth's: this
// handler reads the request, calls the service and writes its answer with
// the headers the service gives (JSON, Cache-Control: no-store, Pragma:
// no-cache, WWW-Authenticate on a 401). Tokens and secrets are never logged.
type OAuthEndpoints struct {
	// Prefix of the endpoint paths (default /oauth2).
	Prefix string `json:"prefix,omitempty"`
	// JWKSURI is advertised as jwks_uri: a path below the issuer or an
	// https URL (default /.well-known/jwks.json, where tokengate_jwks
	// serves the keys by default).
	JWKSURI string `json:"jwks_uri,omitempty"`
	// MaxBodyBytes bounds request bodies (default 64 KiB).
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`

	svc          *oauth.Service
	creds        *gatewayCredentials
	metadata     []byte
	wellKnownOA  string
	wellKnownOID string
	logger       *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (OAuthEndpoints) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokengate_oauth", New: func() caddy.Module { return new(OAuthEndpoints) }}
}

// Provision joins the app's OAuth service.
func (o *OAuthEndpoints) Provision(ctx caddy.Context) error {
	o.logger = ctx.Logger()
	app, err := tokengateApp(ctx)
	if err != nil {
		return err
	}
	svc, err := app.oauthService()
	if err != nil {
		return err
	}
	o.creds = app.credentials()
	return o.setup(svc)
}

// setup applies the defaults and renders the metadata document once (it
// changes only with the config).
func (o *OAuthEndpoints) setup(svc *oauth.Service) error {
	o.svc = svc
	if o.Prefix == "" {
		o.Prefix = "/oauth2"
	}
	if o.JWKSURI == "" {
		o.JWKSURI = "/.well-known/jwks.json"
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = defaultMaxBody
	}
	// Endpoint paths are request paths on this server, so they are made
	// absolute on the issuer's origin: an issuer with a path
	// (https://host/auth) must not have that path put before them.
	iss, err := url.Parse(o.svc.Issuer())
	if err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	origin := iss.Scheme + "://" + iss.Host
	jwks := o.JWKSURI
	if strings.HasPrefix(jwks, "/") {
		jwks = origin + jwks
	}
	m, err := o.svc.Metadata(oauth.Endpoints{
		Authorization: origin + o.Prefix + "/authorize",
		Token:         origin + o.Prefix + "/token", Revocation: origin + o.Prefix + "/revoke",
		Introspection: origin + o.Prefix + "/introspect", JWKS: jwks,
		Userinfo: origin + o.Prefix + "/userinfo",
	})
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if o.metadata, err = m.MarshalJSON(); err != nil {
		return err
	}
	for dst, raw := range map[*string]string{&o.wellKnownOA: m.OAuthWellKnownURL(), &o.wellKnownOID: m.OpenIDWellKnownURL()} {
		u, err := url.Parse(raw)
		if err != nil {
			return fmt.Errorf("well-known URL %q: %w", raw, err)
		}
		*dst = u.Path
	}
	return nil
}

// Validate checks the configuration.
func (o *OAuthEndpoints) Validate() error {
	if o.Prefix != "" && (!strings.HasPrefix(o.Prefix, "/") || strings.HasSuffix(o.Prefix, "/")) {
		return errors.New("prefix must start with / and not end with /")
	}
	return nil
}

// ServeHTTP serves the endpoints and passes every other path on.
func (o *OAuthEndpoints) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !o.creds.admit(w, r) {
		return nil
	}
	switch r.URL.Path {
	case o.wellKnownOA, o.wellKnownOID:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed"})
			return nil
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(o.metadata)
		return nil
	}
	endpoint, ok := strings.CutPrefix(r.URL.Path, o.Prefix)
	switch {
	case !ok:
		return next.ServeHTTP(w, r)
	case endpoint == "/authorize" && o.svc.AuthorizationEnabled():
		return o.authorize(w, r)
	case endpoint == "/userinfo" && len(o.svc.IDTokenAlgs()) > 0:
		return o.userinfo(w, r)
	case endpoint != "/token" && endpoint != "/revoke" && endpoint != "/introspect":
		return next.ServeHTTP(w, r)
	}
	req := oauth.Request{Method: r.Method, ContentType: r.Header.Get("Content-Type"), Authorization: r.Header.Values("Authorization")}
	if r.Method == http.MethodPost {
		body, err := readBody(w, r, o.MaxBodyBytes)
		if errors.Is(err, errBodyTooLarge) {
			o.writeError(w, endpoint, oauth.NewError(oauth.ErrInvalidRequest, "The request body is too large."))
			return nil
		} else if err != nil {
			o.writeError(w, endpoint, oauth.NewError(oauth.ErrInvalidRequest, "The request body cannot be read."))
			return nil
		}
		req.Body = body
	}
	ctx := r.Context()
	switch endpoint {
	case "/token":
		resp, oerr := o.svc.Token(ctx, req)
		if replay := oerr.Replay(); replay != nil {
			logReplay(o.logger, r, o.Prefix+endpoint, replay)
		}
		o.answer(w, endpoint, resp, oerr)
	case "/revoke":
		if oerr := o.svc.Revoke(ctx, req); oerr != nil {
			o.writeError(w, endpoint, oerr)
			return nil
		}
		o.write(w, http.StatusOK, []byte("{}"))
	case "/introspect":
		resp, oerr := o.svc.Introspect(ctx, req)
		o.answer(w, endpoint, resp, oerr)
	}
	return nil
}

// write sends a successful answer with the service's headers.
func (o *OAuthEndpoints) write(w http.ResponseWriter, status int, body []byte) {
	for k, v := range oauth.Headers() {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError sends an OAuth error. Internal failures are logged with
// their cause (never a token or secret); refusals only at debug level.
func (o *OAuthEndpoints) writeError(w http.ResponseWriter, endpoint string, oerr *oauth.Error) {
	status := oerr.HTTPStatus()
	if status >= 500 {
		o.logger.Error("OAuth endpoint failed", zap.String("endpoint", endpoint), zap.NamedError("cause", oerr.Cause()))
	} else if logWrongEndpoint(o.logger, o.Prefix+endpoint, oerr.Refusal()) {
		// logged at warn
	} else if c := o.logger.Check(zapcore.DebugLevel, "OAuth request refused"); c != nil {
		c.Write(zap.String("endpoint", endpoint), zap.String("error", oerr.Code), zap.Int("status", status))
	}
	for k, v := range oerr.Headers() {
		w.Header()[k] = v
	}
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	w.WriteHeader(status)
	_, _ = w.Write(oerr.Body())
}

// parseOAuthEndpoints sets up the OAuth endpoints. Syntax:
//
//	tokengate_oauth [<matcher>] {
//	    prefix <path>        # default /oauth2
//	    jwks_uri <path|url>  # default /.well-known/jwks.json
//	    max_body <bytes>     # default 65536
//	}
func parseOAuthEndpoints(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	o := new(OAuthEndpoints)
	err := parseEndpointBlock(h, &o.Prefix, &o.MaxBodyBytes, func(opt string) (bool, error) {
		if opt != "jwks_uri" {
			return false, nil
		}
		if !h.Args(&o.JWKSURI) {
			return true, h.ArgErr()
		}
		return true, nil
	})
	return o, err
}

// answer writes a 200 with resp's body, or the OAuth error.
func (o *OAuthEndpoints) answer(w http.ResponseWriter, endpoint string, resp interface{ Body() ([]byte, error) }, oerr *oauth.Error) {
	if oerr != nil {
		o.writeError(w, endpoint, oerr)
		return
	}
	body, err := resp.Body()
	if err != nil {
		o.writeError(w, endpoint, oauth.NewError(oauth.ErrServerError, ""))
		return
	}
	o.write(w, http.StatusOK, body)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*OAuthEndpoints)(nil)
	_ caddy.Validator             = (*OAuthEndpoints)(nil)
	_ caddyhttp.MiddlewareHandler = (*OAuthEndpoints)(nil)
)
