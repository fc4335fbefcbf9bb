package integration

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

const ediInvalidKey = `{"msg":"Invalid API key","method":"getTokenByKey"}`

// ediOp calls the operator API with the operator key.
func ediOp(g *gateway, method, path string, body any) *response {
	g.t.Helper()
	return g.do(method, "/api/demo/edi"+path, body, "Authorization", "Bearer "+ediOperatorKey)
}

func ediJSON(t *testing.T, r *response, status int) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	return r.json(t)
}

// expectInvalidKey: unknown, expired, future and revoked keys all get this
// one answer, byte for byte.
func expectInvalidKey(t *testing.T, r *response) {
	t.Helper()
	if r.Status != http.StatusUnauthorized || string(r.Body) != ediInvalidKey || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("answer %d %s, want 401 %s", r.Status, r.Body, ediInvalidKey)
	}
}

// TestEDIKeyErrorTable drives every row of spec §6.4 through Caddy, and
// the key lifecycle: expired, not yet valid and revoked keys answer exactly
// like unknown ones.
func TestEDIKeyErrorTable(t *testing.T) {
	g := startEDIGateway(t, "")
	const badJSON = "Bad request: Invalid JSON in request body"
	for _, tc := range []struct {
		name   string
		body   string
		status int
		msg    string
	}{
		{"not JSON", `{"key": "x",}`, 400, badJSON},
		{"curl form default", "key=" + ediAliceSecret, 400, badJSON},
		{"not an object", `"` + ediAliceSecret + `"`, 400, "Bad request: "},
		{"key not a string", `{"key": 42}`, 400, "Bad request: "},
		{"key missing", `{}`, 400, "Bad request: Missing field in JSON in request body: 'key'"},
		{"key under another name", `{"api_key":"` + ediAliceSecret + `"}`, 400, "Bad request: Missing field in JSON in request body: 'key'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectEDIAnswer(t, g.do("POST", "/auth/v1/key", tc.body), tc.status, "getTokenByKey", tc.msg)
		})
	}
	// A key in the URL is never used.
	expectEDIAnswer(t, g.do("POST", "/auth/v1/key?key="+ediAliceSecret, `{}`), 400, "getTokenByKey", "Bad request: Missing field")
	expectStatus(t, g.do("GET", "/auth/v1/key?key="+ediAliceSecret, nil), http.StatusMethodNotAllowed)
	expectEDIAnswer(t, g.do("POST", "/auth/v1/key", bytes.Repeat([]byte("k"), 2<<20)), http.StatusRequestEntityTooLarge, "getTokenByKey", "")

	// The lifecycle: one answer for unknown, expired, future, revoked.
	expectInvalidKey(t, g.do("POST", "/auth/v1/key", map[string]string{"key": "R9arQwYMFqdgVVYt7jqcsxfyPyV"}))
	expectInvalidKey(t, g.do("POST", "/auth/v1/key", map[string]string{"key": ""}))
	expectInvalidKey(t, g.do("POST", "/auth/v1/key", map[string]string{"key": strings.Repeat("k", 257)}))
	expectInvalidKey(t, g.do("POST", "/auth/v1/key", map[string]string{"key": ediExpiredSecret}))
	expectInvalidKey(t, g.do("POST", "/auth/v1/key", map[string]string{"key": ediFutureSecret}))
	exchangeKey(t, g, ediBobSecret)
	ediJSON(t, ediOp(g, "DELETE", "/keys/bob-key", nil), 200)
	expectInvalidKey(t, g.do("POST", "/auth/v1/key", map[string]string{"key": ediBobSecret}))
}

// TestEDIOperatorAPI: subjects and keys through the operator API, from
// creation to revocation, with its authentication and its 4xx answers.
func TestEDIOperatorAPI(t *testing.T) {
	g := startEDIGateway(t, "")

	// Authentication: the operator bearer key, nothing else.
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "Basic " + ediOperatorKey}, {"Authorization", ediOperatorKey}} {
		r := g.do("GET", "/api/demo/edi/subjects", nil, h...)
		if r.Status != 401 || r.json(t)["error"] != "unauthorized" || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("%v: %d %s", h, r.Status, r.Body)
		}
	}

	// Subjects: create, replace, read, list.
	carol := "EDI-" + sha256Hex("https://orcid.org/0000-0002-1825-0097")[:40]
	doc := map[string]any{"type": "profile", "cn": "Carol", "email": "carol@example.org", "idpName": "orcid", "idpUid": "https://orcid.org/0000-0002-1825-0097"}
	s := ediJSON(t, ediOp(g, "PUT", "/subjects/"+carol, doc), 201)
	if s["ediId"] != carol || s["pastaUid"] != "https://orcid.org/0000-0002-1825-0097" || len(s["principals"].([]any)) != 2 {
		t.Fatalf("created subject %v", s)
	}
	doc["cn"] = "Carol C."
	ediJSON(t, ediOp(g, "PUT", "/subjects/"+carol, doc), 200)
	if s := ediJSON(t, ediOp(g, "GET", "/subjects/"+carol, nil), 200); s["cn"] != "Carol C." {
		t.Fatalf("read subject %v", s)
	}
	if l := ediJSON(t, ediOp(g, "GET", "/subjects", nil), 200); len(l["subjects"].([]any)) != 4 {
		t.Fatalf("subjects %v", l)
	}
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"PUT", "/subjects/EDI-123", doc, 400},
		{"PUT", "/subjects/" + carol, `{"type":"profile","idpUid":"u",}`, 400},
		{"PUT", "/subjects/" + carol, map[string]any{"type": "profile", "idpUid": "u", "role": "admin"}, 400},
		{"PUT", "/subjects/" + carol, map[string]any{"type": "profile", "idpUid": 42}, 400},
		{"PUT", "/subjects/" + carol, map[string]any{"type": "profile"}, 400},
		{"PUT", "/subjects/" + carol, map[string]any{"type": "group", "name": "g", "owner": ediGroupID}, 400},
		{"PUT", "/subjects/" + carol, strings.Repeat(" ", 70<<10), 413},
		{"GET", "/subjects/EDI-0000000000000000000000000000000000000000", nil, 404},
		{"DELETE", "/subjects/" + carol, nil, 405},
		{"GET", "/subjects/" + carol + "/revoke", nil, 405},
		{"POST", "/subjects/EDI-nope/revoke", nil, 400},
		{"GET", "/nothing", nil, 404},
	} {
		r := ediOp(g, tc.method, tc.path, tc.body)
		if r.Status != tc.status || r.json(t)["error"] == nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d %s, want %d with a JSON error", tc.method, tc.path, r.Status, r.Body, tc.status)
		}
	}

	// Keys: create (secret shown once), exchange, list (preview only).
	k := ediJSON(t, ediOp(g, "POST", "/keys", map[string]any{"owner": carol, "name": "laptop"}), 201)
	secret, id := k["secret"].(string), k["id"].(string)
	if len(secret) != 27 || k["preview"] != secret[:5] || k["useCount"].(float64) != 0 {
		t.Fatalf("created key %v", k)
	}
	from, _ := time.Parse(time.RFC3339, k["validFrom"].(string))
	to, _ := time.Parse(time.RFC3339, k["validTo"].(string))
	if d := to.Sub(from); d < 364*24*time.Hour || d > 365*24*time.Hour {
		t.Fatalf("default validity %s .. %s", from, to)
	}
	pair := exchangeKey(t, g, secret)
	if c := jwtPayload(t, pair.EDI); c["sub"] != carol || c["cn"] != "Carol C." || c["email"] != "carol@example.org" {
		t.Fatalf("carol's claims %v", c)
	}
	if f := pastaFields(t, pair.Pasta); f[0] != "https://orcid.org/0000-0002-1825-0097" || strings.Join(f[3:], ",") != "authenticated" {
		t.Fatalf("carol's PASTA token %v", f)
	}
	l := ediJSON(t, ediOp(g, "GET", "/keys?owner="+carol, nil), 200)
	keys := l["keys"].([]any)
	if len(keys) != 1 || strings.Contains(string(mustJSON(t, l)), secret) || keys[0].(map[string]any)["preview"] != secret[:5] {
		t.Fatalf("list %s", mustJSON(t, l))
	}
	if r := ediOp(g, "GET", "/keys/"+id, nil); strings.Contains(string(r.Body), secret) || r.Status != 200 {
		t.Fatalf("read %d %s", r.Status, r.Body)
	}
	for _, bad := range []map[string]any{
		{"owner": carol},
		{"owner": carol, "name": strings.Repeat("n", 65)},
		{"owner": "carol", "name": "n"},
		{"owner": carol, "name": "n", "group": ediGroupID}, // carol does not own demo-group
		{"owner": carol, "name": "n", "validTo": "yesterday"},
		{"owner": carol, "name": "n", "secret": "mine"},
	} {
		if r := ediOp(g, "POST", "/keys", bad); r.Status != 400 {
			t.Errorf("create %v: %d %s", bad, r.Status, r.Body)
		}
	}
	// A group key of alice's group.
	gk := ediJSON(t, ediOp(g, "POST", "/keys", map[string]any{"owner": ediAliceID, "group": ediGroupID, "name": "group robot"}), 201)
	if c := jwtPayload(t, exchangeKey(t, g, gk["secret"].(string)).EDI); c["sub"] != ediGroupID {
		t.Fatalf("group key token %v", c)
	}

	// Update: name and validity; an end in the past makes the key unusable.
	u := ediJSON(t, ediOp(g, "PATCH", "/keys/"+id, map[string]any{"name": "old laptop", "validTo": time.Now().AddDate(0, 0, 30).Format("2006-01-02")}), 200)
	if u["name"] != "old laptop" {
		t.Fatalf("updated %v", u)
	}
	exchangeKey(t, g, secret)
	ediJSON(t, ediOp(g, "PATCH", "/keys/"+id, map[string]any{"validFrom": "2020-01-01", "validTo": "2020-01-31"}), 200)
	expectInvalidKey(t, g.do("POST", "/auth/v1/key", map[string]string{"key": secret}))
	ediJSON(t, ediOp(g, "PATCH", "/keys/"+id, map[string]any{"validTo": time.Now().AddDate(0, 0, 1).Format("2006-01-02")}), 200)
	exchangeKey(t, g, secret)
	if r := ediOp(g, "PATCH", "/keys/"+id, map[string]any{"validTo": "2019-01-01"}); r.Status != 400 {
		t.Fatalf("validTo before validFrom: %d %s", r.Status, r.Body)
	}
	if r := ediOp(g, "PATCH", "/keys/"+id, map[string]any{"owner": ediBobID}); r.Status != 400 {
		t.Fatalf("PATCH owner: %d %s", r.Status, r.Body)
	}

	// Delete revokes at once; the record stays, listed only on request.
	d := ediJSON(t, ediOp(g, "DELETE", "/keys/"+id, nil), 200)
	if d["revokedAt"] == nil {
		t.Fatalf("deleted %v", d)
	}
	expectInvalidKey(t, g.do("POST", "/auth/v1/key", map[string]string{"key": secret}))
	if r := ediOp(g, "PATCH", "/keys/"+id, map[string]any{"name": "x"}); r.Status != 409 {
		t.Fatalf("PATCH of a revoked key: %d %s", r.Status, r.Body)
	}
	if l := ediJSON(t, ediOp(g, "GET", "/keys?owner="+carol, nil), 200); len(l["keys"].([]any)) != 0 {
		t.Fatalf("revoked key listed: %v", l)
	}
	if l := ediJSON(t, ediOp(g, "GET", "/keys?owner="+carol+"&revoked=true", nil), 200); len(l["keys"].([]any)) != 1 {
		t.Fatalf("revoked key not listed with revoked=true: %v", l)
	}
	if r := ediOp(g, "GET", "/keys/nope", nil); r.Status != 404 {
		t.Fatalf("missing key: %d", r.Status)
	}
	if r := ediOp(g, "PUT", "/keys", map[string]any{}); r.Status != 405 || r.Header.Get("Allow") != "GET, POST" {
		t.Fatalf("PUT /keys: %d %v", r.Status, r.Header)
	}
}

// TestEDIKeyStatePersists: keys revoked through the API stay revoked across
// a restart although the config seeds them again, and usage statistics are
// written without the exchange waiting for them.
func TestEDIKeyStatePersists(t *testing.T) {
	g := startEDIGateway(t, "")
	for range 3 {
		exchangeKey(t, g, ediAliceSecret)
	}
	ediJSON(t, ediOp(g, "DELETE", "/keys/bob-key", nil), 200)
	deadline := time.Now().Add(5 * time.Second)
	for {
		k := ediJSON(t, ediOp(g, "GET", "/keys/alice-key", nil), 200)
		if k["useCount"].(float64) == 3 && k["lastUsed"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage not recorded: %v", k)
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.restart()
	expectInvalidKey(t, g.do("POST", "/auth/v1/key", map[string]string{"key": ediBobSecret}))
	k := ediJSON(t, ediOp(g, "GET", "/keys/alice-key", nil), 200)
	if k["useCount"].(float64) != 3 || k["preview"] != "R9arQ" {
		t.Fatalf("alice-key after restart %v", k)
	}
	exchangeKey(t, g, ediAliceSecret)
	// Revoked keys are left out of the list; expired and future ones are not.
	var list struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(ediOp(g, "GET", "/keys", nil).Body, &list); err != nil || len(list.Keys) != 4 {
		t.Fatalf("unrevoked keys after restart: %d %v", len(list.Keys), err)
	}
}
