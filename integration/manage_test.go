package integration

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func hexSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// tokenHash is the management API's identifier form of a token:
// base64url(SHA-256(token)) without padding.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// envelope checks Authlete's result envelope and returns the body.
func envelope(t *testing.T, r *response, status int, code, action string) map[string]any {
	t.Helper()
	expectStatus(t, r, status)
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", r.Header)
	}
	m := r.json(t)
	if code != "" && m["resultCode"] != code {
		t.Errorf("resultCode %v, want %s (%s)", m["resultCode"], code, r.Body)
	}
	if msg, _ := m["resultMessage"].(string); !strings.HasPrefix(msg, fmt.Sprintf("[%v] ", m["resultCode"])) {
		t.Errorf("resultMessage %q", msg)
	}
	if action != "" && m["action"] != action {
		t.Errorf("action %v, want %s (%s)", m["action"], action, r.Body)
	}
	return m
}

func TestManageOperatorAuthentication(t *testing.T) {
	g := startOAuthGateway(t, "")
	path := "/api/demo/auth/token/get/list"
	r := g.do("GET", path, nil)
	envelope(t, r, http.StatusUnauthorized, "A001202", "")
	if r.Header.Get("WWW-Authenticate") != `Bearer realm="tokengate-manage"` {
		t.Errorf("challenge %q", r.Header.Get("WWW-Authenticate"))
	}
	r = g.do("GET", path, nil, "Authorization", "Bearer wrong-key")
	envelope(t, r, http.StatusUnauthorized, "A001203", "")
	if !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("challenge %q", r.Header.Get("WWW-Authenticate"))
	}
	// The OAuth client secrets are not operator keys.
	envelope(t, g.do("GET", path, nil, "Authorization", basicAuth("web", "w3b")), http.StatusUnauthorized, "A001202", "")
	envelope(t, g.op("GET", "/auth/token/get/list", nil), http.StatusOK, "A091001", "OK")
	// Unknown API paths and wrong methods inside the prefix; other paths pass on.
	envelope(t, g.op("GET", "/auth/token/everything", nil), http.StatusNotFound, "", "NOT_FOUND")
	r = g.op("GET", "/auth/token/create", nil)
	envelope(t, r, http.StatusMethodNotAllowed, "", "")
	if r.Header.Get("Allow") != "POST" {
		t.Errorf("Allow %q", r.Header.Get("Allow"))
	}
	expectStatus(t, g.do("GET", "/api/other/auth/token/get/list", nil), http.StatusUnauthorized) // the proxy's 401
	// A body over the handler's limit (64 KiB) is the service's A001201.
	r = g.op("POST", "/auth/token/create", map[string]any{"subject": strings.Repeat("x", 70<<10)})
	if m := envelope(t, r, http.StatusBadRequest, "A001201", "BAD_REQUEST"); m["resultMessage"] != "[A001201] The request body is too large." {
		t.Errorf("oversized body: %v", m)
	}
}

// TestManageCreateRefreshIntrospectRevoke is the lifecycle of a token a
// login service creates: it refreshes at the token endpoint, introspects,
// is listed, and a revocation through the management API is enforced by
// the proxy on the next request.
func TestManageCreateRefreshIntrospectRevoke(t *testing.T) {
	g := startOAuthGateway(t, "")
	r := g.op("POST", "/auth/token/create", map[string]any{
		"grantType": "AUTHORIZATION_CODE", "clientId": "web", "subject": "alice", "scopes": []string{"openid", "api.read"},
		"accessTokenDuration": 300, "refreshTokenDuration": 3600, "properties": []map[string]any{{"key": "tier", "value": "gold"}},
	})
	m := envelope(t, r, http.StatusOK, "A109001", "OK")
	if m["expiresIn"] != 300.0 || m["tokenType"] != "Bearer" || m["subject"] != "alice" || m["grantType"] != "AUTHORIZATION_CODE" {
		t.Fatalf("create: %v", m)
	}
	at, rt := m["accessToken"].(string), m["refreshToken"].(string)
	h := upstreamHeaders(t, bearer(g, at))
	if h["X-Tokengate-Subject"][0] != "alice" || h["X-Tokengate-Client-Id"][0] != "web" {
		t.Errorf("upstream headers %v", h)
	}
	tr := mustToken(t, refreshAs(g, "web", rt, ""))
	intro := g.form("/oauth2/introspect", "token="+url.QueryEscape(tr.AccessToken), "Authorization", basicAuth("web", "w3b")).json(t)
	if intro["active"] != true || intro["sub"] != "alice" {
		t.Fatalf("introspection %v", intro)
	}
	list := envelope(t, g.op("GET", "/auth/token/get/list?subject=alice", nil), http.StatusOK, "A091001", "OK")
	toks := list["accessTokens"].([]any)
	if len(toks) != 1 {
		t.Fatalf("list %v", list)
	}
	e := toks[0].(map[string]any)
	if e["accessTokenHash"] != tokenHash(tr.AccessToken) || e["refreshTokenHash"] != tokenHash(tr.RefreshToken) || e["lastRefreshedAt"] == 0.0 ||
		e["properties"].([]any)[0].(map[string]any)["value"] != "gold" {
		t.Errorf("listed %v", e)
	}
	// Revoke by the refresh token's hash: the grant's access token is
	// refused by both protect handlers at once.
	rv := envelope(t, g.op("POST", "/auth/token/revoke", map[string]any{"refreshTokenIdentifier": tokenHash(tr.RefreshToken)}), http.StatusOK, "A312001", "")
	if rv["count"] != 1.0 {
		t.Errorf("revoke count %v", rv["count"])
	}
	expectStatus(t, bearer(g, tr.AccessToken), http.StatusUnauthorized)
	expectStatus(t, g.upstream("GET", "/site2/x", "Authorization", "Bearer "+tr.AccessToken), http.StatusUnauthorized)
	oauthError(t, refreshAs(g, "web", tr.RefreshToken, ""), 400, "invalid_grant")
	if m := g.form("/oauth2/introspect", "token="+url.QueryEscape(tr.AccessToken), "Authorization", basicAuth("web", "w3b")).json(t); m["active"] != false {
		t.Errorf("revoked token introspects as %v", m)
	}
	if list := envelope(t, g.op("GET", "/auth/token/get/list?subject=alice", nil), http.StatusOK, "", "OK"); list["totalCount"] != 0.0 {
		t.Errorf("revoked tokens are not listed: %v", list)
	}

	// Bulk revocation precedence: client+subject, client, subject.
	a := createToken(t, g, "web", "bob", "api.read")
	b := createToken(t, g, "post", "bob", "api.read")
	c := createToken(t, g, "cli", "carol", "api.read")
	rv = envelope(t, g.op("POST", "/auth/token/revoke", map[string]any{"clientIdentifier": "post", "subject": "bob"}), http.StatusOK, "A312001", "")
	if rv["count"] != 1.0 || bearer(g, b.AccessToken).Status != 401 || bearer(g, a.AccessToken).Status != 200 {
		t.Errorf("client+subject revocation: %v", rv)
	}
	rv = envelope(t, g.op("POST", "/auth/token/revoke", map[string]any{"subject": "bob"}), http.StatusOK, "A312001", "")
	if rv["count"] != 1.0 || bearer(g, a.AccessToken).Status != 401 || bearer(g, c.AccessToken).Status != 200 {
		t.Errorf("subject revocation: %v", rv)
	}
	envelope(t, g.op("POST", "/auth/token/revoke", map[string]any{}), http.StatusBadRequest, "", "BAD_REQUEST")
	// Form encoding works for the POST endpoints.
	fr := g.do("POST", "/api/demo/auth/token/revoke", "accessTokenIdentifier="+url.QueryEscape(c.AccessToken),
		"Authorization", "Bearer "+operatorKey, "Content-Type", "application/x-www-form-urlencoded")
	if rv := envelope(t, fr, http.StatusOK, "A312001", ""); rv["count"] != 1.0 || bearer(g, c.AccessToken).Status != 401 {
		t.Errorf("form revocation: %v", rv)
	}
}

func TestManageListWindowsAndHashIdentifiers(t *testing.T) {
	g := startOAuthGateway(t, "")
	var made []created
	for i := 0; i < 8; i++ {
		made = append(made, createToken(t, g, "web", "alice", "api.read"))
	}
	createToken(t, g, "post", "alice", "api.read")
	createToken(t, g, "cli", "bob", "api.read")
	// A FOLIO-style grant of the OAuth world is not created here; every
	// listed token below is an OAuth or management grant.
	list := func(q string) map[string]any {
		t.Helper()
		return envelope(t, g.op("GET", "/auth/token/get/list?"+q, nil), http.StatusOK, "A091001", "OK")
	}
	for _, tc := range []struct {
		q               string
		total, n        int
		start, end      int
		firstMadeIndex  int
		clientInEnvelop bool
	}{
		{"clientIdentifier=web&subject=alice", 8, 5, 0, 5, 0, true},
		{"clientIdentifier=web&subject=alice&start=5", 8, 3, 5, 10, 5, true},
		{"clientIdentifier=web&subject=alice&start=3&end=4", 8, 1, 3, 4, 3, true},
		{"subject=alice&start=0&end=20", 9, 9, 0, 20, 0, false},
		{"clientIdentifier=cli", 1, 1, 0, 5, -1, true},
		{"", 10, 5, 0, 5, 0, false},
		{"subject=nobody", 0, 0, 0, 5, -1, false},
	} {
		m := list(tc.q)
		toks := m["accessTokens"].([]any)
		if m["totalCount"] != float64(tc.total) || len(toks) != tc.n || m["start"] != float64(tc.start) || m["end"] != float64(tc.end) {
			t.Errorf("%q: totalCount %v, %d tokens, window [%v,%v)", tc.q, m["totalCount"], len(toks), m["start"], m["end"])
			continue
		}
		if tc.firstMadeIndex >= 0 {
			first := toks[0].(map[string]any)
			if first["accessTokenHash"] != tokenHash(made[tc.firstMadeIndex].AccessToken) {
				t.Errorf("%q: first element is not made[%d]", tc.q, tc.firstMadeIndex)
			}
		}
		if _, ok := m["client"]; ok != tc.clientInEnvelop {
			t.Errorf("%q: client %v", tc.q, m["client"])
		}
		raw, _ := json.Marshal(m)
		for _, c := range made {
			if strings.Contains(string(raw), c.AccessToken) || strings.Contains(string(raw), c.RefreshToken) {
				t.Fatalf("%q: a raw token value was listed", tc.q)
			}
		}
	}
	for _, q := range []string{"start=0&end=21", "start=-1", "start=4&end=2", "end=abc", "tokenStatus=EXPIRED"} {
		envelope(t, g.op("GET", "/auth/token/get/list?"+q, nil), http.StatusBadRequest, "", "BAD_REQUEST")
	}
	// The same token through every identifier form: hash and raw value.
	target := made[2]
	m := envelope(t, g.op("POST", "/auth/token/update", map[string]any{
		"accessTokenHash": tokenHash(target.AccessToken), "properties": []map[string]any{{"key": "k", "value": "v1"}},
	}), http.StatusOK, "A135001", "OK")
	if m["accessToken"] != nil {
		t.Errorf("a properties update must not mint a new access token: %v", m)
	}
	envelope(t, g.op("POST", "/auth/token/update", map[string]any{
		"refreshToken": target.RefreshToken, "properties": []map[string]any{{"key": "k", "value": "v2"}},
	}), http.StatusOK, "A135001", "OK")
	l := list("clientIdentifier=web&subject=alice&start=2&end=3")
	if p := l["accessTokens"].([]any)[0].(map[string]any)["properties"].([]any)[0].(map[string]any); p["value"] != "v2" {
		t.Errorf("properties after update %v", p)
	}
	// Delete by hash, then by value; unknown: 404.
	expectStatus(t, g.op("DELETE", "/auth/token/delete/"+tokenHash(made[0].AccessToken), nil), http.StatusNoContent)
	expectStatus(t, g.op("DELETE", "/auth/token/delete/"+made[1].AccessToken, nil), http.StatusNoContent)
	envelope(t, g.op("DELETE", "/auth/token/delete/"+made[1].AccessToken, nil), http.StatusNotFound, "", "NOT_FOUND")
	for _, c := range made[:2] {
		expectStatus(t, bearer(g, c.AccessToken), http.StatusUnauthorized)
		oauthError(t, refreshAs(g, "web", c.RefreshToken, ""), 400, "invalid_grant")
	}
	if l := list("clientIdentifier=web&subject=alice"); l["totalCount"] != 6.0 {
		t.Errorf("after two deletes: %v", l["totalCount"])
	}
}

func TestManageUpdateScopesAndExpiry(t *testing.T) {
	g := startOAuthGateway(t, "")
	c := createToken(t, g, "web", "alice", "openid api.read")
	// Scopes: the access token is a signed JWT, so a new one is minted and
	// the old one is refused from the next request on.
	m := envelope(t, g.op("POST", "/auth/token/update", map[string]any{
		"accessToken": c.AccessToken, "scopes": []string{"api.read", "api.write", "not-registered"},
	}), http.StatusOK, "A135001", "OK")
	newAT, _ := m["accessToken"].(string)
	if newAT == "" || fmt.Sprint(m["scopes"]) != "[api.read api.write]" {
		t.Fatalf("update: %v", m)
	}
	expectStatus(t, bearer(g, c.AccessToken), http.StatusUnauthorized)
	if h := upstreamHeaders(t, bearer(g, newAT)); h["X-Tokengate-Scope"][0] != "api.read api.write" {
		t.Errorf("scope header %v", h["X-Tokengate-Scope"])
	}
	if tr := mustToken(t, refreshAs(g, "web", c.RefreshToken, "")); tr.Scope != "api.read api.write" {
		t.Errorf("refresh after the scope update: %q", tr.Scope)
	} else {
		c.AccessToken, c.RefreshToken = tr.AccessToken, tr.RefreshToken
	}
	// The refresh token's expiry moves in place: 2 s from now, then it is dead.
	exp := time.Now().Add(2 * time.Second).UnixMilli()
	m = envelope(t, g.op("POST", "/auth/token/update", map[string]any{"refreshTokenHash": tokenHash(c.RefreshToken), "refreshTokenExpiresAt": exp}),
		http.StatusOK, "A135001", "OK")
	if m["refreshTokenExpiresAt"] != float64(exp) || m["accessToken"] != nil {
		t.Errorf("refresh expiry update %v", m)
	}
	time.Sleep(2100 * time.Millisecond)
	oauthError(t, refreshAs(g, "web", c.RefreshToken, ""), 400, "invalid_grant")
	for _, body := range []map[string]any{
		{"scopes": []string{"api.read"}},
		{"accessToken": "unknown", "scopes": []string{}},
		{"accessTokenHash": tokenHash(c.AccessToken), "accessTokenPersistent": true},
	} {
		r := g.op("POST", "/auth/token/update", body)
		if r.Status != 400 && r.Status != 404 {
			t.Errorf("update %v: %d %s", body, r.Status, r.Body)
		}
	}
}

func TestManageReissueIDToken(t *testing.T) {
	g := startOAuthGateway(t, "")
	c := createToken(t, g, "web", "alice", "openid profile")
	m := envelope(t, g.op("POST", "/idtoken/reissue", map[string]any{
		"accessToken": c.AccessToken, "refreshToken": c.RefreshToken, "claims": `{"email":"alice@example.org"}`,
	}), http.StatusOK, "A368001", "OK")
	claims := verifyIDToken(t, g, m["idToken"].(string))
	if claims["sub"] != "alice" || claims["email"] != "alice@example.org" || claims["azp"] != "web" {
		t.Errorf("reissued ID token claims %v", claims)
	}
	var content tokenResp
	if err := json.Unmarshal([]byte(m["responseContent"].(string)), &content); err != nil || content.IDToken != m["idToken"] || content.AccessToken != c.AccessToken {
		t.Errorf("responseContent %v", m["responseContent"])
	}
	p := createToken(t, g, "post", "bob", "openid")
	for _, body := range []map[string]any{
		{"accessToken": c.AccessToken},
		{"accessToken": p.AccessToken, "refreshToken": p.RefreshToken},
		{"accessToken": c.AccessToken, "refreshToken": c.RefreshToken, "sub": "mallory"},
		{"accessToken": c.AccessToken, "refreshToken": c.RefreshToken, "claims": `{"iss":"https://evil.example"}`},
	} {
		envelope(t, g.op("POST", "/idtoken/reissue", body), http.StatusBadRequest, "", "CALLER_ERROR")
	}
}
