package folio

import (
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/store/bolt"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// testKeys returns an ES256 key set and its signer.
func testKeys(t testing.TB) (*tokencore.KeySet, *tokencore.Key) {
	t.Helper()
	k, _, err := tokencore.GenerateES256Key()
	if err != nil {
		t.Fatal(err)
	}
	refreshKey := make([]byte, 32)
	_, _ = rand.Read(refreshKey)
	ks, err := tokencore.NewKeySet(k, nil, refreshKey)
	if err != nil {
		t.Fatal(err)
	}
	return ks, k
}

// newTestEngine returns an engine over a real bbolt file.
func newTestEngine(t testing.TB, clk *clock) *tokencore.Engine {
	t.Helper()
	ks, _ := testKeys(t)
	st, err := bolt.Open(filepath.Join(t.TempDir(), "tg.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cache, _ := tokencore.NewVerifyCache(tokencore.CacheConfig{MaxEntries: 1000})
	t.Cleanup(cache.Close)
	return &tokencore.Engine{Keys: ks, Store: st, View: tokencore.NewRevocationView(), Cache: cache, Now: clk.now}
}

// openBolt opens a real bbolt store.
func openBolt(t testing.TB, path string) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
