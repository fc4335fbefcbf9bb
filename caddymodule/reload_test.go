package caddymodule

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/tokengate/tokengate/tokencore"
)

// TestReloadConflict: a reload that changes a setting of the shared state
// is refused, naming every changed option and never a secret; defaults
// written out are no change.
func TestReloadConflict(t *testing.T) {
	one, two := 1, 2
	running := stateSettings{sweep: time.Second, store: StoreConfig{Type: "redis", Password: "s3cret-old", MinReplicasAcked: &one}}
	for _, tc := range []struct {
		name string
		edit func(s *stateSettings)
		want []string // in the message; nil: accepted
	}{
		{"nothing changed", func(*stateSettings) {}, nil},
		{"defaults written out", func(s *stateSettings) {
			s.syncEvery, s.cache = defaultRevocationSync, tokencore.CacheConfig{MaxEntries: tokencore.DefaultCacheEntries, MaxTTL: tokencore.DefaultCacheMaxTTL}
			s.store.OnStale = "refuse"
		}, nil},
		{"sweep_interval", func(s *stateSettings) { s.sweep = 2 * time.Second }, []string{`sweep_interval from "1s" to "2s"`}},
		{"revocation_sync", func(s *stateSettings) { s.syncEvery = time.Minute }, []string{`revocation_sync from "15m0s" to "1m0s"`}},
		{"cache", func(s *stateSettings) { s.cache = tokencore.CacheConfig{MaxEntries: 10, MaxTTL: time.Minute} },
			[]string{`cache_size from "100000" to "10"`, `cache_ttl from "10m0s" to "1m0s"`}},
		{"redis options", func(s *stateSettings) {
			s.store.MinReplicasAcked, s.store.OnStale, s.store.MaxStaleness = &two, "serve", caddy.Duration(time.Second)
		}, []string{"min_replicas_acked } from \"1\" to \"2\"", `on_stale } from "refuse" to "serve"`, "max_staleness"}},
		{"password", func(s *stateSettings) { s.store.Password = "s3cret-new" }, []string{"store redis { password }"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := running
			next.store.MinReplicasAcked = &one
			tc.edit(&next)
			err := reloadConflict(running, next)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, errRestartRequired) {
				t.Fatalf("%v, want a refusal wrapping errRestartRequired", err)
			}
			for _, w := range append(tc.want, "restart Caddy") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("message %q shows a password", err)
			}
		})
	}
}
