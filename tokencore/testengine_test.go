package tokencore

import (
	"path/filepath"
	"testing"
)

// newTestEngine returns an engine over a real bbolt file.
func newTestEngine(t *testing.T, clk *clock) *Engine {
	t.Helper()
	ks, _ := testKeys(t)
	st, err := OpenBoltStore(filepath.Join(t.TempDir(), "tg.db"), BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cache, _ := NewVerifyCache(CacheConfig{MaxEntries: 1000})
	t.Cleanup(cache.Close)
	return &Engine{Keys: ks, Store: st, View: NewRevocationView(), Cache: cache, Now: clk.now}
}
