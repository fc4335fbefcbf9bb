package edi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/tokencore"
)

// watchedBody records whether it was read: an endpoint that takes no body
// leaves it unread.
type watchedBody struct{ read bool }

func (b *watchedBody) Read([]byte) (int, error) { b.read = true; return 0, io.EOF }

// brokenBody fails when read, as a body cut off by the client.
type brokenBody struct{}

func (brokenBody) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// adminCall serves one request and decodes the JSON answer. body "-" is
// a body that must stay unread, "!" one that cannot be read.
func adminCall(t *testing.T, a *Admin, method, target, body string) (AdminResponse, map[string]any) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	req := AdminRequest{Method: method, Path: u.Path, Query: u.Query(), Body: strings.NewReader(body)}
	watched := &watchedBody{}
	switch body {
	case "-":
		req.Body = watched
	case "!":
		req.Body = brokenBody{}
	}
	r := a.Handle(t.Context(), req)
	if watched.read {
		t.Errorf("%s %s read the body", method, target)
	}
	if r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, target, r.Header.Get("Content-Type"))
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, target, r.Body, err)
	}
	return r, m
}

// TestAdminHandle walks the operator API through every route: statuses,
// error shapes, the Allow header of a 405 and no-store on successes.
func TestAdminHandle(t *testing.T) {
	f := newFixture(t)
	a := NewAdmin(f.m, 512)
	profile := `{"type":"profile","idpName":"ldap","idpUid":"` + aliceUID + `"}`
	var keyID string
	steps := []struct {
		name, method, target, body string
		status                     int
		errCode                    string // "" for a success
		allow                      string
		check                      func(t *testing.T, m map[string]any)
	}{
		{"empty subject list", "GET", "subjects", "-", 200, "", "", func(t *testing.T, m map[string]any) {
			if l, ok := m["subjects"].([]any); !ok || len(l) != 0 {
				t.Errorf("subjects %v", m["subjects"])
			}
		}},
		{"create a profile", "PUT", "subjects/" + aliceID, profile, 201, "", "", func(t *testing.T, m map[string]any) {
			if m["ediId"] != aliceID || m["pastaUid"] != aliceUID {
				t.Errorf("profile %v", m)
			}
		}},
		{"replace it", "PUT", "subjects/" + aliceID, profile, 200, "", "", nil},
		{"read it", "GET", "subjects/" + aliceID, "-", 200, "", "", nil},
		{"one subject listed", "GET", "subjects", "-", 200, "", "", func(t *testing.T, m map[string]any) {
			if l, _ := m["subjects"].([]any); len(l) != 1 {
				t.Errorf("subjects %v", m["subjects"])
			}
		}},
		{"unknown subject", "GET", "subjects/" + bobID, "-", 404, "not_found", "", nil},
		{"malformed EDI-ID", "GET", "subjects/bob", "-", 400, "invalid_request", "", nil},
		{"unknown member", "PUT", "subjects/" + aliceID, `{"type":"profile","colour":"red"}`, 400, "invalid_request", "", nil},
		{"malformed JSON", "PUT", "subjects/" + aliceID, `{"type":`, 400, "invalid_request", "", nil},
		{"data after the object", "PUT", "subjects/" + aliceID, profile + `{}`, 400, "invalid_request", "", nil},
		{"body over the bound", "PUT", "subjects/" + aliceID, `{"type":"profile","cn":"` + strings.Repeat("x", 600) + `"}`, 413, "invalid_request", "", nil},
		{"body cut off", "PUT", "subjects/" + aliceID, "!", 400, "invalid_request", "", nil},
		{"list is GET only", "POST", "subjects", "-", 405, "method_not_allowed", "GET", nil},
		{"subject is GET, PUT", "DELETE", "subjects/" + aliceID, "-", 405, "method_not_allowed", "GET, PUT", nil},
		{"revoke a subject", "POST", "subjects/" + aliceID + "/revoke", "-", 200, "", "", func(t *testing.T, m map[string]any) {
			if m["ediId"] != aliceID || m["revokedBefore"] == nil || m["until"] == nil {
				t.Errorf("revocation %v", m)
			}
		}},
		{"revoke is POST only", "GET", "subjects/" + aliceID + "/revoke", "-", 405, "method_not_allowed", "POST", nil},
		{"create a key", "POST", "keys", `{"owner":"` + aliceID + `","name":"laptop"}`, 201, "", "", func(t *testing.T, m map[string]any) {
			keyID, _ = m["id"].(string)
			if keyID == "" || m["secret"] == nil || m["owner"] != aliceID {
				t.Errorf("created key %v", m)
			}
		}},
		{"key of an unknown owner", "POST", "keys", `{"owner":"` + bobID + `","name":"x"}`, 400, "invalid_request", "", nil},
		{"keys is GET, POST", "PUT", "keys", "-", 405, "method_not_allowed", "GET, POST", nil},
		{"list keys, no secret", "GET", "keys?owner=" + aliceID, "-", 200, "", "", func(t *testing.T, m map[string]any) {
			l, _ := m["keys"].([]any)
			if len(l) != 1 || l[0].(map[string]any)["secret"] != nil {
				t.Errorf("keys %v", m["keys"])
			}
		}},
		{"read the key", "GET", "keys/{key}", "-", 200, "", "", nil},
		{"rename it", "PATCH", "keys/{key}", `{"name":"desktop"}`, 200, "", "", func(t *testing.T, m map[string]any) {
			if m["name"] != "desktop" {
				t.Errorf("renamed key %v", m)
			}
		}},
		{"revoke it", "DELETE", "keys/{key}", "-", 200, "", "", func(t *testing.T, m map[string]any) {
			if m["revokedAt"] == nil {
				t.Errorf("revoked key %v", m)
			}
		}},
		{"a revoked key cannot change", "PATCH", "keys/{key}", `{"name":"again"}`, 409, "conflict", "", nil},
		{"revoked keys listed on request", "GET", "keys?owner=" + aliceID + "&revoked=true", "-", 200, "", "", func(t *testing.T, m map[string]any) {
			if l, _ := m["keys"].([]any); len(l) != 1 {
				t.Errorf("keys %v", m["keys"])
			}
		}},
		{"key is GET, PATCH, DELETE", "POST", "keys/{key}", "-", 405, "method_not_allowed", "GET, PATCH, DELETE", nil},
		{"unknown key", "GET", "keys/nope", "-", 404, "not_found", "", nil},
		{"unknown endpoint", "GET", "subjects/" + aliceID + "/keys", "-", 404, "not_found", "", nil},
		{"empty path", "GET", "", "-", 404, "not_found", "", nil},
	}
	for _, s := range steps {
		target := strings.ReplaceAll(s.target, "{key}", keyID)
		r, m := adminCall(t, a, s.method, target, s.body)
		if r.Status != s.status {
			t.Errorf("%s: %d %s, want %d", s.name, r.Status, r.Body, s.status)
			continue
		}
		if s.errCode == "" {
			if r.Header.Get("Cache-Control") != "no-store" || m["error"] != nil {
				t.Errorf("%s: success %v %s", s.name, r.Header, r.Body)
			}
		} else if m["error"] != s.errCode || m["error_description"] == "" || len(m) != 2 {
			t.Errorf("%s: error body %s, want error %s", s.name, r.Body, s.errCode)
		}
		if r.Header.Get("Allow") != s.allow {
			t.Errorf("%s: Allow %q, want %q", s.name, r.Header.Get("Allow"), s.allow)
		}
		if r.Err != nil {
			t.Errorf("%s: Err %v on a %d", s.name, r.Err, r.Status)
		}
		if s.check != nil {
			s.check(t, m)
		}
	}
}

// TestAdminHandleStoreOutage: an unavailable store is a 503 with
// Retry-After, nothing changed, and the cause is handed to the log.
func TestAdminHandleStoreOutage(t *testing.T) {
	f := newFixture(t)
	flaky := f.outage()
	a := NewAdmin(f.m, 0)
	flaky.FailAll()
	for _, c := range []struct{ method, target, body string }{
		{"GET", "subjects", "-"},
		{"POST", "subjects/" + bobID + "/revoke", "-"},
		{"PUT", "subjects/" + aliceID, `{"type":"profile","idpName":"ldap","idpUid":"` + aliceUID + `"}`},
	} {
		r, m := adminCall(t, a, c.method, c.target, c.body)
		if r.Status != http.StatusServiceUnavailable || m["error"] != "temporarily_unavailable" || r.Header.Get("Retry-After") == "" ||
			!errors.Is(r.Err, tokencore.ErrStoreUnavailable) {
			t.Errorf("%s %s during an outage: %d %v %s %v", c.method, c.target, r.Status, r.Header, r.Body, r.Err)
		}
	}
	flaky.Recover()
	if r, _ := adminCall(t, a, "GET", "subjects/"+aliceID, "-"); r.Status != http.StatusNotFound {
		t.Errorf("the refused PUT stored the subject: %d %s", r.Status, r.Body)
	}
}

// TestAdminAuthenticate: one Authorization header with an operator's
// bearer key; anything else is the 401 with the operator realm.
func TestAdminAuthenticate(t *testing.T) {
	hash := tokencore.HashSecret("op-key")
	isOp := func(k string) bool { return k != "" && tokencore.VerifySecretHash(hash, k) }
	for name, tc := range map[string]struct {
		auth []string
		ok   bool
	}{
		"operator":           {[]string{"Bearer op-key"}, true},
		"scheme in any case": {[]string{"bearer  op-key "}, true},
		"no header":          {nil, false},
		"wrong key":          {[]string{"Bearer op-kex"}, false},
		"basic":              {[]string{"Basic b3A6a2V5"}, false},
		"empty bearer":       {[]string{"Bearer "}, false},
		"two headers":        {[]string{"Bearer op-key", "Bearer op-key"}, false},
	} {
		r := AdminAuthenticate(tc.auth, isOp)
		if tc.ok != (r == nil) {
			t.Errorf("%s: %+v", name, r)
			continue
		}
		if r != nil && (r.Status != 401 || r.Header.Get("WWW-Authenticate") != `Bearer realm="tokengate-operator"` ||
			string(r.Body) != `{"error":"unauthorized","error_description":"an operator bearer key is required"}`) {
			t.Errorf("%s: %d %v %s", name, r.Status, r.Header, r.Body)
		}
	}
}
