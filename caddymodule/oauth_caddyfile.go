package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/tokengate/tokengate/tokencore"
)

// parseOAuthGlobal parses the `oauth { ... }` block of the tokengate
// global option into app.OAuth. Syntax:
//
//	oauth {
//	    client <id> {
//	        auth client_secret_basic|client_secret_post|none
//	        secret_hash <sha256:hex|bcrypt>
//	        secret {env.CLIENT_SECRET}
//	        grant_types <grant_type...>
//	        scopes <scope...>
//	        access_ttl <duration>
//	        refresh_ttl <duration>
//	        id_token_reissue
//	        id_token_signed_response_alg RS256|ES256
//	        audience <aud...>
//	        redirect_uris <uri...>
//	        pkce_optional
//	    }
//	    resource_server <id> <sha256:hex|bcrypt>
//	    refresh_grace <duration>
//	    audience <aud...>
//	    login_url <path|url>
//	}
//
// The block may be given more than once; clients and resource servers
// accumulate.
func parseOAuthGlobal(d *caddyfile.Dispenser, app *App) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if app.OAuth == nil {
		app.OAuth = &OAuthConfig{}
	}
	cfg := app.OAuth
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "client":
			c, err := parseOAuthClient(d, cfg.Clients)
			if err != nil {
				return err
			}
			cfg.Clients = append(cfg.Clients, c)
		case "resource_server":
			var r OAuthResourceServer
			if !d.Args(&r.ID, &r.SecretHash) || d.NextArg() {
				return d.ArgErr()
			}
			cfg.ResourceServers = append(cfg.ResourceServers, r)
		case "refresh_grace":
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			cfg.RefreshGrace = dur
		case "audience":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			cfg.Audience = append(cfg.Audience, args...)
		case "login_url":
			if !d.Args(&cfg.LoginURL) || d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unknown oauth option %q", d.Val())
		}
	}
	return nil
}

// parseOAuthClient parses one `client <id> { ... }` block. A client ID
// already among earlier is refused on this line.
func parseOAuthClient(d *caddyfile.Dispenser, earlier []OAuthClient) (OAuthClient, error) {
	var c OAuthClient
	if !d.Args(&c.ID) || d.NextArg() {
		return c, d.ArgErr()
	}
	for _, prev := range earlier {
		if prev.ID == c.ID {
			return c, d.Errf("oauth: client %q is defined twice (client IDs must be unique)", c.ID)
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "auth":
			if !d.Args(&c.Auth) || d.NextArg() {
				return c, d.ArgErr()
			}
			switch c.Auth {
			case "client_secret_basic", "client_secret_post", "none":
			default:
				return c, d.Errf("unknown client auth method %q (want client_secret_basic, client_secret_post or none)", c.Auth)
			}
		case "secret_hash":
			if !d.Args(&c.SecretHash) || d.NextArg() {
				return c, d.ArgErr()
			}
		case "secret":
			if !d.Args(&c.Secret) || d.NextArg() {
				return c, d.ArgErr()
			}
			if err := checkSecret("client "+c.ID+": secret (or give secret_hash)", c.Secret); err != nil {
				return c, d.Err(err.Error())
			}
		case "grant_types":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return c, d.ArgErr()
			}
			c.GrantTypes = append(c.GrantTypes, args...)
		case "scopes":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return c, d.ArgErr()
			}
			c.Scopes = append(c.Scopes, args...)
		case "access_ttl", "refresh_ttl":
			name := d.Val()
			dur, err := durationArg(d)
			if err != nil {
				return c, err
			}
			if name == "access_ttl" {
				c.AccessTTL = dur
			} else {
				c.RefreshTTL = dur
			}
		case "id_token_reissue":
			if d.NextArg() {
				return c, d.ArgErr()
			}
			c.IDTokenReissue = true
		case "id_token_signed_response_alg":
			if !d.Args(&c.IDTokenSignedResponseAlg) || d.NextArg() {
				return c, d.ArgErr()
			}
			switch c.IDTokenSignedResponseAlg {
			case tokencore.AlgRS256, tokencore.AlgES256:
			default:
				return c, d.Errf("id_token_signed_response_alg %q is not supported (want RS256 or ES256)", c.IDTokenSignedResponseAlg)
			}
		case "audience":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return c, d.ArgErr()
			}
			c.Audience = append(c.Audience, args...)
		case "redirect_uris":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return c, d.ArgErr()
			}
			c.RedirectURIs = append(c.RedirectURIs, args...)
		case "pkce_optional":
			if d.NextArg() {
				return c, d.ArgErr()
			}
			c.PKCEOptional = true
		default:
			return c, d.Errf("unknown oauth client option %q", d.Val())
		}
	}
	return c, nil
}
