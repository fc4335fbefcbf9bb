package folio

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// body is a request body as the handler passes it: bounded like
// FolioAPI's default.
func body(s string) *strings.Reader { return strings.NewReader(s) }

func signBody(sub, user string) string {
	return `{"payload":{"sub":"` + sub + `","user_id":"` + user + `"}}`
}

// TestHandleRoutesAndRefuses: every rule the handler used to apply itself
// (routing, methods, tenant, signer, body size, decoding, 201/204) is
// answered by Handle with mod-authtoken's status, headers and text.
func TestHandleRoutesAndRefuses(t *testing.T) {
	clk := &clock{t: time.Unix(1_900_000_000, 0)}
	f := New(newTestEngine(t, clk), Config{})
	ctx := context.Background()
	tooLarge := http.MaxBytesReader(httptest.NewRecorder(), io1k(), 10)
	tests := []struct {
		name       string
		req        Request
		status     int
		body       string // exact text/plain body; "" = not checked
		allow      string
		wantHeader string // a header the answer must carry
	}{
		{"health GET", Request{Method: "GET", Path: PathHealth}, 200, "OK", "", "Content-Type"},
		{"health HEAD", Request{Method: "HEAD", Path: PathHealth}, 200, "OK", "", ""},
		{"health POST", Request{Method: "POST", Path: PathHealth}, 405, "Method Not Allowed", "GET, HEAD", ""},
		{"sign GET", Request{Method: "GET", Path: PathSign, Tenant: "diku"}, 405, "Method Not Allowed", "POST", ""},
		{"unknown path", Request{Method: "POST", Path: "/token/other", Tenant: "diku"}, 404, "Not Found", "", ""},
		{"no tenant", Request{Method: "POST", Path: PathRefresh, Body: body(`{"refreshToken":"x"}`)}, 400, "Missing header: X-Okapi-Tenant", "", ""},
		{"sign untrusted", Request{Method: "POST", Path: PathSign, Tenant: "diku", Body: body(signBody("a", "u"))}, 401,
			"Missing required module-level permissions for endpoint '/token/sign': auth.token.sign.post", "", ""},
		{"legacy untrusted", Request{Method: "POST", Path: PathLegacy, Tenant: "diku"}, 401,
			"Missing required module-level permissions for endpoint '/token': auth.token.post", "", ""},
		{"refreshtoken untrusted", Request{Method: "POST", Path: PathLegacyRefresh, Tenant: "diku"}, 401,
			"Missing required module-level permissions for endpoint '/refreshtoken': auth.refreshtoken.post", "", ""},
		{"body too large", Request{Method: "POST", Path: PathRefresh, Tenant: "diku", Body: tooLarge}, 413, "Request Entity Too Large", "", ""},
		{"bad sign body", Request{Method: "POST", Path: PathSign, Tenant: "diku", TrustedSigner: true, Body: body(`{}`)}, 400,
			"Bad Request: missing property payload", "", ""},
		{"legacy off", Request{Method: "POST", Path: PathLegacy, Tenant: "diku", TrustedSigner: true, Body: body(signBody("a", "u"))}, 404,
			legacyOffMessage, "", ""},
		{"refresh garbage", Request{Method: "POST", Path: PathRefresh, Tenant: "diku", Body: body(`{"refreshToken":"x"}`)}, 401, "Invalid token", "", ""},
		{"invalidate-all no token", Request{Method: "POST", Path: PathInvalidateAll, Tenant: "diku"}, 401, "Invalid token", "", ""},
		{"invalidate-all conflicting tokens", Request{Method: "POST", Path: PathInvalidateAll, Tenant: "diku",
			AccessTokenErr: errors.New("conflicting tokens in Authorization, X-Okapi-Token and cookie")}, 400,
			"Bad Request: conflicting tokens in Authorization, X-Okapi-Token and cookie", "", ""},
		{"sign", Request{Method: "POST", Path: PathSign, Tenant: "diku", TrustedSigner: true, Body: body(signBody("alice", uid))}, 201, "", "", "Cache-Control"},
		{"legacy refreshtoken", Request{Method: "POST", Path: PathLegacyRefresh, Tenant: "diku", TrustedSigner: true,
			Body: body(`{"userId":"` + uid + `","sub":"alice"}`)}, 201, "", "", "Pragma"},
		// A grant's user must be a UUID (mod-authtoken's uuid column).
		{"sign user_id not a UUID", Request{Method: "POST", Path: PathSign, Tenant: "diku", TrustedSigner: true, Body: body(signBody("alice", "u1"))}, 400,
			"Bad Request: user_id must be a UUID", "", ""},
		{"refreshtoken userId not a UUID", Request{Method: "POST", Path: PathLegacyRefresh, Tenant: "diku", TrustedSigner: true,
			Body: body(`{"userId":"u1","sub":"alice"}`)}, 400, "Bad Request: user_id must be a UUID", "", ""},
		// Tokens without a grant keep mod-authtoken's leniency.
		{"dummy sign without a UUID", Request{Method: "POST", Path: PathSign, Tenant: "diku", TrustedSigner: true,
			Body: body(`{"payload":{"sub":"_AUTHZ_MODULE_","user_id":"not-a-uuid","dummy":true}}`)}, 201, "", "", "Cache-Control"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.Handle(ctx, tc.req)
			if resp.Status != tc.status {
				t.Fatalf("status %d (%s), want %d", resp.Status, resp.Body, tc.status)
			}
			if tc.body != "" && string(resp.Body) != tc.body {
				t.Errorf("body %q, want %q", resp.Body, tc.body)
			}
			if resp.Status >= 400 && resp.Header.Get("Content-Type") != "text/plain" {
				t.Errorf("error Content-Type %q, want text/plain", resp.Header.Get("Content-Type"))
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
			if tc.wantHeader != "" && resp.Header.Get(tc.wantHeader) == "" {
				t.Errorf("no %s header: %v", tc.wantHeader, resp.Header)
			}
		})
	}
}

// io1k is a body of 1 KiB.
func io1k() io.ReadCloser { return io.NopCloser(strings.NewReader(strings.Repeat("x", 1024))) }

// TestHandleFullCycle: sign, refresh (201 JSON), invalidate (204),
// invalidate-all (204) through the single entry point.
func TestHandleFullCycle(t *testing.T) {
	clk := &clock{t: time.Unix(1_900_000_000, 0)}
	f := New(newTestEngine(t, clk), Config{})
	ctx := context.Background()
	post := func(path, b string, mod ...func(*Request)) Response {
		req := Request{Method: "POST", Path: path, Tenant: "diku", TrustedSigner: true, Body: body(b)}
		for _, m := range mod {
			m(&req)
		}
		return f.Handle(ctx, req)
	}
	decode := func(resp Response) map[string]string {
		t.Helper()
		if resp.Status != 201 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%d %v %s", resp.Status, resp.Header, resp.Body)
		}
		var m map[string]string
		if err := json.Unmarshal(resp.Body, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	p := decode(post(PathSign, signBody("alice", uid)))
	if p["tenantId"] != "diku" || p["accessToken"] == "" || p["refreshToken"] == "" {
		t.Fatalf("sign: %v", p)
	}
	p2 := decode(post(PathRefresh, `{"refreshToken":"`+p["refreshToken"]+`"}`))
	if p2["refreshToken"] == p["refreshToken"] {
		t.Fatal("refresh did not rotate")
	}
	if resp := post(PathInvalidate, `{"refreshToken":"`+p2["refreshToken"]+`"}`); resp.Status != 204 || len(resp.Body) != 0 {
		t.Fatalf("invalidate: %d %s", resp.Status, resp.Body)
	}
	// A replay is 401 and carries the cause for the warn log.
	resp := post(PathRefresh, `{"refreshToken":"`+p["refreshToken"]+`"}`)
	var replay *tokencore.ReplayError
	if resp.Status != 401 || !errors.As(resp.Err, &replay) {
		t.Fatalf("replay: %d %v", resp.Status, resp.Err)
	}
	p3 := decode(post(PathSign, signBody("alice", uid)))
	withToken := func(r *Request) { r.AccessToken = p3["accessToken"]; r.Body = nil }
	if resp := post(PathInvalidateAll, "", withToken); resp.Status != 204 {
		t.Fatalf("invalidate-all: %d %s", resp.Status, resp.Body)
	}
	if resp := post(PathInvalidateAll, "", withToken); resp.Status != 401 || !errors.Is(resp.Err, tokencore.ErrTokenRevoked) {
		t.Fatalf("invalidate-all with a revoked token: %d %v", resp.Status, resp.Err)
	}
}

// TestHandleDefaultTenantForEveryEndpoint: the default tenant stands in
// for a missing X-Okapi-Tenant at /token/refresh as at every other
// endpoint. The handler used to pass refresh the raw header, so without
// it a token of another tenant was rotated (201) at a gateway whose
// default tenant is diku.
func TestHandleDefaultTenantForEveryEndpoint(t *testing.T) {
	clk := &clock{t: time.Unix(1_900_000_000, 0)}
	f := New(newTestEngine(t, clk), Config{DefaultTenant: "diku"})
	ctx := context.Background()
	other := mustSign(t, f, "other", "alice", uid)
	refresh := func(tok string) Response {
		return f.Handle(ctx, Request{Method: "POST", Path: PathRefresh, Body: body(`{"refreshToken":"` + tok + `"}`)})
	}
	if resp := refresh(other.RefreshToken); resp.Status != http.StatusForbidden || string(resp.Body) != "Invalid token" {
		t.Fatalf("another tenant's token without X-Okapi-Tenant: %d, want 403 Invalid token", resp.Status)
	}
	diku := mustSign(t, f, "diku", "alice", uid)
	if resp := refresh(diku.RefreshToken); resp.Status != http.StatusCreated {
		t.Fatalf("the default tenant's token: %d %s", resp.Status, resp.Body)
	}
}

// TestHandleStoreOutageRetryAfter: a store outage is a 503 with
// Retry-After in whole seconds.
func TestHandleStoreOutageRetryAfter(t *testing.T) {
	o := newFolioOutage(t)
	o.flaky.FailAll()
	resp := o.f.Handle(context.Background(), Request{Method: "POST", Path: PathSign, Tenant: "diku", TrustedSigner: true, Body: body(signBody("a", uid))})
	if resp.Status != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !errors.Is(resp.Err, tokencore.ErrStoreUnavailable) {
		t.Fatalf("%d %v %v", resp.Status, resp.Header, resp.Err)
	}
}
