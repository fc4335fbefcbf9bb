package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisAddr is the shared Redis server the tests of the Redis store and of
// everything running on it use. Without a Redis there the tests fail: CI
// installs and starts one (.ci/run), and a skipped store test would pass
// for a backend that was never tested.
const RedisAddr = "127.0.0.1:6379"

// NewRedisPrefix returns a unique key prefix and registers the removal of
// its keys on RedisAddr (SCAN + DEL) when the test ends, so that tests
// sharing the server never see each other's keys.
func NewRedisPrefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "tokengate-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		rdb := redis.NewClient(&redis.Options{Addr: RedisAddr})
		defer rdb.Close()
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Logf("cleaning up %s: %v", prefix, err)
			return
		}
		for len(keys) > 0 {
			n := min(len(keys), 500)
			rdb.Del(ctx, keys[:n]...)
			keys = keys[n:]
		}
	})
	return prefix
}

// RedisServer is a redis-server of the test's own, on a free loopback
// port, for what the shared server on 6379 must never go through: being
// stopped (an outage) or getting replicas. The server is killed when the
// test ends.
type RedisServer struct {
	// Port is the server's loopback port; it stays the same across Stop
	// and Start.
	Port int

	t       testing.TB
	dir     string
	args    []string
	durable bool
	cmd     *exec.Cmd
}

// StartRedisServer starts redis-server with extra arguments (e.g.
// "--replicaof", "127.0.0.1", "6380"). A machine without redis-server
// fails the test: CI installs it (.ci/run).
func StartRedisServer(t testing.TB, extra ...string) *RedisServer {
	t.Helper()
	return startRedisServer(t, false, extra)
}

// StartDurableRedisServer is StartRedisServer with persistence on: the
// server keeps its data in an append-only file fsynced at every write, so
// a Start after Stop (kill -9) finds everything acknowledged before it, as
// a production Redis configured for durability would.
func StartDurableRedisServer(t testing.TB, extra ...string) *RedisServer {
	t.Helper()
	return startRedisServer(t, true, extra)
}

func startRedisServer(t testing.TB, durable bool, extra []string) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not installed (.ci/run installs it): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r := &RedisServer{t: t, Port: port, dir: t.TempDir(), args: extra, durable: durable}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Addr is the server's address.
func (r *RedisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// Start runs the server (again, on the same port and files) and waits for
// PING.
func (r *RedisServer) Start() {
	r.t.Helper()
	persistence := []string{"--appendonly", "no"}
	if r.durable {
		persistence = []string{"--appendonly", "yes", "--appendfsync", "always"}
	}
	args := append([]string{"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--save", "", "--dir", r.dir}, persistence...)
	args = append(args, r.args...)
	r.cmd = exec.Command("redis-server", args...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s did not answer", r.Addr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop kills the server (an outage: no goodbye to the clients).
func (r *RedisServer) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Freeze stops (SIGSTOP) or resumes (SIGCONT) the server: a server cut off
// without its connections closing. A stopped server is left alone.
func (r *RedisServer) Freeze(stop bool) {
	if r.cmd == nil {
		return // stopped for good
	}
	sig := syscall.SIGCONT
	if stop {
		sig = syscall.SIGSTOP
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatal(err)
	}
}
