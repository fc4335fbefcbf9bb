package caddymodule

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/tokengate/tokengate/tokencore/policy"
)

func init() {
	caddy.RegisterModule(BearerProvider{})
}

// BearerProvider is tokengate's bearer verification as a provider of
// Caddy's authentication handler (http.authentication.providers.tokengate),
// for configs written the caddyauth way:
//
//	{"handler": "authentication", "providers": {"tokengate": {"claim_headers": {...}}}}
//
// It is the same step as tokengate_protect's (bearerAuth): the same token
// sources, verifier, stripping of client-sent identity and credentials,
// identity headers, {tokengate.claims.*} placeholders and VerifiedClaims.
// caddyauth sets {http.auth.user.id} to the subject and
// {http.auth.user.<claim>} from the User's metadata (tenant, user_id,
// client_id, scope, iss and the claim_header claims).
//
// caddyauth decides the status: every failure is its 401, so a token of
// another tenant, a request whose revocations cannot be confirmed (503
// with tokengate_protect) and an ambiguous path (400) are all a 401 here;
// the provider sets WWW-Authenticate with tokengate's error code. Policy
// goes in a tokengate_require after the authentication handler.
type BearerProvider struct {
	BearerConfig

	auth bearerAuth
}

// CaddyModule returns the Caddy module information.
func (BearerProvider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.authentication.providers.tokengate", New: func() caddy.Module { return new(BearerProvider) }}
}

// Provision builds the shared verification step.
func (b *BearerProvider) Provision(ctx caddy.Context) error {
	return b.auth.provision(ctx, &b.BearerConfig)
}

// Validate checks the configuration.
func (b *BearerProvider) Validate() error {
	return b.BearerConfig.validate()
}

// Authenticate verifies the request's bearer token. A refused token is
// (User{}, false, nil) with the challenge in WWW-Authenticate; an error
// is returned only when the store cannot confirm revocations, so that
// caddyauth logs it.
func (b *BearerProvider) Authenticate(w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	var err error
	if why := ambiguousPath(r); why != "" {
		// Strip anyway: caddyauth's 401 may be handled by handle_errors.
		b.auth.creds.scrub(r)
		err = policy.InvalidRequest(errors.New("the request path is ambiguous: " + why))
	} else {
		tenant := b.auth.scrub(r)
		claims, verr := b.auth.verify(r, tenant)
		if verr == nil {
			b.auth.assert(r, claims)
			return caddyauth.User{ID: claims.Subject, Metadata: b.auth.metadata(claims)}, true, nil
		}
		err = verr
	}
	c := b.auth.challenge(r, err)
	if h := c.Header(b.Realm); h != "" {
		w.Header().Set("WWW-Authenticate", h)
	}
	if c.Status == http.StatusServiceUnavailable {
		return caddyauth.User{}, false, err
	}
	return caddyauth.User{}, false, nil
}

// Interface guards
var (
	_ caddy.Provisioner       = (*BearerProvider)(nil)
	_ caddy.Validator         = (*BearerProvider)(nil)
	_ caddyauth.Authenticator = (*BearerProvider)(nil)
)
