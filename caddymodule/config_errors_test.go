package caddymodule

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/store/bolt"
)

// TestAdaptErrorsNameOptionAndLine: a Caddyfile mistake is reported with
// the option it is about and the line it is on, so the operator does not
// have to guess which of several durations or clients is meant.
func TestAdaptErrorsNameOptionAndLine(t *testing.T) {
	global := func(lines string) string {
		return "{\n\ttokengate {\n" + lines + "\n\t}\n}\n:80 {\n\trespond ok\n}\n"
	}
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"negative access_ttl", global("\t\taccess_ttl -5s"),
			[]string{"Caddyfile:3", "access_ttl", "-5s", "must not be negative"}},
		{"negative refresh_ttl", global("\t\taccess_ttl 5s\n\t\trefresh_ttl -1h"),
			[]string{"Caddyfile:4", "refresh_ttl", "must not be negative"}},
		{"unparsable duration", global("\t\tcache_ttl soon"),
			[]string{"Caddyfile:3", "cache_ttl", `invalid duration "soon"`}},
		{"negative tenant ttl", global("\t\ttenant_ttl diku -1s 1h"),
			[]string{"Caddyfile:3", "tenant_ttl diku <access_ttl>", "must not be negative"}},
		{"unparsable tenant ttl", global("\t\ttenant_ttl diku 1m later"),
			[]string{"Caddyfile:3", "tenant_ttl diku <refresh_ttl>", `invalid duration "later"`}},
		{"negative client ttl", global("\t\toauth {\n\t\t\tclient web {\n\t\t\t\tauth none\n\t\t\t\taccess_ttl -1m\n\t\t\t}\n\t\t}"),
			[]string{"Caddyfile:6", "access_ttl", "must not be negative"}},
		{"negative edi leeway", global("\t\tedi {\n\t\t\tleeway -1s\n\t\t}"),
			[]string{"Caddyfile:4", "leeway", "must not be negative"}},
		{"negative folio grace", ":80 {\n\ttokengate_folio {\n\t\trefresh_grace -1s\n\t}\n}\n",
			[]string{"Caddyfile:3", "refresh_grace", "must not be negative"}},
		{"duplicate client", global("\t\toauth {\n\t\t\tclient web {\n\t\t\t\tauth none\n\t\t\t}\n\t\t\tclient web {\n\t\t\t\tauth none\n\t\t\t}\n\t\t}"),
			[]string{"Caddyfile:7", `oauth: client "web" is defined twice`}},
		{"duplicate client across blocks", global("\t\toauth {\n\t\t\tclient web\n\t\t}\n\t\toauth {\n\t\t\tclient web\n\t\t}"),
			[]string{"Caddyfile:7", `client "web" is defined twice`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := adapt(t, tc.input)
			if err == nil {
				t.Fatal("adapted without error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "oauth: oauth:") {
				t.Errorf("error %q repeats its prefix", err)
			}
		})
	}
}

// TestAppValidateNamesTheOption: a JSON config has no line, so the error
// names the option and, for a tenant's lifetimes, the tenant.
func TestAppValidateNamesTheOption(t *testing.T) {
	d := func(s string) caddy.Duration {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return caddy.Duration(v)
	}
	tests := []struct {
		name string
		app  App
		want string
	}{
		{"negative access_ttl", App{AccessTTL: d("-5s")}, "access_ttl -5s must not be negative"},
		{"negative refresh_ttl", App{RefreshTTL: d("-1h")}, "refresh_ttl -1h0m0s must not be negative"},
		{"refresh shorter", App{AccessTTL: d("10m"), RefreshTTL: d("5m")}, "refresh_ttl 5m0s must not be shorter than access_ttl 10m0s"},
		{"tenant negative", App{TenantTTLs: map[string]TenantTTL{"ok": {}, "diku": {AccessTTL: d("-1s")}}},
			`tenant_ttl "diku": access_ttl -1s must not be negative`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.app.Validate()
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
	if err := (&App{AccessTTL: d("5m"), RefreshTTL: d("1h"), TenantTTLs: map[string]TenantTTL{"diku": {d("1m"), d("2m")}}}).Validate(); err != nil {
		t.Fatalf("a valid config: %v", err)
	}
}

// TestProvisionOAuthErrorsSayOAuthOnce: the errors of the oauth package
// start with "oauth:" and the app does not add a second one.
func TestProvisionOAuthErrorsSayOAuthOnce(t *testing.T) {
	tests := []struct {
		name    string
		clients []OAuthClient
		want    string
	}{
		{"duplicate client", []OAuthClient{{ID: "web", Auth: "none"}, {ID: "web", Auth: "none"}}, `oauth: duplicate client ID: "web"`},
		{"negative client ttl", []OAuthClient{{ID: "web", Auth: "none", AccessTTL: caddy.Duration(-time.Minute)}}, "access_ttl -1m0s must not be negative"},
		{"literal secret", []OAuthClient{{ID: "web", Secret: "hunter2"}}, "oauth: client 0 (web): secret must be a placeholder"},
	}
	t.Setenv("TOKENGATE_TEST_FOLIO_SECRET", "a-test-secret")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &App{
				Keys:   []KeyConfig{{Source: "folio_secret", Secret: "{env.TOKENGATE_TEST_FOLIO_SECRET}"}},
				Store:  &StoreConfig{Type: "memory"},
				Issuer: "https://auth.example.org", OAuth: &OAuthConfig{Clients: tc.clients},
			}
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := a.Provision(ctx)
			t.Cleanup(func() { _ = a.Cleanup() })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Provision = %v, want an error containing %q", err, tc.want)
			}
			if strings.Count(err.Error(), "oauth:") != 1 {
				t.Errorf("error %q does not say oauth: exactly once", err)
			}
		})
	}
}

// TestBoltStoreErrorsSayWhatHappened: only a store held by another process
// is explained as one; a directory that cannot be made says so.
func TestBoltStoreErrorsSayWhatHappened(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	held := filepath.Join(dir, "held.db")
	s, err := bolt.Open(held, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct {
		name      string
		path      string
		want      []string
		forbidden string
	}{
		{"directory cannot be made", filepath.Join(file, "sub", "tokengate.db"),
			[]string{"store bolt: ", "creating its directory", "not a directory"}, "another"},
		{"held by another process", held,
			[]string{"store bolt: ", "locked by another process", "caddy reload"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &App{Store: &StoreConfig{Type: "bolt", Path: tc.path}, logger: zap.NewNop()}
			st, key, err := a.openState()
			if err != nil {
				t.Fatal(err) // Provision opens no store: this cannot fail on the path
			}
			defer func() { _, _ = statePool.Delete(key) }()
			// Start opens it.
			_, err = st.open(func(tokencore.IdentifiedStore, string) error { return nil }, func(tokencore.Store) error { return nil })
			if err == nil {
				t.Fatal("the store opened")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.forbidden != "" && strings.Contains(err.Error(), tc.forbidden) {
				t.Errorf("error %q contains %q", err, tc.forbidden)
			}
		})
	}
}

// TestEDICommandFlagNames: the help of `caddy tokengate edi` names each
// flag's value sensibly (pflag takes the back-quoted word of a usage as
// the value name; it once printed "--store store bolt").
func TestEDICommandFlagNames(t *testing.T) {
	help := ediCommand().PersistentFlags().FlagUsages()
	for _, want := range []string{"--store path ", "--timeout duration ", "--time-zone string ", "--edi-ttl duration "} {
		if !strings.Contains(help, want) {
			t.Errorf("flag help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "`") {
		t.Errorf("flag help shows a back quote:\n%s", help)
	}
}
