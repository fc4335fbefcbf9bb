package caddymodule

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tokengate/tokengate/tokencore/edi"
)

func init() {
	caddy.RegisterModule(EDIAPI{})
	httpcaddyfile.RegisterHandlerDirective("tokengate_edi", parseEDIAPI)
}

// EDIAPI serves the token endpoints of EDI's authentication service below
// Prefix (default /auth): POST <prefix>/v1/token/refresh (refresh a PASTA
// and EDI token pair, with no store lookup) and POST <prefix>/v1/key
// (exchange an API key for a pair). Other paths go to the next handler.
//
// Bodies are JSON whatever the Content-Type; answers are the flat
// {msg, pasta-token, edi-token, method} object of EDI (XML when Accept asks
// for it), with Cache-Control: no-store. Keys, lifetimes and the binding
// rule are the app's `edi` settings.
type EDIAPI struct {
	// Prefix the endpoints are mounted under (default /auth).
	Prefix string `json:"prefix,omitempty"`
	// MaxBodyBytes bounds request bodies (default 64 KiB); larger ones get
	// 413 and are not read further.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`

	svc    *edi.Service
	creds  *gatewayCredentials
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (EDIAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokengate_edi", New: func() caddy.Module { return new(EDIAPI) }}
}

// Provision joins the tokengate app's EDI service.
func (h *EDIAPI) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	app, err := tokengateApp(ctx)
	if err != nil {
		return err
	}
	if h.svc, err = app.ediService(ctx); err != nil {
		return err
	}
	h.creds = app.credentials()
	if !h.svc.CanMint() {
		return errors.New("tokengate_edi mints tokens: the edi configuration needs a private EDI key and a private PASTA key")
	}
	if h.Prefix == "" {
		h.Prefix = "/auth"
	}
	if h.MaxBodyBytes <= 0 {
		h.MaxBodyBytes = edi.DefaultMaxBodyBytes
	}
	return nil
}

// Validate checks the configuration.
func (h *EDIAPI) Validate() error {
	if h.Prefix != "" && (!strings.HasPrefix(h.Prefix, "/") || strings.HasSuffix(h.Prefix, "/")) {
		return errors.New("prefix must start with / and not end with /")
	}
	return nil
}

// Cleanup writes the API-key usage still pending.
func (h *EDIAPI) Cleanup() error {
	if h.svc != nil {
		h.svc.FlushUsage()
	}
	return nil
}

// ServeHTTP answers the two endpoints and passes everything else on.
func (h *EDIAPI) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !h.creds.admit(w, r) {
		return nil
	}
	var method string
	switch r.URL.Path {
	case h.Prefix + "/v1/token/refresh":
		method = edi.MethodRefresh
	case h.Prefix + "/v1/key":
		method = edi.MethodKey
	default:
		return next.ServeHTTP(w, r)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return h.write(w, r, edi.MethodNotAllowed(method))
	}
	// The query string is never read: a key in a URL would end up in logs
	// and browser histories (EDI's ?key= sign-in is not reproduced).
	body, err := readBody(w, r, h.MaxBodyBytes)
	if errors.Is(err, errBodyTooLarge) {
		return h.write(w, r, edi.TooLarge(method, h.MaxBodyBytes))
	} else if err != nil {
		return h.write(w, r, edi.ReadError(method, err))
	}
	var resp *edi.Response
	if method == edi.MethodRefresh {
		resp = h.svc.Refresh(body)
	} else {
		resp = h.svc.ExchangeKey(r.Context(), body)
	}
	return h.write(w, r, resp)
}

// write sends resp as JSON or XML, never cacheable: success bodies carry
// bearer tokens.
func (h *EDIAPI) write(w http.ResponseWriter, r *http.Request, resp *edi.Response) error {
	if !resp.OK() {
		if c := h.logger.Check(zapcore.DebugLevel, "EDI token request refused"); c != nil {
			c.Write(zap.String("path", r.URL.Path), zap.Int("status", resp.Status), zap.NamedError("cause", resp.Err))
		}
		if resp.Status >= 500 {
			h.logger.Error("EDI token endpoint failed", zap.String("path", r.URL.Path), zap.NamedError("cause", resp.Err))
		}
	}
	ct, body := resp.Encode(r.Header.Get("Accept"))
	writeNoStore(w)
	setRetryAfter(w, resp.RetryAfter)
	w.Header().Set("Content-Type", ct)
	w.Header().Add("Vary", "Accept")
	w.WriteHeader(resp.Status)
	_, _ = w.Write(body)
	return nil
}

// parseEDIAPI sets up the EDI token endpoints. Syntax:
//
//	tokengate_edi [<matcher>] {
//	    prefix <path_prefix>   # default /auth
//	    max_body <bytes>       # default 65536
//	}
func parseEDIAPI(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	e := new(EDIAPI)
	err := parseEndpointBlock(h, &e.Prefix, &e.MaxBodyBytes, nil)
	return e, err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*EDIAPI)(nil)
	_ caddy.Validator             = (*EDIAPI)(nil)
	_ caddy.CleanerUpper          = (*EDIAPI)(nil)
	_ caddyhttp.MiddlewareHandler = (*EDIAPI)(nil)
)
