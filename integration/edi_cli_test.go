package integration

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEDICLI: `caddy tokengate edi ...` works on the stored data of a
// stopped gateway, refuses with a clear message (after its timeout) while
// one runs, and what it writes is what the gateway serves after a start.
func TestEDICLI(t *testing.T) {
	g := startEDIGateway(t, "")
	store := filepath.Join(g.dir, "state", "tokengate.db")
	alice := exchangeKey(t, g, ediAliceSecret)

	cli := func(stdin string, args ...string) ([]byte, []byte, error) {
		cmd := exec.Command(caddyBin, append([]string{"tokengate", "edi"}, append(args, "--store", store)...)...)
		var out, errOut bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errOut
		err := cmd.Run()
		return out.Bytes(), errOut.Bytes(), err
	}
	run := func(stdin string, args ...string) map[string]any {
		t.Helper()
		out, errOut, err := cli(stdin, args...)
		if err != nil {
			t.Fatalf("caddy tokengate edi %v: %v\n%s%s", args, err, out, errOut)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("output of %v is not JSON: %v\n%s", args, err, out)
		}
		return m
	}

	// The running gateway holds the file.
	start := time.Now()
	out, errOut, err := cli("", "key", "list", "--timeout", "300ms")
	if err == nil || !strings.Contains(string(errOut), "locked by another process (a running gateway?)") {
		t.Fatalf("CLI on a held store: %v\n%s%s", err, out, errOut)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("CLI took %s to give up", d)
	}

	g.stop()
	k := run("", "key", "create", "--owner", ediBobID, "--name", "cli key", "--valid-to", time.Now().AddDate(0, 1, 0).Format("2006-01-02"))
	secret, _ := k["secret"].(string)
	if len(secret) != 27 || k["owner"] != ediBobID {
		t.Fatalf("key create: %v", k)
	}
	k2 := run("", "key", "create", "--owner", ediBobID, "--name", "to revoke")
	if r := run("", "key", "revoke", k2["id"].(string)); r["revokedAt"] == nil {
		t.Fatalf("key revoke: %v", r)
	}
	if r := run("", "key", "update", k["id"].(string), "--name", "renamed"); r["name"] != "renamed" {
		t.Fatalf("key update: %v", r)
	}
	list := run("", "key", "list", "--owner", ediBobID)
	// bob's seeded keys (bob-key, expired-key, future-key) and the renamed
	// one; not the revoked one, never a secret.
	listed := string(mustJSON(t, list))
	if ks := list["keys"].([]any); len(ks) != 4 || !strings.Contains(listed, `"renamed"`) || strings.Contains(listed, "to revoke") || strings.Contains(listed, secret) {
		t.Fatalf("key list: %s", mustJSON(t, list))
	}
	carol := "EDI-" + sha256Hex("carol")[:40]
	if s := run(`{"type":"profile","cn":"Carol","idpName":"github","idpUid":"https://github.com/carol"}`, "subject", "put", carol); s["ediId"] != carol {
		t.Fatalf("subject put: %v", s)
	}
	if s := run("", "subject", "get", carol); s["cn"] != "Carol" {
		t.Fatalf("subject get: %v", s)
	}
	if s := run("", "subject", "list"); len(s["subjects"].([]any)) != 4 {
		t.Fatalf("subject list: %v", s)
	}
	if r := run("", "subject", "revoke", ediAliceID); r["ediId"] != ediAliceID {
		t.Fatalf("subject revoke: %v", r)
	}
	ck := run("", "key", "create", "--owner", carol, "--name", "carol")

	// Bad input: a clear error, no change.
	for _, args := range [][]string{
		{"key", "create", "--owner", "bob", "--name", "x"},
		{"key", "get", "nope"},
		{"subject", "put", "EDI-1"},
		{"subject", "revoke", "alice"},
	} {
		if out, errOut, err := cli(`{"type":"profile","idpUid":"u"}`, args...); err == nil {
			t.Errorf("%v succeeded: %s", args, out)
		} else if len(errOut) == 0 {
			t.Errorf("%v failed without a message", args)
		}
	}

	g.start()
	exchangeKey(t, g, secret)
	expectInvalidKey(t, g.do("POST", "/auth/v1/key", map[string]string{"key": k2["secret"].(string)}))
	if c := jwtPayload(t, exchangeKey(t, g, ck["secret"].(string)).EDI); c["sub"] != carol || c["cn"] != "Carol" {
		t.Fatalf("carol's token %v", c)
	}
	// alice's pair from before the CLI revocation is refused.
	expectStatus(t, g.do("GET", "/package/x", nil, "Cookie", "edi-token="+alice.EDI), 401)
	expectEDIAnswer(t, refreshEDI(g, alice.Pasta, alice.EDI), 401, "refreshToken", "Attempted to refresh invalid edi-token")
}
