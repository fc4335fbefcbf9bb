package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/folio"
)

func init() {
	caddy.RegisterModule(FolioAPI{})
}

// FolioAPI serves mod-authtoken's token API: POST /token/sign,
// /token/refresh, /token/invalidate, /token/invalidate-all, legacy POST
// /token and /refreshtoken, and GET /admin/health, below Prefix. Other
// paths go to the next handler. Bodies and status codes are
// mod-authtoken's (errors are text/plain), with the improvements the
// README lists.
//
// /token/sign, /token and /refreshtoken mint tokens for any subject, so
// only trusted signers may call them: callers from TrustedSigners address
// ranges and/or presenting the signer secret in SignerHeader (both, when
// both are configured). With neither configured nobody may sign. Refresh
// and invalidate need only the token being refreshed or invalidated.
type FolioAPI struct {
	// Prefix the paths are mounted under (default none).
	Prefix string `json:"prefix,omitempty"`
	// TrustedSigners are CIDR ranges of callers allowed to sign (the client
	// IP as Caddy determines it, honouring `trusted_proxies`).
	TrustedSigners []string `json:"trusted_signers,omitempty"`
	// SignerSecretHash is the hash (`sha256:<hex>` or bcrypt) of the secret
	// trusted signers present in SignerHeader.
	SignerSecretHash string `json:"signer_secret_hash,omitempty"`
	// SignerHeader carries the signer secret (default X-Tokengate-Signer).
	SignerHeader string `json:"signer_header,omitempty"`
	// LegacyTenants may use legacy POST /token ("*" = all; default none).
	LegacyTenants []string `json:"legacy_tenants,omitempty"`
	// RefreshGrace lets a refresh token rotated less than this long ago be
	// presented again and receive the same pair (default 0: off).
	RefreshGrace caddy.Duration `json:"refresh_grace,omitempty"`
	// TokenExpiration, in mod-authtoken's TOKEN_EXPIRATION_SECONDS grammar,
	// overrides the app's token lifetimes for this API.
	TokenExpiration string `json:"token_expiration,omitempty"`
	// MaxBodyBytes bounds request bodies (default 64 KiB).
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`

	app      *App
	folio    *folio.Service
	networks []netip.Prefix
	logger   *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (FolioAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokengate_folio", New: func() caddy.Module { return new(FolioAPI) }}
}

// Provision joins the tokengate app.
func (f *FolioAPI) Provision(ctx caddy.Context) error {
	f.logger = ctx.Logger()
	app, err := tokengateApp(ctx)
	if err != nil {
		return err
	}
	f.app = app
	ttl := app.TTL()
	if f.TokenExpiration != "" {
		if ttl, err = folio.ParseExpiration(f.TokenExpiration); err != nil {
			return fmt.Errorf("token_expiration: %w", err)
		}
	}
	for _, cidr := range f.TrustedSigners {
		p, err := parsePrefix(cidr)
		if err != nil {
			return err
		}
		f.networks = append(f.networks, p)
	}
	if f.SignerHeader == "" {
		f.SignerHeader = defaultSignerHeader
	}
	// The signer secret joins the app's list: no upstream ever receives it.
	if err := app.credentials().registerSigner(f.SignerHeader); err != nil {
		return err
	}
	if f.MaxBodyBytes <= 0 {
		f.MaxBodyBytes = defaultMaxBody
	}
	f.folio = folio.New(app.engine, folio.Config{
		TTL: ttl, LegacyTenants: f.LegacyTenants, RefreshGrace: time.Duration(f.RefreshGrace),
		DefaultTenant: app.DefaultTenant,
	})
	return nil
}

// Validate checks the configuration.
func (f *FolioAPI) Validate() error {
	if f.SignerSecretHash != "" {
		if err := tokencore.ValidateSecretHash(f.SignerSecretHash); err != nil {
			return fmt.Errorf("signer_secret_hash: %w", err)
		}
	}
	if f.RefreshGrace < 0 || time.Duration(f.RefreshGrace) > time.Minute {
		return errors.New("refresh_grace must be between 0 and 1m")
	}
	return nil
}

// parsePrefix reads a CIDR range or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("invalid CIDR %q: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid address %q: %w", s, err)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ServeHTTP decodes the request, lets the FOLIO service answer it, logs
// and writes the answer; paths outside the API go to the next handler.
// Every mod-authtoken rule and message lives in tokencore/folio.
func (f *FolioAPI) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// Identity comes from tokens only: a client's X-Okapi-User-Id is
	// stripped here like every asserted header, so /token/refresh never
	// compares one (mod-authtoken answers 403 on a mismatch; its own
	// documentation advises stripping the header at the edge).
	if !f.app.credentials().admit(w, r) {
		return nil
	}
	path, ok := strings.CutPrefix(r.URL.Path, f.Prefix)
	if !ok || !folio.Serves(path) {
		return next.ServeHTTP(w, r)
	}
	req := folio.Request{
		Method: r.Method, Path: path, Tenant: r.Header.Get(HeaderTenant),
		// Checked only where it matters: a bcrypt signer hash is slow.
		TrustedSigner: folio.SignerOnly(path) && f.trustedSigner(r),
		Body:          http.MaxBytesReader(w, r.Body, f.MaxBodyBytes),
	}
	if path == folio.PathInvalidateAll {
		req.AccessToken, req.AccessTokenErr = requestToken(r, true, "")
	}
	resp := f.folio.Handle(r.Context(), req)
	f.logRefusal(r, path, resp)
	writeAnswer(w, resp.Status, resp.Header, resp.Body)
	return nil
}

// logRefusal logs a refusal: at warn a token presented at the wrong
// endpoint or a replay, at debug any other refusal, at error a failure.
// The cause never holds a token or a secret.
func (f *FolioAPI) logRefusal(r *http.Request, path string, resp folio.Response) {
	if resp.Status < http.StatusBadRequest {
		return
	}
	if logWrongEndpoint(f.logger, path, resp.Err) || logReplay(f.logger, r, path, resp.Err) {
		// logged at warn
	} else if c := f.logger.Check(zapcore.DebugLevel, "FOLIO token request refused"); c != nil {
		c.Write(zap.String("path", path), zap.Int("status", resp.Status), zap.NamedError("cause", resp.Err))
	}
	if resp.Status >= http.StatusInternalServerError {
		f.logger.Error("FOLIO token endpoint failed", zap.String("path", path), zap.NamedError("cause", resp.Err))
	}
}

// trustedSigner reports whether the caller may mint tokens.
func (f *FolioAPI) trustedSigner(r *http.Request) bool {
	if len(f.networks) == 0 && f.SignerSecretHash == "" {
		return false // fail closed: signing must be granted explicitly
	}
	if len(f.networks) > 0 {
		ipStr, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
		ip, err := netip.ParseAddr(ipStr)
		if err != nil {
			return false
		}
		ip = ip.Unmap()
		inRange := false
		for _, n := range f.networks {
			if n.Contains(ip) {
				inRange = true
				break
			}
		}
		if !inRange {
			return false
		}
	}
	if f.SignerSecretHash != "" {
		secret := r.Header.Get(f.SignerHeader)
		if secret == "" || !tokencore.VerifySecretHash(f.SignerSecretHash, secret) {
			return false
		}
	}
	return true
}

// Interface guards
var (
	_ caddy.Provisioner           = (*FolioAPI)(nil)
	_ caddy.Validator             = (*FolioAPI)(nil)
	_ caddyhttp.MiddlewareHandler = (*FolioAPI)(nil)
)
