package integration

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	logsSignerSecret = "signer-secret-never-logged-4f2a"
	logsOperatorKey  = "operator-key-never-logged-9c1e"
	logsWrongKey     = "wrong-operator-key-never-logged-77"
)

// logsCaddyfile runs the gateway at debug level with an access log, both
// written to files, and with the log filter of docs/security.md on every
// logged header set. SERVERS is replaced by a `servers` block or nothing.
func logsCaddyfile(servers string) string {
	return strings.NewReplacer("SIGNERHASH", sha256Hash(logsSignerSecret), "OPHASH", sha256Hash(logsOperatorKey),
		"WEBHASH", sha256Hash("w3b"), "SERVERS", servers).Replace(`{
	admin 127.0.0.1:{{.Admin}}
	debug
	log {
		output file {{.Dir}}/caddy.log
		format filter {
			request>headers tokengate_credentials
			headers tokengate_credentials
		}
	}
	SERVERS
	tokengate {
		store bolt {{.Dir}}/state/tokengate.db
		default_tenant diku
		issuer http://127.0.0.1:{{.GW}}
		operator_key_hash OPHASH
		oauth {
			client web {
				secret_hash WEBHASH
				grant_types refresh_token authorization_code
				scopes api.read
			}
		}
	}
}
http://127.0.0.1:{{.GW}} {
	bind 127.0.0.1
	log {
		output file {{.Dir}}/access.log
		format filter {
			request>headers tokengate_credentials
			resp_headers tokengate_credentials
		}
	}
	tokengate_folio {
		trusted_signers 127.0.0.1/32
		signer_secret_hash SIGNERHASH
	}
	tokengate_oauth
	tokengate_manage {
		prefix /api/demo
	}
	tokengate_edi_admin {
		prefix /api/demo
	}
	tokengate_protect
	reverse_proxy 127.0.0.1:{{.Up}}
}
http://127.0.0.1:{{.Up}} {
	bind 127.0.0.1
	# An upstream that answers with the token, as mod-login does.
	header X-Okapi-Token "{http.request.header.X-Okapi-Token}"
	tokengate_echo
}
`)
}

// logTraffic sends every kind of request that carries a token or a secret
// in a header, plus a FOLIO and an OAuth replay and operator-key failures,
// and returns the secrets sent.
func logTraffic(t *testing.T, g *gateway) []string {
	t.Helper()
	r := g.do("POST", "/token/sign", map[string]any{"payload": map[string]any{"sub": "alice", "user_id": userID}},
		"X-Okapi-Tenant", "diku", "X-Tokengate-Signer", logsSignerSecret)
	expectStatus(t, r, http.StatusCreated)
	var p folioPair
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	// The access token through the proxy, in X-Okapi-Token (the upstream
	// gets it and sends it back) and in Authorization.
	upstreamHeaders(t, g.do("GET", "/orders", nil, "X-Okapi-Token", p.AccessToken))
	upstreamHeaders(t, g.do("GET", "/orders", nil, "Authorization", "Bearer "+p.AccessToken, "X-Tokengate-Signer", logsSignerSecret))
	// A FOLIO replay: the second use of a refresh token.
	expectStatus(t, refresh(g, "diku", p.RefreshToken), http.StatusCreated)
	expectStatus(t, refresh(g, "diku", p.RefreshToken), http.StatusUnauthorized)
	// Operator-key failures on the management API: none, a wrong one.
	expectStatus(t, g.do("GET", "/api/demo/auth/token/get/list", nil), http.StatusUnauthorized)
	expectStatus(t, g.do("GET", "/api/demo/auth/token/get/list", nil, "Authorization", "Bearer "+logsWrongKey), http.StatusUnauthorized)
	expectStatus(t, g.do("GET", "/api/demo/edi/keys", nil, "Authorization", "Bearer "+logsWrongKey), http.StatusUnauthorized)
	// An OAuth replay.
	r = g.do("POST", "/api/demo/auth/token/create", map[string]any{"grantType": "AUTHORIZATION_CODE", "clientId": "web", "subject": "bob", "scopes": []string{"api.read"}},
		"Authorization", "Bearer "+logsOperatorKey, "Content-Type", "application/json")
	expectStatus(t, r, http.StatusOK)
	var bob created
	if err := json.Unmarshal(r.Body, &bob); err != nil {
		t.Fatal(err)
	}
	form := "grant_type=refresh_token&refresh_token=" + bob.RefreshToken
	expectStatus(t, g.form("/oauth2/token", form, "Authorization", basicAuth("web", "w3b")), http.StatusOK)
	expectStatus(t, g.form("/oauth2/token", form, "Authorization", basicAuth("web", "w3b")), http.StatusBadRequest)
	return []string{logsSignerSecret, logsOperatorKey, logsWrongKey, p.AccessToken, p.RefreshToken, bob.AccessToken, bob.RefreshToken,
		jwtSignature(p.AccessToken), jwtSignature(bob.AccessToken)}
}

// jwtSignature is the last segment of a JWS or JWE: logging any part of it
// is logging the token.
func jwtSignature(token string) string {
	return token[strings.LastIndex(token, ".")+1:]
}

// readLog waits until the file has at least one line containing want (the
// log is written asynchronously to the request) and returns its content.
func readLog(t *testing.T, path, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), want) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no %q (err %v):\n%s", path, want, err, tail(string(b), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logLines returns the JSON log entries of content whose msg is msg.
func logLines(t *testing.T, content, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(content))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestLogsHoldNoSecrets: with an access log and debug logging, no token,
// signer secret or operator key is written to any log; security events are
// logged at warn without them. With log_credentials, the operator asked for
// credentials in the logs, and the tokens are there.
func TestLogsHoldNoSecrets(t *testing.T) {
	g := startGateway(t, logsCaddyfile(""), "/admin/health")
	secrets := logTraffic(t, g)
	g.stop() // flush and close the log files
	access := readLog(t, filepath.Join(g.dir, "access.log"), `"X-Okapi-Token":["REDACTED"]`)
	debug := readLog(t, filepath.Join(g.dir, "caddy.log"), "upstream roundtrip")
	for _, s := range secrets {
		for name, content := range map[string]string{"access log": access, "debug log": debug} {
			if strings.Contains(content, s) {
				t.Errorf("the %s holds a secret (%.12s...)", name, s)
			}
		}
	}
	// The filter did its work in every place a header set is logged.
	for _, want := range []string{`"X-Tokengate-Signer":["REDACTED"]`, `"resp_headers":{`} {
		if !strings.Contains(access, want) {
			t.Errorf("access log lacks %s", want)
		}
	}
	if !strings.Contains(debug, `"X-Okapi-Token":["REDACTED"]`) {
		t.Error("the reverse proxy's debug log lacks the redacted X-Okapi-Token")
	}
	// A secret no upstream needs does not even travel: the signer header
	// is gone from the request the reverse proxy sends (and logs).
	trips := logLines(t, debug, "upstream roundtrip")
	if len(trips) == 0 {
		t.Fatal("no upstream roundtrip logged")
	}
	for _, l := range trips {
		req, _ := l["request"].(map[string]any)
		headers, _ := req["headers"].(map[string]any)
		for name := range headers {
			if strings.Contains(strings.ToLower(name), "signer") {
				t.Errorf("the upstream was sent %s", name)
			}
		}
	}

	// Security events at warn.
	replays := logLines(t, debug, "refresh token replayed: grants revoked")
	if len(replays) != 2 {
		t.Fatalf("%d replay lines, want 2 (FOLIO, OAuth):\n%s", len(replays), tail(debug, 3000))
	}
	for _, l := range replays {
		if l["level"] != "warn" || l["grant_id"] == "" || l["revoked_grants"] != float64(1) {
			t.Errorf("replay line %v", l)
		}
	}
	if replays[0]["protocol"] != "folio" || replays[0]["tenant"] != "diku" || replays[0]["user_id"] != userID || replays[1]["protocol"] != "oauth" {
		t.Errorf("replay lines %v", replays)
	}
	failures := logLines(t, debug, "operator API: authentication failed")
	if len(failures) != 3 || failures[0]["reason"] != "no operator key" || failures[1]["reason"] != "invalid operator key" ||
		failures[1]["level"] != "warn" || failures[1]["api"] != "management" || failures[2]["api"] != "edi_operator" {
		t.Errorf("operator-key failure lines %v", failures)
	}
	if start := logLines(t, debug, "tokengate started"); len(start) != 1 || !strings.HasPrefix(start[0]["store"].(string), "bolt:") ||
		len(start[0]["key_ids"].([]any)) != 1 || len(start[0]["edi_key_ids"].([]any)) != 1 || start[0]["level"] != "info" {
		t.Errorf("start-up lines %v", start)
	}
}

// TestLogsWithLogCredentials: `log_credentials` is the operator's switch;
// with it, the filter steps aside as Caddy's own redaction does.
func TestLogsWithLogCredentials(t *testing.T) {
	g := startGateway(t, logsCaddyfile("servers {\n\t\tlog_credentials\n\t}"), "/admin/health")
	secrets := logTraffic(t, g)
	g.stop()
	access := readLog(t, filepath.Join(g.dir, "access.log"), "handled request")
	if !strings.Contains(access, secrets[0]) || !strings.Contains(access, secrets[3]) {
		t.Error("with log_credentials the access log shows no credential: the test would not see a leak")
	}
}
