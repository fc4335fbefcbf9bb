package redis

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

// The benchmarks of the write paths report, beside time and allocations,
// what each operation costs Redis and the network:
//
//	round-trips/op  requests sent (a pipeline or MULTI/EXEC block is one)
//	cmds/op         commands sent by the client (a script is one)
//	redis-µs/op     CPU the Redis server process used (INFO cpu, user+sys)
//
// redis-µs/op is exact only on a server nobody else uses: set
// TOKENGATE_BENCH_REDIS to the address of a private one (for example
// redis-server --port 6390 --save ” --appendonly no); by default the
// shared test server is used and its other clients' work counts too.

// countHook counts what the client sends.
type countHook struct{ trips, cmds atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.trips.Add(1)
		h.cmds.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.trips.Add(1)
		h.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func benchAddr() string {
	if a := os.Getenv("TOKENGATE_BENCH_REDIS"); a != "" {
		return a
	}
	return storetest.RedisAddr
}

// openBench opens a store under a fresh prefix (removed afterwards when
// on the shared server) with a counting hook.
func openBench(b *testing.B) (*Store, *countHook) {
	b.Helper()
	addr := benchAddr()
	prefix := "tokengate-bench:" + tokencore.NewGrantID() + ":"
	if addr == storetest.RedisAddr {
		prefix = storetest.NewRedisPrefix(b)
	}
	s, err := Open(b.Context(), Options{Addr: addr, KeyPrefix: prefix, DialTimeout: time.Second})
	if err != nil {
		b.Fatalf("the Redis benchmarks need a Redis server at %s: %v", addr, err)
	}
	b.Cleanup(func() { s.Close() })
	h := &countHook{}
	s.rdb.AddHook(h)
	return s, h
}

// serverCPU is the Redis process' CPU time so far.
func serverCPU(b *testing.B, s *Store) time.Duration {
	b.Helper()
	info, err := s.rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			total += time.Duration(f * float64(time.Second))
		}
	}
	return total
}

// measure runs op b.N times and reports the costs described above.
func measure(b *testing.B, s *Store, h *countHook, op func(i int)) {
	b.Helper()
	cpu0 := serverCPU(b, s)
	h.trips.Store(0)
	h.cmds.Store(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		op(i)
	}
	b.StopTimer()
	trips, cmds := h.trips.Load(), h.cmds.Load()
	cpu := serverCPU(b, s) - cpu0
	b.ReportMetric(float64(trips)/float64(b.N), "round-trips/op")
	b.ReportMetric(float64(cmds)/float64(b.N), "cmds/op")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "redis-µs/op")
}

// benchGrant is a grant as a FOLIO sign or an OAuth code exchange stores
// it: every index, both token hashes, an expiry.
func benchGrant(id string) *tokencore.Grant {
	now := time.Now().UTC()
	return &tokencore.Grant{
		ID: id, Kind: tokencore.GrantKindOAuth, Subject: "alice", ClientID: "c1", Tenant: "T1", UserID: "u1",
		Status: tokencore.GrantActive, CreatedAt: now, UpdatedAt: now, Scopes: []string{"openid", "profile"},
		AccessID: "a-" + id, AccessHash: tokencore.TokenHash("access-" + id), AccessExpiresAt: now.Add(10 * time.Minute),
		RefreshID: "r-" + id, RefreshHash: tokencore.TokenHash("refresh-" + id), RefreshExpiresAt: now.Add(time.Hour),
		ExpiresAt: now.Add(time.Hour),
	}
}

func BenchmarkRedisCreateGrant(b *testing.B) {
	s, h := openBench(b)
	ctx := context.Background()
	measure(b, s, h, func(int) {
		if err := s.CreateGrant(ctx, benchGrant(tokencore.NewGrantID())); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkRedisUpdateGrant is a refresh: both token hashes rotate, the
// expiries move, the indexes stay.
func BenchmarkRedisUpdateGrant(b *testing.B) {
	s, h := openBench(b)
	ctx := context.Background()
	ids := make([]string, 256)
	for i := range ids {
		ids[i] = tokencore.NewGrantID()
		if err := s.CreateGrant(ctx, benchGrant(ids[i])); err != nil {
			b.Fatal(err)
		}
	}
	measure(b, s, h, func(i int) {
		_, err := s.UpdateGrant(ctx, ids[i%len(ids)], func(g *tokencore.Grant) error {
			now := time.Now().UTC()
			n := strconv.Itoa(i)
			g.AccessID, g.AccessHash = "a"+n, tokencore.TokenHash("access-"+g.ID+n)
			g.RefreshID, g.RefreshHash = "r"+n, tokencore.TokenHash("refresh-"+g.ID+n)
			g.UpdatedAt, g.LastRefreshedAt = now, now
			g.AccessExpiresAt, g.RefreshExpiresAt, g.ExpiresAt = now.Add(10*time.Minute), now.Add(time.Hour), now.Add(time.Hour)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkRedisPutRevocation(b *testing.B) {
	s, h := openBench(b)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	measure(b, s, h, func(i int) {
		r := tokencore.Revocation{Kind: tokencore.RevocationOfGrant, Key: tokencore.NewGrantID(), NotBefore: time.Now(), ExpiresAt: exp}
		if _, err := s.PutRevocation(ctx, r); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkRedisRefresh is what a refresh asks of the store: the grant
// of the presented refresh token, then its rotation.
func BenchmarkRedisRefresh(b *testing.B) {
	s, h := openBench(b)
	ctx := context.Background()
	refresh := make([]string, 256)
	for i := range refresh {
		g := benchGrant(tokencore.NewGrantID())
		if err := s.CreateGrant(ctx, g); err != nil {
			b.Fatal(err)
		}
		refresh[i] = g.RefreshHash
	}
	measure(b, s, h, func(i int) {
		k := i % len(refresh)
		g, err := s.GrantByTokenHash(ctx, refresh[k])
		if err != nil {
			b.Fatal(err)
		}
		_, err = s.UpdateGrant(ctx, g.ID, func(g *tokencore.Grant) error {
			if g.RefreshHash != refresh[k] {
				return tokencore.ErrConflict
			}
			n := strconv.Itoa(i)
			g.AccessID, g.AccessHash = "a"+n, tokencore.TokenHash("access-"+g.ID+n)
			g.RefreshID, g.RefreshHash = "r"+n, tokencore.TokenHash("refresh-"+g.ID+n)
			now := time.Now().UTC()
			g.UpdatedAt, g.LastRefreshedAt = now, now
			g.AccessExpiresAt, g.RefreshExpiresAt, g.ExpiresAt = now.Add(10*time.Minute), now.Add(time.Hour), now.Add(time.Hour)
			refresh[k] = g.RefreshHash
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	})
}
