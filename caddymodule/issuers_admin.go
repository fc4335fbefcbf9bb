package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/issuer"
	"github.com/tokengate/tokengate/tokencore/policy"
)

func init() {
	caddy.RegisterModule(IssuerAdmin{})
	httpcaddyfile.RegisterHandlerDirective("tokengate_issuer_admin", parseIssuerAdmin)
}

// IssuerAdmin is the operator API for the tokens of trusted (external)
// issuers:
//
//   - POST <prefix>/revoke with a JSON body, either
//     {"issuer": "<name>", "token": "<the token>"} (the token is verified,
//     then its jti is revoked until its exp) or
//     {"jti": "<jti>", "expires_at": <unix seconds>} (when only the jti is
//     known; expires_at at most 30 days away).
//
// The revocation goes through tokengate's revocation machinery (a
// RevocationOfToken entry, stored and fanned out to every instance), so every
// tokengate_protect refuses the token from the next request on, until it
// expires. Callers authenticate with `Authorization: Bearer <operator
// key>` (the app's operator_key_hash). Answers are JSON: 200
// {"revoked":"token","jti":...,"expires_at":...}, 400/401 with
// {"error","error_description"}, 503 when the store cannot be reached.
type IssuerAdmin struct {
	// Prefix of the API (default /tokengate/issuers).
	Prefix string `json:"prefix,omitempty"`
	// MaxBodyBytes bounds request bodies (default 64 KiB).
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`

	app    *App
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (IssuerAdmin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokengate_issuer_admin", New: func() caddy.Module { return new(IssuerAdmin) }}
}

// Provision joins the app; without an operator key nobody could call it.
func (a *IssuerAdmin) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	app, err := tokengateApp(ctx)
	if err != nil {
		return err
	}
	a.app = app
	if len(app.OperatorKeyHashes) == 0 {
		return errors.New("tokengate_issuer_admin needs at least one operator_key_hash in the tokengate global option")
	}
	if a.Prefix == "" {
		a.Prefix = "/tokengate/issuers"
	}
	if a.MaxBodyBytes <= 0 {
		a.MaxBodyBytes = defaultMaxBody
	}
	return nil
}

// Validate checks the configuration.
func (a *IssuerAdmin) Validate() error {
	if !strings.HasPrefix(a.Prefix, "/") || strings.HasSuffix(a.Prefix, "/") {
		return errors.New("prefix must start with / and not end with /")
	}
	return nil
}

type issuerRevokeRequest struct {
	Issuer    string `json:"issuer"`
	Token     string `json:"token"`
	JTI       string `json:"jti"`
	ExpiresAt int64  `json:"expires_at"`
}

// ServeHTTP serves <prefix>/revoke and passes other paths on.
func (a *IssuerAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !a.app.credentials().admit(w, r) {
		return nil
	}
	if r.URL.Path != a.Prefix+"/revoke" {
		return next.ServeHTTP(w, r)
	}
	writeNoStore(w)
	key, err := tokencore.BearerToken(r.Header.Values("Authorization"))
	if err != nil || !a.app.IsOperator(key) {
		logOperatorKeyFailure(a.logger, r, "issuer admin")
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokengate operator"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized", "error_description": "an operator key is required"})
		return nil
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "use POST"})
		return nil
	}
	body, err := readBody(w, r, a.MaxBodyBytes)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "the body cannot be read or is too large"})
		return nil
	}
	rev, status, desc := a.revocation(r, body)
	if status != http.StatusOK {
		writeJSON(w, status, map[string]string{"error": "invalid_request", "error_description": desc})
		return nil
	}
	if err := a.app.engine.Revoke(r.Context(), rev); err != nil {
		if errors.Is(err, tokencore.ErrStoreUnavailable) {
			writeStoreUnavailable(w)
			return nil
		}
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	a.logger.Info("external token revoked", zap.String("jti", rev.Key), zap.Time("until", rev.ExpiresAt))
	writeJSON(w, http.StatusOK, map[string]any{"revoked": "token", "jti": rev.Key, "expires_at": rev.ExpiresAt.Unix()})
	return nil
}

// revocation decodes the request into the revocation to store, or a
// status and a description for the client.
func (a *IssuerAdmin) revocation(r *http.Request, body []byte) (tokencore.Revocation, int, string) {
	var in issuerRevokeRequest
	if err := tokencore.CheckStrictJSON(body); err != nil {
		return tokencore.Revocation{}, http.StatusBadRequest, "the body must be one JSON object"
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return tokencore.Revocation{}, http.StatusBadRequest, "the body does not have the expected fields"
	}
	switch {
	case in.Token != "":
		if a.app.issuers == nil {
			return tokencore.Revocation{}, http.StatusBadRequest, "no trusted issuer is configured"
		}
		iss, ok := a.app.issuers.Get(in.Issuer)
		if !ok {
			return tokencore.Revocation{}, http.StatusBadRequest, "issuer must name a trusted_issuer"
		}
		rev, err := iss.TokenRevocation(r.Context(), in.Token)
		if errors.Is(err, tokencore.ErrIssuerUnavailable) {
			return rev, http.StatusServiceUnavailable, "the issuer cannot be reached to verify the token"
		}
		if err != nil {
			desc := policy.ChallengeFor(err).Description
			if errors.Is(err, issuer.ErrNoTokenID) {
				desc = err.Error()
			}
			return rev, http.StatusBadRequest, desc
		}
		return rev, http.StatusOK, ""
	case in.JTI != "":
		rev, err := issuer.JTIRevocation(in.JTI, time.Unix(in.ExpiresAt, 0), time.Now())
		if err != nil {
			return rev, http.StatusBadRequest, err.Error()
		}
		return rev, http.StatusOK, ""
	}
	return tokencore.Revocation{}, http.StatusBadRequest, "give issuer and token, or jti and expires_at"
}

// parseIssuerAdmin sets up the operator API. Syntax:
//
//	tokengate_issuer_admin [<matcher>] {
//	    prefix <path>     # default /tokengate/issuers
//	    max_body <bytes>  # default 65536
//	}
func parseIssuerAdmin(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(IssuerAdmin)
	err := parseEndpointBlock(h, &a.Prefix, &a.MaxBodyBytes, nil)
	return a, err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*IssuerAdmin)(nil)
	_ caddy.Validator             = (*IssuerAdmin)(nil)
	_ caddyhttp.MiddlewareHandler = (*IssuerAdmin)(nil)
)
