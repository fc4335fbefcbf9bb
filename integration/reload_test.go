package integration

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/tokencore/storetest"
)

// postLoad loads a Caddyfile through the admin API, as `caddy reload`
// does, and returns the answer whatever it is.
func postLoad(t *testing.T, g *gateway, tmpl string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/load", g.ports.Admin), strings.NewReader(render(t, tmpl, g.ports)))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	g.client.CloseIdleConnections()
	return resp.StatusCode, string(b)
}

// TestReloadRefusesRestartOnlySettings: a config reload keeps the open
// store with its cache, sweeper and revocation follower, so a reload that
// changes a setting they were built with (sweep_interval, revocation_sync,
// cache_size, cache_ttl, the Redis options) is refused with a message
// naming the option and saying a restart is needed, instead of being
// accepted and silently ignored. The running config keeps serving; a
// reload that changes none of them still works; a restart applies them.
func TestReloadRefusesRestartOnlySettings(t *testing.T) {
	g := startGateway(t, folioCaddyfile, "/admin/health")
	pair := sign(t, g, "diku", "alice", userID)
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"sweep_interval", "sweep_interval 1s", "sweep_interval 5s", `sweep_interval from \"1s\" to \"5s\"`},
		{"revocation_sync", "sweep_interval 1s", "sweep_interval 1s\n\t\trevocation_sync 1m", `revocation_sync from \"15m0s\" to \"1m0s\"`},
		{"cache_size", "sweep_interval 1s", "sweep_interval 1s\n\t\tcache_size 500", `cache_size from \"100000\" to \"500\"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postLoad(t, g, strings.Replace(folioCaddyfile, tc.old, tc.new, 1))
			t.Logf("reload answer: %d %s", status, body)
			if status == http.StatusOK || !strings.Contains(body, tc.want) || !strings.Contains(body, "restart Caddy") {
				t.Fatalf("reload changing %s: %d %s; want it refused, naming the change and the restart", tc.name, status, body)
			}
			// The running config still serves, with its tokens.
			upstreamHeaders(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+pair.AccessToken))
		})
	}
	// A reload that changes none of those settings is accepted.
	g.reload(strings.Replace(folioCaddyfile, "public /public/*", "public /public/* /open/*", 1))
	upstreamHeaders(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+pair.AccessToken))

	// A restart applies them: the same store, the new values.
	g.writeConfig(strings.Replace(folioCaddyfile, "sweep_interval 1s", "sweep_interval 5s\n\t\tcache_size 500", 1))
	g.restart()
	upstreamHeaders(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+pair.AccessToken))
}

// TestReloadRefusesRedisOptionChange: the same on a Redis store, whose
// options (here max_staleness and on_stale) the kept follower was built
// with.
func TestReloadRefusesRedisOptionChange(t *testing.T) {
	srv := storetest.StartRedisServer(t)
	cf := onRedis(t, folioCaddyfile, srv.Addr(), "max_staleness 200ms")
	g := startGateway(t, cf, "/admin/health")
	pair := sign(t, g, "diku", "alice", userID)

	status, body := postLoad(t, g, strings.Replace(cf, "max_staleness 200ms", "max_staleness 300ms\n\t\t\ton_stale serve", 1))
	t.Logf("reload answer: %d %s", status, body)
	for _, want := range []string{`store redis { max_staleness } from \"200ms\" to \"300ms\"`, `on_stale } from \"refuse\" to \"serve\"`, "restart Caddy"} {
		if status == http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("reload changing Redis options: %d %s; want it refused, saying %s", status, body, want)
		}
	}
	upstreamHeaders(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+pair.AccessToken))

	// A reload with the running options is accepted.
	g.reload(strings.Replace(cf, "public /public/*", "public /public/* /open/*", 1))
	upstreamHeaders(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+pair.AccessToken))
}
