package integration

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ownRedis is a redis-server of the test's own on a free loopback port,
// for what the shared server on 6379 must never go through: an outage.
// It keeps its data in an append-only file fsynced at every write, so a
// restart after kill -9 finds everything acknowledged before it, as a
// production Redis configured for durability would.
type ownRedis struct {
	t    *testing.T
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
}

// startOwnRedis starts the server with extra arguments (e.g. --replicaof);
// without redis-server the test fails (.ci/run installs it).
func startOwnRedis(t *testing.T, extra ...string) *ownRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not installed (.ci/run installs it): %v", err)
	}
	r := &ownRedis{t: t, port: freePort(t), dir: t.TempDir(), args: extra}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *ownRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// start runs the server (again, on the same port and files) and waits
// until it answers.
func (r *ownRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always"}, r.args...)...)
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

// kill ends the server with SIGKILL: an outage, no goodbye to clients.
func (r *ownRedis) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// signal stops (SIGSTOP) or resumes (SIGCONT) the server: a replica cut
// off without its connections closing.
func (r *ownRedis) signal(sig syscall.Signal) {
	if r.cmd != nil {
		_ = r.cmd.Process.Signal(sig)
	}
}

// onRedis moves a bbolt-based test Caddyfile onto a Redis store at addr,
// with the extra lines inside the store block.
func onRedis(t *testing.T, caddyfile, addr, extra string) string {
	t.Helper()
	const bolt = "store bolt {{.Dir}}/state/tokengate.db"
	if !strings.Contains(caddyfile, bolt) {
		t.Fatal("the Caddyfile has no bbolt store line to replace")
	}
	return strings.Replace(caddyfile, bolt, "store redis "+addr+" {\n\t\t\tprefix it:\n\t\t\t"+extra+"\n\t\t}", 1)
}

// eventually repeats do until it returns status, for at most 15s: the
// gateway reconnects to a Redis that came back.
func eventually(t *testing.T, status int, do func() *response) *response {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := do()
		if r.Status == status {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d after the store came back, want %d: %s", r.Status, status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// expect503 checks the answer to a store outage: 503 with Retry-After, and
// a body saying so in the protocol's shape (contains want).
func expect503(t *testing.T, what string, r *response, want string) {
	t.Helper()
	if r.Status != 503 || r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Body), want) {
		t.Fatalf("%s during the outage: %d, Retry-After %q, body %s; want 503, Retry-After, %q",
			what, r.Status, r.Header.Get("Retry-After"), r.Body, want)
	}
}

// waitDown returns once the port refuses connections and the gateway's
// revocation view is past its staleness bound (200ms in these configs).
func (r *ownRedis) waitDown() {
	for {
		c, err := net.DialTimeout("tcp", r.addr(), 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(400 * time.Millisecond)
}
