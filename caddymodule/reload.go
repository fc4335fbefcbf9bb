package caddymodule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// Defaults of the settings the shared state is built with.
const (
	defaultSweepInterval  = time.Minute
	defaultRevocationSync = 15 * time.Minute
)

// errRestartRequired is wrapped by the refusal of a config reload that
// changes a setting of the shared state.
var errRestartRequired = errors.New("a restart is needed to change them")

// stateSettings are the settings the shared state (store, cache, sweeper,
// revocation follower) is built with, as they take effect: defaults
// applied. A config reload keeps that state (see App), so a reload cannot
// change them; reloadConflict refuses one that tries, rather than leaving
// the running values in place while the config says otherwise.
type stateSettings struct {
	sweep, syncEvery time.Duration
	cache            tokencore.CacheConfig
	store            StoreConfig // resolved (openState)
}

// effective applies the defaults, so that an option left out and the
// same option written with its default value are the same setting.
func (s stateSettings) effective() stateSettings {
	if s.sweep <= 0 {
		s.sweep = defaultSweepInterval
	}
	if s.syncEvery <= 0 {
		s.syncEvery = defaultRevocationSync
	}
	if s.cache.MaxEntries <= 0 {
		s.cache.MaxEntries = tokencore.DefaultCacheEntries
	}
	if s.cache.MaxTTL <= 0 {
		s.cache.MaxTTL = tokencore.DefaultCacheMaxTTL
	}
	if s.store.OnStale == "" {
		s.store.OnStale = "refuse"
	}
	return s
}

// reloadConflict compares the settings of a config being loaded with
// those the running shared state was built with, and names every change
// (with its Caddyfile option) in one error wrapping errRestartRequired;
// nil if none. Secrets are compared, never printed.
func reloadConflict(running, next stateSettings) error {
	a, b := running.effective(), next.effective()
	replicas := func(p *int) string {
		if p == nil {
			return "auto"
		}
		return strconv.Itoa(*p)
	}
	type setting struct{ name, old, new string }
	all := []setting{
		{"sweep_interval", a.sweep.String(), b.sweep.String()},
		{"revocation_sync", a.syncEvery.String(), b.syncEvery.String()},
		{"cache_size", strconv.FormatInt(a.cache.MaxEntries, 10), strconv.FormatInt(b.cache.MaxEntries, 10)},
		{"cache_ttl", a.cache.MaxTTL.String(), b.cache.MaxTTL.String()},
		{"store redis { username }", a.store.Username, b.store.Username},
		{"store redis { min_replicas_acked }", replicas(a.store.MinReplicasAcked), replicas(b.store.MinReplicasAcked)},
		{"store redis { replica_ack_timeout }", time.Duration(a.store.ReplicaAckTimeout).String(), time.Duration(b.store.ReplicaAckTimeout).String()},
		{"store redis { revocation_wait }", time.Duration(a.store.RevocationWait).String(), time.Duration(b.store.RevocationWait).String()},
		{"store redis { max_staleness }", time.Duration(a.store.MaxStaleness).String(), time.Duration(b.store.MaxStaleness).String()},
		{"store redis { on_stale }", a.store.OnStale, b.store.OnStale},
		{"store redis { instance_id }", a.store.InstanceID, b.store.InstanceID},
	}
	var changed []string
	for _, s := range all {
		if s.old != s.new {
			changed = append(changed, fmt.Sprintf("%s from %q to %q", s.name, s.old, s.new))
		}
	}
	if a.store.Password != b.store.Password {
		changed = append(changed, "store redis { password }")
	}
	if len(changed) == 0 {
		return nil
	}
	return fmt.Errorf("config reload changes %s: a reload keeps the open store with its cache, sweeper and revocation follower, "+
		"which were built with the running values; %w: restart Caddy with the new config, or reload with the running values",
		strings.Join(changed, ", "), errRestartRequired)
}
