package oauth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// Configuration errors; NewClients and Client.Validate wrap them with %w.
var (
	// ErrClientConfig means a client registration is unusable.
	ErrClientConfig = errors.New("oauth: invalid client configuration")
	// ErrDuplicateClient means two registrations share a client ID.
	ErrDuplicateClient = errors.New("oauth: duplicate client ID")
)

// MaxClientIDLength bounds a client ID, in configuration and in requests.
const MaxClientIDLength = 255

// AuthMethod is a token endpoint authentication method (RFC 7591 §2).
type AuthMethod string

// The methods tokengate supports, those DIRAC registers for its clients.
const (
	// AuthClientSecretBasic: HTTP Basic with the percent-encoded ID and
	// secret (RFC 6749 §2.3.1). authlib's default for a registration.
	AuthClientSecretBasic AuthMethod = "client_secret_basic"
	// AuthClientSecretPost: client_id and client_secret in the form body.
	AuthClientSecretPost AuthMethod = "client_secret_post"
	// AuthNone: a public client that identifies itself with client_id and
	// has no secret (DIRAC_CLI).
	AuthNone AuthMethod = "none"
)

// Grant types a client may be registered for. Extension grants are URIs and
// may be registered too; AllowsGrant compares exactly.
const (
	GrantTypeAuthorizationCode = "authorization_code"
	GrantTypeRefreshToken      = "refresh_token"
	GrantTypeClientCredentials = "client_credentials"
	GrantTypeDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// Client is one registered OAuth client. A Client obtained from Clients is a
// private copy; changing it does not change the registry.
type Client struct {
	// ID is the client_id: 1–255 printable ASCII characters (RFC 6749 §A.1).
	ID string
	// AuthMethod is the one method this client must authenticate with at
	// the token, revocation and introspection endpoints (OIDC Core §12.1:
	// "the authentication method registered for its client_id").
	AuthMethod AuthMethod
	// SecretHash is the hash of the client secret (see HashSecret); required
	// for the secret methods, and must be empty for AuthNone, so a public
	// client can never be given a secret by mistake.
	SecretHash string
	// GrantTypes are the grant types the client may use; checked with
	// AllowsGrant (unauthorized_client otherwise).
	GrantTypes []string
	// Scopes is the most the client may ever be granted; empty means no
	// scope at all, not any scope.
	Scopes []string
	// AccessTTL and RefreshTTL override the service's token lifetimes for
	// this client; zero means the service default.
	AccessTTL, RefreshTTL time.Duration
	// IDTokenReissue lets a refresh return a new ID token when the grant
	// still holds "openid" (Authlete's idTokenReissuable, OIDC Core §12.2).
	IDTokenReissue bool
	// IDTokenSignedResponseAlg is the algorithm of the client's ID tokens
	// (OpenID Connect Dynamic Client Registration §2): RS256 or ES256;
	// empty means RS256, that specification's default, which every
	// relying party accepts without configuration.
	IDTokenSignedResponseAlg string
	// Audience is the aud of the client's access tokens (RFC 9068 §2.2:
	// the resources they are meant for); empty means the service's.
	Audience []string
	// RedirectURIs are the redirection endpoints registered for the
	// authorization code flow; a redirect_uri is accepted only when it is
	// one of them, byte for byte (RFC 9700 §4.1.3).
	RedirectURIs []string
	// PKCEOptional lets a confidential client send authorization requests
	// without a PKCE code_challenge. PKCE is required by default and
	// always for public clients (RFC 9700 §2.1.1).
	PKCEOptional bool
}

// ID-token signing algorithms a client may register (IDTokenAlgs).
var idTokenAlgs = []string{tokencore.AlgRS256, tokencore.AlgES256}

// DefaultIDTokenAlg is the ID-token algorithm of a client that registered
// none: RS256, the default of OpenID Connect Dynamic Client Registration
// §2, so relying parties that expect it (most do, unconfigured) accept the
// tokens.
const DefaultIDTokenAlg = tokencore.AlgRS256

// IDTokenAlg returns the algorithm of the client's ID tokens.
func (c *Client) IDTokenAlg() string {
	if c == nil || c.IDTokenSignedResponseAlg == "" {
		return DefaultIDTokenAlg
	}
	return c.IDTokenSignedResponseAlg
}

// Validate reports every problem with the registration, joined; each wraps
// ErrClientConfig.
func (c *Client) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: client %q: "+format, append([]any{ErrClientConfig, shorten(c.ID)}, args...)...))
	}
	if c.ID == "" || len(c.ID) > MaxClientIDLength || !isVSChars(c.ID) {
		bad("client ID must be 1-%d printable ASCII characters", MaxClientIDLength)
	}
	switch c.AuthMethod {
	case AuthClientSecretBasic, AuthClientSecretPost:
		if c.SecretHash == "" {
			bad("auth method %s needs a secret hash", c.AuthMethod)
		} else if err := ValidateSecretHash(c.SecretHash); err != nil {
			// err wraps ErrClientConfig already; add the client only.
			errs = append(errs, fmt.Errorf("client %q: %w", shorten(c.ID), err))
		}
	case AuthNone:
		if c.SecretHash != "" {
			bad("a public client (auth method none) must not have a secret")
		}
	default:
		bad("unknown auth method %q (want %s, %s or %s)", c.AuthMethod, AuthClientSecretBasic, AuthClientSecretPost, AuthNone)
	}
	for _, gt := range c.GrantTypes {
		if gt == "" || !isScopeToken(gt) {
			bad("invalid grant type %q", gt)
		}
	}
	for _, s := range c.Scopes {
		if !isScopeToken(s) {
			bad("invalid scope %q", s)
		}
	}
	if c.IDTokenSignedResponseAlg != "" && !slices.Contains(idTokenAlgs, c.IDTokenSignedResponseAlg) {
		bad("id_token_signed_response_alg %q is not supported (want %s)", shorten(c.IDTokenSignedResponseAlg), strings.Join(idTokenAlgs, " or "))
	}
	for _, aud := range c.Audience {
		if !validAudience(aud) {
			bad("invalid audience %q", shorten(aud))
		}
	}
	if c.AccessTTL < 0 {
		bad("access_ttl %s must not be negative", c.AccessTTL)
	}
	if c.RefreshTTL < 0 {
		bad("refresh_ttl %s must not be negative", c.RefreshTTL)
	}
	for _, u := range c.RedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			bad("redirect URI %q: %v", shorten(u), err)
		}
	}
	if c.PKCEOptional && c.AuthMethod == AuthNone {
		bad("a public client cannot opt out of PKCE")
	}
	return errors.Join(errs...)
}

// AllowsGrant reports whether the client is registered for grant type gt.
func (c *Client) AllowsGrant(gt string) bool {
	return gt != "" && slices.Contains(c.GrantTypes, gt)
}

// AllowsScopes reports whether every scope in scopes is registered for the
// client (an empty list is always allowed).
func (c *Client) AllowsScopes(scopes []string) bool {
	for _, s := range scopes {
		if !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	return true
}

// AllowedScopes returns the scopes of requested that are registered for the
// client, in the requested order: authlib's get_allowed_scope, with which a
// token response silently narrows the scope rather than failing.
func (c *Client) AllowedScopes(requested []string) []string {
	var out []string
	for _, s := range requested {
		if slices.Contains(c.Scopes, s) {
			out = append(out, s)
		}
	}
	return out
}

// Clone returns a deep copy.
func (c *Client) Clone() *Client {
	if c == nil {
		return nil
	}
	d := *c
	d.GrantTypes = slices.Clone(c.GrantTypes)
	d.Scopes = slices.Clone(c.Scopes)
	d.Audience = slices.Clone(c.Audience)
	d.RedirectURIs = slices.Clone(c.RedirectURIs)
	return &d
}

// Clients is an immutable client registry. It is safe for concurrent use;
// a config reload builds a new one.
type Clients struct {
	byID map[string]*Client
}

// NewClients validates the registrations and builds a registry. Any
// invalid client, or two clients with one ID, is an error: a half-loaded
// registry would silently lock some clients out.
func NewClients(list []Client) (*Clients, error) {
	cs := &Clients{byID: make(map[string]*Client, len(list))}
	var errs []error
	for i := range list {
		c := list[i].Clone()
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := cs.byID[c.ID]; dup {
			errs = append(errs, fmt.Errorf("%w: %q", ErrDuplicateClient, c.ID))
			continue
		}
		cs.byID[c.ID] = c
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cs, nil
}

// Lookup returns a copy of the client registered under id.
func (cs *Clients) Lookup(id string) (*Client, bool) {
	c := cs.lookup(id)
	if c == nil {
		return nil, false
	}
	return c.Clone(), true
}

// Len returns the number of registered clients.
func (cs *Clients) Len() int {
	if cs == nil {
		return 0
	}
	return len(cs.byID)
}

// lookup returns the shared registration, or nil; a nil registry is empty.
func (cs *Clients) lookup(id string) *Client {
	if cs == nil || id == "" || len(id) > MaxClientIDLength {
		return nil
	}
	return cs.byID[id]
}

// isVSChars reports whether s is made of VSCHAR (%x20-7E, RFC 6749 §A).
func isVSChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// MaxAudienceLength bounds one audience value.
const MaxAudienceLength = 512

// validAudience reports whether aud can be an access token's audience: a
// resource identifier (RFC 8707 §2: usually an absolute URI, but any
// string is allowed in aud), 1-512 printable ASCII characters without
// spaces, so it survives a Caddyfile and every log unchanged.
func validAudience(aud string) bool {
	return aud != "" && len(aud) <= MaxAudienceLength && isVSChars(aud) && !strings.Contains(aud, " ")
}
