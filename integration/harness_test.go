// Package integration drives a real tokengate Caddy binary over real HTTP:
// each test writes a Caddyfile, starts `caddy run` on free loopback ports
// with its own data directory, and talks to it and to the demo upstream.
package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"
)

// caddyBin is the gateway binary built once by TestMain.
var caddyBin string

// itFolioSecret is the FOLIO secret of the test Caddyfiles that need one,
// given to every gateway as {env.TG_IT_FOLIO_SECRET}: a secret is never
// written into a config (caddymodule/secrets.go).
const itFolioSecret = "TG_IT_FOLIO_SECRET=a-secret-shared-by-every-instance"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tokengate-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	caddyBin = filepath.Join(dir, "caddy")
	build := exec.Command("go", "build", "-o", caddyBin, "../cmd/caddy")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building caddy:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ports are the loopback ports of one gateway.
type ports struct {
	GW, Up, Admin int
	Dir           string
}

// gateway is one running Caddy.
type gateway struct {
	t       *testing.T
	ports   ports
	dir     string
	cfgPath string
	cmd     *exec.Cmd
	logs    *syncBuffer
	done    chan struct{}
	ready   string // path polled until it answers
	client  *http.Client
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		// The kernel may hand the same ephemeral port out again once it is
		// closed: a port given to one test (or to another site of the same
		// Caddyfile) is never given twice in this process.
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return port
		}
	}
	t.Fatal("no unused loopback port after 100 tries")
	return 0
}

// handedOut holds every port freePort has returned in this test process.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// render fills a Caddyfile template with the gateway's ports: {{.GW}},
// {{.Up}}, {{.Admin}}, {{.Dir}}.
func render(t *testing.T, tmpl string, p ports) string {
	t.Helper()
	var b strings.Builder
	if err := template.Must(template.New("cf").Parse(tmpl)).Execute(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// startGateway starts Caddy with the Caddyfile template and waits until
// readyPath on the gateway port answers. It is stopped when the test ends.
func startGateway(t *testing.T, tmpl, readyPath string) *gateway {
	t.Helper()
	dir := t.TempDir()
	g := &gateway{
		t:      t,
		dir:    dir,
		ready:  readyPath,
		client: &http.Client{Timeout: 20 * time.Second},
		ports:  ports{GW: freePort(t), Up: freePort(t), Admin: freePort(t), Dir: dir},
	}
	g.cfgPath = filepath.Join(dir, "Caddyfile")
	g.writeConfig(tmpl)
	g.start()
	t.Cleanup(g.stop)
	return g
}

func (g *gateway) writeConfig(tmpl string) {
	if err := os.WriteFile(g.cfgPath, []byte(render(g.t, tmpl, g.ports)), 0o600); err != nil {
		g.t.Fatal(err)
	}
}

func (g *gateway) start() {
	g.t.Helper()
	g.logs = &syncBuffer{}
	g.cmd = exec.Command(caddyBin, "run", "--config", g.cfgPath, "--adapter", "caddyfile")
	g.cmd.Env = append(os.Environ(),
		"XDG_DATA_HOME="+filepath.Join(g.dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(g.dir, "config"),
		"HOME="+g.dir,
		itFolioSecret,
		// The demo login page's operator key (Caddyfile.example).
		"TOKENGATE_DEMO_OPERATOR_KEY=demo-operator-key",
	)
	g.cmd.Stdout, g.cmd.Stderr = g.logs, g.logs
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.done = make(chan struct{})
	go func() { _ = g.cmd.Wait(); close(g.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-g.done:
			g.t.Fatalf("caddy exited during start:\n%s", g.logs.String())
		default:
		}
		resp, err := http.Get(g.url(g.ready))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.t.Fatalf("caddy did not become ready:\n%s", g.logs.String())
}

// startDemo runs Caddyfile.example as shipped, except that its fixed
// addresses (gateway 127.0.0.1:8080, upstream 127.0.0.1:9000, admin
// localhost:2019) are moved to free ports, so the test never depends on
// those ports being free. It waits until readyPath answers.
func startDemo(t *testing.T, readyPath string) *gateway {
	t.Helper()
	example, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	g := &gateway{t: t, dir: dir, ready: readyPath, client: &http.Client{Timeout: 20 * time.Second},
		ports: ports{GW: freePort(t), Up: freePort(t), Admin: freePort(t), Dir: dir}}
	cfg := strings.NewReplacer(
		"127.0.0.1:8080", "127.0.0.1:"+strconv.Itoa(g.ports.GW),
		"127.0.0.1:9000", "127.0.0.1:"+strconv.Itoa(g.ports.Up),
		"localhost:2019", "127.0.0.1:"+strconv.Itoa(g.ports.Admin),
	).Replace(string(example))
	g.cfgPath = filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(g.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g.start()
	t.Cleanup(g.stop)
	return g
}

// expectOneWinner checks the statuses of concurrent refreshes of one
// token: exactly one success (want), every other a refusal (401 or 400).
func expectOneWinner(t *testing.T, statuses []int, want int) {
	t.Helper()
	winners := 0
	for _, s := range statuses {
		switch s {
		case want:
			winners++
		case http.StatusUnauthorized, http.StatusBadRequest:
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	if winners != 1 {
		t.Fatalf("%d refreshes succeeded, want exactly 1 (statuses %v)", winners, statuses)
	}
}

// stop ends Caddy gracefully (SIGINT runs every module's cleanup).
func (g *gateway) stop() {
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	select {
	case <-g.done:
		return
	default:
	}
	_ = g.cmd.Process.Signal(os.Interrupt)
	select {
	case <-g.done:
	case <-time.After(15 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
	if g.t.Failed() {
		g.t.Logf("caddy logs:\n%s", tail(g.logs.String(), 4000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// crash kills Caddy with SIGKILL: no cleanup, no graceful close of the store.
func (g *gateway) crash() {
	g.t.Helper()
	_ = g.cmd.Process.Kill()
	<-g.done
}

// restart stops and starts the same config with the same data directory.
func (g *gateway) restart() {
	g.t.Helper()
	g.stop()
	g.start()
}

// reload loads a new Caddyfile through the admin API, as `caddy reload` does.
func (g *gateway) reload(tmpl string) {
	g.t.Helper()
	g.writeConfig(tmpl)
	g.load(tmpl, "text/caddyfile")
}

// load replaces the running config through the admin API with tmpl (of
// the given Content-Type) and waits until the new config serves.
func (g *gateway) load(tmpl, contentType string) {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/load", g.ports.Admin), strings.NewReader(render(g.t, tmpl, g.ports)))
	req.Header.Set("Content-Type", contentType)
	resp, err := g.client.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		g.t.Fatalf("load: %d %s\n%s", resp.StatusCode, b, tail(g.logs.String(), 3000))
	}
	// An idle keep-alive connection may still belong to the old config's
	// server, which closes it only once it notices: start afresh so the next
	// request is served by the new config.
	g.client.CloseIdleConnections()
	// A connection accepted while the old server shuts down may be reset:
	// the reload is complete once the ready path answers on a new connection.
	deadline := time.Now().Add(10 * time.Second)
	for {
		probe := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := probe.Get(g.url(g.ready))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return
			}
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("gateway not ready after reload: %v\n%s", err, tail(g.logs.String(), 3000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (g *gateway) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", g.ports.GW, path)
}

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %q", err, r.Body)
	}
	return m
}

// do sends a request to the gateway. body may be nil, a string, []byte, or
// any value (encoded as JSON). headers alternate name, value.
func (g *gateway) do(method, path string, body any, headers ...string) *response {
	g.t.Helper()
	return doRequest(g.t, g.client, method, g.url(path), body, headers...)
}

func doRequest(t *testing.T, client *http.Client, method, url string, body any, headers ...string) *response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// expectStatus fails the test when r has another status.
func expectStatus(t *testing.T, r *response, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d; body %q", r.Status, want, r.Body)
	}
}
