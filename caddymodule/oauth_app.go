package caddymodule

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/oauth"
)

// OAuthConfig configures the OAuth 2.0 / OpenID Connect token service of
// the app: its clients, the resource servers that may introspect, and the
// refresh grace window. The endpoints are mounted by the tokengate_oauth
// handler, the management API by tokengate_manage; both use the service
// built here, on the app's engine, so a revocation through either is
// enforced by every tokengate_protect of the config on the next request.
//
// The app's `issuer` is required: it is the OAuth issuer identifier.
type OAuthConfig struct {
	// Clients are the registered OAuth clients.
	Clients []OAuthClient `json:"clients,omitempty"`
	// ResourceServers may call the introspection endpoint with HTTP Basic.
	ResourceServers []OAuthResourceServer `json:"resource_servers,omitempty"`
	// RefreshGrace lets a refresh token rotated less than this long ago be
	// presented again and receive the same answer, instead of counting as
	// a replay that revokes the grant (default 0: off; at most 1m).
	RefreshGrace caddy.Duration `json:"refresh_grace,omitempty"`
	// Audience is the aud of the access tokens of clients that set none
	// (RFC 9068 §2.2: the resource servers they are for). Default: none.
	Audience []string `json:"audience,omitempty"`
	// LoginURL is the app's login page: the authorization endpoint
	// (<prefix>/authorize of tokengate_oauth) sends the browser there with
	// a ticket, and the page completes the request through the management
	// API's authorization/issue or /fail. A path on this server or an
	// https URL; unset turns the authorization endpoint off.
	LoginURL string `json:"login_url,omitempty"`

	service *oauth.Service
}

// usesOpenID reports whether a client may be granted the openid scope, so
// the gateway is an OpenID provider and needs an RS256 ID-token key.
func (c *OAuthConfig) usesOpenID() bool {
	if c == nil {
		return false
	}
	for _, cl := range c.Clients {
		if slices.Contains(cl.Scopes, oauth.ScopeOpenID) {
			return true
		}
	}
	return false
}

// OAuthClient is one registered client.
type OAuthClient struct {
	// ID is the client_id.
	ID string `json:"id"`
	// Auth is the token endpoint authentication method:
	// client_secret_basic (default), client_secret_post or none.
	Auth string `json:"auth,omitempty"`
	// SecretHash is the hash of the client secret (`sha256:<hex>` or
	// bcrypt), for the secret methods.
	SecretHash string `json:"secret_hash,omitempty"`
	// Secret is a placeholder that yields the secret at provisioning, e.g.
	// `{env.WEB_CLIENT_SECRET}`; it is hashed at once and never kept. A
	// literal secret is refused: configs are stored and logged.
	Secret string `json:"secret,omitempty"`
	// GrantTypes the client may use (e.g. refresh_token,
	// client_credentials, authorization_code for tokens created through
	// the management API after a login).
	GrantTypes []string `json:"grant_types,omitempty"`
	// Scopes the client may be granted.
	Scopes []string `json:"scopes,omitempty"`
	// AccessTTL and RefreshTTL override the app's token lifetimes.
	AccessTTL  caddy.Duration `json:"access_ttl,omitempty"`
	RefreshTTL caddy.Duration `json:"refresh_ttl,omitempty"`
	// IDTokenReissue lets a refresh of an openid grant return a new ID token.
	IDTokenReissue bool `json:"id_token_reissue,omitempty"`
	// IDTokenSignedResponseAlg is the algorithm of the client's ID tokens:
	// RS256 (default, OpenID Connect's) or ES256.
	IDTokenSignedResponseAlg string `json:"id_token_signed_response_alg,omitempty"`
	// Audience is the aud of the client's access tokens; default: the
	// oauth block's audience.
	Audience []string `json:"audience,omitempty"`
	// RedirectURIs are the client's redirection endpoints for the
	// authorization code flow, matched byte for byte.
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	// PKCEOptional lets a confidential client omit PKCE (default: PKCE
	// S256 is required of every client; public clients cannot opt out).
	PKCEOptional bool `json:"pkce_optional,omitempty"`
}

// OAuthResourceServer is an introspection credential.
type OAuthResourceServer struct {
	ID         string `json:"id"`
	SecretHash string `json:"secret_hash"`
}

// provisionOAuth builds the OAuth service from a.OAuth, if configured.
// Client secrets given as placeholders are resolved and hashed here; a
// placeholder that yields nothing is an error (an unset environment
// variable must not make a client secretless).
func (a *App) provisionOAuth(caddy.Context) error {
	if a.OAuth == nil {
		return nil
	}
	if a.Issuer == "" {
		return errors.New("oauth: the oauth block needs the app's `issuer` (the OAuth issuer identifier)")
	}
	clients := make([]oauth.Client, 0, len(a.OAuth.Clients))
	for i, c := range a.OAuth.Clients {
		method := oauth.AuthMethod(c.Auth)
		if method == "" {
			method = oauth.AuthClientSecretBasic
		}
		hash := c.SecretHash
		if c.Secret != "" {
			if hash != "" {
				return fmt.Errorf("oauth: client %d (%s): give secret or secret_hash, not both", i, c.ID)
			}
			secret, err := resolveSecret(fmt.Sprintf("oauth: client %d (%s): secret (or give secret_hash)", i, c.ID), c.Secret)
			if err != nil {
				return err
			}
			hash = tokencore.HashSecret(secret)
		}
		clients = append(clients, oauth.Client{
			ID: c.ID, AuthMethod: method, SecretHash: hash,
			GrantTypes: c.GrantTypes, Scopes: c.Scopes,
			AccessTTL: time.Duration(c.AccessTTL), RefreshTTL: time.Duration(c.RefreshTTL),
			IDTokenReissue: c.IDTokenReissue, IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg,
			Audience:     c.Audience,
			RedirectURIs: c.RedirectURIs, PKCEOptional: c.PKCEOptional,
		})
	}
	registry, err := oauth.NewClients(clients)
	if err != nil {
		return err
	}
	rs := make([]oauth.ResourceServer, 0, len(a.OAuth.ResourceServers))
	for _, r := range a.OAuth.ResourceServers {
		rs = append(rs, oauth.ResourceServer{ID: r.ID, SecretHash: r.SecretHash})
	}
	def := a.ttl.For("")
	svc, err := oauth.NewService(a.engine, oauth.Config{
		Issuer:          a.Issuer,
		Clients:         registry,
		ResourceServers: rs,
		AccessTTL:       def.Access,
		RefreshTTL:      def.Refresh,
		RefreshGrace:    time.Duration(a.OAuth.RefreshGrace),
		Audience:        a.OAuth.Audience,
		LoginURL:        a.OAuth.LoginURL,
	})
	if err != nil {
		return err
	}
	a.OAuth.service = svc
	return nil
}

// oauthService returns the app's OAuth service, or an error naming the
// missing configuration.
func (a *App) oauthService() (*oauth.Service, error) {
	if a.OAuth == nil || a.OAuth.service == nil {
		return nil, errors.New("no OAuth service: add an `oauth { ... }` block (and `issuer`) to the global tokengate option")
	}
	return a.OAuth.service, nil
}
