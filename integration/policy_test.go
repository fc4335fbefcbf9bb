package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokengate/tokengate/tokencore"
)

// policyCaddyfile protects routes with per-route policies: tokengate_protect
// with `require` lines, tokengate_require after it (and without it), and
// Caddy's own `expression` matcher on the {http.auth.user.*} placeholders.
// The tokens are minted by the test with the FOLIO shared secret, as an
// existing mod-authtoken (or any HS256 issuer sharing it) would, so they
// can carry any claim.
const policyCaddyfile = `{
	admin 127.0.0.1:{{.Admin}}
	tokengate {
		store bolt {{.Dir}}/state/tokengate.db
		key folio_secret {env.TG_IT_FOLIO_SECRET} sign
		default_tenant diku
	}
}
http://127.0.0.1:{{.GW}} {
	bind 127.0.0.1
	tokengate_jwks
	route /read/* {
		tokengate_protect {
			require scope api.read
		}
		reverse_proxy 127.0.0.1:{{.Up}}
	}
	route /write/* {
		tokengate_protect {
			require scope api.read
			require any_scope api.write api.admin
		}
		reverse_proxy 127.0.0.1:{{.Up}}
	}
	route /admin/* {
		tokengate_protect {
			claim_header realm_access.roles X-Roles
		}
		tokengate_require {
			claim realm_access.roles contains admin
			claim tenant one_of diku
		}
		reverse_proxy 127.0.0.1:{{.Up}}
	}
	route /kc/* {
		tokengate_protect
		tokengate_require issuer https://kc.example/realms/acme
		tokengate_require client web
		reverse_proxy 127.0.0.1:{{.Up}}
	}
	route /cel/* {
		tokengate_protect {
			claim_header realm_access.roles X-Roles
		}
		@admins expression ` + "`" + `{http.auth.user.tenant} == 'diku' && {http.auth.user.scope}.matches('(^| )api[.]admin( |$)') && {http.auth.user.realm_access.roles}.contains('admin')` + "`" + `
		respond @admins "admin {http.auth.user.id}" 200
		respond "not an admin" 403
	}
	route /open/* {
		tokengate_protect {
			public /open/*
		}
		tokengate_require scope api.read
		reverse_proxy 127.0.0.1:{{.Up}}
	}
	route /bare/* {
		tokengate_require scope api.read
		reverse_proxy 127.0.0.1:{{.Up}}
	}
	respond 404
}
http://127.0.0.1:{{.Up}} {
	bind 127.0.0.1
	tokengate_echo
}
`

// itSecretKey is the HS256 key of the gateways' FOLIO secret.
func itSecretKey() []byte {
	_, secret, _ := strings.Cut(itFolioSecret, "=")
	return tokencore.DeriveFolioSecret(secret)
}

// mint signs an access token with the gateways' FOLIO secret: alice of
// diku for an hour, plus claims (which may override those).
func mint(t *testing.T, claims map[string]any) string {
	t.Helper()
	now := time.Now().Unix()
	c := jwt.MapClaims{"type": "access", "iat": now, "exp": now + 3600, "sub": "alice", "tenant": "diku", "user_id": userID}
	for k, v := range claims {
		c[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header = map[string]any{"alg": "HS256"}
	s, err := tok.SignedString(itSecretKey())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// expectChallenge checks a refusal: status, WWW-Authenticate, and the
// JSON body's error code (and scope).
func expectChallenge(t *testing.T, r *response, status int, header, code, scope string) {
	t.Helper()
	expectStatus(t, r, status)
	if got := r.Header.Get("WWW-Authenticate"); got != header {
		t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, header)
	}
	m := r.json(t)
	if m["error"] != code || (scope != "" && m["scope"] != scope) {
		t.Errorf("body %s", r.Body)
	}
	if strings.Contains(string(r.Body), `"headers"`) {
		t.Error("the upstream answered")
	}
}

func TestPolicyPerRoute(t *testing.T) {
	g := startGateway(t, policyCaddyfile, "/.well-known/jwks.json")
	keycloak := map[string]any{
		"iss": "https://kc.example/realms/acme", "client_id": "web", "scope": "openid api.read",
		"realm_access": map[string]any{"roles": []string{"admin", "user"}},
	}
	with := func(extra map[string]any) string {
		c := map[string]any{}
		for k, v := range keycloak {
			c[k] = v
		}
		for k, v := range extra {
			c[k] = v
		}
		return mint(t, c)
	}
	get := func(path, token string, headers ...string) *response {
		if token != "" {
			headers = append(headers, "Authorization", "Bearer "+token)
		}
		return g.do("GET", path, nil, headers...)
	}
	const realm = `Bearer realm="tokengate"`
	insufficient := func(desc, scope string) string {
		h := realm + `, error="insufficient_scope", error_description="` + desc + `"`
		if scope != "" {
			h += `, scope="` + scope + `"`
		}
		return h
	}

	t.Run("scope all of", func(t *testing.T) {
		h := upstreamHeaders(t, get("/read/x", with(nil)))
		if h["X-Tokengate-Scope"][0] != "openid api.read" {
			t.Errorf("upstream headers %v", h)
		}
		expectChallenge(t, get("/read/x", with(map[string]any{"scope": "openid"})), 403,
			insufficient("the token lacks the scope api.read", "api.read"), "insufficient_scope", "api.read")
		// An invalid token is still 401 invalid_token, whatever the policy.
		expired := with(map[string]any{"exp": time.Now().Add(-time.Minute).Unix()})
		expectChallenge(t, get("/read/x", expired), 401,
			realm+`, error="invalid_token", error_description="the token has expired"`, "invalid_token", "")
		expectChallenge(t, get("/read/x", ""), 401, realm, "unauthorized", "")
	})
	t.Run("scope any of", func(t *testing.T) {
		upstreamHeaders(t, get("/write/x", with(map[string]any{"scope": "api.read api.admin"})))
		upstreamHeaders(t, get("/write/x", with(map[string]any{"scope": "api.write api.read"})))
		// The challenge names a scope set that would pass: every all-of
		// scope and the first of the any-of group.
		expectChallenge(t, get("/write/x", with(nil)), 403,
			insufficient("the token grants none of the scopes api.write, api.admin", "api.read api.write"), "insufficient_scope", "api.read api.write")
	})
	t.Run("claims", func(t *testing.T) {
		h := upstreamHeaders(t, get("/admin/x", with(nil), "X-Roles", "forged"))
		if got := h["X-Roles"]; len(got) != 1 || got[0] != "admin,user" {
			t.Errorf("X-Roles = %v", got)
		}
		notAdmin := with(map[string]any{"realm_access": map[string]any{"roles": []string{"user"}}})
		expectChallenge(t, get("/admin/x", notAdmin), 403,
			insufficient("the token's claim realm_access.roles does not satisfy the route's policy", ""), "insufficient_scope", "")
		noRoles := with(map[string]any{"realm_access": nil})
		expectStatus(t, get("/admin/x", noRoles), 403)
	})
	t.Run("issuer and client", func(t *testing.T) {
		upstreamHeaders(t, get("/kc/x", with(nil)))
		expectChallenge(t, get("/kc/x", with(map[string]any{"iss": "https://evil.example"})), 403,
			insufficient("the token's issuer is not accepted here", ""), "insufficient_scope", "")
		expectChallenge(t, get("/kc/x", with(map[string]any{"client_id": "cli"})), 403,
			insufficient("the token's client is not accepted here", ""), "insufficient_scope", "")
	})
	t.Run("CEL expression matcher on the placeholders", func(t *testing.T) {
		r := get("/cel/x", with(map[string]any{"scope": "api.read api.admin"}))
		expectStatus(t, r, 200)
		if string(r.Body) != "admin alice" {
			t.Errorf("body %q", r.Body)
		}
		for name, tok := range map[string]string{
			"scope":  with(nil),
			"tenant": with(map[string]any{"scope": "api.admin", "tenant": "other"}),
			"roles":  with(map[string]any{"scope": "api.admin", "realm_access": map[string]any{"roles": []string{"user"}}}),
		} {
			headers := []string{}
			if name == "tenant" {
				headers = []string{"X-Okapi-Tenant", "other"}
			}
			if r := get("/cel/x", tok, headers...); r.Status != 403 || string(r.Body) != "not an admin" {
				t.Errorf("%s: %d %q", name, r.Status, r.Body)
			}
		}
	})
	t.Run("tokengate_require fails closed", func(t *testing.T) {
		// A public path of tokengate_protect authenticates nobody.
		expectChallenge(t, get("/open/x", with(nil)), 401, realm, "unauthorized", "")
		// A route without tokengate_protect: a token alone is not enough,
		// and a forged identity is not taken for one.
		expectChallenge(t, get("/bare/x", with(nil), "X-Tokengate-Subject", "alice", "X-Tokengate-Scope", "api.read"), 401, realm, "unauthorized", "")
	})
}

// providerConfig is a JSON config (the Caddyfile has no `authentication`
// directive) with Caddy's authentication handler and the tokengate
// provider, followed by tokengate_require, a headers handler that shows
// caddyauth's placeholders, and the echo.
const providerConfig = `{
	"admin": {"listen": "127.0.0.1:{{.Admin}}"},
	"apps": {
		"tokengate": {
			"store": {"type": "bolt", "path": "{{.Dir}}/state/tokengate.db"},
			"keys": [{"source": "folio_secret", "secret": "{env.TG_IT_FOLIO_SECRET}", "sign": true}],
			"default_tenant": "diku"
		},
		"http": {"servers": {"gw": {
			"listen": ["127.0.0.1:{{.GW}}"],
			"automatic_https": {"disable": true},
			"routes": [
				{"match": [{"path": ["/.well-known/jwks.json"]}], "handle": [{"handler": "tokengate_jwks"}]},
				{"match": [{"path": ["/auth/*"]}], "handle": [
					{"handler": "authentication", "providers": {"tokengate": {"claim_headers": {"realm_access.roles": "X-Roles"}}}},
					{"handler": "tokengate_require", "scopes": ["api.read"]},
					{"handler": "headers", "response": {"set": {
						"X-Auth-User": ["{http.auth.user.id}"],
						"X-Auth-Tenant": ["{http.auth.user.tenant}"],
						"X-Auth-Roles": ["{http.auth.user.realm_access.roles}"],
						"X-Auth-Claim": ["{tokengate.claims.iss}"]
					}}},
					{"handler": "tokengate_echo"}
				]}
			]
		}}}
	}
}`

func TestAuthenticationProvider(t *testing.T) {
	g := startGateway(t, policyCaddyfile, "/.well-known/jwks.json")
	g.load(providerConfig, "application/json")
	tok := mint(t, map[string]any{"iss": "https://kc.example", "scope": "api.read",
		"realm_access": map[string]any{"roles": []string{"admin", "user"}}})

	r := g.do("GET", "/auth/x", nil, "Authorization", "Bearer "+tok, "X-Okapi-User-Id", "forged", "X_Tokengate_Subject", "mallory")
	// The same identity headers as tokengate_protect's, client copies
	// stripped in every spelling.
	h := upstreamHeaders(t, r)
	for name, want := range map[string]string{"X-Okapi-User-Id": userID, "X-Tokengate-Subject": "alice", "X-Okapi-Tenant": "diku", "X-Roles": "admin,user"} {
		if got := h[name]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %v, want %s", name, got, want)
		}
	}
	if _, ok := h["X_tokengate_subject"]; ok {
		t.Error("a forged spelling reached the upstream")
	}
	// caddyauth's placeholders from the provider's user, and tokengate's.
	for name, want := range map[string]string{"X-Auth-User": "alice", "X-Auth-Tenant": "diku", "X-Auth-Roles": "admin,user", "X-Auth-Claim": "https://kc.example"} {
		if got := r.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}

	// caddyauth answers every failure with 401; the provider's challenge
	// says why.
	bad := g.do("GET", "/auth/x", nil, "Authorization", "Bearer "+tok[:len(tok)-3]+"AAA")
	expectStatus(t, bad, 401)
	if got := bad.Header.Get("WWW-Authenticate"); got != `Bearer realm="tokengate", error="invalid_token", error_description="the token signature is invalid"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	none := g.do("GET", "/auth/x", nil)
	expectStatus(t, none, 401)
	if got := none.Header.Get("WWW-Authenticate"); got != `Bearer realm="tokengate"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	// The policy after the provider: 403 with the scope.
	noScope := g.do("GET", "/auth/x", nil, "Authorization", "Bearer "+mint(t, map[string]any{"scope": "openid"}))
	expectChallenge(t, noScope, 403, `Bearer realm="tokengate", error="insufficient_scope", error_description="the token lacks the scope api.read", scope="api.read"`, "insufficient_scope", "api.read")
}
