package caddymodule

import "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

// parseOAuthGlobal parses the `oauth { ... }` block of the tokengate option.
func parseOAuthGlobal(d *caddyfile.Dispenser, _ *App) error {
	return d.Err("the oauth block is not available yet")
}
