package caddymodule

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/edi"
)

// Security events. They go to the handler's logger at warn (info for the
// start-up line), so an operator who keeps only warnings still sees them,
// and they name grants, users, clients and addresses, never a token, a key
// or a secret. (Refresh tokens presented at the wrong endpoint are logged
// where the redemption rule refuses them; store outages and recoveries
// where the store is followed.)

// logReplay logs a refresh-token replay and the revocation it caused, and
// reports whether err was one.
func logReplay(logger *zap.Logger, r *http.Request, endpoint string, err error) bool {
	var replay *tokencore.ReplayError
	if !errors.As(err, &replay) {
		return false
	}
	logger.Warn("refresh token replayed: grants revoked",
		zap.String("protocol", replay.Protocol),
		zap.String("endpoint", endpoint),
		zap.String("grant_id", replay.GrantID),
		zap.String("tenant", replay.Tenant),
		zap.String("user_id", replay.UserID),
		zap.Int("revoked_grants", replay.Revoked),
		zap.String("client_ip", clientIP(r)),
	)
	return true
}

// logOperatorKeyFailure logs a request to an operator API (the management
// API, the EDI operator API) without a valid operator key.
func logOperatorKeyFailure(logger *zap.Logger, r *http.Request, api string) {
	reason := "invalid operator key"
	if len(r.Header.Values("Authorization")) == 0 {
		reason = "no operator key"
	}
	logger.Warn("operator API: authentication failed",
		zap.String("api", api),
		zap.String("reason", reason),
		zap.String("method", r.Method),
		zap.String("path", r.URL.Path),
		zap.String("client_ip", clientIP(r)),
	)
}

// clientIP is the client address as Caddy determined it (honouring
// trusted_proxies), or the peer address.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	return r.RemoteAddr
}

// logStartup writes the one start-up line: the store, the key IDs (never
// the keys), and with a shared store the instance.
func (a *App) logStartup() {
	fields := []zap.Field{zap.String("store", a.key)}
	if a.engine != nil && a.engine.Keys != nil {
		fields = append(fields, zap.Strings("key_ids", a.engine.Keys.KeyIDs()), zap.String("signing_key_id", a.engine.Keys.Signer().ID))
	}
	if a.EDI != nil && a.EDI.svc != nil {
		var ids []string
		for _, k := range a.EDI.svc.EDIPublicKeys() {
			if id, err := edi.KeyID(k); err == nil {
				ids = append(ids, id)
			}
		}
		fields = append(fields, zap.Strings("edi_key_ids", ids))
	}
	if a.Store != nil && a.Store.Type == "redis" {
		if id, err := caddy.InstanceID(); err == nil {
			fields = append(fields, zap.String("instance", id.String()))
		}
	}
	a.logger.Info("tokengate started", fields...)
}
