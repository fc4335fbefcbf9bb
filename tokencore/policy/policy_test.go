package policy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/tokencore"
)

// token builds verified claims from a JSON payload, as the verifier does.
func token(t *testing.T, payload string) *tokencore.Claims {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		t.Fatal(err)
	}
	c := &tokencore.Claims{Raw: m}
	c.Scope, _ = m["scope"].(string)
	c.Issuer, _ = m["iss"].(string)
	c.ClientID, _ = m["client_id"].(string)
	c.Subject, _ = m["sub"].(string)
	return c
}

const keycloak = `{"sub":"alice","iss":"https://kc.example/realms/acme","client_id":"web",
	"scope":"openid api.read profile","realm_access":{"roles":["admin","user"]},"groups":["/ops"],
	"tenant":"diku","level":3,"email_verified":true,"https://example.com/roles":["editor"],
	"a.b":"top","a":{"b":"nested"},"obj":{"k":"v"}}`

func TestPolicyCheck(t *testing.T) {
	claim := func(name string, op Op, values ...string) ClaimRule { return ClaimRule{name, op, values} }
	tests := []struct {
		name    string
		rules   Rules
		payload string
		want    error  // nil, ErrInsufficientScope or ErrForbidden
		scope   string // Refusal.Scope of a scope refusal
	}{
		{"no rules", Rules{}, keycloak, nil, ""},
		{"all scopes granted", Rules{Scopes: []string{"api.read", "openid"}}, keycloak, nil, ""},
		{"one scope missing", Rules{Scopes: []string{"api.read", "api.write"}}, keycloak, ErrInsufficientScope, "api.read api.write"},
		{"scope is not a substring match", Rules{Scopes: []string{"api"}}, keycloak, ErrInsufficientScope, "api"},
		{"any scope: one granted", Rules{AnyScopes: [][]string{{"api.write", "api.read"}}}, keycloak, nil, ""},
		{"any scope: none granted", Rules{AnyScopes: [][]string{{"api.write", "api.admin"}}}, keycloak, ErrInsufficientScope, "api.write"},
		{"all and any: challenge names every need", Rules{Scopes: []string{"x"}, AnyScopes: [][]string{{"y", "z"}, {"x", "w"}}}, `{"scope":"q"}`, ErrInsufficientScope, "x y"},
		{"no scope claim", Rules{Scopes: []string{"api.read"}}, `{"sub":"a"}`, ErrInsufficientScope, "api.read"},
		{"scp array (Entra ID, Okta)", Rules{Scopes: []string{"api.read"}}, `{"scp":["api.read","x"]}`, nil, ""},
		{"scp string", Rules{Scopes: []string{"api.read"}}, `{"scp":"x api.read"}`, nil, ""},
		{"scope wins over scp", Rules{Scopes: []string{"api.read"}}, `{"scope":"x","scp":["api.read"]}`, ErrInsufficientScope, "api.read"},
		{"claim equals", Rules{Claims: []ClaimRule{claim("tenant", OpEquals, "diku")}}, keycloak, nil, ""},
		{"claim equals other", Rules{Claims: []ClaimRule{claim("tenant", OpEquals, "other")}}, keycloak, ErrForbidden, ""},
		{"claim equals number", Rules{Claims: []ClaimRule{claim("level", OpEquals, "3")}}, keycloak, nil, ""},
		{"claim equals bool", Rules{Claims: []ClaimRule{claim("email_verified", OpEquals, "true")}}, keycloak, nil, ""},
		{"claim equals on an array refuses", Rules{Claims: []ClaimRule{claim("groups", OpEquals, "/ops")}}, keycloak, ErrForbidden, ""},
		{"claim equals on an object refuses", Rules{Claims: []ClaimRule{claim("obj", OpEquals, "map[k:v]")}}, keycloak, ErrForbidden, ""},
		{"claim missing refuses", Rules{Claims: []ClaimRule{claim("department", OpOneOf, "x")}}, keycloak, ErrForbidden, ""},
		{"claim one_of", Rules{Claims: []ClaimRule{claim("tenant", OpOneOf, "a", "diku")}}, keycloak, nil, ""},
		{"claim one_of none", Rules{Claims: []ClaimRule{claim("tenant", OpOneOf, "a", "b")}}, keycloak, ErrForbidden, ""},
		{"nested contains (Keycloak)", Rules{Claims: []ClaimRule{claim("realm_access.roles", OpContains, "admin")}}, keycloak, nil, ""},
		{"nested contains all", Rules{Claims: []ClaimRule{claim("realm_access.roles", OpContains, "admin", "auditor")}}, keycloak, ErrForbidden, ""},
		{"nested contains_any", Rules{Claims: []ClaimRule{claim("realm_access.roles", OpContainsAny, "auditor", "user")}}, keycloak, nil, ""},
		{"contains_any none", Rules{Claims: []ClaimRule{claim("groups", OpContainsAny, "/dev", "/qa")}}, keycloak, ErrForbidden, ""},
		{"contains on a scalar", Rules{Claims: []ClaimRule{claim("tenant", OpContains, "diku")}}, keycloak, nil, ""},
		{"namespaced claim with dots (Auth0)", Rules{Claims: []ClaimRule{claim("https://example.com/roles", OpContains, "editor")}}, keycloak, nil, ""},
		{"exact member wins over path", Rules{Claims: []ClaimRule{claim("a.b", OpEquals, "top")}}, keycloak, nil, ""},
		{"path through a non-object", Rules{Claims: []ClaimRule{claim("tenant.x", OpEquals, "diku")}}, keycloak, ErrForbidden, ""},
		{"issuer accepted", Rules{Issuers: []string{"https://other", "https://kc.example/realms/acme"}}, keycloak, nil, ""},
		{"issuer refused", Rules{Issuers: []string{"https://other"}}, keycloak, ErrForbidden, ""},
		{"issuer required, token has none", Rules{Issuers: []string{"https://other"}}, `{"sub":"a"}`, ErrForbidden, ""},
		{"client accepted", Rules{Clients: []string{"web"}}, keycloak, nil, ""},
		{"client refused", Rules{Clients: []string{"cli"}}, keycloak, ErrForbidden, ""},
		{"forbidden wins over insufficient scope", Rules{Scopes: []string{"api.write"}, Clients: []string{"cli"}}, keycloak, ErrForbidden, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Check(token(t, tc.payload))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			var r *Refusal
			if !errors.As(err, &r) || r.Description == "" {
				t.Fatalf("not a described Refusal: %#v", err)
			}
			if r.Scope != tc.scope {
				t.Errorf("scope %q, want %q", r.Scope, tc.scope)
			}
			if strings.ContainsAny(r.Description, "\"\\\r\n") {
				t.Errorf("description cannot be quoted: %q", r.Description)
			}
		})
	}
}

func TestNilPolicyAdmits(t *testing.T) {
	var p *Policy
	if err := p.Check(&tokencore.Claims{}); err != nil {
		t.Fatal(err)
	}
}

func TestNewRefusesBadRules(t *testing.T) {
	long := strings.Repeat("a", maxValueLen+1)
	many := make([]string, maxValues+1)
	for i := range many {
		many[i] = "s"
	}
	tests := map[string]Rules{
		"scope with a quote":       {Scopes: []string{`a"b`}},
		"scope with a space":       {Scopes: []string{"a b"}},
		"empty scope":              {Scopes: []string{""}},
		"empty any group":          {AnyScopes: [][]string{{}}},
		"bad scope in any group":   {AnyScopes: [][]string{{`a\b`}}},
		"too many scopes":          {Scopes: many},
		"empty claim name":         {Claims: []ClaimRule{{Claim: "", Op: OpEquals, Values: []string{"x"}}}},
		"claim name with a quote":  {Claims: []ClaimRule{{Claim: `a"`, Op: OpEquals, Values: []string{"x"}}}},
		"claim path with ..":       {Claims: []ClaimRule{{Claim: "a..b", Op: OpEquals, Values: []string{"x"}}}},
		"unknown operator":         {Claims: []ClaimRule{{Claim: "a", Op: "matches", Values: []string{"x"}}}},
		"equals with two values":   {Claims: []ClaimRule{{Claim: "a", Op: OpEquals, Values: []string{"x", "y"}}}},
		"one_of without values":    {Claims: []ClaimRule{{Claim: "a", Op: OpOneOf}}},
		"empty claim value":        {Claims: []ClaimRule{{Claim: "a", Op: OpContains, Values: []string{""}}}},
		"oversized issuer":         {Issuers: []string{long}},
		"empty client":             {Clients: []string{""}},
		"too many claim rule vals": {Claims: []ClaimRule{{Claim: "a", Op: OpOneOf, Values: many}}},
	}
	for name, r := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := New(r); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func BenchmarkPolicyCheck(b *testing.B) {
	var m map[string]any
	_ = json.Unmarshal([]byte(keycloak), &m)
	c := &tokencore.Claims{Raw: m, Scope: m["scope"].(string), Issuer: m["iss"].(string), ClientID: "web"}
	p, err := New(Rules{
		Scopes:    []string{"api.read"},
		AnyScopes: [][]string{{"x", "profile"}},
		Claims:    []ClaimRule{{Claim: "realm_access.roles", Op: OpContains, Values: []string{"admin"}}},
		Issuers:   []string{"https://kc.example/realms/acme"},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Check(c); err != nil {
			b.Fatal(err)
		}
	}
}
