package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/tokengate/tokengate/tokencore"
	pebblestore "github.com/tokengate/tokengate/tokencore/store/pebble"
)

// TestAdaptPebbleStore: `store pebble [<dir>]` in the global option.
func TestAdaptPebbleStore(t *testing.T) {
	tests := []struct {
		name, line string
		want       map[string]any
	}{
		{"with directory", "store pebble /var/lib/tokengate/pebble", map[string]any{"type": "pebble", "path": "/var/lib/tokengate/pebble"}},
		{"default directory", "store pebble", map[string]any{"type": "pebble"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := adapt(t, "{\n\ttokengate {\n\t\t"+tc.line+"\n\t}\n}\n:8080 {\n\trespond ok\n}\n")
			if err != nil {
				t.Fatal(err)
			}
			store := cfg["apps"].(map[string]any)["tokengate"].(map[string]any)["store"].(map[string]any)
			if len(store) != len(tc.want) {
				t.Errorf("store = %v, want %v", store, tc.want)
			}
			for k, v := range tc.want {
				if store[k] != v {
					t.Errorf("store.%s = %v, want %v", k, store[k], v)
				}
			}
		})
	}
	if _, err := adapt(t, "{\n\ttokengate {\n\t\tstore pebble /a /b\n\t}\n}\n:8080 {\n\trespond ok\n}\n"); err == nil {
		t.Error("store pebble with two directories adapted")
	}
}

// TestPebbleStoreState: the pool key and the name of a Pebble store are
// its directory (default: next to the bbolt file in Caddy's data
// directory), distinct from a bbolt store's; Start opens it, and a store
// held by another process is explained as one.
func TestPebbleStoreState(t *testing.T) {
	a := &App{Store: &StoreConfig{Type: "pebble"}, logger: zap.NewNop()}
	st, key, err := a.openState()
	if err != nil {
		t.Fatal(err)
	}
	_, _ = statePool.Delete(key)
	if want := "pebble:" + defaultPebblePath(); key != want || st.name != defaultPebblePath() {
		t.Errorf("default key %q, name %q; want %q", key, st.name, want)
	}
	if filepath.Dir(defaultPebblePath()) != filepath.Dir(defaultStorePath()) {
		t.Errorf("default pebble directory %s is not next to the bbolt file %s", defaultPebblePath(), defaultStorePath())
	}

	tmp := t.TempDir()
	held, err := pebblestore.Open(filepath.Join(tmp, "held"), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	tests := []struct {
		name string
		path string
		want []string // in the error; none: it opens
	}{
		{"new store", filepath.Join(tmp, "new"), nil},
		{"held by another process", filepath.Join(tmp, "held"), []string{"store pebble: ", "locked by another process", "caddy reload"}},
		{"a bbolt file", filepath.Join(tmp, "tokengate.db"), []string{"store pebble: ", "not a directory", "store bolt"}},
	}
	if err := os.WriteFile(filepath.Join(tmp, "tokengate.db"), []byte("bbolt"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &App{Store: &StoreConfig{Type: "pebble", Path: tc.path}, logger: zap.NewNop()}
			st, key, err := a.openState()
			if err != nil {
				t.Fatal(err) // Provision opens no store: this cannot fail on the path
			}
			defer func() { _, _ = statePool.Delete(key) }()
			if key != "pebble:"+tc.path || st.name != tc.path {
				t.Errorf("key %q, name %q; want pebble:%s", key, st.name, tc.path)
			}
			// Start opens it.
			_, err = st.open(func(tokencore.IdentifiedStore, string) error { return nil }, func(tokencore.Store) error { return nil })
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := st.identified.(*pebblestore.Store); !ok {
					t.Errorf("the store is a %T", st.identified)
				}
				return
			}
			if err == nil {
				t.Fatal("the store opened")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
