package caddymodule

import (
	"context"
	"errors"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/tokencore"
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
	if a.Store == nil || a.Store.Type == "" || a.Store.Type == "bolt" {
		collectors = append(collectors, newDiskSpaceCollector(ns+"_"+sub, st.store))
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

// diskSpaceCollector exports the size of a store kept in local files
// (tokencore.DiskSpacer): the files' bytes and the bytes among them that
// hold no record. An embedded store's file never shrinks, so an operator
// watches the difference, the live records, to see that sweeping keeps up.
// Nothing is exported while the store is not open (before Start) or when
// reading its size fails: a missing sample, never a false zero.
type diskSpaceCollector struct {
	store       *tokencore.StoreHandle
	bytes, free *prometheus.Desc
}

func newDiskSpaceCollector(prefix string, store *tokencore.StoreHandle) *diskSpaceCollector {
	return &diskSpaceCollector{
		store: store,
		bytes: prometheus.NewDesc(prefix+"_store_disk_bytes", "Size of the store's files.", nil, nil),
		free:  prometheus.NewDesc(prefix+"_store_free_bytes", "Bytes of the store's files that hold no record (free pages, reused by the next writes).", nil, nil),
	}
}

func (c *diskSpaceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.bytes
	ch <- c.free
}

func (c *diskSpaceCollector) Collect(ch chan<- prometheus.Metric) {
	spacer, ok := c.store.Backend().(tokencore.DiskSpacer)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	space, err := spacer.DiskSpace(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(space.Bytes))
	ch <- prometheus.MustNewConstMetric(c.free, prometheus.GaugeValue, float64(space.FreeBytes))
}
