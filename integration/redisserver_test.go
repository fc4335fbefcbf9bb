package integration

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore/storetest"
)

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

// waitDown returns once the port of r refuses connections and the
// gateway's revocation view is past its staleness bound (200ms in these
// configs).
func waitDown(r *storetest.RedisServer) {
	for {
		c, err := net.DialTimeout("tcp", r.Addr(), 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(400 * time.Millisecond)
}
