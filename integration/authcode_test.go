package integration

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// authcodeCaddyfile is a gateway whose OAuth service has the authorization
// endpoint on: the app's login page is tokengate_demo_login in the
// upstream site, which completes tickets through the management API with
// the operator key. web is confidential, spa public, legacy a
// confidential client that opted out of PKCE.
const authcodeCaddyfile = `{
	admin 127.0.0.1:{{.Admin}}
	tokengate {
		store bolt {{.Dir}}/state/tokengate.db
		issuer http://127.0.0.1:{{.GW}}
		operator_key_hash sha256:4a7c449d22a99026fac16a47621ff68792ff589f72334ea3950ce186a5615e9a
		oauth {
			login_url http://127.0.0.1:{{.Up}}/login
			client web {
				auth client_secret_basic
				secret_hash sha256:1a00f12f4768080ebd6bc0943f5c71eaf8e7205c0c3d3f32c95c473bf04f2219
				grant_types authorization_code refresh_token
				scopes openid profile email api.read
				redirect_uris http://127.0.0.1:{{.Up}}/callback
			}
			client spa {
				auth none
				grant_types authorization_code refresh_token
				scopes openid api.read
				redirect_uris http://127.0.0.1:{{.Up}}/callback
				id_token_signed_response_alg ES256
			}
			client legacy {
				auth client_secret_post
				secret_hash sha256:2970c87b12044fb98bc61d7020bbb474149600691e1703fdd31febcb493b2ac6
				pkce_optional
				grant_types authorization_code
				scopes api.read
				redirect_uris http://127.0.0.1:{{.Up}}/callback
			}
		}
	}
}
http://127.0.0.1:{{.GW}} {
	bind 127.0.0.1
	tokengate_jwks
	tokengate_oauth
	tokengate_manage {
		prefix /api/demo
	}
	tokengate_protect
	reverse_proxy 127.0.0.1:{{.Up}}
}
http://127.0.0.1:{{.Up}} {
	bind 127.0.0.1
	tokengate_demo_login {
		api http://127.0.0.1:{{.GW}}/api/demo
		operator_key {env.TOKENGATE_DEMO_OPERATOR_KEY}
	}
	tokengate_echo
}
`

func startAuthcodeGateway(t *testing.T) *gateway {
	t.Helper()
	return startGateway(t, authcodeCaddyfile, "/.well-known/openid-configuration")
}

// browser sends a request without following redirects, as the tests read
// every Location themselves.
func (g *gateway) browser(method, rawURL string, body string, headers ...string) *response {
	g.t.Helper()
	client := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var b any
	if body != "" {
		b = body
		headers = append(headers, "Content-Type", "application/x-www-form-urlencoded")
	}
	return doRequest(g.t, client, method, rawURL, b, headers...)
}

func locationOf(t *testing.T, r *response, status int) *url.URL {
	t.Helper()
	expectStatus(t, r, status)
	u, err := url.Parse(r.Header.Get("Location"))
	if err != nil || u.Host == "" {
		t.Fatalf("Location %q", r.Header.Get("Location"))
	}
	return u
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizeURL is an authorization request of client for the callback.
func (g *gateway) authorizeURL(client, scope, state, nonce, verifier string) string {
	q := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {g.callback()},
		"scope": {scope}, "state": {state}}
	if nonce != "" {
		q.Set("nonce", nonce)
	}
	if verifier != "" {
		q.Set("code_challenge", s256(verifier))
		q.Set("code_challenge_method", "S256")
	}
	return g.url("/oauth2/authorize?" + q.Encode())
}

func (g *gateway) callback() string { return "http://127.0.0.1:" + itoa(g.ports.Up) + "/callback" }

// login runs the browser through authorize and the login page as user
// (password "demo") and returns the redirect back to the client.
func (g *gateway) login(t *testing.T, authorizeURL, user, action string) *url.URL {
	t.Helper()
	loginPage := locationOf(t, g.browser("GET", authorizeURL, ""), http.StatusFound)
	ticket := loginPage.Query().Get("ticket")
	if ticket == "" || loginPage.Path != "/login" {
		t.Fatalf("authorize sent the browser to %s", loginPage)
	}
	page := g.browser("GET", loginPage.String(), "")
	expectStatus(t, page, http.StatusOK)
	if !strings.Contains(string(page.Body), `name="ticket"`) {
		t.Fatalf("login page: %s", page.Body)
	}
	form := url.Values{"ticket": {ticket}, "username": {user}, "password": {"demo"}, "action": {action}}
	return locationOf(t, g.browser("POST", "http://127.0.0.1:"+itoa(g.ports.Up)+"/login", form.Encode()), http.StatusSeeOther)
}

// TestAuthCodeFlowThroughCaddy drives the flow with plain HTTP through a
// real Caddy: authorize, the demo login page (which calls
// authorization/issue), the token endpoint, the proxy, UserInfo, and the
// replay of a code, which revokes what it issued at the proxy.
func TestAuthCodeFlowThroughCaddy(t *testing.T) {
	t.Setenv("TOKENGATE_DEMO_OPERATOR_KEY", "demo-operator-key")
	g := startAuthcodeGateway(t)
	verifier := strings.Repeat("v3rifier-", 6)
	back := g.login(t, g.authorizeURL("web", "openid profile api.read", "st-1", "n-1", verifier), "alice", "allow")
	q := back.Query()
	if back.Path != "/callback" || q.Get("state") != "st-1" || q.Get("iss") != g.url("") || q.Get("code") == "" {
		t.Fatalf("redirect back %s", back)
	}
	redeem := func(code, verifier string) *response {
		return g.form("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {g.callback()}, "code_verifier": {verifier}}.Encode(), "Authorization", basicAuth("web", "w3b"))
	}
	// A wrong verifier is refused and does not burn the code.
	oauthError(t, redeem(q.Get("code"), strings.Repeat("w", 43)), 400, "invalid_grant")
	tr := mustToken(t, redeem(q.Get("code"), verifier))
	claims := verifyIDToken(t, g, tr.IDToken)
	if claims["nonce"] != "n-1" || claims["sub"] != "alice" {
		t.Fatalf("ID token claims %v", claims)
	}
	expectStatus(t, bearer(g, tr.AccessToken), http.StatusOK)
	ui := g.do("GET", "/oauth2/userinfo", nil, "Authorization", "Bearer "+tr.AccessToken)
	expectStatus(t, ui, http.StatusOK)
	if m := ui.json(t); m["sub"] != "alice" || m["name"] != "Alice Demo" || m["email"] != nil {
		t.Fatalf("userinfo (no email scope) %v", m)
	}
	r := g.do("GET", "/oauth2/userinfo", nil)
	if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("userinfo without token: %d %v", r.Status, r.Header)
	}
	// The replayed code: refused, and the tokens it gave are revoked.
	oauthError(t, redeem(q.Get("code"), verifier), 400, "invalid_grant")
	expectStatus(t, bearer(g, tr.AccessToken), http.StatusUnauthorized)
	oauthError(t, refreshAs(g, "web", tr.RefreshToken, ""), 400, "invalid_grant")
	if !strings.Contains(g.logs.String(), "replay") {
		t.Errorf("the code replay is not in the security log:\n%s", tail(g.logs.String(), 3000))
	}

	// The user denies: the client gets access_denied with its state.
	denied := g.login(t, g.authorizeURL("web", "openid", "st-2", "", verifier), "alice", "deny")
	if dq := denied.Query(); dq.Get("error") != "access_denied" || dq.Get("state") != "st-2" {
		t.Fatalf("deny: %s", denied)
	}
	// The PKCE opt-out of a confidential client: no challenge, no verifier.
	lb := g.login(t, g.authorizeURL("legacy", "api.read", "st-3", "", ""), "bob", "allow")
	lt := mustToken(t, g.form("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {lb.Query().Get("code")},
		"redirect_uri": {g.callback()}, "client_id": {"legacy"}, "client_secret": {"p0st"}}.Encode()))
	if lt.RefreshToken != "" || lt.IDToken != "" {
		t.Fatalf("legacy got %+v", lt)
	}
}

// TestAuthCodeAuthorizeErrors: an untrusted client or redirect URI gets a
// plain error page; other errors go back to the client with state and iss.
func TestAuthCodeAuthorizeErrors(t *testing.T) {
	t.Setenv("TOKENGATE_DEMO_OPERATOR_KEY", "demo-operator-key")
	g := startAuthcodeGateway(t)
	page := g.browser("GET", g.url("/oauth2/authorize?response_type=code&client_id=web&redirect_uri="+url.QueryEscape("https://evil.example/cb")), "")
	if page.Status != http.StatusBadRequest || page.Header.Get("Location") != "" || page.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("bad redirect_uri: %d %v %s", page.Status, page.Header, page.Body)
	}
	expectStatus(t, g.browser("GET", g.url("/oauth2/authorize?client_id=nobody"), ""), http.StatusBadRequest)
	for _, tc := range []struct{ query, want string }{
		{"response_type=token&client_id=spa&state=s", "unsupported_response_type"},
		{"response_type=code&client_id=spa&state=s", "invalid_request"}, // public client without PKCE
		{"response_type=code&client_id=spa&state=s&code_challenge=" + s256("x") + "&code_challenge_method=plain", "invalid_request"},
		{"response_type=code&client_id=spa&state=s&scope=admin&code_challenge=" + s256("x") + "&code_challenge_method=S256", "invalid_scope"},
	} {
		u := locationOf(t, g.browser("GET", g.url("/oauth2/authorize?"+tc.query), ""), http.StatusFound)
		if !strings.HasPrefix(u.String(), g.callback()+"?") || u.Query().Get("error") != tc.want || u.Query().Get("state") != "s" || u.Query().Get("iss") != g.url("") {
			t.Errorf("%s: redirected to %s, want error %s", tc.query, u, tc.want)
		}
	}
	// The issue API is the operator's.
	r := g.do("POST", "/api/demo/auth/authorization/issue", `{"ticket":"x","subject":"alice"}`, "Content-Type", "application/json")
	expectStatus(t, r, http.StatusUnauthorized)
}

// nodeModules returns the repository's node_modules, failing the test
// when node or the packages are missing (CI runs npm ci first).
func nodeModules(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is needed for the client-library tests: %v", err)
	}
	dir, err := filepath.Abs("../node_modules")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "oauth4webapi", "package.json")); err != nil {
		t.Fatalf("oauth4webapi is not installed: run `npm ci` at the repository root (%v)", err)
	}
	return dir
}

// TestAuthCodeWithOAuth4WebAPI: an independent, certified client library
// (oauth4webapi) runs the whole flow against a real Caddy — discovery of
// both documents, authorize, the login page, code with PKCE, the ID token
// (claims, nonce and signature against the JWKS), UserInfo, a reused code,
// refresh, revocation, and a public client.
func TestAuthCodeWithOAuth4WebAPI(t *testing.T) {
	nodeModules(t)
	t.Setenv("TOKENGATE_DEMO_OPERATOR_KEY", "demo-operator-key")
	g := startAuthcodeGateway(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "node/authcode_client.mjs")
	cmd.Env = append(os.Environ(), "ISSUER="+g.url(""), "REDIRECT_URI="+g.callback())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the oauth4webapi client failed: %v\n%s\ngateway log:\n%s", err, out, tail(g.logs.String(), 3000))
	}
	var seen struct {
		Discovery []string       `json:"discovery"`
		UserInfo  map[string]any `json:"userinfo"`
		Reused    string         `json:"reused"`
		Revoked   bool           `json:"revoked"`
		Public    bool           `json:"publicClient"`
	}
	if err := json.Unmarshal(out, &seen); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	if len(seen.Discovery) != 2 || seen.UserInfo["sub"] != "alice" || seen.Reused != "invalid_grant" || !seen.Revoked || !seen.Public {
		t.Fatalf("the client saw %s", out)
	}
}

// authlibPython returns a python3 that has authlib (Debian's
// python3-authlib; .ci/run installs it), failing the test when none has.
func authlibPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import authlib").Run() == nil {
			return py
		}
	}
	t.Fatal("no python3 with authlib: apt-get install python3-authlib (.ci/run does)")
	return ""
}

// TestAuthCodeDiscoveryAuthlib: authlib, another independent
// implementation, validates both documents (RFC 8414 and OpenID
// Discovery REQUIRED members and their values).
func TestAuthCodeDiscoveryAuthlib(t *testing.T) {
	py := authlibPython(t)
	t.Setenv("TOKENGATE_DEMO_OPERATOR_KEY", "demo-operator-key")
	// authlib requires an https issuer (RFC 8414 §2): the gateway serves
	// TLS with Caddy's internal CA, which the fetches below do not verify.
	// OpenID Discovery makes RS256 mandatory among the ID-token algorithms:
	// the gateway adds its RS256 key by itself (key auto rs256).
	tmpl := strings.NewReplacer(
		"\tadmin 127.0.0.1:{{.Admin}}", "\tadmin 127.0.0.1:{{.Admin}}\n\tskip_install_trust",
		"issuer http://127.0.0.1:{{.GW}}", "issuer https://127.0.0.1:{{.GW}}",
		"http://127.0.0.1:{{.GW}} {\n\tbind 127.0.0.1", "https://127.0.0.1:{{.GW}} {\n\tbind 127.0.0.1\n\ttls internal",
	).Replace(authcodeCaddyfile)
	g := startGateway(t, tmpl, "/.well-known/openid-configuration")
	tlsClient := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // Caddy's internal CA, loopback test
	}}
	fetch := func(path string) *response {
		return doRequest(t, tlsClient, "GET", "https://127.0.0.1:"+itoa(g.ports.GW)+path, nil)
	}
	// The internal certificate is issued after the server starts: wait.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := tlsClient.Get("https://127.0.0.1:" + itoa(g.ports.GW) + "/.well-known/jwks.json")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no TLS on the gateway: %v", err)
		}
	}
	script := `
import json, sys
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata
AuthorizationServerMetadata(json.loads(sys.argv[1])).validate()
OpenIDProviderMetadata(json.loads(sys.argv[2])).validate()
print("valid")
`
	oa := fetch("/.well-known/oauth-authorization-server")
	oid := fetch("/.well-known/openid-configuration")
	if m := oid.json(t); m["issuer"] != "https://127.0.0.1:"+itoa(g.ports.GW) || jsonText(m["id_token_signing_alg_values_supported"]) != `["RS256","ES256"]` {
		t.Fatalf("issuer %v, algorithms %v", m["issuer"], m["id_token_signing_alg_values_supported"])
	}
	expectStatus(t, oa, http.StatusOK)
	expectStatus(t, oid, http.StatusOK)
	out, err := exec.Command(py, "-c", script, string(oa.Body), string(oid.Body)).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "valid" {
		t.Fatalf("authlib refuses the metadata: %v\n%s\n%s", err, out, oid.Body)
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
