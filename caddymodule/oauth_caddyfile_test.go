package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/oauth"
	"github.com/tokengate/tokengate/tokencore/store/memory"
)

func TestAdaptOAuth(t *testing.T) {
	cfg, err := adapt(t, `{
	tokengate {
		issuer http://127.0.0.1:8080
		operator_key_hash sha256:0000000000000000000000000000000000000000000000000000000000000001
		oauth {
			client web {
				auth client_secret_basic
				secret_hash sha256:1111111111111111111111111111111111111111111111111111111111111111
				grant_types refresh_token authorization_code
				scopes openid profile
				scopes api.read
				access_ttl 5m
				refresh_ttl 1d
				id_token_reissue
				id_token_signed_response_alg ES256
				audience https://orders.example.org urn:billing
				redirect_uris https://app.example/cb
				redirect_uris http://127.0.0.1:9000/cb
				pkce_optional
			}
			client cli {
				auth none
				grant_types refresh_token
			}
			client env {
				secret {env.WEB_CLIENT_SECRET}
				grant_types client_credentials
			}
			resource_server orders sha256:2222222222222222222222222222222222222222222222222222222222222222
			refresh_grace 5s
			audience https://api.example.org
			login_url /login
		}
	}
}
:8080 {
	reverse_proxy 127.0.0.1:9000
	tokengate_protect
	tokengate_manage {
		prefix /api/demo
		max_body 1024
	}
	tokengate_oauth {
		prefix /oauth2
		jwks_uri /keys
	}
	tokengate_jwks
}`)
	if err != nil {
		t.Fatal(err)
	}
	app := cfg["apps"].(map[string]any)["tokengate"].(map[string]any)
	raw, _ := json.Marshal(app["oauth"])
	var got OAuthConfig
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Clients) != 3 || len(got.ResourceServers) != 1 || got.RefreshGrace != 5e9 || strings.Join(got.Audience, " ") != "https://api.example.org" || got.LoginURL != "/login" {
		t.Fatalf("oauth = %s", raw)
	}
	web := got.Clients[0]
	if web.ID != "web" || web.Auth != "client_secret_basic" || !web.IDTokenReissue || web.AccessTTL != 300e9 || web.RefreshTTL != 86400e9 ||
		strings.Join(web.Scopes, " ") != "openid profile api.read" || strings.Join(web.GrantTypes, " ") != "refresh_token authorization_code" ||
		web.IDTokenSignedResponseAlg != "ES256" || strings.Join(web.Audience, " ") != "https://orders.example.org urn:billing" ||
		strings.Join(web.RedirectURIs, " ") != "https://app.example/cb http://127.0.0.1:9000/cb" || !web.PKCEOptional || got.Clients[1].PKCEOptional {
		t.Errorf("client web = %+v", web)
	}
	if c := got.Clients[2]; c.Secret != "{env.WEB_CLIENT_SECRET}" || c.SecretHash != "" {
		t.Errorf("the secret placeholder must reach the JSON unresolved: %+v", c)
	}
	if r := got.ResourceServers[0]; r.ID != "orders" || !strings.HasPrefix(r.SecretHash, "sha256:22") {
		t.Errorf("resource server = %+v", r)
	}
	routes := cfg["apps"].(map[string]any)["http"].(map[string]any)["servers"].(map[string]any)["srv0"].(map[string]any)["routes"].([]any)
	var order []string
	for _, r := range routes {
		for _, h := range r.(map[string]any)["handle"].([]any) {
			hm := h.(map[string]any)
			order = append(order, hm["handler"].(string))
			switch hm["handler"] {
			case "tokengate_manage":
				if hm["prefix"] != "/api/demo" || hm["max_body_bytes"] != 1024.0 {
					t.Errorf("manage = %v", hm)
				}
			case "tokengate_oauth":
				if hm["prefix"] != "/oauth2" || hm["jwks_uri"] != "/keys" {
					t.Errorf("oauth = %v", hm)
				}
			}
		}
	}
	// Endpoints come before the protection, whatever the order written.
	if got := strings.Join(order, ","); got != "tokengate_jwks,tokengate_oauth,tokengate_manage,tokengate_protect,reverse_proxy" {
		t.Errorf("handler order %s", got)
	}
}

func TestAdaptOAuthErrors(t *testing.T) {
	wrap := func(block string) string {
		return "{\n tokengate {\n oauth {\n" + block + "\n }\n }\n}\n:80 {\n respond ok\n}"
	}
	tests := map[string]string{
		"unknown oauth option":   wrap("bogus 1"),
		"oauth argument":         "{\n tokengate {\n oauth x {\n }\n }\n}\n:80 {\n respond ok\n}",
		"client without id":      wrap("client {\n auth none\n }"),
		"unknown client option":  wrap("client a {\n colour red\n }"),
		"unknown auth method":    wrap("client a {\n auth private_key_jwt\n }"),
		"literal secret":         wrap("client a {\n secret hunter2\n }"),
		"secret with text":       wrap("client a {\n secret pre{env.X}\n }"),
		"empty grant types":      wrap("client a {\n grant_types\n }"),
		"bad client ttl":         wrap("client a {\n access_ttl soon\n }"),
		"reissue with argument":  wrap("client a {\n id_token_reissue yes\n }"),
		"resource server arity":  wrap("resource_server rs"),
		"bad grace":              wrap("refresh_grace later"),
		"ID tokens in HS256":     wrap("client a {\n id_token_signed_response_alg HS256\n }"),
		"ID tokens unsigned":     wrap("client a {\n id_token_signed_response_alg none\n }"),
		"ID token alg arity":     wrap("client a {\n id_token_signed_response_alg RS256 ES256\n }"),
		"client audience empty":  wrap("client a {\n audience\n }"),
		"oauth audience empty":   wrap("audience"),
		"empty redirect uris":    wrap("client a {\n redirect_uris\n }"),
		"pkce_optional argument": wrap("client a {\n pkce_optional yes\n }"),
		"login_url arity":        wrap("login_url /a /b"),
		"demo login option":      ":80 {\n tokengate_demo_login {\n bogus\n }\n}",
		"demo login literal key": ":80 {\n tokengate_demo_login {\n api http://127.0.0.1/api\n operator_key demo-operator-key\n }\n}",
		"unknown oauth handler":  ":80 {\n tokengate_oauth {\n bogus\n }\n}",
		"unknown manage handler": ":80 {\n tokengate_manage {\n bogus\n }\n}",
		"oauth handler argument": ":80 {\n tokengate_oauth /x extra\n}",
	}
	for name, input := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := adapt(t, input); err == nil {
				t.Fatal("adapted without error")
			}
		})
	}
}

func TestPlaceholderOnly(t *testing.T) {
	for v, want := range map[string]bool{
		"{env.WEB_CLIENT_SECRET}": true, "{file./run/secrets/web}": true,
		"secret": false, "{}": false, "{env.A}{env.B}": false, "x{env.A}": false, "{env.A": false, "{env A}": false,
	} {
		if got := placeholderOnly(v); got != want {
			t.Errorf("placeholderOnly(%q) = %v", v, got)
		}
	}
}

func TestManagePrefix(t *testing.T) {
	for _, tc := range []struct {
		prefix, path, below string
		ok                  bool
	}{
		{"/api/{serviceId}", "/api/demo/auth/token/create", "/auth/token/create", true},
		{"/api/{serviceId}", "/api/12345/idtoken/reissue", "/idtoken/reissue", true},
		{"/api/{serviceId}", "/api//auth/token/create", "", false},
		{"/api/{serviceId}", "/api", "", false},
		{"/api/demo", "/api/demo/auth/token/get/list", "/auth/token/get/list", true},
		{"/api/demo", "/api/demo", "", true},
		{"/api/demo", "/api/demox/auth", "", false},
		{"/api/demo", "/api/other/auth/token/create", "", false},
		{"/api/demo", "/oauth2/token", "", false},
	} {
		m := &Manage{Prefix: tc.prefix}
		m.segments = strings.Split(strings.TrimPrefix(m.Prefix, "/"), "/")
		below, ok := m.below(tc.path)
		if ok != tc.ok || below != tc.below {
			t.Errorf("%s below %s = %q %v", tc.path, tc.prefix, below, ok)
		}
	}
}

func TestOAuthEndpointsMetadataPaths(t *testing.T) {
	for _, tc := range []struct {
		issuer, prefix                   string
		token, wellKnownOA, wellKnownOID string
	}{
		{"https://auth.example.org", "/oauth2", "https://auth.example.org/oauth2/token",
			"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"},
		{"https://example.org/auth", "/auth/oauth2", "https://example.org/auth/oauth2/token",
			"/.well-known/oauth-authorization-server/auth", "/auth/.well-known/openid-configuration"},
	} {
		o := &OAuthEndpoints{Prefix: tc.prefix}
		svc := testOAuthService(t, tc.issuer)
		if err := o.setup(svc); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(o.metadata, &m); err != nil {
			t.Fatal(err)
		}
		if m["token_endpoint"] != tc.token || o.wellKnownOA != tc.wellKnownOA || o.wellKnownOID != tc.wellKnownOID ||
			m["authorization_endpoint"] != nil || m["userinfo_endpoint"] != strings.TrimSuffix(tc.token, "token")+"userinfo" {
			t.Errorf("%s: token %v, well-known %s %s", tc.issuer, m["token_endpoint"], o.wellKnownOA, o.wellKnownOID)
		}
	}
}

// testOAuthService is a service on a memory store with an ES256 key that
// signs and an RS256 key for the ID tokens of its openid client.
func testOAuthService(t *testing.T, issuer string) *oauth.Service {
	t.Helper()
	key, _, err := tokencore.GenerateES256Key()
	if err != nil {
		t.Fatal(err)
	}
	rs, _, err := tokencore.GenerateRS256Key()
	if err != nil {
		t.Fatal(err)
	}
	ks, err := tokencore.NewKeySet(key, []*tokencore.Key{rs}, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	clients, err := oauth.NewClients([]oauth.Client{{ID: "web", AuthMethod: oauth.AuthClientSecretBasic,
		SecretHash: oauth.HashSecret("w3b"), GrantTypes: []string{"refresh_token"}, Scopes: []string{"openid"}}})
	if err != nil {
		t.Fatal(err)
	}
	e := &tokencore.Engine{Keys: ks, Store: memory.New(), View: tokencore.NewRevocationView()}
	svc, err := oauth.NewService(e, oauth.Config{Issuer: issuer, Clients: clients})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}
