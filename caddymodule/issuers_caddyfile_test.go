package caddymodule

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestAdaptTrustedIssuer(t *testing.T) {
	cfg, err := adapt(t, `{
	tokengate {
		trusted_issuer keycloak {
			discovery https://sso.example.com/realms/acme
			audience api admin-api
			algorithms RS256 ES256
			typ at+jwt
			leeway 30s
			user_id_claim preferred_username
			claim_header email X-User-Email
			keys_refresh 5m 12h
			stale_window 1h
			unknown_kid_interval 10s
			introspection {
				client tokengate {env.KC_SECRET}
				cache_ttl 30s
				inactive_ttl 2s
			}
		}
		trusted_issuer auth0 {
			issuer https://acme.eu.auth0.com/
			jwks_url https://acme.eu.auth0.com/.well-known/jwks.json
			audience https://api.acme.example
			typ any
		}
	}
}
:8080 {
	tokengate_protect {
		issuers self keycloak auth0
	}
	tokengate_issuer_admin
	reverse_proxy 127.0.0.1:9000
}`)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(cfg["apps"].(map[string]any)["tokengate"])
	var app App
	if err := json.Unmarshal(raw, &app); err != nil {
		t.Fatal(err)
	}
	want := []TrustedIssuerConfig{{
		Name: "keycloak", Issuer: "https://sso.example.com/realms/acme", Discovery: true,
		Audiences: []string{"api", "admin-api"}, Algorithms: []string{"RS256", "ES256"}, Typ: "at+jwt",
		Leeway: caddy.Duration(30 * time.Second), UserIDClaim: "preferred_username",
		ClaimHeaders:   map[string]string{"email": "X-User-Email"},
		KeysMinRefresh: caddy.Duration(5 * time.Minute), KeysMaxRefresh: caddy.Duration(12 * time.Hour),
		StaleWindow: caddy.Duration(time.Hour), UnknownKIDInterval: caddy.Duration(10 * time.Second),
		Introspection: &IntrospectionConfig{ClientID: "tokengate", ClientSecret: "{env.KC_SECRET}",
			CacheTTL: caddy.Duration(30 * time.Second), InactiveTTL: caddy.Duration(2 * time.Second)},
	}, {
		Name: "auth0", Issuer: "https://acme.eu.auth0.com/", JWKSURL: "https://acme.eu.auth0.com/.well-known/jwks.json",
		Audiences: []string{"https://api.acme.example"},
	}}
	if !reflect.DeepEqual(app.TrustedIssuers, want) {
		t.Fatalf("trusted issuers:\n got %+v\nwant %+v", app.TrustedIssuers, want)
	}
	out, _ := json.Marshal(cfg)
	if !strings.Contains(string(out), `"issuers":["self","keycloak","auth0"]`) || !strings.Contains(string(out), `"handler":"tokengate_issuer_admin"`) {
		t.Fatalf("handlers: %s", out)
	}
}

func TestTrustedIssuerConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, caddyfile, want string
	}{
		{"literal secret", `trusted_issuer k {
			discovery https://sso.example.com/realms/a
			audience api
			introspection {
				client tg hunter2
			}
		}`, "placeholder"},
		{"unknown option", `trusted_issuer k {
			audiences api
		}`, `unknown trusted_issuer option "audiences"`},
		{"no name", `trusted_issuer {
			audience api
		}`, "wrong argument count"},
		{"bad duration", `trusted_issuer k {
			stale_window -1s
		}`, "must not be negative"},
	} {
		_, err := adapt(t, "{\n\ttokengate {\n\t\t"+tc.caddyfile+"\n\t}\n}\n:8080 {\n\trespond ok\n}")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		cfg  TrustedIssuerConfig
		want string
	}{
		{"no audience", TrustedIssuerConfig{Name: "k", Issuer: "https://idp.example", Discovery: true}, "audience"},
		{"http", TrustedIssuerConfig{Name: "k", Issuer: "http://idp.example", Discovery: true, Audiences: []string{"a"}}, "https"},
		{"HS256", TrustedIssuerConfig{Name: "k", Issuer: "https://idp.example", Discovery: true, Audiences: []string{"a"}, Algorithms: []string{"HS256"}}, "not supported"},
		{"missing key file", TrustedIssuerConfig{Name: "k", Issuer: "https://idp.example", KeyFile: "/nonexistent/k.pem", Audiences: []string{"a"}}, "key_file"},
		{"literal secret in JSON", TrustedIssuerConfig{Name: "k", Issuer: "https://idp.example", Discovery: true, Audiences: []string{"a"},
			Introspection: &IntrospectionConfig{ClientID: "c", ClientSecret: "hunter2"}}, "placeholder"},
	} {
		if _, err := tc.cfg.engineConfig(); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"k"`) {
			t.Errorf("%s: %v, want %q naming the issuer", tc.name, err, tc.want)
		}
	}
}

// TestExternalIssuersDocAdapts adapts every global-option Caddyfile of
// docs/external-issuers.md and README.md, so the documented configurations
// are ones Caddy accepts.
func TestExternalIssuersDocAdapts(t *testing.T) {
	n := 0
	for _, page := range []string{"../docs/external-issuers.md", "../README.md"} {
		raw, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, block := range strings.Split(string(raw), "```caddyfile\n")[1:] {
			block, _, _ = strings.Cut(block, "```")
			if !strings.Contains(block, "trusted_issuer") {
				continue
			}
			n++
			if _, err := adapt(t, block); err != nil {
				t.Errorf("%s: %v\n%s", page, err, block)
			}
		}
	}
	if n < 3 {
		t.Fatalf("found %d configurations with trusted_issuer, want the Keycloak, Auth0 and README ones", n)
	}
}
