package caddymodule

import (
	"net/http"
	"sort"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(Echo{})
}

// Echo is the demo upstream: it answers 200 with a JSON object of the
// method, path and every request header it received (identity headers,
// Authorization and Cookie included), so a person or a test can see exactly
// what a protected upstream is told. It is for demos and tests, not
// production.
type Echo struct{}

// CaddyModule returns the Caddy module information.
func (Echo) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokengate_echo", New: func() caddy.Module { return new(Echo) }}
}

// ServeHTTP writes the echo.
func (Echo) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	headers := map[string][]string{}
	for name, values := range r.Header {
		vs := append([]string(nil), values...)
		sort.Strings(vs)
		headers[name] = vs
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"method":  r.Method,
		"path":    r.URL.Path,
		"headers": headers,
	})
	return nil
}

// Interface guard
var _ caddyhttp.MiddlewareHandler = Echo{}
