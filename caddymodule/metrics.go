package caddymodule

import (
	"errors"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// appMetrics are tokengate's domain metrics. Caddy already records request
// counts and latencies per handler when the `metrics` option is on; these
// add what only tokengate knows.
type appMetrics struct {
	verified *prometheus.CounterVec // result = valid | invalid | missing | revoked | expired | forbidden | unavailable
}

// verifyResult returns the counter of one result.
func (m *appMetrics) verifyResult(result string) prometheus.Counter {
	return m.verified.WithLabelValues(result)
}

// verifyCounters resolves the counter of every result a protecting handler
// reports, once, at provisioning, to keep label lookups off the request path.
func (m *appMetrics) verifyCounters() map[string]prometheus.Counter {
	counters := map[string]prometheus.Counter{}
	for _, r := range []string{"valid", "invalid", "missing", "revoked", "expired", "forbidden", "unavailable"} {
		counters[r] = m.verifyResult(r)
	}
	return counters
}

// registerMetrics creates the collectors of one app and registers them in
// the config's registry. Each config load has its own registry, so only a
// duplicate registration within one load can collide, and that is tolerated.
func registerMetrics(ctx caddy.Context, a *App) {
	reg := ctx.GetMetricsRegistry()
	st := a.state
	const ns, sub = "caddy", "tokengate"
	m := &appMetrics{
		verified: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "bearer_verifications_total",
			Help: "Bearer token checks on protected routes, by result.",
		}, []string{"result"}),
	}
	collectors := []prometheus.Collector{
		m.verified,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "verify_cache_hits_total",
			Help: "Verification cache hits (signature work saved).",
		}, func() float64 { h, _ := st.cache.Stats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "verify_cache_misses_total",
			Help: "Verification cache misses.",
		}, func() float64 { _, m := st.cache.Stats(); return float64(m) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "revocations",
			Help: "Entries in the in-memory revocation view.",
		}, func() float64 { return float64(st.view.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "revocation_seq_applied",
			Help: "Number of the last revocation this instance applied in order (compare across instances to see lag).",
		}, func() float64 { return float64(st.view.Position().Seq) }),
	}
	for i, c := range collectors {
		if reg == nil {
			break
		}
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				if i == 0 {
					m.verified = are.ExistingCollector.(*prometheus.CounterVec)
				}
				continue
			}
			a.logger.Warn("registering metric", zap.Error(err))
		}
	}
	a.metrics = m
}
