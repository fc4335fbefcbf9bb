package integration

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startRefused runs the gateway's current config and expects Caddy to
// refuse it: the process must exit with an error, and never serve. It
// returns the logs.
func (g *gateway) startRefused() string {
	g.t.Helper()
	g.logs = &syncBuffer{}
	cmd := exec.Command(caddyBin, "run", "--config", g.cfgPath, "--adapter", "caddyfile")
	cmd.Env = g.env()
	cmd.Stdout, cmd.Stderr = g.logs, g.logs
	if err := cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			g.t.Fatalf("caddy exited without an error:\n%s", g.logs.String())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		g.t.Fatalf("caddy did not refuse the config:\n%s", g.logs.String())
	}
	return g.logs.String()
}

// env is the environment start gives Caddy: the gateway's own data and
// config directories.
func (g *gateway) env() []string {
	return append(os.Environ(),
		"XDG_DATA_HOME="+filepath.Join(g.dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(g.dir, "config"),
		"HOME="+g.dir,
	)
}

// TestStoreResetRefusedAtStart: a bbolt store truncated to zero bytes while
// the keys in Caddy's storage survive is refused at start with an error
// naming the file, and so is a store deleted and recreated (the keys are
// bound to the old one); the operator's one-time accept_store lets the
// gateway start, with the risk the message names: the revoked token is
// accepted again. Before, the truncated file started as an empty store.
func TestStoreResetRefusedAtStart(t *testing.T) {
	g := startGateway(t, folioCaddyfile, "/admin/health")
	storePath := filepath.Join(g.dir, "state", "tokengate.db")
	p := sign(t, g, "diku", "alice", userID)
	expectStatus(t, g.do("POST", "/token/invalidate-all", nil, "X-Okapi-Tenant", "diku", "X-Okapi-Token", p.AccessToken), http.StatusNoContent)
	expectStatus(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+p.AccessToken), http.StatusUnauthorized)
	g.stop()

	if err := os.Truncate(storePath, 0); err != nil {
		t.Fatal(err)
	}
	logs := g.startRefused()
	for _, want := range []string{storePath, "empty (0 bytes)", "not a tokengate store"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("the refusal does not say %q:\n%s", want, tail(logs, 3000))
		}
	}
	if fi, err := os.Stat(storePath); err != nil || fi.Size() != 0 {
		t.Fatalf("the refused file was changed: %v %v", fi, err)
	}

	// The operator removes the file: a new, empty store is created, and
	// refused because the keys were used with the old one.
	if err := os.Remove(storePath); err != nil {
		t.Fatal(err)
	}
	logs = g.startRefused()
	for _, want := range []string{storePath, "new, empty store", "revoked tokens would be accepted again", "accept_store "} {
		if !strings.Contains(logs, want) {
			t.Fatalf("the refusal does not say %q:\n%s", want, tail(logs, 3000))
		}
	}
	accept := regexp.MustCompile(`accept_store ([0-9a-f]+@[0-9]+)`).FindStringSubmatch(logs)
	if accept == nil {
		t.Fatalf("no accept_store value in:\n%s", tail(logs, 3000))
	}

	// Accepted for one start: it serves, and the revoked token is valid
	// again, which is exactly the risk the operator accepted.
	g.writeConfig(strings.Replace(folioCaddyfile, "default_tenant diku", "default_tenant diku\n\t\taccept_store "+accept[1], 1))
	g.start()
	expectStatus(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+p.AccessToken), http.StatusOK)
	g.stop()
	// The store is bound now: it starts without the setting.
	g.writeConfig(folioCaddyfile)
	g.start()
	expectStatus(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+sign(t, g, "diku", "bob", userID).AccessToken), http.StatusOK)
}

// validate runs `caddy validate` on the gateway's config, with its
// environment, and returns the output and the error.
func (g *gateway) validate(timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, caddyBin, "validate", "--config", g.cfgPath, "--adapter", "caddyfile")
	cmd.Env = g.env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestValidateOpensNoStore: `caddy validate` does not create the store (nor
// its directory), and succeeds while a running gateway holds the store's
// lock. Both failed when the store was opened in Provision: validate
// created the file, and timed out on the lock.
func TestValidateOpensNoStore(t *testing.T) {
	dir := t.TempDir()
	g := &gateway{t: t, dir: dir, ready: "/admin/health", client: &http.Client{Timeout: 20 * time.Second},
		ports: ports{GW: freePort(t), Up: freePort(t), Admin: freePort(t), Dir: dir}}
	g.cfgPath = filepath.Join(dir, "Caddyfile")
	g.writeConfig(folioCaddyfile)
	stateDir := filepath.Join(dir, "state")

	if out, err := g.validate(60 * time.Second); err != nil {
		t.Fatalf("caddy validate: %v\n%s", err, out)
	}
	if _, err := os.Stat(stateDir); !os.IsNotExist(err) {
		t.Fatalf("caddy validate created %s (%v)", stateDir, err)
	}

	g.start()
	t.Cleanup(g.stop)
	p := sign(t, g, "diku", "alice", userID)
	start := time.Now()
	if out, err := g.validate(60 * time.Second); err != nil {
		t.Fatalf("caddy validate while the gateway runs: %v\n%s", err, out)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("caddy validate took %v", d)
	}
	// The running gateway is unaffected.
	upstreamHeaders(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+p.AccessToken))
}
