package caddymodule

import "github.com/caddyserver/caddy/v2"

// EDIConfig configures EDI-compatible paired tokens.
type EDIConfig struct{}

// provisionEDI prepares the EDI service.
func (a *App) provisionEDI(caddy.Context) error { return nil }
