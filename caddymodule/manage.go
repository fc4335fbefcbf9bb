package caddymodule

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/tokencore/oauth"
)

func init() {
	caddy.RegisterModule(Manage{})
	httpcaddyfile.RegisterHandlerDirective("tokengate_manage", parseManage)
}

// Manage serves the Authlete-compatible token management API of the app's
// OAuth service below Prefix:
//
//   - GET    <prefix>/auth/token/get/list
//   - POST   <prefix>/auth/token/create
//   - POST   <prefix>/auth/token/update
//   - DELETE <prefix>/auth/token/delete/{accessTokenIdentifier}
//   - POST   <prefix>/auth/token/revoke
//   - POST   <prefix>/idtoken/reissue
//   - POST   <prefix>/auth/authorization/issue and .../fail (the app's
//     login page completes an authorization request)
//
// Callers authenticate with `Authorization: Bearer <operator key>`, checked
// against the app's operator_key_hash values. Paths outside the prefix go
// to the next handler; unknown paths inside it are 404 with a result
// envelope. Answers carry Cache-Control: no-store (they may hold tokens).
type Manage struct {
	// Prefix of the API. A segment written {serviceId} matches any one
	// segment, as Authlete's /api/{serviceId}. Default /api/{serviceId}.
	Prefix string `json:"prefix,omitempty"`
	// MaxBodyBytes bounds request bodies (default 64 KiB).
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`

	app      *App
	svc      *oauth.Service
	segments []string
	logger   *zap.Logger
}

// serviceIDSegment is the prefix segment that matches any service ID.
const serviceIDSegment = "{serviceId}"

// CaddyModule returns the Caddy module information.
func (Manage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokengate_manage", New: func() caddy.Module { return new(Manage) }}
}

// Provision joins the app's OAuth service. Without an operator key nobody
// could call the API, which is certainly a configuration mistake.
func (m *Manage) Provision(ctx caddy.Context) error {
	m.logger = ctx.Logger()
	app, err := tokengateApp(ctx)
	if err != nil {
		return err
	}
	m.app = app
	if m.svc, err = app.oauthService(); err != nil {
		return err
	}
	if len(app.OperatorKeyHashes) == 0 {
		return errors.New("tokengate_manage needs at least one operator_key_hash in the tokengate global option")
	}
	if m.Prefix == "" {
		m.Prefix = "/api/" + serviceIDSegment
	}
	if m.MaxBodyBytes <= 0 {
		m.MaxBodyBytes = defaultMaxBody
	}
	m.segments = strings.Split(strings.TrimPrefix(m.Prefix, "/"), "/")
	return nil
}

// Validate checks the configuration.
func (m *Manage) Validate() error {
	if !strings.HasPrefix(m.Prefix, "/") || strings.HasSuffix(m.Prefix, "/") || strings.Contains(m.Prefix, "//") {
		return errors.New("prefix must start with /, not end with / and have no empty segment")
	}
	return nil
}

// below returns the path below the prefix ("/auth/token/create"), or false
// when the path is outside it.
func (m *Manage) below(path string) (string, bool) {
	rest := path
	for _, seg := range m.segments {
		after, ok := strings.CutPrefix(rest, "/")
		if !ok {
			return "", false
		}
		head, _, _ := strings.Cut(after, "/")
		if head == "" || (seg != serviceIDSegment && head != seg) {
			return "", false
		}
		rest = after[len(head):]
	}
	return rest, rest == "" || strings.HasPrefix(rest, "/")
}

// ServeHTTP authenticates the operator and serves the API: it decodes the
// HTTP request into an oauth.ManageRequest, lets the service answer and
// writes the answer; every result code and message is the service's.
func (m *Manage) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !m.app.credentials().admit(w, r) {
		return nil
	}
	path, ok := m.below(r.URL.Path)
	if !ok {
		return next.ServeHTTP(w, r)
	}
	if denied := oauth.ManageAuthenticate(r.Header.Values("Authorization"), m.app.IsOperator); denied != nil {
		logOperatorKeyFailure(m.logger, r, "management")
		return m.write(w, *denied)
	}
	req := oauth.ManageRequest{Method: r.Method, Path: path, Query: r.URL.Query(), ContentType: r.Header.Get("Content-Type")}
	if r.Method == http.MethodPost {
		body, err := readBody(w, r, m.MaxBodyBytes)
		if err != nil {
			return m.write(w, oauth.ManageUnreadableBody(errors.Is(err, errBodyTooLarge)))
		}
		req.Body = body
	}
	resp := m.svc.Manage(r.Context(), req)
	logWrongEndpoint(m.logger, path, resp.Refusal)
	if resp.Status >= 500 {
		m.logger.Error("management API failed", zap.String("path", path), zap.ByteString("result", resp.Body))
	}
	return m.write(w, resp)
}

func (m *Manage) write(w http.ResponseWriter, resp oauth.ManageResponse) error {
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	if resp.Status == http.StatusNoContent {
		w.Header().Del("Content-Type")
	}
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
	return nil
}

// parseManage sets up the management API. Syntax:
//
//	tokengate_manage [<matcher>] {
//	    prefix <path>     # default /api/{serviceId}
//	    max_body <bytes>  # default 65536
//	}
func parseManage(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Manage)
	err := parseEndpointBlock(h, &m.Prefix, &m.MaxBodyBytes, nil)
	return m, err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Manage)(nil)
	_ caddy.Validator             = (*Manage)(nil)
	_ caddyhttp.MiddlewareHandler = (*Manage)(nil)
)
