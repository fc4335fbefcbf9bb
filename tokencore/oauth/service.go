package oauth

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// ErrServiceConfig is wrapped by every error NewService returns.
var ErrServiceConfig = errors.New("oauth: invalid service configuration")

// ResourceServer is a credential that may call the introspection endpoint
// without being an OAuth client: an API behind the gateway that checks the
// tokens it receives (RFC 7662 §2.1). It authenticates with HTTP Basic,
// like a client_secret_basic client, and may introspect every token.
type ResourceServer struct {
	ID         string
	SecretHash string
}

// Config is the behaviour of the OAuth token service.
type Config struct {
	// Issuer is the authorization server's issuer identifier: the iss of
	// ID tokens and of introspection answers, and the base of the metadata
	// document. Required; https, or http on a loopback host.
	Issuer string
	// Clients is the client registry. A nil registry has no clients.
	Clients *Clients
	// ResourceServers may introspect tokens.
	ResourceServers []ResourceServer
	// AccessTTL and RefreshTTL are the lifetimes of clients that set none.
	// Zero means tokencore's defaults (600 s and 7 days).
	AccessTTL, RefreshTTL time.Duration
	// RefreshGrace, when positive, lets a refresh token that was rotated
	// less than this long ago be presented again and receive the same
	// answer as the first presentation, instead of counting as a replay
	// (Authlete's refreshTokenIdempotent). Off by default; at most a minute.
	RefreshGrace time.Duration
	// MaxFormBytes bounds request bodies; zero means DefaultMaxFormBytes.
	MaxFormBytes int
	// Audience is the aud of the access tokens of clients that set none
	// (RFC 9068 §2.2); empty: the tokens carry no aud.
	Audience []string
	// LoginURL is the app's login page, where the authorization endpoint
	// sends the browser with a ticket (a path on this server or an https
	// URL). Empty turns the authorization endpoint off.
	LoginURL string
}

// MaxRefreshGrace bounds Config.RefreshGrace: a longer window would let a
// stolen, already-rotated refresh token keep working for that long.
const MaxRefreshGrace = time.Minute

// Service is the OAuth 2.0 token service on a tokencore.Engine: the token
// endpoint (refresh_token and client_credentials grants), revocation,
// introspection, the metadata document and the token management API. It
// keeps no state of its own: every grant is a tokencore.Grant in the
// engine's store, every revocation goes through the engine's view, so the
// FOLIO API, the proxy and this service see the same records.
type Service struct {
	e        *tokencore.Engine
	cfg      Config
	clients  *Clients
	verifier *tokencore.Verifier
	// idKeys sign ID tokens, by algorithm: one for each algorithm a client
	// may ask for (Client.IDTokenAlg) that the key set can sign with; empty
	// when no client may receive one.
	idKeys map[string]*tokencore.Key
	rs     map[string]string // resource-server ID -> secret hash
}

// NewService validates cfg and returns the service. It fails when the
// issuer is unusable, when a resource server is misconfigured or shares an
// ID with a client, when RefreshGrace is out of range, and when a client
// may be granted "openid" but the key set has no asymmetric private key of
// the algorithm of its ID tokens (tokencore.ErrNoAsymmetricKey).
func NewService(e *tokencore.Engine, cfg Config) (*Service, error) {
	if e == nil || e.Keys == nil || e.Store == nil || e.View == nil {
		return nil, fmt.Errorf("%w: engine with keys, store and view required", ErrServiceConfig)
	}
	iss, err := normalizeIssuer(cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrServiceConfig, err)
	}
	if iss != cfg.Issuer {
		return nil, fmt.Errorf("%w: issuer %q must not end in a slash (clients compare it byte for byte)", ErrServiceConfig, cfg.Issuer)
	}
	if cfg.RefreshGrace < 0 || cfg.RefreshGrace > MaxRefreshGrace {
		return nil, fmt.Errorf("%w: refresh grace must be between 0 and %s", ErrServiceConfig, MaxRefreshGrace)
	}
	if cfg.AccessTTL < 0 || cfg.RefreshTTL < 0 {
		return nil, fmt.Errorf("%w: token lifetimes must not be negative", ErrServiceConfig)
	}
	if cfg.AccessTTL == 0 {
		cfg.AccessTTL = tokencore.DefaultAccessTTL
	}
	if cfg.RefreshTTL == 0 {
		cfg.RefreshTTL = tokencore.DefaultRefreshTTL
	}
	if cfg.MaxFormBytes <= 0 {
		cfg.MaxFormBytes = DefaultMaxFormBytes
	}
	if cfg.LoginURL != "" {
		if err := validateLoginURL(cfg.LoginURL); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrServiceConfig, err)
		}
	}
	s := &Service{
		e:        e,
		cfg:      cfg,
		clients:  cfg.Clients,
		verifier: e.Verifier(tokencore.VerifierOptions{}),
		rs:       map[string]string{},
	}
	if s.clients == nil {
		s.clients = &Clients{byID: map[string]*Client{}}
	}
	for _, r := range cfg.ResourceServers {
		switch {
		case r.ID == "" || len(r.ID) > MaxClientIDLength || !isVSChars(r.ID):
			return nil, fmt.Errorf("%w: resource server ID must be 1-%d printable ASCII characters", ErrServiceConfig, MaxClientIDLength)
		case s.clients.lookup(r.ID) != nil:
			return nil, fmt.Errorf("%w: resource server %q has the ID of a client", ErrServiceConfig, r.ID)
		case s.rs[r.ID] != "":
			return nil, fmt.Errorf("%w: duplicate resource server %q", ErrServiceConfig, r.ID)
		}
		if err := ValidateSecretHash(r.SecretHash); err != nil {
			return nil, fmt.Errorf("%w: resource server %q: %w", ErrServiceConfig, r.ID, err)
		}
		s.rs[r.ID] = r.SecretHash
	}
	for _, aud := range cfg.Audience {
		if !validAudience(aud) {
			return nil, fmt.Errorf("%w: invalid audience %q", ErrServiceConfig, shorten(aud))
		}
	}
	s.declareAccessLifetimes()
	if err := s.pickIDTokenKeys(); err != nil {
		return nil, err
	}
	return s, nil
}

// pickIDTokenKeys finds the signing key of every ID-token algorithm: each
// algorithm a client that may be granted openid asks for must have one, and
// when OpenID Connect is used at all, RS256 must (OpenID Connect Discovery
// §3 requires it among id_token_signing_alg_values_supported). ES256 is
// offered as well when the key set can sign with it.
func (s *Service) pickIDTokenKeys() error {
	if !s.oidcUsed() {
		return nil
	}
	s.idKeys = map[string]*tokencore.Key{}
	for _, alg := range idTokenAlgs {
		if k := s.e.Keys.SignerFor(alg); k != nil {
			s.idKeys[alg] = k
		}
	}
	if s.idKeys[tokencore.AlgRS256] == nil {
		return fmt.Errorf("%w: %w (RS256 is mandatory for an OpenID provider)", ErrServiceConfig, tokencore.ErrNoAsymmetricKey)
	}
	for _, c := range s.clients.byID {
		if slices.Contains(c.Scopes, ScopeOpenID) && s.idKeys[c.IDTokenAlg()] == nil {
			return fmt.Errorf("%w: client %q: no %s key for its ID tokens: %w", ErrServiceConfig, c.ID, c.IDTokenAlg(), tokencore.ErrNoAsymmetricKey)
		}
	}
	return nil
}

// audience is the aud of the access tokens of client c.
func (s *Service) audience(c *Client) []string {
	if c != nil && len(c.Audience) > 0 {
		return c.Audience
	}
	return s.cfg.Audience
}

// declareAccessLifetimes tells the engine the longest access token this
// service can issue, so that user and subject revocations outlive them:
// the default and every client's access_ttl, and the management API's
// accessTokenDuration and update expiries, up to MaxManagedDuration.
func (s *Service) declareAccessLifetimes() {
	s.e.DeclareAccessLifetime(s.cfg.AccessTTL)
	for _, c := range s.clients.byID {
		s.e.DeclareAccessLifetime(c.AccessTTL)
	}
	s.e.DeclareAccessLifetime(MaxManagedDuration)
}

// oidcUsed reports whether any client may be granted the openid scope.
func (s *Service) oidcUsed() bool {
	for _, c := range s.clients.byID {
		if slices.Contains(c.Scopes, ScopeOpenID) {
			return true
		}
	}
	return false
}

// ScopeOpenID is the scope that makes a grant an OpenID Connect grant.
const ScopeOpenID = "openid"

// Issuer returns the issuer identifier.
func (s *Service) Issuer() string { return s.cfg.Issuer }

// Clients returns the client registry.
func (s *Service) Clients() *Clients { return s.clients }

func (s *Service) now() time.Time {
	if s.e.Now != nil {
		return s.e.Now()
	}
	return time.Now()
}

// ttls returns the token lifetimes of a client.
func (s *Service) ttls(c *Client) (access, refresh time.Duration) {
	access, refresh = s.cfg.AccessTTL, s.cfg.RefreshTTL
	if c != nil && c.AccessTTL > 0 {
		access = c.AccessTTL
	}
	if c != nil && c.RefreshTTL > 0 {
		refresh = c.RefreshTTL
	}
	return access, refresh
}

// Request is what an endpoint needs of an HTTP request. The handler fills
// it in; the service decides everything else, so every rule is tested here.
type Request struct {
	// Method is the HTTP method.
	Method string
	// ContentType is the Content-Type header ("" when absent).
	ContentType string
	// Authorization holds every Authorization header line received.
	Authorization []string
	// Body is the request body, read through a limit of MaxFormBytes+1.
	Body []byte
}

// formRequest applies the rules shared by the token, revocation and
// introspection endpoints, before any client is looked at:
//
//   - POST only: anything else is 405 with invalid_request (RFC 6749 §3.2;
//     authlib answers unsupported_grant_type, which says nothing useful);
//   - the body must be application/x-www-form-urlencoded when a
//     Content-Type is given (a JSON body would otherwise parse as garbage
//     and fail with a confusing error); no Content-Type is accepted;
//   - at most one Authorization header;
//   - the body is parsed by ParseForm (size limit, duplicates, empty =
//     absent).
//
// Parameters in the URL query are never read: RFC 6749 puts them in the
// body, and credentials in a URL end up in logs.
func (s *Service) formRequest(req Request) (Form, string, *Error) {
	if req.Method != http.MethodPost {
		e := NewError(ErrInvalidRequest, "The endpoint accepts only POST.")
		e.Status = http.StatusMethodNotAllowed
		return Form{}, "", e
	}
	if req.ContentType != "" {
		mt, _, err := mime.ParseMediaType(req.ContentType)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return Form{}, "", NewError(ErrInvalidRequest, "The request body must be application/x-www-form-urlencoded.")
		}
	}
	if len(req.Authorization) > 1 {
		return Form{}, "", NewError(ErrInvalidRequest, "More than one Authorization header.")
	}
	authorization := ""
	if len(req.Authorization) == 1 {
		authorization = req.Authorization[0]
	}
	form, ferr := ParseForm(req.Body, s.cfg.MaxFormBytes)
	if ferr != nil {
		return Form{}, "", ferr
	}
	return form, authorization, nil
}

// serverError is the answer to an internal failure. The cause goes to the
// caller's log through Cause; the client sees no detail. A store that is
// unavailable (an outage, a write its replicas did not confirm, a
// revocation view that cannot be confirmed) is temporarily_unavailable,
// 503 with Retry-After: nothing was changed, the request can be retried.
func serverError(cause error) *Error {
	if errors.Is(cause, tokencore.ErrStoreUnavailable) {
		e := NewError(ErrTemporarilyUnavailable, "The token store is unavailable; retry later.")
		e.cause = cause
		return e
	}
	e := NewError(ErrServerError, "The server failed to process the request.")
	e.cause = cause
	return e
}

// Replay returns the refresh-token replay behind an invalid_grant (the
// grant it revoked), for the security log; nil for every other error.
func (e *Error) Replay() *tokencore.ReplayError {
	if e == nil {
		return nil
	}
	return e.replay
}

// Cause returns the internal failure behind a server_error (or a
// temporarily_unavailable), for logs; nil for every error caused by the
// request.
func (e *Error) Cause() error {
	if e == nil {
		return nil
	}
	return e.cause
}

// tokenShape tells a signed token (an access or ID token) from an
// encrypted one (a refresh token) without parsing it.
func tokenShape(token string) (jws, jwe bool) {
	dots := 0
	for i := 0; i < len(token); i++ {
		if token[i] == '.' {
			dots++
		}
	}
	return dots == 2, dots == 4
}

// lookupGrant loads the grant of a token. A grant that does not exist is
// (nil, nil): callers treat it as an unknown token.
func (s *Service) lookupGrant(ctx context.Context, id string) (*tokencore.Grant, error) {
	if id == "" {
		return nil, nil
	}
	g, err := s.e.Store.GetGrant(ctx, id)
	if errors.Is(err, tokencore.ErrNotFound) {
		return nil, nil
	}
	return g, err
}
