// Command caddy is Caddy with the tokengate modules built in.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules (http, reverse_proxy, file_server, ...).
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// The tokengate app, handlers and Caddyfile directives.
	_ "github.com/tokengate/tokengate/caddymodule"
)

func main() {
	caddycmd.Main()
}
