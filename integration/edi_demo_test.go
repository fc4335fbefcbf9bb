package integration

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore/edi"
)

// TestEDIDemoWalkthrough runs the README's EDI walkthrough against
// Caddyfile.example (on free ports instead of 8080, 9000 and 2019): key →
// pair → /package/... with the cookies → refresh → revoke → refused.
func TestEDIDemoWalkthrough(t *testing.T) {
	g := startDemo(t, "/auth/v1/key")

	// 1. Key → pair (curl's default form Content-Type).
	r := g.do("POST", "/auth/v1/key", `{"key":"`+ediAliceSecret+`"}`, "Content-Type", "application/x-www-form-urlencoded")
	alice := expectEDIAnswer(t, r, http.StatusOK, "getTokenByKey", "Token created successfully")
	if c := jwtPayload(t, alice.EDI); c["sub"] != ediAliceID || c["cn"] != "Alice Demo" || c["idpUid"] != ediAliceUID {
		t.Fatalf("alice's claims %v", c)
	}
	// 2. Call a PASTA service path with the cookies.
	cookie := `auth-token="` + alice.Pasta + `"; edi-token=` + alice.EDI
	h := upstreamHeaders(t, g.do("GET", "/package/eml/edi/1/1", nil, "Cookie", cookie))
	if got := strings.Join(h["Cookie"], ";"); !strings.Contains(got, "auth-token="+strings.SplitN(alice.Pasta, "-", 2)[0]) || strings.Contains(got, alice.Pasta) {
		t.Fatalf("upstream cookies %q", got)
	}
	if h["X-Tokengate-Subject"][0] != ediAliceID || h["X-Tokengate-Pasta-Groups"][0] != "vetted,authenticated" {
		t.Fatalf("identity headers %v", h)
	}
	// The FOLIO protection still guards everything else, and not /package/.
	expectStatus(t, g.do("GET", "/anything", nil, "Cookie", cookie), 401)
	expectStatus(t, g.do("GET", "/package/x", nil), 401)
	// 3. Refresh.
	next := ediBody(t, expectEDIAnswerOK(t, refreshEDI(g, alice.Pasta, alice.EDI)))
	expectStatus(t, g.do("GET", "/package/x", nil, "Cookie", "auth-token="+next.Pasta+"; edi-token="+next.EDI), 200)
	// 4. Revoke the subject (operator key of the demo) → 5. refused.
	r = g.do("POST", "/api/demo/edi/subjects/"+ediAliceID+"/revoke", nil, "Authorization", "Bearer demo-operator-key")
	expectStatus(t, r, 200)
	expectStatus(t, g.do("GET", "/package/x", nil, "Cookie", "auth-token="+next.Pasta+"; edi-token="+next.EDI), 401)
	expectEDIAnswer(t, refreshEDI(g, next.Pasta, next.EDI), 401, "refreshToken", "Attempted to refresh invalid edi-token")

	// bob and the group key of the demo.
	bob := exchangeKey(t, g, ediBobSecret)
	if f := pastaFields(t, bob.Pasta); f[0] != ediBobUID || strings.Join(f[3:], ",") != "authenticated" {
		t.Fatalf("bob's PASTA token %v", f)
	}
	group := exchangeKey(t, g, ediGroupSecret)
	if c := jwtPayload(t, group.EDI); c["cn"] != "demo-group" || pastaFields(t, group.Pasta)[0] != "public" {
		t.Fatalf("group pair %v", c)
	}
	// The operator API shares /api/demo with the token management API.
	r = g.do("GET", "/api/demo/edi/keys?owner="+ediAliceID, nil, "Authorization", "Bearer demo-operator-key")
	if r.Status != 200 || !strings.Contains(string(r.Body), `"id":"alice-demo"`) || strings.Contains(string(r.Body), ediAliceSecret) {
		t.Fatalf("key list %d %s", r.Status, r.Body)
	}
	if _, err := os.Stat(filepath.Join(g.dir, "data", "caddy", "tokengate", "keys", "pasta-rsa.pem")); err != nil {
		t.Errorf("auto PASTA key not in Caddy storage: %v", err)
	}
	if _, err := os.Stat(filepath.Join(g.dir, "data", "caddy", "tokengate", "keys", "edi-es256.pem")); err != nil {
		t.Errorf("auto EDI key not in Caddy storage: %v", err)
	}
	// auto keys survive a restart: the pair minted before still verifies.
	g.restart()
	expectStatus(t, g.do("GET", "/package/x", nil, "Cookie", "auth-token="+bob.Pasta+"; edi-token="+bob.EDI), 200)
}

// TestEDIJSONConfig runs the EDI gateway from the JSON that `caddy adapt`
// makes of its Caddyfile: every EDI option has a JSON form that works.
func TestEDIJSONConfig(t *testing.T) {
	dir := t.TempDir()
	p := ports{GW: freePort(t), Up: freePort(t), Admin: freePort(t), Dir: dir}
	cf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cf, []byte(render(t, ediCaddyfile("leeway 5s\n\t\t\tpasta_max_expired_age 720h"), p)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(caddyBin, "adapt", "--config", cf, "--adapter", "caddyfile").Output()
	if err != nil {
		t.Fatalf("caddy adapt: %v", err)
	}
	for _, want := range []string{`"edi":{`, `"secret_sha256":"` + sha256Hex(ediAliceSecret) + `"`, `"leeway":5000000000`, `"handler":"tokengate_edi_protect"`} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("adapted JSON lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), ediAliceSecret) {
		t.Fatal("a secret is in the config")
	}
	jsonPath := filepath.Join(dir, "caddy.json")
	if err := os.WriteFile(jsonPath, out, 0o600); err != nil {
		t.Fatal(err)
	}
	g := &gateway{t: t, dir: dir, ports: p, ready: "/healthz", client: &http.Client{Timeout: 20 * time.Second}, cfgPath: jsonPath}
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
	pair := exchangeKey(t, g, ediAliceSecret)
	expectStatus(t, g.do("GET", "/package/x", nil, "Cookie", "edi-token="+pair.EDI+"; auth-token="+pair.Pasta), 200)
	// pasta_max_expired_age applies: a PASTA token expired 31 days ago is refused.
	old := mintPasta(t, ediAliceUID, time.Now().AddDate(0, 0, -31), "vetted", "authenticated")
	expectEDIAnswer(t, refreshEDI(g, old, pair.EDI), 401, "refreshToken", "Attempted to refresh invalid pasta-token")
}

// TestEDIConfigErrors: bad EDI configuration fails to adapt or to load,
// with a message naming the problem; nothing starts half-configured. What
// depends on the store's records (an owner that is not seeded) can only be
// known once the store is open, so `caddy validate` (which opens no store)
// passes it and `caddy run` refuses to start.
func TestEDIConfigErrors(t *testing.T) {
	dir := t.TempDir()
	p := ports{GW: freePort(t), Up: freePort(t), Admin: freePort(t), Dir: dir}
	storeDecides := map[string]bool{"group of a missing owner": true, "key of an unknown owner": true}
	for _, tc := range []struct {
		name, extra, want string
	}{
		{"secret in the config", "api_key x {\n\towner " + ediAliceID + "\n\tsecret R9arQ\n}", "never the secret"},
		{"bad hash", "api_key x {\n\towner " + ediAliceID + "\n\tsecret_sha256 abc\n}", "64 hex digits"},
		{"unknown option", "bogus 1", "unknown edi option"},
		{"pair binding", "pair_binding loose", "strict or off"},
		{"leeway", "leeway 2m", "leeway"},
		{"malformed EDI-ID", "subject " + ediGroupID + "1 {\n\tgroup\n\tname g\n\towner " + ediAliceID + "\n}", "EDI-ID"},
		{"group of a missing owner", "subject EDI-1111111111111111111111111111111111111111 {\n\tgroup\n\tname g\n\towner EDI-2222222222222222222222222222222222222222\n}", "does not exist"},
		{"key of an unknown owner", "api_key x {\n\towner EDI-0000000000000000000000000000000000000000\n\tsecret_sha256 " + sha256Hex("x") + "\n}", "does not exist"},
		{"same secret twice", "api_key x {\n\towner " + ediAliceID + "\n\tsecret_sha256 " + sha256Hex(ediAliceSecret) + "\n}", "another key"},
		{"verify-only keys for the endpoints", "", "private"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ediCaddyfile(tc.extra)
			if tc.name == "verify-only keys for the endpoints" {
				cfg = strings.Replace(cfg, "pasta_key file KEYDIR", "pasta_key file "+ediKeyDir(), 1)
				pub := filepath.Join(dir, "pasta_pub.pem")
				writePastaPublic(t, pub)
				cfg = strings.Replace(cfg, "pasta_key file "+ediKeyDir()+"/pasta_test_key1.pem", "pasta_key file "+pub, 1)
			}
			cf := filepath.Join(dir, "Caddyfile")
			if err := os.WriteFile(cf, []byte(render(t, cfg, p)), 0o600); err != nil {
				t.Fatal(err)
			}
			env := append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
			cmd := exec.Command(caddyBin, "validate", "--config", cf, "--adapter", "caddyfile")
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if storeDecides[tc.name] {
				if err != nil {
					t.Fatalf("validate: %v, want success (the store decides):\n%s", err, tail(string(out), 2000))
				}
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				cmd = exec.CommandContext(ctx, caddyBin, "run", "--config", cf, "--adapter", "caddyfile")
				cmd.Env = env
				out, err = cmd.CombinedOutput()
			}
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("validate or run: %v, want an error containing %q:\n%s", err, tc.want, tail(string(out), 2000))
			}
		})
	}
}

func writePastaPublic(t *testing.T, path string) {
	t.Helper()
	_, k := ediTestKeys()
	pemBytes, err := edi.MarshalPublicKeyPEM(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
}
