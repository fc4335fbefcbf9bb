package caddymodule

import "github.com/caddyserver/caddy/v2"

// OAuthConfig configures the OAuth 2.0 / OpenID Connect token service.
type OAuthConfig struct{}

// provisionOAuth prepares the OAuth service.
func (a *App) provisionOAuth(caddy.Context) error { return nil }
