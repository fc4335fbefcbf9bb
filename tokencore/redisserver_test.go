package tokencore_test

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/tokencore"
)

// redisServer is a redis-server of the test's own, on a free loopback
// port, for what the shared server on 6379 must never go through: being
// stopped (an outage) or getting replicas. Persistence is off; the server
// is killed when the test ends.
type redisServer struct {
	t    *testing.T
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
}

// startRedisServer starts redis-server with extra arguments (e.g.
// "--replicaof", "127.0.0.1", "6380"). A machine without redis-server
// fails the test: CI installs it (.ci/run).
func startRedisServer(t *testing.T, extra ...string) *redisServer {
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
	r := &redisServer{t: t, port: port, dir: t.TempDir(), args: extra}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// start runs the server (again, on the same port) and waits for PING.
func (r *redisServer) start() {
	r.t.Helper()
	args := append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir}, r.args...)
	r.cmd = exec.Command("redis-server", args...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s did not answer", r.addr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop kills the server (an outage: no goodbye to the clients).
func (r *redisServer) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// openRedisAt opens a store on addr under prefix.
func openRedisAt(t *testing.T, addr, prefix string, opts ...func(*tokencore.RedisOptions)) *tokencore.RedisStore {
	t.Helper()
	o := tokencore.RedisOptions{Addr: addr, KeyPrefix: prefix, DialTimeout: time.Second}
	for _, f := range opts {
		f(&o)
	}
	s, err := tokencore.OpenRedisStore(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
