package caddymodule

import "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

// parseEDIGlobal parses the `edi { ... }` block of the tokengate option.
func parseEDIGlobal(d *caddyfile.Dispenser, _ *App) error {
	return d.Err("the edi block is not available yet")
}
