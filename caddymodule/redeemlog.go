package caddymodule

import (
	"errors"

	"go.uber.org/zap"

	"github.com/tokengate/tokengate/tokencore"
)

// logWrongEndpoint logs at warn a token the redemption rule refused
// (tokencore.Grant.RedeemableAt): a refresh token presented at another
// protocol's endpoint, for another client or tenant. It is an attack or a
// misconfigured client, and worth an operator's attention; the rule's
// error names the grant by ID, kind, client and tenant, never a token. It
// reports whether err was such a refusal.
func logWrongEndpoint(logger *zap.Logger, endpoint string, err error) bool {
	var re *tokencore.RedeemError
	if !errors.As(err, &re) {
		return false
	}
	logger.Warn("token refused: presented at the wrong endpoint",
		zap.String("endpoint", endpoint),
		zap.String("reason", re.Reason.Error()),
		zap.String("grant_id", re.GrantID),
		zap.String("grant_kind", string(re.Kind)),
		zap.String("grant_protocol", string(re.Protocol)),
		zap.String("grant_client_id", re.ClientID),
		zap.String("grant_tenant", re.Tenant),
		zap.String("request_protocol", string(re.At.Protocol)),
		zap.String("request_client_id", re.At.ClientID),
		zap.String("request_tenant", re.At.Tenant),
	)
	return true
}
