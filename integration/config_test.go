package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// TestDemoCaddyfile runs Caddyfile.example as shipped (on free ports, see
// startDemo): FOLIO sign, a protected call, the default tenant, state in
// Caddy's data directory.
func TestDemoCaddyfile(t *testing.T) {
	g := startDemo(t, "/admin/health")

	p := sign(t, g, "diku", "alice", userID)
	h := upstreamHeaders(t, g.do("GET", "/anything", nil, "Authorization", "Bearer "+p.AccessToken, "X-Okapi-User-Id", "forged"))
	if got := h["X-Okapi-User-Id"]; len(got) != 1 || got[0] != userID {
		t.Errorf("X-Okapi-User-Id = %v", got)
	}
	// Without the tenant header the demo's default tenant applies.
	r := g.do("POST", "/token/sign", map[string]any{"payload": map[string]any{"sub": "bob", "user_id": userID}})
	expectStatus(t, r, http.StatusCreated)
	expectStatus(t, g.do("GET", "/anything", nil), http.StatusUnauthorized)
	// State went to Caddy's data directory under XDG_DATA_HOME.
	if _, err := os.Stat(filepath.Join(g.dir, "data", "caddy", "tokengate", "tokengate.db")); err != nil {
		t.Errorf("store not in the data directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(g.dir, "data", "caddy", "tokengate", "keys", "es256.pem")); err != nil {
		t.Errorf("auto key not in Caddy storage: %v", err)
	}
}

// TestJSONConfig runs the gateway from Caddy's native JSON, adapted from a
// Caddyfile by `caddy adapt`, so every option has a JSON form that works.
func TestJSONConfig(t *testing.T) {
	dir := t.TempDir()
	p := ports{GW: freePort(t), Up: freePort(t), Admin: freePort(t), Dir: dir}
	cf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cf, []byte(render(t, folioCaddyfile, p)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(caddyBin, "adapt", "--config", cf, "--adapter", "caddyfile").Output()
	if err != nil {
		t.Fatalf("caddy adapt: %v", err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg["apps"].(map[string]any)["tokengate"]; !ok {
		t.Fatalf("no tokengate app in %s", out)
	}
	jsonPath := filepath.Join(dir, "caddy.json")
	if err := os.WriteFile(jsonPath, out, 0o600); err != nil {
		t.Fatal(err)
	}
	g := &gateway{t: t, dir: dir, ports: p, ready: "/admin/health", client: &http.Client{Timeout: 20 * time.Second}}
	g.cfgPath = jsonPath
	// start() passes --adapter caddyfile; run JSON directly instead.
	g.logs = &syncBuffer{}
	g.cmd = exec.Command(caddyBin, "run", "--config", jsonPath)
	g.cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	g.cmd.Stdout, g.cmd.Stderr = g.logs, g.logs
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.done = make(chan struct{})
	go func() { _ = g.cmd.Wait(); close(g.done) }()
	t.Cleanup(g.stop)
	waitReady(t, g)
	pair := sign(t, g, "diku", "alice", userID)
	upstreamHeaders(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+pair.AccessToken))

	// Strict JSON: an unknown field is a load error.
	bad := strings.Replace(string(out), `"default_tenant":"diku"`, `"default_tenant":"diku","bogus":1`, 1)
	req, _ := http.NewRequest("POST", "http://127.0.0.1:"+itoa(p.Admin)+"/load", strings.NewReader(bad))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("config with an unknown tokengate field loaded")
	}
	// The running config is untouched by the failed load.
	upstreamHeaders(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+pair.AccessToken))
}

func itoa(n int) string { return strconv.Itoa(n) }

func waitReady(t *testing.T, g *gateway) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-g.done:
			t.Fatalf("caddy exited:\n%s", g.logs.String())
		default:
		}
		if resp, err := http.Get(g.url(g.ready)); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not ready:\n%s", g.logs.String())
}

// TestFolioSecretInterop checks compatibility with an existing
// mod-authtoken sharing jwt.signing.key: its HS256 access tokens (bare
// {"alg":"HS256"} header, no kid) pass the gateway, and the gateway's
// refresh tokens are dir/A256GCM JWEs that the same secret opens.
func TestFolioSecretInterop(t *testing.T) {
	cf := strings.Replace(folioCaddyfile, "default_tenant diku", "default_tenant diku\n\t\tkey folio_secret {env.TG_FOLIO_SECRET} sign", 1)
	t.Setenv("TG_FOLIO_SECRET", "CorrectBatteryHorseStaple")
	g := startGateway(t, cf, "/admin/health")

	secret := make([]byte, 32)
	copy(secret, "CorrectBatteryHorseStaple")
	now := time.Now().Unix()
	// What mod-authtoken mints: claims in its order, header {"alg":"HS256"}.
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"type": "access", "iat": now, "tenant": "diku", "sub": "folio-user", "user_id": userID, "exp": now + 600})
	tok.Header = map[string]any{"alg": "HS256"}
	folioToken, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	h := upstreamHeaders(t, g.do("GET", "/x", nil, "X-Okapi-Token", folioToken))
	if got := h["X-Tokengate-Subject"]; len(got) != 1 || got[0] != "folio-user" {
		t.Errorf("subject = %v", got)
	}
	// Its refresh tokens do not carry over (docs/folio.md, "Moving from an
	// existing mod-authtoken"): the JWE opens, but names no grant the
	// gateway holds, so refreshing it is mod-authtoken's 401 for a token
	// missing from its table; its access tokens are not affected.
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.DIRECT, Key: secret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rcJSON, _ := json.Marshal(map[string]any{"type": "refresh", "exp": now + 3600, "iat": now, "sub": "folio-user",
		"user_id": userID, "tenant": "diku", "jti": "1b4e28ba-2fa1-41d2-883f-0016d3cca427", "prn": "refresh"})
	sealed, err := enc.Encrypt(rcJSON)
	if err != nil {
		t.Fatal(err)
	}
	folioRefresh, _ := sealed.CompactSerialize()
	r := refresh(g, "diku", folioRefresh)
	expectStatus(t, r, http.StatusUnauthorized)
	if string(r.Body) != "Invalid token" {
		t.Errorf("refresh of a mod-authtoken refresh token: %q", r.Body)
	}
	upstreamHeaders(t, g.do("GET", "/x", nil, "X-Okapi-Token", folioToken))

	// invalidate-all with a mod-authtoken token stops it at once (by user).
	expectStatus(t, g.do("POST", "/token/invalidate-all", nil, "X-Okapi-Tenant", "diku", "X-Okapi-Token", folioToken), http.StatusNoContent)
	expectStatus(t, g.do("GET", "/x", nil, "X-Okapi-Token", folioToken), http.StatusUnauthorized)

	// The gateway's tokens are mod-authtoken's formats under the same secret.
	p := sign(t, g, "diku", "alice", userID)
	if hdr := strings.Split(p.AccessToken, ".")[0]; hdr != "eyJhbGciOiJIUzI1NiJ9" {
		t.Errorf("access token header %s", hdr)
	}
	parsed, err := jwt.Parse(p.AccessToken, func(*jwt.Token) (any, error) { return secret, nil }, jwt.WithValidMethods([]string{"HS256"}))
	if err != nil || !parsed.Valid {
		t.Fatalf("mod-authtoken could not verify the gateway's access token: %v", err)
	}
	jwe, err := jose.ParseEncryptedCompact(p.RefreshToken, []jose.KeyAlgorithm{jose.DIRECT}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := jwe.Decrypt(secret)
	if err != nil {
		t.Fatalf("mod-authtoken could not decrypt the refresh token: %v", err)
	}
	var rc map[string]any
	_ = json.Unmarshal(plain, &rc)
	if rc["type"] != "refresh" || rc["prn"] != "refresh" || rc["user_id"] != userID || rc["tenant"] != "diku" {
		t.Errorf("refresh claims %v", rc)
	}
	// No symmetric key is ever published.
	if body := g.do("GET", "/.well-known/jwks.json", nil).Body; string(body) != `{"keys":[]}` {
		t.Errorf("JWKS with only a FOLIO secret: %s", body)
	}
}

// TestKeyRotation: a new key signs while the old key (a PEM file) still
// verifies the tokens it signed.
func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	oldKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(oldKey)
	oldPath := filepath.Join(dir, "old.pem")
	if err := os.WriteFile(oldPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	withOld := strings.Replace(folioCaddyfile, "default_tenant diku", "default_tenant diku\n\t\tkey file "+oldPath+" kid old sign", 1)
	g := startGateway(t, withOld, "/admin/health")
	oldPair := sign(t, g, "diku", "alice", userID)
	var hdr struct {
		Kid string `json:"kid"`
	}
	b, _ := jwt.NewParser().DecodeSegment(strings.Split(oldPair.AccessToken, ".")[0])
	_ = json.Unmarshal(b, &hdr)
	if hdr.Kid != "old" {
		t.Fatalf("kid %q, want old", hdr.Kid)
	}
	// Rotate: auto signs, the old key only verifies.
	rotated := strings.Replace(folioCaddyfile, "default_tenant diku", "default_tenant diku\n\t\tkey auto sign\n\t\tkey file "+oldPath+" kid old", 1)
	g.reload(rotated)
	newPair := sign(t, g, "diku", "bob", userID)
	for _, tok := range []string{oldPair.AccessToken, newPair.AccessToken} {
		upstreamHeaders(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+tok))
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	_ = json.Unmarshal(g.do("GET", "/.well-known/jwks.json", nil).Body, &set)
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS has %d keys, want 2", len(set.Keys))
	}
	// Retire the old key: its tokens stop at once, though they were cached.
	g.reload(folioCaddyfile)
	expectStatus(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+oldPair.AccessToken), http.StatusUnauthorized)
	upstreamHeaders(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+newPair.AccessToken))
}
