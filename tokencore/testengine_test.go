package tokencore

import (
	"testing"
)

// OpenTestStore opens a real store (a bbolt file in the test's directory,
// closed when the test ends) for this package's internal tests. The store
// packages import tokencore, so these tests cannot import them: the
// external test file store_ext_test.go sets it.
var OpenTestStore func(t testing.TB) Store

// newTestEngine returns an engine over a real bbolt file.
func newTestEngine(t *testing.T, clk *clock) *Engine {
	t.Helper()
	ks, _ := testKeys(t)
	st := OpenTestStore(t)
	cache, _ := NewVerifyCache(CacheConfig{MaxEntries: 1000})
	t.Cleanup(cache.Close)
	return &Engine{Keys: ks, Store: st, View: NewRevocationView(), Cache: cache, Now: clk.now}
}
