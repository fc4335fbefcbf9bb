package oauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

// outageFixture is the service over a real bbolt file behind a wrapper
// that fails like an outage.
func outageFixture(t *testing.T) (*fixture, *storetest.Flaky) {
	t.Helper()
	f := newFixture(t, false)
	flaky := storetest.NewFlaky(f.e.Store.(tokencore.Store))
	f.e.Store = flaky
	return f, flaky
}

// want503 checks the OAuth answer to an outage: 503 temporarily_unavailable
// (RFC 6749's code) with Retry-After, in the RFC 6749 JSON shape.
func want503(t *testing.T, op string, oerr *Error) {
	t.Helper()
	wantError(t, oerr, ErrTemporarilyUnavailable, http.StatusServiceUnavailable)
	if oerr.Headers().Get("Retry-After") == "" {
		t.Errorf("%s: 503 without Retry-After", op)
	}
	var body map[string]string
	if err := json.Unmarshal(oerr.Body(), &body); err != nil || body["error"] != "temporarily_unavailable" || body["error_description"] == "" {
		t.Errorf("%s: body %s", op, oerr.Body())
	}
}

// TestOAuthStoreOutage: the token, revocation and introspection endpoints
// answer 503 temporarily_unavailable during an outage (they answered 500
// server_error), change nothing, and the same request works after recovery.
func TestOAuthStoreOutage(t *testing.T) {
	revoke := func(f *fixture, token string) *Error {
		return f.svc.Revoke(f.ctx, post("token="+url.QueryEscape(token), webAuth))
	}
	t.Run("refresh", func(t *testing.T) {
		f, flaky := outageFixture(t)
		c := f.createFor(t, "web", "alice", "api.read")
		flaky.FailAll()
		_, oerr := f.refresh(c.RefreshToken, "", webAuth)
		want503(t, "refresh", oerr)
		flaky.Recover()
		mustRefresh(t, f, c.RefreshToken, "", webAuth) // not consumed by the failed attempt
	})
	t.Run("revoke", func(t *testing.T) {
		f, flaky := outageFixture(t)
		c := f.createFor(t, "web", "alice", "api.read")
		flaky.FailNext("PutRevocation", 1)
		want503(t, "revoke", revoke(f, c.RefreshToken))
		if err := f.proxyAccepts(c.AccessToken); err != nil {
			t.Fatalf("a failed revocation changed something: %v", err)
		}
		flaky.FailAll()
		want503(t, "revoke", revoke(f, c.RefreshToken))
		flaky.Recover()
		if oerr := revoke(f, c.RefreshToken); oerr != nil {
			t.Fatal(oerr)
		}
		if err := f.proxyAccepts(c.AccessToken); !errors.Is(err, tokencore.ErrTokenRevoked) {
			t.Fatalf("after the retried revocation: %v", err)
		}
	})
	t.Run("replay", func(t *testing.T) {
		f, flaky := outageFixture(t)
		c := f.createFor(t, "web", "alice", "api.read")
		r := mustRefresh(t, f, c.RefreshToken, "", webAuth)
		flaky.FailNext("PutRevocation", 1)
		_, oerr := f.refresh(c.RefreshToken, "", webAuth)
		want503(t, "replay", oerr)
		if err := f.proxyAccepts(r.AccessToken); err != nil {
			t.Fatalf("a replay whose revocation failed changed something: %v", err)
		}
		_, oerr = f.refresh(c.RefreshToken, "", webAuth)
		wantError(t, oerr, ErrInvalidGrant, http.StatusBadRequest)
		if err := f.proxyAccepts(r.AccessToken); !errors.Is(err, tokencore.ErrTokenRevoked) {
			t.Fatalf("after the retried replay: %v", err)
		}
	})
	t.Run("introspect", func(t *testing.T) {
		f, flaky := outageFixture(t)
		c := f.createFor(t, "web", "alice", "api.read")
		flaky.FailAll()
		// Introspection of an access token reads no store: it is the
		// proxy's verdict (the one revocation decision), so an outage of a
		// single instance's store changes neither answer, and they agree.
		resp, oerr := f.svc.Introspect(f.ctx, post("token="+url.QueryEscape(c.AccessToken), rsAuth))
		if oerr != nil {
			t.Fatalf("introspection during the outage: %v", oerr)
		}
		proxyErr := f.proxyAccepts(c.AccessToken)
		if resp.Active != (proxyErr == nil) {
			t.Fatalf("introspection active=%v while the proxy says %v", resp.Active, proxyErr)
		}
	})
}

// TestManageStoreOutage: the management API answers 503 in Authlete's
// envelope with Retry-After during an outage (it answered 500), changes
// nothing, and the same call works after recovery.
func TestManageStoreOutage(t *testing.T) {
	call := func(f *fixture, method, path, body string) ManageResponse {
		return f.svc.Manage(f.ctx, ManageRequest{Method: method, Path: path, ContentType: "application/json", Body: []byte(body)})
	}
	want := func(t *testing.T, op string, r ManageResponse) {
		t.Helper()
		var m map[string]any
		_ = json.Unmarshal(r.Body, &m)
		code, _ := m["resultCode"].(string)
		msg, _ := m["resultMessage"].(string)
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || code == "" ||
			m["action"] != ActionServerError || !strings.Contains(msg, "temporarily unavailable") {
			t.Fatalf("%s during an outage: %d %v %s, want 503 with Retry-After in the result envelope", op, r.Status, r.Header, r.Body)
		}
	}
	t.Run("create", func(t *testing.T) {
		f, flaky := outageFixture(t)
		flaky.FailAll()
		want(t, "create", call(f, "POST", "/auth/token/create", `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"alice","scopes":["api.read"]}`))
		flaky.Recover()
		f.createFor(t, "web", "alice", "api.read")
	})
	t.Run("revoke", func(t *testing.T) {
		f, flaky := outageFixture(t)
		c := f.createFor(t, "web", "alice", "api.read")
		flaky.FailNext("PutRevocation", 1)
		want(t, "revoke", call(f, "POST", "/auth/token/revoke", `{"subject":"alice"}`))
		if err := f.proxyAccepts(c.AccessToken); err != nil {
			t.Fatalf("a failed revocation changed something: %v", err)
		}
		if r := call(f, "POST", "/auth/token/revoke", `{"subject":"alice"}`); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"count":1`) {
			t.Fatalf("retried revoke: %d %s", r.Status, r.Body)
		}
		if err := f.proxyAccepts(c.AccessToken); !errors.Is(err, tokencore.ErrTokenRevoked) {
			t.Fatalf("after the retried revoke: %v", err)
		}
	})
	t.Run("update", func(t *testing.T) {
		f, flaky := outageFixture(t)
		c := f.createFor(t, "web", "alice", "api.read")
		body := `{"accessToken":"` + c.AccessToken + `","accessTokenValueUpdated":true}`
		flaky.FailNext("PutRevocation", 1)
		want(t, "update", call(f, "POST", "/auth/token/update", body))
		if err := f.proxyAccepts(c.AccessToken); err != nil {
			t.Fatalf("a failed update changed something: %v", err)
		}
		r := call(f, "POST", "/auth/token/update", body)
		if r.Status != http.StatusOK {
			t.Fatalf("retried update: %d %s", r.Status, r.Body)
		}
		var out UpdateResponse
		if err := json.Unmarshal(r.Body, &out); err != nil || out.AccessToken == "" {
			t.Fatalf("update answer %s: %v", r.Body, err)
		}
		if err := f.proxyAccepts(c.AccessToken); !errors.Is(err, tokencore.ErrTokenRevoked) {
			t.Fatalf("the replaced access token after the retried update: %v, want revoked", err)
		}
		if err := f.proxyAccepts(out.AccessToken); err != nil {
			t.Fatalf("the new access token: %v", err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		f, flaky := outageFixture(t)
		c := f.createFor(t, "web", "alice", "api.read")
		flaky.FailNext("PutRevocation", 1)
		path := "/auth/token/delete/" + tokencore.TokenHash(c.AccessToken)
		want(t, "delete", call(f, "DELETE", path, ""))
		if err := f.proxyAccepts(c.AccessToken); err != nil {
			t.Fatalf("a failed delete changed something: %v", err)
		}
		if r := call(f, "DELETE", path, ""); r.Status != http.StatusNoContent {
			t.Fatalf("retried delete: %d %s", r.Status, r.Body)
		}
		if err := f.proxyAccepts(c.AccessToken); !errors.Is(err, tokencore.ErrTokenRevoked) {
			t.Fatalf("after the retried delete: %v", err)
		}
	})
}
