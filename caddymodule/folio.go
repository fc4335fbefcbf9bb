package caddymodule

import (
	"encoding/json"
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

// The endpoint paths and the module permission mod-authtoken requires for
// each, used in its 401 message.
var folioSignPermissions = map[string]string{
	"/token/sign":   "auth.token.sign.post",
	"/token":        "auth.token.post",
	"/refreshtoken": "auth.refreshtoken.post",
}

// ServeHTTP serves the FOLIO endpoints and passes everything else on.
func (f *FolioAPI) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// Identity comes from tokens only: a client's X-Okapi-User-Id is
	// stripped here like every asserted header, so /token/refresh never
	// compares one (mod-authtoken answers 403 on a mismatch; its own
	// documentation advises stripping the header at the edge).
	if !f.app.credentials().admit(w, r) {
		return nil
	}
	path, ok := strings.CutPrefix(r.URL.Path, f.Prefix)
	if !ok {
		return next.ServeHTTP(w, r)
	}
	switch path {
	case "/admin/health":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return f.plain(w, http.StatusMethodNotAllowed, "Method Not Allowed", "GET, HEAD")
		}
		return f.plain(w, http.StatusOK, "OK", "")
	case "/token/sign", "/token/refresh", "/token/invalidate", "/token/invalidate-all", "/token", "/refreshtoken":
	default:
		return next.ServeHTTP(w, r)
	}
	if r.Method != http.MethodPost {
		return f.plain(w, http.StatusMethodNotAllowed, "Method Not Allowed", "POST")
	}
	tenant := r.Header.Get(HeaderTenant)
	if tenant == "" {
		tenant = f.app.DefaultTenant
	}
	if tenant == "" {
		return f.plain(w, http.StatusBadRequest, "Missing header: "+HeaderTenant, "")
	}
	if perm, needsSigner := folioSignPermissions[path]; needsSigner && !f.trustedSigner(r) {
		return f.plain(w, http.StatusUnauthorized,
			fmt.Sprintf("Missing required module-level permissions for endpoint '%s': %s", path, perm), "")
	}
	var body []byte
	if path != "/token/invalidate-all" {
		var err error
		if body, err = readBody(w, r, f.MaxBodyBytes); errors.Is(err, errBodyTooLarge) {
			return f.plain(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large", "")
		} else if err != nil {
			return f.plain(w, http.StatusBadRequest, "Bad Request: cannot read body", "")
		}
	}
	ctx := r.Context()
	var (
		result any
		status = http.StatusCreated
		ferr   *folio.Error
	)
	switch path {
	case "/token/sign", "/token":
		var p folio.SignPayload
		if p, ferr = folio.DecodeSignRequest(body); ferr != nil {
			break
		}
		if path == "/token" {
			var tok string
			if tok, ferr = f.folio.Legacy(ctx, tenant, p); ferr == nil {
				result = map[string]string{"token": tok}
			}
			break
		}
		result, ferr = f.folio.Sign(ctx, tenant, p)
	case "/refreshtoken":
		var userID, sub, tok string
		if userID, sub, ferr = folio.DecodeLegacyRefreshRequest(body); ferr == nil {
			if tok, ferr = f.folio.LegacyRefresh(ctx, tenant, userID, sub); ferr == nil {
				result = map[string]string{"refreshToken": tok}
			}
		}
	case "/token/refresh":
		var tok string
		if tok, ferr = folio.DecodeRefreshRequest(body); ferr == nil {
			result, ferr = f.folio.Refresh(ctx, r.Header.Get(HeaderTenant), r.Header.Get(HeaderUserID), tok)
		}
	case "/token/invalidate":
		var tok string
		if tok, ferr = folio.DecodeRefreshRequest(body); ferr == nil {
			ferr = f.folio.Invalidate(ctx, tenant, tok)
			status = http.StatusNoContent
		}
	case "/token/invalidate-all":
		tok := r.Header.Get(HeaderToken)
		if tok == "" {
			if scheme, v, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
				tok = strings.TrimSpace(v)
			}
		}
		if tok == "" {
			ferr = &folio.Error{Status: http.StatusUnauthorized, Message: "Invalid token", Err: errors.New("no access token")}
		} else {
			ferr = f.folio.InvalidateAll(ctx, tenant, tok)
			status = http.StatusNoContent
		}
	}
	if ferr != nil {
		if logWrongEndpoint(f.logger, path, ferr.Err) || logReplay(f.logger, r, path, ferr.Err) {
			// logged at warn
		} else if c := f.logger.Check(zapcore.DebugLevel, "FOLIO token request refused"); c != nil {
			c.Write(zap.String("path", path), zap.Int("status", ferr.Status), zap.NamedError("cause", ferr.Err))
		}
		if ferr.Status >= 500 {
			f.logger.Error("FOLIO token endpoint failed", zap.String("path", path), zap.NamedError("cause", ferr.Err))
		}
		setRetryAfter(w, ferr.RetryAfter)
		return f.plain(w, ferr.Status, ferr.Message, "")
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return nil
	}
	writeNoStore(w)
	body, err := json.Marshal(result)
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil
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

// plain writes a text/plain answer, mod-authtoken's error format.
func (f *FolioAPI) plain(w http.ResponseWriter, status int, msg, allow string) error {
	if allow != "" {
		w.Header().Set("Allow", allow)
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg))
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*FolioAPI)(nil)
	_ caddy.Validator             = (*FolioAPI)(nil)
	_ caddyhttp.MiddlewareHandler = (*FolioAPI)(nil)
)
