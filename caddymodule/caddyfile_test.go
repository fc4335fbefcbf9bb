package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	// The standard handlers the test Caddyfiles use.
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// adapt turns a Caddyfile into Caddy's JSON.
func adapt(t *testing.T, input string) (map[string]any, error) {
	t.Helper()
	adapter := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}
	out, _, err := adapter.Adapt([]byte(input), nil)
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg, nil
}

func TestAdaptGlobalOptionAndDirectives(t *testing.T) {
	cfg, err := adapt(t, `{
	tokengate {
		key auto
		key file /keys/old.pem kid old-1
		key folio_secret {env.JWT_SIGNING_KEY} sign
		key auto rs256
		store bolt /var/lib/tokengate.db
		cache_size 5000
		cache_ttl 2m
		access_ttl 5m
		refresh_ttl 1d
		tenant_ttl diku 1m 2h
		default_tenant diku
		issuer https://auth.example.com
	}
}
:8080 {
	reverse_proxy 127.0.0.1:9000
	tokengate_protect {
		cookie folioAccessToken
		leeway 5s
		claim_header email X-User-Email
		public /health /static/*
		allow_preflight
	}
	tokengate_folio {
		trusted_signers 127.0.0.1/32 10.0.0.0/8
		legacy_tenants diku
		refresh_grace 5s
	}
	tokengate_jwks
}`)
	if err != nil {
		t.Fatal(err)
	}
	app := cfg["apps"].(map[string]any)["tokengate"].(map[string]any)
	want := map[string]any{
		"default_tenant": "diku",
		"issuer":         "https://auth.example.com",
		"access_ttl":     float64(300e9),
		"refresh_ttl":    float64(86400e9),
	}
	for k, v := range want {
		if app[k] != v {
			t.Errorf("tokengate.%s = %v, want %v", k, app[k], v)
		}
	}
	keys := app["keys"].([]any)
	if len(keys) != 4 || keys[2].(map[string]any)["sign"] != true || keys[1].(map[string]any)["kid"] != "old-1" ||
		keys[3].(map[string]any)["source"] != "auto" || keys[3].(map[string]any)["alg"] != "RS256" || keys[0].(map[string]any)["alg"] != nil {
		t.Errorf("keys = %v", keys)
	}
	if s := app["store"].(map[string]any); s["type"] != "bolt" || s["path"] != "/var/lib/tokengate.db" {
		t.Errorf("store = %v", s)
	}
	// The handlers are ordered: endpoints, then protection, then the proxy,
	// whatever the order in the site block.
	routes := cfg["apps"].(map[string]any)["http"].(map[string]any)["servers"].(map[string]any)["srv0"].(map[string]any)["routes"].([]any)
	var order []string
	for _, r := range routes {
		for _, h := range r.(map[string]any)["handle"].([]any) {
			order = append(order, h.(map[string]any)["handler"].(string))
		}
	}
	if got := strings.Join(order, ","); got != "tokengate_jwks,tokengate_folio,tokengate_protect,reverse_proxy" {
		t.Errorf("handler order %s", got)
	}
}

func TestAdaptRedisStore(t *testing.T) {
	cfg, err := adapt(t, `{
	tokengate {
		store redis 10.0.0.5:6380 {
			password {env.REDIS_PASSWORD}
			db 2
			prefix gw1:
		}
		cache_size 10
	}
}
:80 {
	respond ok
}`)
	if err != nil {
		t.Fatal(err)
	}
	app := cfg["apps"].(map[string]any)["tokengate"].(map[string]any)
	s := app["store"].(map[string]any)
	want := map[string]any{"type": "redis", "address": "10.0.0.5:6380", "password": "{env.REDIS_PASSWORD}", "db": float64(2), "prefix": "gw1:"}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("store.%s = %v, want %v", k, s[k], v)
		}
	}
	if _, ok := app["cache"]; !ok {
		t.Error("the option after the redis block was lost")
	}

	// The multi-instance options.
	cfg, err = adapt(t, `{
	tokengate {
		store redis {
			min_replicas_acked 2
			replica_ack_timeout 50ms
			revocation_wait 300ms
			max_staleness 200ms
			on_stale serve
			instance_id gw-a
		}
	}
}
:80 {
	respond ok
}`)
	if err != nil {
		t.Fatal(err)
	}
	s = cfg["apps"].(map[string]any)["tokengate"].(map[string]any)["store"].(map[string]any)
	want = map[string]any{"min_replicas_acked": float64(2), "replica_ack_timeout": float64(50e6), "revocation_wait": float64(300e6),
		"max_staleness": float64(200e6), "on_stale": "serve", "instance_id": "gw-a"}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("store.%s = %v, want %v", k, s[k], v)
		}
	}
	for input, want := range map[string]any{"0": float64(0), "auto": nil} {
		cfg, err = adapt(t, "{\n tokengate {\n store redis {\n min_replicas_acked "+input+"\n }\n }\n}\n:80 {\n respond ok\n}")
		if err != nil {
			t.Fatal(err)
		}
		s = cfg["apps"].(map[string]any)["tokengate"].(map[string]any)["store"].(map[string]any)
		if s["min_replicas_acked"] != want {
			t.Errorf("min_replicas_acked %s: %v, want %v (0 is off, auto is unset)", input, s["min_replicas_acked"], want)
		}
	}

	// Without a block or an address: the defaults apply at provisioning.
	cfg, err = adapt(t, "{\n tokengate {\n store redis\n }\n}\n:80 {\n respond ok\n}")
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg["apps"].(map[string]any)["tokengate"].(map[string]any)["store"].(map[string]any); s["type"] != "redis" || len(s) != 1 {
		t.Errorf("store = %v", s)
	}
}

func TestAdaptErrors(t *testing.T) {
	tests := map[string]string{
		"unknown global":     "{\n tokengate {\n bogus 1\n }\n}\n:80 {\n respond ok\n}",
		"bad key source":     "{\n tokengate {\n key magic\n }\n}\n:80 {\n respond ok\n}",
		"alg of a file key":  "{\n tokengate {\n key file k.pem rs256\n }\n}\n:80 {\n respond ok\n}",
		"two auto algs":      "{\n tokengate {\n key auto rs256 es256\n }\n}\n:80 {\n respond ok\n}",
		"auto alg unknown":   "{\n tokengate {\n key auto ps256\n }\n}\n:80 {\n respond ok\n}",
		"bad duration":       "{\n tokengate {\n access_ttl soon\n }\n}\n:80 {\n respond ok\n}",
		"unknown protect":    ":80 {\n tokengate_protect {\n bogus\n }\n}",
		"unknown folio":      ":80 {\n tokengate_folio {\n bogus\n }\n}",
		"claim_header arity": ":80 {\n tokengate_protect {\n claim_header sub\n }\n}",
		"redis option":       "{\n tokengate {\n store redis 127.0.0.1:6379 {\n bogus 1\n }\n }\n}\n:80 {\n respond ok\n}",
		"redis db":           "{\n tokengate {\n store redis 127.0.0.1:6379 {\n db one\n }\n }\n}\n:80 {\n respond ok\n}",
		"redis arity":        "{\n tokengate {\n store redis a:1 b:2\n }\n}\n:80 {\n respond ok\n}",
		"on_stale value":     "{\n tokengate {\n store redis {\n on_stale maybe\n }\n }\n}\n:80 {\n respond ok\n}",
		"replicas number":    "{\n tokengate {\n store redis {\n min_replicas_acked -1\n }\n }\n}\n:80 {\n respond ok\n}",
		"replicas word":      "{\n tokengate {\n store redis {\n min_replicas_acked all\n }\n }\n}\n:80 {\n respond ok\n}",
		"wait duration":      "{\n tokengate {\n store redis {\n revocation_wait 0s\n }\n }\n}\n:80 {\n respond ok\n}",
		"staleness duration": "{\n tokengate {\n store redis {\n max_staleness 2h\n }\n }\n}\n:80 {\n respond ok\n}",
	}
	for name, input := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := adapt(t, input); err == nil {
				t.Fatal("adapted without error")
			}
		})
	}
}

// TestSecretsAreNeverLiteral: every option that holds a secret takes a
// placeholder, never the secret, in the Caddyfile (so `caddy adapt` cannot
// print one) and in JSON (so a config holding one never runs or is
// autosaved); the error never repeats the secret.
func TestSecretsAreNeverLiteral(t *testing.T) {
	const secret = "hunter2-the-secret"
	global := func(body string) string {
		return "{\n tokengate {\n issuer https://a.example\n " + body + "\n }\n}\n:80 {\n respond ok\n}"
	}
	for name, tc := range map[string]struct {
		input string
		ok    bool
	}{
		"literal folio_secret":        {global("key folio_secret " + secret + " sign"), false},
		"literal redis password":      {global("store redis 127.0.0.1:6379 {\n password " + secret + "\n }"), false},
		"literal client secret":       {global("oauth {\n client web {\n secret " + secret + "\n }\n }"), false},
		"two placeholders":            {global("key folio_secret {env.A}{env.B}"), false},
		"placeholder and literal":     {global("key folio_secret {env.A}" + secret), false},
		"env folio_secret":            {global("key folio_secret {env.JWT_SIGNING_KEY} sign"), true},
		"file folio_secret":           {global("key folio_secret {file./run/secrets/jwt}"), true},
		"env redis password":          {global("store redis {\n password {env.REDIS_PASSWORD}\n }"), true},
		"file client secret":          {global("oauth {\n client web {\n secret {file./run/secrets/web}\n }\n }"), true},
		"hash literals are no secret": {global("operator_key_hash sha256:" + strings.Repeat("ab", 32)), true},
	} {
		_, err := adapt(t, tc.input)
		if tc.ok != (err == nil) {
			t.Errorf("%s: err %v", name, err)
		}
		if err != nil && (!strings.Contains(err.Error(), "placeholder") || strings.Contains(err.Error(), secret)) {
			t.Errorf("%s: error must ask for a placeholder and not repeat the secret: %v", name, err)
		}
	}
}

func TestCheckSecretsJSON(t *testing.T) {
	const secret = "hunter2-the-secret"
	for name, app := range map[string]*App{
		"folio_secret":   {Keys: []KeyConfig{{Source: "auto"}, {Source: "folio_secret", Secret: secret}}},
		"redis password": {Store: &StoreConfig{Type: "redis", Password: secret}},
		"client secret":  {OAuth: &OAuthConfig{Clients: []OAuthClient{{ID: "web", Secret: secret}}}},
	} {
		err := app.checkSecrets()
		if err == nil || !strings.Contains(err.Error(), "placeholder") || strings.Contains(err.Error(), secret) {
			t.Errorf("%s: %v", name, err)
		}
	}
	ok := &App{Keys: []KeyConfig{{Source: "folio_secret", Secret: "{env.TG_TEST_SECRET}"}}, Store: &StoreConfig{Password: "{file./x}"}}
	if err := ok.checkSecrets(); err != nil {
		t.Fatal(err)
	}
	// Resolution: an unset variable is an error, never an empty secret.
	if _, err := resolveSecret("key 0: folio_secret", "{env.TG_TEST_SECRET_UNSET}"); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("unset variable: %v", err)
	}
	t.Setenv("TG_TEST_SECRET", secret)
	if got, err := resolveSecret("key 0: folio_secret", "{env.TG_TEST_SECRET}"); err != nil || got != secret {
		t.Errorf("resolve: %q %v", got, err)
	}
}
