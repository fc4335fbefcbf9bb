package integration

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// oauthCaddyfile is a gateway with the OAuth endpoints, the management
// API, and the proxy, plus a second, independent tokengate_protect in
// the upstream site (/site2/*): both share the one tokengate app, so a
// revocation made through the endpoints must stop a token in both.
//
// The demo clients of issue §7, plus `short` (secret from the environment,
// 1 s access tokens, 4 s refresh tokens) and a resource server.
const oauthCaddyfile = `{
	admin 127.0.0.1:{{.Admin}}
	tokengate {
		store bolt {{.Dir}}/state/tokengate.db
		issuer http://127.0.0.1:{{.GW}}
		operator_key_hash sha256:4a7c449d22a99026fac16a47621ff68792ff589f72334ea3950ce186a5615e9a
		oauth {
			client web {
				auth client_secret_basic
				secret_hash sha256:1a00f12f4768080ebd6bc0943f5c71eaf8e7205c0c3d3f32c95c473bf04f2219
				grant_types refresh_token authorization_code
				scopes openid profile api.read api.write
				id_token_reissue
			}
			client post {
				auth client_secret_post
				secret_hash sha256:2970c87b12044fb98bc61d7020bbb474149600691e1703fdd31febcb493b2ac6
				grant_types refresh_token authorization_code
				scopes openid profile api.read
			}
			client cli {
				auth none
				grant_types refresh_token authorization_code
				scopes api.read
			}
			client svc {
				auth client_secret_basic
				secret_hash sha256:8acc8c0c32ada9bb46fe682f50331fe8ba68fbf93d6ae0125ba980abb4df89f1
				grant_types client_credentials
				scopes api.read
			}
			client short {
				secret {env.TG_SHORT_SECRET}
				grant_types refresh_token authorization_code client_credentials
				scopes api.read
				access_ttl 1s
				refresh_ttl 4s
			}
			resource_server orders sha256:b6e2b1f2b3ba9a6f0e2e0f8b5d2b5f8d3c9a4e0f6a7b8c9d0e1f2a3b4c5d6e7f
			{{.Grace}}
		}
	}
}
http://127.0.0.1:{{.GW}} {
	bind 127.0.0.1
	tokengate_jwks
	tokengate_protect
	tokengate_oauth
	tokengate_manage {
		prefix /api/demo
	}
	reverse_proxy 127.0.0.1:{{.Up}}
}
http://127.0.0.1:{{.Up}} {
	bind 127.0.0.1
	route /site2/* {
		tokengate_protect
		tokengate_echo
	}
	tokengate_echo
}
`

// rsSecret is the resource server's secret; its sha256 is in the Caddyfile.
const rsSecret = "orders-rs-secret"

const operatorKey = "demo-operator-key"

// startOAuthGateway starts oauthCaddyfile; grace is an extra line of the
// oauth block (e.g. "refresh_grace 5s").
func startOAuthGateway(t *testing.T, grace string) *gateway {
	t.Helper()
	t.Setenv("TG_SHORT_SECRET", "sh0rt-secret")
	cf := strings.Replace(oauthCaddyfile, "{{.Grace}}", grace, 1)
	cf = strings.Replace(cf, "sha256:b6e2b1f2b3ba9a6f0e2e0f8b5d2b5f8d3c9a4e0f6a7b8c9d0e1f2a3b4c5d6e7f", sha256Hash(rsSecret), 1)
	return startGateway(t, cf, "/.well-known/oauth-authorization-server")
}

func sha256Hash(s string) string {
	return "sha256:" + hexSHA256(s)
}

func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// form POSTs a form body to the gateway.
func (g *gateway) form(path, body string, headers ...string) *response {
	g.t.Helper()
	return g.do("POST", path, body, append([]string{"Content-Type", "application/x-www-form-urlencoded"}, headers...)...)
}

// upstream sends a request to the upstream site directly (its own
// tokengate_protect under /site2/).
func (g *gateway) upstream(method, path string, headers ...string) *response {
	g.t.Helper()
	return doRequest(g.t, g.client, method, "http://127.0.0.1:"+itoa(g.ports.Up)+path, nil, headers...)
}

// op calls the management API as the demo operator.
func (g *gateway) op(method, path string, body any) *response {
	g.t.Helper()
	headers := []string{"Authorization", "Bearer " + operatorKey}
	if body != nil {
		headers = append(headers, "Content-Type", "application/json")
	}
	return g.do(method, "/api/demo"+path, body, headers...)
}

type created struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	TokenID      string `json:"tokenId"`
}

// createToken is what a login service does after authenticating a user:
// POST /api/demo/auth/token/create.
func createToken(t *testing.T, g *gateway, client, subject, scopes string) created {
	t.Helper()
	r := g.op("POST", "/auth/token/create", map[string]any{
		"grantType": "AUTHORIZATION_CODE", "clientId": client, "subject": subject, "scopes": strings.Fields(scopes),
	})
	expectStatus(t, r, http.StatusOK)
	var c created
	if err := json.Unmarshal(r.Body, &c); err != nil {
		t.Fatal(err)
	}
	if c.AccessToken == "" {
		t.Fatalf("create answered %s", r.Body)
	}
	return c
}

type tokenResp struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	IDToken      string `json:"id_token"`
}

// refreshAs runs the refresh grant with one client-authentication method.
func refreshAs(g *gateway, client, rt, extra string) *response {
	g.t.Helper()
	body := "grant_type=refresh_token&refresh_token=" + url.QueryEscape(rt)
	if extra != "" {
		body += "&" + extra
	}
	switch client {
	case "web":
		return g.form("/oauth2/token", body, "Authorization", basicAuth("web", "w3b"))
	case "post":
		return g.form("/oauth2/token", body+"&client_id=post&client_secret=p0st")
	case "cli":
		return g.form("/oauth2/token", body+"&client_id=cli")
	case "short":
		return g.form("/oauth2/token", body, "Authorization", basicAuth("short", "sh0rt-secret"))
	}
	g.t.Fatalf("no credentials for %s", client)
	return nil
}

func mustToken(t *testing.T, r *response) tokenResp {
	t.Helper()
	expectStatus(t, r, http.StatusOK)
	expectTokenHeaders(t, r)
	var tr tokenResp
	if err := json.Unmarshal(r.Body, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

// expectTokenHeaders checks the headers of every token-endpoint answer.
func expectTokenHeaders(t *testing.T, r *response) {
	t.Helper()
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Pragma") != "no-cache" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", r.Header)
	}
}

// oauthError checks an RFC 6749 §5.2 error answer.
func oauthError(t *testing.T, r *response, status int, code string) map[string]any {
	t.Helper()
	expectStatus(t, r, status)
	expectTokenHeaders(t, r)
	m := r.json(t)
	if m["error"] != code {
		t.Fatalf("error %v, want %s (body %s)", m["error"], code, r.Body)
	}
	return m
}

// bearer calls the proxied upstream with an access token.
func bearer(g *gateway, token string) *response {
	return g.do("GET", "/orders", nil, "Authorization", "Bearer "+token)
}

func TestOAuthRefreshEachClientAuthMethod(t *testing.T) {
	g := startOAuthGateway(t, "")
	for _, client := range []string{"web", "post", "cli"} {
		c := createToken(t, g, client, "alice-"+client, "api.read")
		rt, at := c.RefreshToken, c.AccessToken
		for i := 0; i < 2; i++ {
			tr := mustToken(t, refreshAs(g, client, rt, ""))
			if tr.TokenType != "Bearer" || tr.ExpiresIn != 600 || tr.Scope != "api.read" || tr.RefreshToken == rt || tr.AccessToken == at {
				t.Fatalf("%s: token response %+v", client, tr)
			}
			h := upstreamHeaders(t, bearer(g, tr.AccessToken))
			if h["X-Tokengate-Subject"][0] != "alice-"+client || h["X-Tokengate-Client-Id"][0] != client || h["X-Tokengate-Scope"][0] != "api.read" {
				t.Errorf("%s: upstream headers %v", client, h)
			}
			rt, at = tr.RefreshToken, tr.AccessToken
		}
	}
}

func TestOAuthTokenEndpointErrors(t *testing.T) {
	g := startOAuthGateway(t, "")
	web := createToken(t, g, "web", "alice", "openid api.read")
	pst := createToken(t, g, "post", "bob", "api.read")
	rt := "refresh_token=" + url.QueryEscape(web.RefreshToken)
	webBasic := []string{"Authorization", basicAuth("web", "w3b")}

	tests := []struct {
		name      string
		method    string
		body      string
		headers   []string
		status    int
		code      string
		challenge string // expected WWW-Authenticate prefix; "" = none
	}{
		{"GET", "GET", "", webBasic, 405, "invalid_request", ""},
		{"JSON body", "POST", `{"grant_type":"refresh_token"}`, append([]string{"Content-Type", "application/json"}, webBasic...), 400, "invalid_request", ""},
		{"missing grant_type", "POST", rt, webBasic, 400, "invalid_request", ""},
		{"empty grant_type", "POST", "grant_type=&" + rt, webBasic, 400, "invalid_request", ""},
		{"duplicated parameter", "POST", "grant_type=refresh_token&" + rt + "&" + rt, webBasic, 400, "invalid_request", ""},
		{"two client authentication methods", "POST", "grant_type=refresh_token&" + rt + "&client_secret=w3b", webBasic, 400, "invalid_request", ""},
		{"unsupported grant type", "POST", "grant_type=password&username=a&password=b", webBasic, 400, "unsupported_grant_type", ""},
		{"wrong Basic secret", "POST", "grant_type=refresh_token&" + rt, []string{"Authorization", basicAuth("web", "nope")}, 401, "invalid_client", `Basic error="invalid_client"`},
		{"unknown Basic client", "POST", "grant_type=refresh_token&" + rt, []string{"Authorization", basicAuth("eve", "x")}, 401, "invalid_client", `Basic error="invalid_client"`},
		{"malformed Basic header", "POST", "grant_type=refresh_token&" + rt, []string{"Authorization", "Basic !!!"}, 401, "invalid_client", `Basic error="invalid_client"`},
		{"unknown client_secret_post client", "POST", "grant_type=refresh_token&" + rt + "&client_id=eve&client_secret=x", nil, 400, "invalid_client", ""},
		{"no credentials", "POST", "grant_type=refresh_token&" + rt, nil, 401, "invalid_client", `Basic error="invalid_client"`},
		{"client without the refresh grant", "POST", "grant_type=refresh_token&" + rt, []string{"Authorization", basicAuth("svc", "s3c")}, 400, "unauthorized_client", ""},
		{"missing refresh_token", "POST", "grant_type=refresh_token", webBasic, 400, "invalid_request", ""},
		{"invalid refresh token", "POST", "grant_type=refresh_token&refresh_token=abc", webBasic, 400, "invalid_grant", ""},
		{"another client's refresh token", "POST", "grant_type=refresh_token&refresh_token=" + url.QueryEscape(pst.RefreshToken), webBasic, 400, "invalid_grant", ""},
		{"widened scope", "POST", "grant_type=refresh_token&" + rt + "&scope=api.write", webBasic, 400, "invalid_scope", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.headers
			if tt.method == "POST" && !containsHeader(h, "Content-Type") {
				h = append([]string{"Content-Type", "application/x-www-form-urlencoded"}, h...)
			}
			var body any
			if tt.body != "" {
				body = tt.body
			}
			r := g.do(tt.method, "/oauth2/token", body, h...)
			m := oauthError(t, r, tt.status, tt.code)
			if desc, ok := m["error_description"]; ok && (desc == "" || strings.ContainsAny(desc.(string), "\"\\")) {
				t.Errorf("error_description %q", desc)
			}
			got := r.Header.Get("WWW-Authenticate")
			if (tt.challenge == "") != (got == "") || !strings.HasPrefix(got, tt.challenge) {
				t.Errorf("WWW-Authenticate %q, want prefix %q", got, tt.challenge)
			}
			if tt.status == 405 && r.Header.Get("Allow") != "POST" {
				t.Errorf("Allow %q", r.Header.Get("Allow"))
			}
		})
	}
	// Nothing above consumed a token: both still refresh.
	mustToken(t, refreshAs(g, "web", web.RefreshToken, ""))
	mustToken(t, refreshAs(g, "post", pst.RefreshToken, ""))
	// An oversized body is refused before it is read in full.
	big := "grant_type=refresh_token&refresh_token=" + strings.Repeat("a", 70<<10)
	oauthError(t, g.form("/oauth2/token", big, webBasic...), 400, "invalid_request")
}

func containsHeader(h []string, name string) bool {
	for i := 0; i < len(h); i += 2 {
		if strings.EqualFold(h[i], name) {
			return true
		}
	}
	return false
}

func TestOAuthScopeNarrowing(t *testing.T) {
	g := startOAuthGateway(t, "")
	c := createToken(t, g, "web", "alice", "openid profile api.read api.write")
	tr := mustToken(t, refreshAs(g, "web", c.RefreshToken, "scope=api.read"))
	if tr.Scope != "api.read" || tr.IDToken != "" {
		t.Fatalf("narrowed: scope %q, id_token %v", tr.Scope, tr.IDToken != "")
	}
	if h := upstreamHeaders(t, bearer(g, tr.AccessToken)); h["X-Tokengate-Scope"][0] != "api.read" {
		t.Errorf("upstream scope %v", h["X-Tokengate-Scope"])
	}
	// The grant keeps its scope: the next refresh without scope gets it all.
	tr = mustToken(t, refreshAs(g, "web", tr.RefreshToken, ""))
	if tr.Scope != "openid profile api.read api.write" || tr.IDToken == "" {
		t.Fatalf("after narrowing: scope %q, id_token %v", tr.Scope, tr.IDToken != "")
	}
	// Widening is refused, and does not consume the token.
	oauthError(t, refreshAs(g, "web", tr.RefreshToken, "scope=admin"), 400, "invalid_scope")
	mustToken(t, refreshAs(g, "web", tr.RefreshToken, "scope=profile"))
}

func TestOAuthReplayRevokesGrantAtTheProxy(t *testing.T) {
	g := startOAuthGateway(t, "")
	c := createToken(t, g, "cli", "alice", "api.read")
	other := createToken(t, g, "cli", "alice", "api.read")
	tr := mustToken(t, refreshAs(g, "cli", c.RefreshToken, ""))
	upstreamHeaders(t, bearer(g, tr.AccessToken))
	upstreamHeaders(t, g.upstream("GET", "/site2/x", "Authorization", "Bearer "+tr.AccessToken))

	// The rotated token comes back: the whole grant is revoked.
	m := oauthError(t, refreshAs(g, "cli", c.RefreshToken, ""), 400, "invalid_grant")
	if !strings.Contains(m["error_description"].(string), "already used") {
		t.Errorf("description %v", m["error_description"])
	}
	// The access token issued last is refused on the next request, by both
	// tokengate_protect handlers; the newest refresh token is dead too.
	for _, r := range []*response{bearer(g, tr.AccessToken), g.upstream("GET", "/site2/x", "Authorization", "Bearer "+tr.AccessToken)} {
		expectStatus(t, r, http.StatusUnauthorized)
		if !strings.Contains(r.Header.Get("WWW-Authenticate"), "revoked") {
			t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
		}
	}
	oauthError(t, refreshAs(g, "cli", tr.RefreshToken, ""), 400, "invalid_grant")
	// Another grant of the same user is untouched.
	upstreamHeaders(t, bearer(g, other.AccessToken))
	mustToken(t, refreshAs(g, "cli", other.RefreshToken, ""))

	// The revocation survives a restart.
	g.restart()
	expectStatus(t, bearer(g, tr.AccessToken), http.StatusUnauthorized)
	oauthError(t, refreshAs(g, "cli", tr.RefreshToken, ""), 400, "invalid_grant")
}

func concurrentRefreshes(t *testing.T, g *gateway, rt string, n int) []*response {
	t.Helper()
	out := make([]*response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = refreshAs(g, "web", rt, "")
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func TestOAuthConcurrentRefreshOneWinner(t *testing.T) {
	g := startOAuthGateway(t, "")
	c := createToken(t, g, "web", "alice", "api.read")
	var winners []tokenResp
	for _, r := range concurrentRefreshes(t, g, c.RefreshToken, 30) {
		switch r.Status {
		case http.StatusOK:
			winners = append(winners, mustToken(t, r))
		case http.StatusBadRequest:
			oauthError(t, r, 400, "invalid_grant")
		default:
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d refreshes succeeded, want exactly 1", len(winners))
	}
	// Without a grace window the other presentations were replays.
	expectStatus(t, bearer(g, winners[0].AccessToken), http.StatusUnauthorized)
}

func TestOAuthGraceWindow(t *testing.T) {
	g := startOAuthGateway(t, "refresh_grace 10s")
	c := createToken(t, g, "web", "alice", "openid api.read")
	pairs := map[string]bool{}
	for _, r := range concurrentRefreshes(t, g, c.RefreshToken, 20) {
		tr := mustToken(t, r)
		pairs[tr.AccessToken+"|"+tr.RefreshToken+"|"+tr.IDToken] = true
	}
	if len(pairs) != 1 {
		t.Fatalf("within the grace window every presentation gets the same answer; got %d", len(pairs))
	}
	for k := range pairs {
		at, rt := strings.Split(k, "|")[0], strings.Split(k, "|")[1]
		upstreamHeaders(t, bearer(g, at))
		mustToken(t, refreshAs(g, "web", rt, ""))
	}
}

func TestOAuthClientCredentials(t *testing.T) {
	g := startOAuthGateway(t, "")
	svc := []string{"Authorization", basicAuth("svc", "s3c")}
	tr := mustToken(t, g.form("/oauth2/token", "grant_type=client_credentials", svc...))
	if tr.RefreshToken != "" || tr.IDToken != "" || tr.Scope != "api.read" || tr.ExpiresIn != 600 {
		t.Fatalf("client credentials %+v", tr)
	}
	h := upstreamHeaders(t, bearer(g, tr.AccessToken))
	if h["X-Tokengate-Subject"][0] != "svc" || h["X-Tokengate-Client-Id"][0] != "svc" {
		t.Errorf("upstream headers %v", h)
	}
	oauthError(t, g.form("/oauth2/token", "grant_type=client_credentials&scope=api.write", svc...), 400, "invalid_scope")
	oauthError(t, g.form("/oauth2/token", "grant_type=client_credentials", "Authorization", basicAuth("web", "w3b")), 400, "unauthorized_client")
	oauthError(t, g.form("/oauth2/token", "grant_type=client_credentials&client_id=cli"), 400, "unauthorized_client")
	// The secret of `short` came from the environment and was hashed.
	mustToken(t, g.form("/oauth2/token", "grant_type=client_credentials", "Authorization", basicAuth("short", "sh0rt-secret")))
	oauthError(t, g.form("/oauth2/token", "grant_type=client_credentials", "Authorization", basicAuth("short", "{env.TG_SHORT_SECRET}")), 401, "invalid_client")
	// Revocable like any token.
	expectStatus(t, g.form("/oauth2/revoke", "token="+tr.AccessToken, svc...), http.StatusOK)
	expectStatus(t, bearer(g, tr.AccessToken), http.StatusUnauthorized)
}

func TestOAuthRevocation(t *testing.T) {
	g := startOAuthGateway(t, "")
	webBasic := []string{"Authorization", basicAuth("web", "w3b")}
	revoke := func(token string, extra string, headers ...string) *response {
		body := "token=" + url.QueryEscape(token)
		if extra != "" {
			body += "&" + extra
		}
		return g.form("/oauth2/revoke", body, headers...)
	}
	for _, which := range []string{"access", "refresh"} {
		c := createToken(t, g, "web", "alice", "api.read")
		tr := mustToken(t, refreshAs(g, "web", c.RefreshToken, ""))
		upstreamHeaders(t, g.upstream("GET", "/site2/x", "Authorization", "Bearer "+tr.AccessToken))
		tok := tr.AccessToken
		if which == "refresh" {
			tok = tr.RefreshToken
		}
		// token_type_hint is only a hint: a wrong or unknown one changes nothing.
		r := revoke(tok, "token_type_hint=something_else", webBasic...)
		expectStatus(t, r, http.StatusOK)
		expectTokenHeaders(t, r)
		// Revoking either token revoked the grant: refused by both handlers.
		expectStatus(t, bearer(g, tr.AccessToken), http.StatusUnauthorized)
		expectStatus(t, g.upstream("GET", "/site2/x", "Authorization", "Bearer "+tr.AccessToken), http.StatusUnauthorized)
		oauthError(t, refreshAs(g, "web", tr.RefreshToken, ""), 400, "invalid_grant")
	}
	// A public client revokes with its client_id; unknown tokens are a 200.
	cl := createToken(t, g, "cli", "carol", "api.read")
	expectStatus(t, revoke(cl.RefreshToken, "client_id=cli"), http.StatusOK)
	expectStatus(t, bearer(g, cl.AccessToken), http.StatusUnauthorized)
	expectStatus(t, revoke("not-a-token", "", webBasic...), http.StatusOK)
	// Another client's token is refused, and stays valid.
	p := createToken(t, g, "post", "bob", "api.read")
	oauthError(t, revoke(p.AccessToken, "", webBasic...), 400, "invalid_grant")
	upstreamHeaders(t, bearer(g, p.AccessToken))
	oauthError(t, revoke(p.AccessToken, "", "Authorization", basicAuth("web", "x")), 401, "invalid_client")
	oauthError(t, revoke("", "", webBasic...), 400, "invalid_request")
	oauthError(t, g.do("GET", "/oauth2/revoke", nil), 405, "invalid_request")
}

func TestOAuthIntrospection(t *testing.T) {
	g := startOAuthGateway(t, "")
	webBasic := []string{"Authorization", basicAuth("web", "w3b")}
	rs := []string{"Authorization", basicAuth("orders", rsSecret)}
	introspect := func(token string, headers ...string) map[string]any {
		t.Helper()
		r := g.form("/oauth2/introspect", "token="+url.QueryEscape(token), headers...)
		expectStatus(t, r, http.StatusOK)
		expectTokenHeaders(t, r)
		return r.json(t)
	}
	inactive := func(name string, m map[string]any) {
		t.Helper()
		if len(m) != 1 || m["active"] != false {
			t.Errorf("%s: %v, want exactly {\"active\":false}", name, m)
		}
	}
	c := createToken(t, g, "web", "alice", "openid api.read")
	m := introspect(c.AccessToken, webBasic...)
	want := map[string]any{"active": true, "scope": "openid api.read", "client_id": "web", "sub": "alice", "token_type": "Bearer",
		"iss": "http://127.0.0.1:" + itoa(g.ports.GW), "jti": c.TokenID}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("introspection %s = %v, want %v", k, m[k], v)
		}
	}
	if exp, iat := m["exp"].(float64), m["iat"].(float64); exp-iat != 600 {
		t.Errorf("exp - iat = %v", exp-iat)
	}
	if m := introspect(c.RefreshToken, webBasic...); m["active"] != true || m["token_type"] != "refresh_token" {
		t.Errorf("refresh token: %v", m)
	}
	// A resource server sees every client's tokens; a client only its own.
	p := createToken(t, g, "post", "bob", "api.read")
	if m := introspect(p.AccessToken, rs...); m["active"] != true || m["client_id"] != "post" {
		t.Errorf("resource server: %v", m)
	}
	inactive("foreign access token", introspect(p.AccessToken, webBasic...))
	inactive("foreign refresh token", introspect(p.RefreshToken, webBasic...))
	inactive("unknown token", introspect("eyJ.not.atoken", webBasic...))
	// Revoked: through the revocation endpoint.
	expectStatus(t, g.form("/oauth2/revoke", "token="+url.QueryEscape(c.RefreshToken), webBasic...), http.StatusOK)
	inactive("revoked access token", introspect(c.AccessToken, webBasic...))
	inactive("revoked refresh token", introspect(c.RefreshToken, rs...))
	// Rotated and expired: `short` has 1 s access and 4 s refresh tokens.
	sc := createToken(t, g, "short", "dave", "api.read")
	tr := mustToken(t, refreshAs(g, "short", sc.RefreshToken, ""))
	inactive("rotated refresh token", introspect(sc.RefreshToken, rs...))
	time.Sleep(2100 * time.Millisecond)
	inactive("expired access token", introspect(tr.AccessToken, rs...))
	expectStatus(t, bearer(g, tr.AccessToken), http.StatusUnauthorized)
	if m := introspect(tr.RefreshToken, rs...); m["active"] != true {
		t.Errorf("the refresh token lives 4 s: %v", m)
	}
	time.Sleep(2500 * time.Millisecond)
	inactive("expired refresh token", introspect(tr.RefreshToken, rs...))
	oauthError(t, refreshAs(g, "short", tr.RefreshToken, ""), 400, "invalid_grant")

	// Callers must authenticate; public clients may not introspect.
	oauthError(t, g.form("/oauth2/introspect", "client_id=cli&token="+url.QueryEscape(p.AccessToken)), 401, "invalid_client")
	oauthError(t, g.form("/oauth2/introspect", "token="+url.QueryEscape(p.AccessToken)), 401, "invalid_client")
	oauthError(t, g.form("/oauth2/introspect", "token="+url.QueryEscape(p.AccessToken), "Authorization", basicAuth("orders", "wrong")), 401, "invalid_client")
	oauthError(t, g.form("/oauth2/introspect", "", rs...), 400, "invalid_request")
}

func TestOAuthMetadataJWKSAndIDToken(t *testing.T) {
	g := startOAuthGateway(t, "")
	issuer := "http://127.0.0.1:" + itoa(g.ports.GW)
	var docs []map[string]any
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		r := g.do("GET", path, nil)
		expectStatus(t, r, http.StatusOK)
		m := r.json(t)
		docs = append(docs, m)
		if m["issuer"] != issuer || m["token_endpoint"] != issuer+"/oauth2/token" || m["revocation_endpoint"] != issuer+"/oauth2/revoke" ||
			m["introspection_endpoint"] != issuer+"/oauth2/introspect" || m["jwks_uri"] != issuer+"/.well-known/jwks.json" {
			t.Errorf("%s: %v", path, m)
		}
		if gt := m["grant_types_supported"].([]any); len(gt) != 2 || gt[0] != "refresh_token" || gt[1] != "client_credentials" {
			t.Errorf("grant_types_supported %v", gt)
		}
		// RS256 (mandatory, OpenID Connect Discovery §3; the auto RS256 key
		// is added for an OpenID provider) and ES256 (the auto key).
		if algs := m["id_token_signing_alg_values_supported"].([]any); len(algs) != 2 || algs[0] != "RS256" || algs[1] != "ES256" {
			t.Errorf("id_token_signing_alg_values_supported %v", algs)
		}
	}
	// Both well-known paths serve one document (RFC 8414 and OIDC Discovery).
	if len(docs) != 2 || !reflect.DeepEqual(docs[0], docs[1]) {
		t.Errorf("the two metadata documents differ:\n%v\n%v", docs[0], docs[1])
	}
	expectStatus(t, g.do("POST", "/.well-known/openid-configuration", nil), http.StatusMethodNotAllowed)

	// The ID token of a refresh verifies with the key the JWKS publishes.
	authTime := time.Now().Add(-time.Hour).Unix()
	r := g.op("POST", "/auth/token/create", map[string]any{
		"grantType": "AUTHORIZATION_CODE", "clientId": "web", "subject": "alice",
		"scopes": []string{"openid", "profile"}, "authTime": authTime, "acr": "urn:example:loa:2",
	})
	expectStatus(t, r, http.StatusOK)
	var c created
	_ = json.Unmarshal(r.Body, &c)
	tr := mustToken(t, refreshAs(g, "web", c.RefreshToken, ""))
	claims := verifyIDToken(t, g, tr.IDToken)
	for k, v := range map[string]any{"iss": issuer, "sub": "alice", "azp": "web", "auth_time": float64(authTime), "acr": "urn:example:loa:2"} {
		if claims[k] != v {
			t.Errorf("ID token %s = %v, want %v", k, claims[k], v)
		}
	}
	if aud, ok := claims["aud"].([]any); !ok || len(aud) != 1 || aud[0] != "web" {
		t.Errorf("aud = %v", claims["aud"])
	}
	if _, ok := claims["nonce"]; ok {
		t.Error("nonce in a refreshed ID token")
	}
	if iat := int64(claims["iat"].(float64)); time.Since(time.Unix(iat, 0)) > time.Minute {
		t.Errorf("iat %d is not the new issue time", iat)
	}
	// A second refresh: same iss, sub, aud, auth_time, azp.
	tr2 := mustToken(t, refreshAs(g, "web", tr.RefreshToken, ""))
	claims2 := verifyIDToken(t, g, tr2.IDToken)
	for _, k := range []string{"iss", "sub", "auth_time", "azp"} {
		if claims2[k] != claims[k] {
			t.Errorf("%s changed between refreshes", k)
		}
	}
	// The ID token is not a bearer token.
	expectStatus(t, bearer(g, tr.IDToken), http.StatusUnauthorized)
	// post may not receive reissued ID tokens.
	p := createToken(t, g, "post", "bob", "openid api.read")
	if tr := mustToken(t, refreshAs(g, "post", p.RefreshToken, "")); tr.IDToken != "" {
		t.Error("ID token for a client without id_token_reissue")
	}
}

// verifyIDToken checks an ID token of client web as a relying party: the
// JWKS is fetched over HTTP and the key is chosen by kid; the key decides
// the algorithm, and web registered none, so it must be RS256 (OpenID
// Connect's default).
func verifyIDToken(t *testing.T, g *gateway, idToken string) jwt.MapClaims {
	t.Helper()
	if idToken == "" {
		t.Fatal("no id_token")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(g.do("GET", "/.well-known/jwks.json", nil).Body, &set); err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(idToken, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		keys := set.Key(kid)
		if len(keys) != 1 || keys[0].Algorithm != tok.Method.Alg() {
			t.Fatalf("kid %q / alg %s not in the JWKS", kid, tok.Method.Alg())
		}
		return keys[0].Key, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience("web"), jwt.WithIssuer("http://127.0.0.1:"+itoa(g.ports.GW)), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("ID token does not verify against the JWKS: %v", err)
	}
	return claims
}

// TestOAuthNeedsAsymmetricKeyForOIDC: a FOLIO secret cannot sign ID tokens
// a relying party could verify. With it as the only key, an OpenID
// provider gets the auto RS256 key for clients of the default algorithm;
// a client that asks for ES256 has no key, and provisioning fails with a
// clear message.
func TestOAuthNeedsAsymmetricKeyForOIDC(t *testing.T) {
	dir := t.TempDir()
	cf := `{
	tokengate {
		key folio_secret {env.TG_IT_FOLIO_SECRET}
		store memory
		issuer https://auth.example.org
		oauth {
			client web {
				secret_hash ` + sha256Hash("w3b") + `
				grant_types refresh_token
				scopes openid
				id_token_signed_response_alg ES256
			}
		}
	}
}
:0 {
	tokengate_oauth
}
`
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddyBin, "validate", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "HOME="+dir, itFolioSecret)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "asymmetric signing key") || !strings.Contains(string(out), "ES256") {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	// The default algorithm, RS256: the auto RS256 key signs.
	rs := strings.Replace(cf, "id_token_signed_response_alg ES256", "", 1)
	if err := os.WriteFile(path, []byte(rs), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(caddyBin, "validate", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "HOME="+dir, itFolioSecret)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("validate with an RS256 client: %v\n%s", err, out)
	}
	// A client secret must not be written literally.
	literal := strings.Replace(cf, "secret_hash "+sha256Hash("w3b"), "secret w3b", 1)
	if err := os.WriteFile(path, []byte(literal), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(caddyBin, "adapt", "--config", path, "--adapter", "caddyfile").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "placeholder") {
		t.Fatalf("adapt with a literal secret: %v\n%s", err, out)
	}
}

// TestOAuthDemoWalkthrough runs the README's OAuth walkthrough against
// Caddyfile.example as shipped.
func TestOAuthDemoWalkthrough(t *testing.T) {
	g := startDemo(t, "/.well-known/openid-configuration")

	// 1. The login service creates tokens for alice (client web).
	c := createToken(t, g, "web", "alice", "openid profile api.read")
	// 2. Refresh with each client-authentication method.
	tr := mustToken(t, refreshAs(g, "web", c.RefreshToken, "scope=openid api.read"))
	verifyIDToken(t, g, tr.IDToken)
	pc := createToken(t, g, "post", "bob", "api.read")
	mustToken(t, refreshAs(g, "post", pc.RefreshToken, ""))
	cc := createToken(t, g, "cli", "carol", "api.read")
	mustToken(t, refreshAs(g, "cli", cc.RefreshToken, ""))
	mustToken(t, g.form("/oauth2/token", "grant_type=client_credentials", "Authorization", basicAuth("svc", "s3c")))
	// 3. Introspect, call the upstream, revoke, refused.
	r := g.form("/oauth2/introspect", "token="+url.QueryEscape(tr.AccessToken), "Authorization", basicAuth("web", "w3b"))
	if m := r.json(t); m["active"] != true || m["sub"] != "alice" {
		t.Fatalf("introspection %v", m)
	}
	upstreamHeaders(t, bearer(g, tr.AccessToken))
	expectStatus(t, g.form("/oauth2/revoke", "token="+url.QueryEscape(tr.RefreshToken), "Authorization", basicAuth("web", "w3b")), http.StatusOK)
	expectStatus(t, bearer(g, tr.AccessToken), http.StatusUnauthorized)
}
