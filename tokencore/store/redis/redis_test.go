package redis_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/tokencore"
	redisstore "github.com/tokengate/tokengate/tokencore/store/redis"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

// openRedis opens a Store under a fresh random prefix and deletes
// every key of that prefix when the test ends. Without a Redis at
// storetest.RedisAddr the test fails (see there).
func openRedis(t *testing.T, prefix string) *redisstore.Store {
	t.Helper()
	if prefix == "" {
		prefix = storetest.NewRedisPrefix(t)
	}
	s, err := redisstore.Open(t.Context(), redisstore.Options{
		Addr: storetest.RedisAddr, KeyPrefix: prefix, DialTimeout: time.Second,
	})
	if err != nil {
		t.Fatalf("the Redis store tests need a Redis server at %s (.ci/run installs and starts one): %v", storetest.RedisAddr, err)
	}
	return s
}

// openRedisAt opens a store on addr under prefix, closed when the test
// ends.
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

func TestRedisStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tokencore.Store { return openRedis(t, "") })
}

// TestRedisStoreUnreachable: a wrong address fails at open, clearly.
func TestRedisStoreUnreachable(t *testing.T) {
	_, err := redisstore.Open(t.Context(), redisstore.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond})
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	t.Log(err)
}

// TestRedisStoreRotationAcrossStores: 50 rotations of one refresh token
// through separate connections (as separate instances) have one winner.
func TestRedisStoreRotationAcrossStores(t *testing.T) {
	prefix := storetest.NewRedisPrefix(t)
	const n = 50
	stores := make([]*redisstore.Store, 5)
	for i := range stores {
		stores[i] = openRedis(t, prefix)
		defer stores[i].Close()
	}
	ctx := t.Context()
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	g := &tokencore.Grant{ID: "g", Status: tokencore.GrantActive, CreatedAt: t0, RefreshID: "r0", RefreshHash: tokencore.TokenHash("r0")}
	if err := stores[0].CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	wins := make(chan int, n)
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			_, err := stores[i%len(stores)].UpdateGrant(ctx, "g", func(g *tokencore.Grant) error {
				if g.RefreshID != "r0" {
					return tokencore.ErrRefreshReused
				}
				g.RefreshID = "r1"
				g.RefreshHash = tokencore.TokenHash("r1-" + string(rune('a'+i%26)) + hex.EncodeToString([]byte{byte(i)}))
				return nil
			})
			if err == nil {
				wins <- i
			} else {
				errs <- err
			}
		}()
	}
	close(start)
	won := 0
	for range n {
		select {
		case <-wins:
			won++
		case err := <-errs:
			if err != tokencore.ErrRefreshReused {
				t.Errorf("losing rotation: %v, want ErrRefreshReused unwrapped", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("rotations did not finish")
		}
	}
	if won != 1 {
		t.Fatalf("%d rotations won, want exactly 1", won)
	}
	// The old hash index entry is gone, the new one is there.
	if _, err := stores[1].GrantByTokenHash(ctx, tokencore.TokenHash("r0")); err == nil {
		t.Error("the rotated-away refresh hash still finds the grant")
	}
}

// TestRedisRevocationWrittenByEarlierVersion: a revocation stored as the
// store wrote it before the merge moved into the script (the hash with
// only "v") is merged in Go and rewritten in the new form, and merged by
// the script from then on; the feed carries each merged value.
func TestRedisRevocationWrittenByEarlierVersion(t *testing.T) {
	prefix := storetest.NewRedisPrefix(t)
	s := openRedis(t, prefix)
	rdb := goredis.NewClient(&goredis.Options{Addr: storetest.RedisAddr})
	defer rdb.Close()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	legacy := tokencore.Revocation{Kind: tokencore.RevocationOfGrant, Key: "g1", NotBefore: t0, ExpiresAt: t0.Add(time.Hour)}
	b, _ := json.Marshal(legacy)
	if err := rdb.HSet(t.Context(), prefix+"r:5:grantg1", "v", b).Err(); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		put      tokencore.Revocation
		nb, exp  time.Time
		describe string
	}{
		{tokencore.Revocation{Kind: tokencore.RevocationOfGrant, Key: "g1", NotBefore: t0.Add(time.Minute), ExpiresAt: t0.Add(time.Minute)},
			t0.Add(time.Minute), t0.Add(time.Hour), "merged with the earlier version's record"},
		{tokencore.Revocation{Kind: tokencore.RevocationOfGrant, Key: "g1", NotBefore: t0, ExpiresAt: t0.Add(2 * time.Hour)},
			t0.Add(time.Minute), t0.Add(2 * time.Hour), "merged by the script"},
		{tokencore.Revocation{Kind: tokencore.RevocationOfGrant, Key: "g1", NotBefore: t0.Add(time.Second), ExpiresAt: t0},
			t0.Add(time.Minute), t0.Add(2 * time.Hour), "an older put changes nothing"},
	}
	for _, st := range steps {
		seq, err := s.PutRevocation(t.Context(), st.put)
		if err != nil {
			t.Fatalf("%s: %v", st.describe, err)
		}
		all, err := s.Revocations(t.Context(), t0)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1 || !all[0].NotBefore.Equal(st.nb) || !all[0].ExpiresAt.Equal(st.exp) || all[0].Key != "g1" || all[0].Kind != tokencore.RevocationOfGrant {
			t.Fatalf("%s: stored %+v, want not before %v, expires %v", st.describe, all, st.nb, st.exp)
		}
		feed, err := s.ReadRevocations(t.Context(), seq-1, 0)
		if err != nil || len(feed) != 1 || feed[0].Seq != seq || !feed[0].NotBefore.Equal(st.nb) || !feed[0].ExpiresAt.Equal(st.exp) {
			t.Fatalf("%s: feed entry %d is %+v (%v), want the merged value", st.describe, seq, feed, err)
		}
		score, err := rdb.ZScore(t.Context(), prefix+"exp:r", "5:grantg1").Result()
		if err != nil || int64(score) != st.exp.Unix() {
			t.Fatalf("%s: expiry score %v (%v), want %d", st.describe, score, err, st.exp.Unix())
		}
	}
}

// TestRedisWritesAfterScriptFlush: the writes are scripts run by their
// SHA; a server that forgot them (SCRIPT FLUSH, a restart, a failover to
// a replica that never ran them) gets their source again, and every
// write still succeeds.
func TestRedisWritesAfterScriptFlush(t *testing.T) {
	prefix := storetest.NewRedisPrefix(t)
	s := openRedis(t, prefix)
	rdb := goredis.NewClient(&goredis.Options{Addr: storetest.RedisAddr})
	defer rdb.Close()
	ctx := t.Context()
	now := time.Now().UTC()
	g := &tokencore.Grant{ID: "flush-1", Kind: tokencore.GrantKindOAuth, Subject: "alice", Status: tokencore.GrantActive,
		CreatedAt: now, AccessHash: tokencore.TokenHash("a1"), RefreshHash: tokencore.TokenHash("r1"), ExpiresAt: now.Add(time.Hour)}
	steps := []struct {
		name string
		do   func() error
	}{
		{"create", func() error { return s.CreateGrant(ctx, g) }},
		{"lookup", func() error { _, err := s.GrantByTokenHash(ctx, tokencore.TokenHash("r1")); return err }},
		{"update", func() error {
			_, err := s.UpdateGrant(ctx, g.ID, func(g *tokencore.Grant) error {
				g.RefreshHash = tokencore.TokenHash("r2")
				return nil
			})
			return err
		}},
		{"revoke", func() error {
			_, err := s.PutRevocation(ctx, tokencore.Revocation{Kind: tokencore.RevocationOfGrant, Key: g.ID, NotBefore: now, ExpiresAt: now.Add(time.Hour)})
			return err
		}},
		{"delete", func() error { return s.DeleteGrant(ctx, g.ID) }},
	}
	for _, st := range steps {
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := st.do(); err != nil {
			t.Fatalf("%s after SCRIPT FLUSH: %v", st.name, err)
		}
	}
	if _, err := s.GrantByTokenHash(ctx, tokencore.TokenHash("r2")); !errors.Is(err, tokencore.ErrNotFound) {
		t.Fatalf("the deleted grant's token hash still finds something: %v", err)
	}
}

// TestRedisUpdateAfterStaleRead: UpdateGrant starts from the bytes of the
// store's last read of the grant (a refresh reads, then updates: one round
// trip fewer). When another instance changed the grant in between, that
// start is stale: the write must not happen on it, and an error fn returns
// on it must not be the answer; fn runs again on the record as it is.
func TestRedisUpdateAfterStaleRead(t *testing.T) {
	prefix := storetest.NewRedisPrefix(t)
	a, b := openRedis(t, prefix), openRedis(t, prefix)
	ctx := t.Context()
	now := time.Now().UTC()
	g := &tokencore.Grant{ID: "stale-1", Kind: tokencore.GrantKindOAuth, Subject: "alice", Status: tokencore.GrantActive,
		CreatedAt: now, Scopes: []string{"a"}, RefreshHash: tokencore.TokenHash("r1"), ExpiresAt: now.Add(time.Hour)}
	if err := a.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	errStale := errors.New("fn saw the old refresh token")
	for round, wantCalls := range []int{2, 1} {
		if _, err := a.GetGrant(ctx, g.ID); err != nil { // A reads (and remembers) the grant
			t.Fatal(err)
		}
		want := tokencore.TokenHash("r" + strconv.Itoa(round+2))
		if round == 0 { // B rotates it meanwhile; in round 1 nobody does
			if _, err := b.UpdateGrant(ctx, g.ID, func(g *tokencore.Grant) error { g.RefreshHash = want; return nil }); err != nil {
				t.Fatal(err)
			}
		} else {
			cur, _ := a.GetGrant(ctx, g.ID)
			want = cur.RefreshHash
		}
		var seen []string
		out, err := a.UpdateGrant(ctx, g.ID, func(g *tokencore.Grant) error {
			seen = append(seen, g.RefreshHash)
			if g.RefreshHash != want {
				return errStale
			}
			g.Scopes = append(g.Scopes, "x")
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: UpdateGrant answered %v on a stale start (fn saw %v)", round, err, seen)
		}
		if len(seen) != wantCalls {
			t.Errorf("round %d: fn was called on %v, want %d calls", round, seen, wantCalls)
		}
		stored, err := b.GetGrant(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.RefreshHash != want || len(stored.Scopes) != round+2 || out.RefreshHash != want {
			t.Fatalf("round %d: stored %q %v, want the rotation of B kept and one scope added", round, stored.RefreshHash, stored.Scopes)
		}
	}
}
