package redis_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/tokencore"
	redisstore "github.com/tokengate/tokengate/tokencore/store/redis"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

// primaryWithReplica starts a primary and a replica of it, both the test's
// own, and waits until the replica is in sync.
func primaryWithReplica(t *testing.T) (primary, replica *storetest.RedisServer) {
	t.Helper()
	primary = storetest.StartRedisServer(t)
	replica = storetest.StartRedisServer(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port))
	c := redis.NewClient(&redis.Options{Addr: primary.Addr()})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		info, _ := c.Info(t.Context(), "replication").Result()
		if strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online") {
			return primary, replica
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not come online:\n%s", info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func replicaGet(t *testing.T, r *storetest.RedisServer, key string) string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	v, _ := c.Get(t.Context(), key).Result()
	return v
}

// TestRedisReplicaAcks: with a replica, a revocation and a rotation are
// answered only once the replica has them (WAIT). With the replica cut
// off, they fail with ErrNotReplicated (a 503 for the caller) instead of
// being acknowledged and lost in a failover; while it stays cut off, the
// next write fails before writing anything; once it is back, writes are
// confirmed again. Auto mode stays on when the replica disappears.
func TestRedisReplicaAcks(t *testing.T) {
	primary, replica := primaryWithReplica(t)
	prefix := storetest.NewRedisPrefix(t)
	s := openRedisAt(t, primary.Addr(), prefix, func(o *redisstore.Options) {
		o.ReplicaAckTimeout = 200 * time.Millisecond // auto mode: the default
	})
	ctx := t.Context()
	now := time.Now()
	rev := func(key string) tokencore.Revocation {
		return tokencore.Revocation{Kind: tokencore.RevocationOfToken, Key: key, NotBefore: now, ExpiresAt: now.Add(time.Hour)}
	}

	// Confirmed: the replica has the revocation when PutRevocation returns.
	seq, err := s.PutRevocation(ctx, rev("a"))
	if err != nil {
		t.Fatal(err)
	}
	if got := replicaGet(t, replica, prefix+"rev:seq"); got != strconv.FormatUint(seq, 10) {
		t.Fatalf("the replica has revocation number %q right after the put, want %d", got, seq)
	}
	g := storetest.SampleGrant("g", now)
	if err := s.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}

	// Cut off: not acknowledged.
	replica.Freeze(true)
	defer replica.Freeze(false)
	start := time.Now()
	if _, err := s.PutRevocation(ctx, rev("b")); !errors.Is(err, tokencore.ErrNotReplicated) || !errors.Is(err, tokencore.ErrStoreUnavailable) {
		t.Fatalf("PutRevocation with the replica cut off: %v, want ErrNotReplicated", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the failed confirmation took %v, want about the 200ms timeout", took)
	}
	// The next write checks first and writes nothing: not the rotation,
	// not its revocation number.
	seqBefore, _ := s.RevocationSeq(ctx)
	_, err = s.UpdateGrant(ctx, "g", func(g *tokencore.Grant) error { g.RefreshID = "r2"; return nil })
	if !errors.Is(err, tokencore.ErrNotReplicated) {
		t.Fatalf("a rotation with the replica cut off: %v, want ErrNotReplicated", err)
	}
	if cur, _ := s.GetGrant(ctx, "g"); cur.RefreshID != g.RefreshID {
		t.Error("a rotation refused while the replica was known to lag was written")
	}
	if _, err := s.PutRevocation(ctx, rev("c")); !errors.Is(err, tokencore.ErrNotReplicated) {
		t.Fatalf("second PutRevocation with the replica cut off: %v", err)
	}
	if n, _ := s.RevocationSeq(ctx); n != seqBefore {
		t.Errorf("revocation number %d after refused writes, want %d (nothing written)", n, seqBefore)
	}

	// Back: the retry is confirmed.
	replica.Freeze(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		seq, err = s.PutRevocation(ctx, rev("c"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes not confirmed after the replica came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := replicaGet(t, replica, prefix+"rev:seq"); got != strconv.FormatUint(seq, 10) {
		t.Errorf("the replica has number %q after the confirmed retry, want %d", got, seq)
	}

	// The replica gone for good: auto mode keeps requiring it (fail
	// closed) rather than acknowledging writes a failover would lose.
	replica.Stop()
	if _, err := s.PutRevocation(ctx, rev("d")); !errors.Is(err, tokencore.ErrNotReplicated) {
		t.Fatalf("PutRevocation after the replica left: %v, want ErrNotReplicated", err)
	}
}

// TestRedisReplicaAcksOff: min_replicas_acked 0 acknowledges what the
// primary has, replica or not; without replicas auto mode never waits.
func TestRedisReplicaAcksOff(t *testing.T) {
	primary, replica := primaryWithReplica(t)
	s := openRedisAt(t, primary.Addr(), storetest.NewRedisPrefix(t), func(o *redisstore.Options) {
		o.ReplicaAcks = redisstore.ReplicaAcksOff
	})
	replica.Freeze(true)
	defer replica.Freeze(false)
	r := tokencore.Revocation{Kind: tokencore.RevocationOfToken, Key: "a", NotBefore: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if _, err := s.PutRevocation(t.Context(), r); err != nil {
		t.Fatalf("with acknowledgement off: %v", err)
	}

	lone := openRedisAt(t, storetest.StartRedisServer(t).Addr(), storetest.NewRedisPrefix(t))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := lone.PutRevocation(ctx, r); err != nil {
		t.Fatalf("auto mode on a primary without replicas: %v", err)
	}
}
