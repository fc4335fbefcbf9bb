package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(JWKS{})
}

// JWKS serves the gateway's public verification keys as an RFC 7517 JWK
// Set at Path (default /.well-known/jwks.json); other paths go to the next
// handler. Symmetric keys (a FOLIO secret) are never published.
type JWKS struct {
	// Path of the document (default /.well-known/jwks.json).
	Path string `json:"path,omitempty"`

	body  []byte
	creds *gatewayCredentials
}

// CaddyModule returns the Caddy module information.
func (JWKS) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokengate_jwks", New: func() caddy.Module { return new(JWKS) }}
}

// Provision renders the key set once; keys change only with the config.
func (j *JWKS) Provision(ctx caddy.Context) error {
	app, err := tokengateApp(ctx)
	if err != nil {
		return err
	}
	if j.Path == "" {
		j.Path = "/.well-known/jwks.json"
	}
	j.creds = app.credentials()
	j.body, err = app.engine.Keys.JWKS()
	return err
}

// ServeHTTP serves the JWK Set.
func (j *JWKS) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !j.creds.admit(w, r) {
		return nil
	}
	if r.URL.Path != j.Path {
		return next.ServeHTTP(w, r)
	}
	writeDocument(w, r, "application/jwk-set+json", j.body)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*JWKS)(nil)
	_ caddyhttp.MiddlewareHandler = (*JWKS)(nil)
)
