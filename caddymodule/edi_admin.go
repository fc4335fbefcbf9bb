package caddymodule

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/tokencore/edi"
)

func init() {
	caddy.RegisterModule(EDIAdmin{})
	httpcaddyfile.RegisterHandlerDirective("tokengate_edi_admin", parseEDIAdmin)
}

// EDIAdmin is the operator API of EDI subject and API-key records, below
// Prefix (the management prefix, e.g. /api/demo):
//
//	GET    <prefix>/edi/subjects                  list subject records
//	PUT    <prefix>/edi/subjects/{ediId}          create or replace a profile or group
//	GET    <prefix>/edi/subjects/{ediId}          read it
//	POST   <prefix>/edi/subjects/{ediId}/revoke   refuse every EDI token of the subject issued until now
//	POST   <prefix>/edi/keys                      create a key: 201 with the record and the secret (shown once)
//	GET    <prefix>/edi/keys?owner=<ediId>        list keys (preview, never the secret); &revoked=true adds revoked ones
//	GET    <prefix>/edi/keys/{id}                 read a key
//	PATCH  <prefix>/edi/keys/{id}                 change name, group, validity
//	DELETE <prefix>/edi/keys/{id}                 revoke the key at once
//
// Every request needs Authorization: Bearer <operator key> (the app's
// operator_key_hash); with none configured, every request is refused.
// Bodies are JSON (unknown fields are errors); errors are
// {"error": code, "error_description": text} with 400, 401, 404, 405, 409,
// 413 or 503. Other paths go to the next handler. The API itself (routes,
// statuses, error texts) is tokencore/edi's Admin; this handler only
// decodes, calls and writes.
type EDIAdmin struct {
	// Prefix the API is mounted under (default none).
	Prefix string `json:"prefix,omitempty"`
	// MaxBodyBytes bounds request bodies (default 64 KiB).
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`

	app    *App
	admin  *edi.Admin
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (EDIAdmin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokengate_edi_admin", New: func() caddy.Module { return new(EDIAdmin) }}
}

// Provision joins the tokengate app's EDI service.
func (a *EDIAdmin) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	app, err := tokengateApp(ctx)
	if err != nil {
		return err
	}
	svc, err := app.ediService(ctx)
	if err != nil {
		return err
	}
	if a.MaxBodyBytes <= 0 {
		a.MaxBodyBytes = defaultMaxBody
	}
	a.app, a.admin = app, edi.NewAdmin(svc.Manager(), a.MaxBodyBytes)
	return nil
}

// Validate checks the configuration.
func (a *EDIAdmin) Validate() error {
	if a.Prefix != "" && (!strings.HasPrefix(a.Prefix, "/") || strings.HasSuffix(a.Prefix, "/")) {
		return errors.New("prefix must start with / and not end with /")
	}
	return nil
}

// ServeHTTP passes paths outside <prefix>/edi/ on; below it, it checks
// the operator key, hands the request to edi.Admin and writes its answer.
// Every route, status and error text is the engine's.
func (a *EDIAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !a.app.credentials().admit(w, r) {
		return nil
	}
	rest, ok := strings.CutPrefix(r.URL.Path, a.Prefix+"/edi/")
	if !ok {
		return next.ServeHTTP(w, r)
	}
	if denied := edi.AdminAuthenticate(r.Header.Values("Authorization"), a.app.IsOperator); denied != nil {
		logOperatorKeyFailure(a.logger, r, "edi_operator")
		return writeAdmin(w, *denied)
	}
	resp := a.admin.Handle(r.Context(), edi.AdminRequest{
		Method: r.Method, Path: rest, Query: r.URL.Query(), Body: http.MaxBytesReader(w, r.Body, a.MaxBodyBytes),
	})
	if resp.Status >= 500 {
		a.logger.Error("EDI operator API failed", zap.String("path", r.URL.Path), zap.Error(resp.Err))
	}
	return writeAdmin(w, resp)
}

func writeAdmin(w http.ResponseWriter, resp edi.AdminResponse) error {
	writeAnswer(w, resp.Status, resp.Header, resp.Body)
	return nil
}

// parseEDIAdmin sets up the EDI operator API. Syntax:
//
//	tokengate_edi_admin [<matcher>] {
//	    prefix <path_prefix>   # e.g. /api/demo; default none
//	    max_body <bytes>       # default 65536
//	}
func parseEDIAdmin(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(EDIAdmin)
	err := parseEndpointBlock(h, &a.Prefix, &a.MaxBodyBytes, nil)
	return a, err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*EDIAdmin)(nil)
	_ caddy.Validator             = (*EDIAdmin)(nil)
	_ caddyhttp.MiddlewareHandler = (*EDIAdmin)(nil)
)
