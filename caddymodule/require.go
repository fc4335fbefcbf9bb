package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tokengate/tokengate/tokencore/policy"
)

func init() {
	caddy.RegisterModule(Require{})
}

// Require applies a policy to the token that tokengate_protect (or the
// tokengate authentication provider) verified earlier on the route: the
// scopes it must grant, the claims it must carry, its issuer and its
// client (policy.Rules). It is tokengate_protect's `require` lines as a
// handler of its own, so one protection can serve routes with different
// requirements. A request that no tokengate handler authenticated (a
// public path of tokengate_protect, or a route without one) is refused
// with 401: it fails closed. A token the policy refuses gets 403 with
// error="insufficient_scope" (and the scope it needs, when a scope is
// missing), as policy.ChallengeFor decides.
type Require struct {
	policy.Rules
	// Realm of the WWW-Authenticate challenge (default "tokengate").
	Realm string `json:"realm,omitempty"`

	policy   *policy.Policy
	counters map[string]prometheus.Counter
	logger   *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Require) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokengate_require", New: func() caddy.Module { return new(Require) }}
}

// Provision compiles the policy.
func (q *Require) Provision(ctx caddy.Context) error {
	q.logger = ctx.Logger()
	app, err := tokengateApp(ctx)
	if err != nil {
		return err
	}
	q.counters = app.metrics.verifyCounters()
	if q.Realm == "" {
		q.Realm = "tokengate"
	}
	pol, err := policy.New(q.Rules)
	if err != nil {
		return err
	}
	q.policy = pol
	return nil
}

// Validate checks the configuration.
func (q *Require) Validate() error {
	if strings.ContainsAny(q.Realm, "\"\\\r\n") {
		return errors.New("realm must not contain quotes, backslashes or line breaks")
	}
	return nil
}

// ServeHTTP passes the request on when its verified token satisfies the
// policy, and answers otherwise.
func (q *Require) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	claims, ok := VerifiedClaims(r.Context())
	var err error
	if !ok {
		err = fmt.Errorf("tokengate_require: no tokengate handler authenticated the request: %w", policy.ErrNoToken)
	} else {
		err = q.policy.Check(claims)
	}
	if err == nil {
		return next.ServeHTTP(w, r)
	}
	c := policy.ChallengeFor(err)
	q.counters[c.Result].Inc()
	if ce := q.logger.Check(zapcore.DebugLevel, "request refused by policy"); ce != nil {
		ce.Write(zap.Int("status", c.Status), zap.String("reason", err.Error()), zap.String("remote", r.RemoteAddr))
	}
	writeChallenge(w, c, q.Realm)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Require)(nil)
	_ caddy.Validator             = (*Require)(nil)
	_ caddyhttp.MiddlewareHandler = (*Require)(nil)
)
