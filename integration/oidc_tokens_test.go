package integration

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// debianPython is the interpreter of Debian's python3-jwt (PyJWT) and
// python3-cryptography, which .ci/run installs; the interop test fails
// when it or they are missing.
const debianPython = "/usr/bin/python3"

// oidcTokensExtra adds to oauthCaddyfile's oauth block an access-token
// audience for every client and a relying party whose ID tokens are ES256.
func oidcTokensExtra() string {
	return `audience https://api.example.org
			client rp-es {
				secret_hash ` + sha256Hash("es-secret") + `
				grant_types refresh_token authorization_code
				scopes openid api.read
				id_token_reissue
				id_token_signed_response_alg ES256
			}`
}

// tokenCase is one token for testdata/verify_tokens.py.
type tokenCase struct {
	Kind     string `json:"kind"`
	Token    string `json:"token"`
	Alg      string `json:"alg,omitempty"`
	Audience string `json:"audience,omitempty"`
}

type tokenVerdict struct {
	OK     bool           `json:"ok"`
	Error  string         `json:"error"`
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
}

// verifyWithPyJWT runs the independent verifier on cases against the
// gateway's JWKS, fetched over HTTP by the script itself. It returns the
// verdicts and whether the script reported every case valid.
func verifyWithPyJWT(t *testing.T, g *gateway, cases []tokenCase) ([]tokenVerdict, bool) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cases.json")
	raw, _ := json.Marshal(cases)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	issuer := "http://127.0.0.1:" + itoa(g.ports.GW)
	cmd := exec.Command(debianPython, "testdata/verify_tokens.py", issuer, issuer+"/.well-known/jwks.json", path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("the PyJWT verifier did not run (install python3-jwt and python3-cryptography): %v\n%s", err, stderr.String())
	}
	var verdicts []tokenVerdict
	if err := json.Unmarshal(out, &verdicts); err != nil || len(verdicts) != len(cases) {
		t.Fatalf("verifier output %q (%v)\n%s", out, err, stderr.String())
	}
	return verdicts, err == nil
}

// TestOIDCTokensForStandardVerifiers: through a real Caddy, the discovery
// documents offer RS256 (mandatory) and ES256 for ID tokens; the JWKS
// publishes the RS256 key (added automatically for an OpenID provider)
// with alg, kid and use; a client that registered no algorithm gets RS256
// ID tokens, one that registered ES256 gets ES256; every OAuth access
// token is an RFC 9068 at+jwt with the configured aud. PyJWT, with the
// JWKS fetched from the gateway, accepts each token as what it is and
// refuses an ID token presented as an access token; so do the proxy and
// introspection.
func TestOIDCTokensForStandardVerifiers(t *testing.T) {
	g := startOAuthGateway(t, oidcTokensExtra())
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		m := g.do("GET", path, nil).json(t)
		if algs := m["id_token_signing_alg_values_supported"]; !reflect.DeepEqual(algs, []any{"RS256", "ES256"}) {
			t.Errorf("%s: id_token_signing_alg_values_supported %v", path, algs)
		}
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(g.do("GET", "/.well-known/jwks.json", nil).Body, &set); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, k := range set.Keys {
		if k["use"] != "sig" || k["kid"] == "" || k["d"] != nil || k["p"] != nil {
			t.Errorf("JWK %v", k)
		}
		kinds[k["kty"].(string)] = k["alg"].(string)
	}
	if kinds["RSA"] != "RS256" || kinds["EC"] != "ES256" || len(set.Keys) != 2 {
		t.Fatalf("JWKS keys %v", set.Keys)
	}

	web := mustToken(t, refreshAs(g, "web", createToken(t, g, "web", "alice", "openid api.read").RefreshToken, ""))
	esGrant := createToken(t, g, "rp-es", "bob", "openid api.read")
	es := mustToken(t, g.form("/oauth2/token", "grant_type=refresh_token&refresh_token="+url.QueryEscape(esGrant.RefreshToken),
		"Authorization", basicAuth("rp-es", "es-secret")))
	cc := mustToken(t, g.form("/oauth2/token", "grant_type=client_credentials", "Authorization", basicAuth("svc", "s3c")))
	cases := []tokenCase{
		{Kind: "id_token", Token: web.IDToken, Alg: "RS256", Audience: "web"},
		{Kind: "id_token", Token: es.IDToken, Alg: "ES256", Audience: "rp-es"},
		{Kind: "access_token", Token: web.AccessToken, Audience: "https://api.example.org"},
		{Kind: "access_token", Token: es.AccessToken, Audience: "https://api.example.org"},
		{Kind: "access_token", Token: cc.AccessToken, Audience: "https://api.example.org"},
		{Kind: "access_token", Token: esGrant.AccessToken, Audience: "https://api.example.org"},
	}
	verdicts, ok := verifyWithPyJWT(t, g, cases)
	if !ok {
		t.Fatalf("PyJWT refused a token: %+v", verdicts)
	}
	for i, v := range verdicts {
		c := cases[i]
		switch c.Kind {
		case "id_token":
			if v.Header["alg"] != c.Alg || v.Claims["sub"] == nil {
				t.Errorf("ID token of %s: header %v claims %v", c.Audience, v.Header, v.Claims)
			}
		case "access_token":
			if v.Header["typ"] != "at+jwt" || !reflect.DeepEqual(v.Claims["aud"], []any{"https://api.example.org"}) || v.Claims["client_id"] == nil {
				t.Errorf("access token %d: header %v claims %v", i, v.Header, v.Claims)
			}
		}
	}
	if cl := verdicts[4].Claims; cl["sub"] != "svc" || cl["client_id"] != "svc" || cl["scope"] != "api.read" {
		t.Errorf("client-credentials access token claims %v", cl)
	}

	// The independent checker is not vacuous: an ID token is no at+jwt, and
	// an RS256 ID token does not pass where ES256 is expected.
	verdicts, ok = verifyWithPyJWT(t, g, []tokenCase{
		{Kind: "access_token", Token: web.IDToken},
		{Kind: "id_token", Token: web.IDToken, Alg: "ES256", Audience: "web"},
		{Kind: "id_token", Token: web.IDToken, Alg: "RS256", Audience: "rp-es"},
	})
	if ok || verdicts[0].OK || verdicts[1].OK || verdicts[2].OK {
		t.Errorf("PyJWT accepted a token as what it is not: %+v", verdicts)
	}

	// The gateway's own verifier agrees: access tokens pass the proxy and
	// introspection (with their aud), ID tokens do neither.
	upstreamHeaders(t, bearer(g, web.AccessToken))
	upstreamHeaders(t, bearer(g, cc.AccessToken))
	expectStatus(t, bearer(g, web.IDToken), http.StatusUnauthorized)
	expectStatus(t, bearer(g, es.IDToken), http.StatusUnauthorized)
	rs := []string{"Authorization", basicAuth("orders", rsSecret)}
	if m := g.form("/oauth2/introspect", "token="+url.QueryEscape(web.AccessToken), rs...).json(t); m["active"] != true ||
		!reflect.DeepEqual(m["aud"], []any{"https://api.example.org"}) || m["client_id"] != "web" || m["token_type"] != "Bearer" {
		t.Errorf("introspection of an at+jwt: %v", m)
	}
	if m := g.form("/oauth2/introspect", "token="+url.QueryEscape(web.IDToken), rs...).json(t); m["active"] != false || len(m) != 1 {
		t.Errorf("introspection of an ID token: %v", m)
	}
	// The RS256 key is persisted in Caddy's storage: a restart signs with
	// the same key, so ID tokens issued before it still verify.
	before := g.do("GET", "/.well-known/jwks.json", nil).Body
	g.restart()
	if after := g.do("GET", "/.well-known/jwks.json", nil).Body; string(after) != string(before) {
		t.Errorf("JWKS changed across a restart:\n%s\n%s", before, after)
	}
	tr := mustToken(t, refreshAs(g, "web", web.RefreshToken, ""))
	if h := jwtHeader(t, tr.IDToken); h["alg"] != "RS256" || h["kid"] != jwtHeader(t, web.IDToken)["kid"] {
		t.Errorf("ID token after a restart: header %v", h)
	}
}

// jwtHeader decodes the JOSE header of a compact JWS.
func jwtHeader(t *testing.T, token string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestOIDCAutoRS256KeySigns: `key auto rs256 sign` makes the RSA key the
// signing key, so access tokens are RS256 at+jwt (the algorithm RFC 9068
// §2.1 requires every resource server to support), while `key auto`
// beside it keeps verifying and signs the ES256 client's ID tokens. PyJWT
// checks both against the JWKS.
func TestOIDCAutoRS256KeySigns(t *testing.T) {
	cf := strings.Replace(oauthCaddyfile, "store bolt {{.Dir}}/state/tokengate.db",
		"store bolt {{.Dir}}/state/tokengate.db\n\t\tkey auto rs256 sign\n\t\tkey auto", 1)
	cf = strings.Replace(cf, "{{.Grace}}", oidcTokensExtra(), 1)
	cf = strings.Replace(cf, "sha256:b6e2b1f2b3ba9a6f0e2e0f8b5d2b5f8d3c9a4e0f6a7b8c9d0e1f2a3b4c5d6e7f", sha256Hash(rsSecret), 1)
	t.Setenv("TG_SHORT_SECRET", "sh0rt-secret")
	g := startGateway(t, cf, "/.well-known/oauth-authorization-server")

	cc := mustToken(t, g.form("/oauth2/token", "grant_type=client_credentials", "Authorization", basicAuth("svc", "s3c")))
	esGrant := createToken(t, g, "rp-es", "bob", "openid api.read")
	es := mustToken(t, g.form("/oauth2/token", "grant_type=refresh_token&refresh_token="+url.QueryEscape(esGrant.RefreshToken),
		"Authorization", basicAuth("rp-es", "es-secret")))
	verdicts, ok := verifyWithPyJWT(t, g, []tokenCase{
		{Kind: "access_token", Token: cc.AccessToken, Audience: "https://api.example.org"},
		{Kind: "id_token", Token: es.IDToken, Alg: "ES256", Audience: "rp-es"},
	})
	if !ok {
		t.Fatalf("PyJWT refused a token: %+v", verdicts)
	}
	if h := verdicts[0].Header; h["alg"] != "RS256" || h["typ"] != "at+jwt" {
		t.Errorf("access token header %v, want RS256 at+jwt", h)
	}
	if h := verdicts[1].Header; h["alg"] != "ES256" {
		t.Errorf("ES256 client's ID token header %v", h)
	}
	upstreamHeaders(t, bearer(g, cc.AccessToken))
}
