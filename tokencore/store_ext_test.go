package tokencore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/store/bolt"
	redisstore "github.com/tokengate/tokengate/tokencore/store/redis"
)

// The internal tests of the package get their store from here (see
// tokencore.OpenTestStore): a real bbolt file.
func init() {
	tokencore.OpenTestStore = func(t testing.TB) tokencore.Store {
		t.Helper()
		st, err := bolt.Open(filepath.Join(t.TempDir(), "tg.db"), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
}

// openBolt opens a bbolt store at path; the caller closes it.
func openBolt(t testing.TB, path string) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openRedisAt opens a Redis store on addr under prefix, closed when the
// test ends.
func openRedisAt(t *testing.T, addr, prefix string, opts ...func(*redisstore.Options)) *redisstore.Store {
	t.Helper()
	o := redisstore.Options{Addr: addr, KeyPrefix: prefix, DialTimeout: time.Second}
	for _, f := range opts {
		f(&o)
	}
	s, err := redisstore.Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
