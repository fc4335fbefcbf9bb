package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/policy"
)

// policyFixture is a Protect over a memory engine, a way to mint tokens
// with chosen claims, and a tokengate_require for the same app.
type policyFixture struct {
	protect *Protect
	keys    *tokencore.KeySet
}

func newPolicyFixture(t *testing.T, rules *policy.Rules) *policyFixture {
	t.Helper()
	p, _ := newBenchProtect(t)
	if rules != nil {
		pol, err := policy.New(*rules)
		if err != nil {
			t.Fatal(err)
		}
		p.policy = pol
	}
	return &policyFixture{protect: p, keys: p.auth.app.engine.Keys}
}

func (f *policyFixture) token(t *testing.T, tenant, scope string) string {
	t.Helper()
	now := time.Now()
	tok, err := f.keys.Sign(tokencore.AccessClaims{Type: tokencore.TypeAccess, IssuedAt: now.Unix(), Tenant: tenant,
		Subject: "alice", UserID: "u1", Expiry: now.Add(time.Hour).Unix(), ID: tokencore.NewTokenID(),
		GrantID: tokencore.NewGrantID(), ClientID: "web", Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *policyFixture) require(t *testing.T, rules policy.Rules) *Require {
	t.Helper()
	pol, err := policy.New(rules)
	if err != nil {
		t.Fatal(err)
	}
	return &Require{Rules: rules, Realm: "tokengate", policy: pol, counters: f.protect.auth.counters, logger: zap.NewNop()}
}

// caddyRequest is a request as Caddy's server hands it to handlers: with a
// replacer and a vars table.
func caddyRequest(token string, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
	return r.WithContext(ctx)
}

// chain runs the handlers in order, ending in a recorder of what the
// last one passed on.
func chain(w http.ResponseWriter, r *http.Request, hs ...caddyhttp.MiddlewareHandler) (*http.Request, error) {
	var reached *http.Request
	var next caddyhttp.Handler = caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error { reached = r; return nil })
	for i := len(hs) - 1; i >= 0; i-- {
		h, n := hs[i], next
		next = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return h.ServeHTTP(w, r, n) })
	}
	err := next.ServeHTTP(w, r)
	return reached, err
}

func TestProtectAndRequireAnswers(t *testing.T) {
	f := newPolicyFixture(t, &policy.Rules{Scopes: []string{"api.read"}})
	req := f.require(t, policy.Rules{AnyScopes: [][]string{{"api.write", "api.admin"}}})
	bare := f.require(t, policy.Rules{}) // only requires authentication
	tests := []struct {
		name     string
		handlers []caddyhttp.MiddlewareHandler
		token    string
		headers  []string
		status   int // 0: passed on
		header   string
	}{
		{"protect: scope granted", []caddyhttp.MiddlewareHandler{f.protect}, f.token(t, "diku", "api.read"), nil, 0, ""},
		{"protect: scope missing", []caddyhttp.MiddlewareHandler{f.protect}, f.token(t, "diku", "openid"), nil, 403,
			`Bearer realm="tokengate", error="insufficient_scope", error_description="the token lacks the scope api.read", scope="api.read"`},
		{"protect: another tenant is mod-authtoken's 403", []caddyhttp.MiddlewareHandler{f.protect}, f.token(t, "other", "api.read"),
			[]string{"X-Okapi-Tenant", "diku"}, 403,
			`Bearer realm="tokengate", error="insufficient_scope", error_description="the token belongs to another tenant"`},
		{"protect: invalid token is still 401", []caddyhttp.MiddlewareHandler{f.protect}, "x.y.z", nil, 401, ""},
		{"require after protect: admitted", []caddyhttp.MiddlewareHandler{f.protect, req}, f.token(t, "diku", "api.read api.admin"), nil, 0, ""},
		{"require after protect: refused", []caddyhttp.MiddlewareHandler{f.protect, req}, f.token(t, "diku", "api.read"), nil, 403,
			`Bearer realm="tokengate", error="insufficient_scope", error_description="the token grants none of the scopes api.write, api.admin", scope="api.write"`},
		{"bare require after protect", []caddyhttp.MiddlewareHandler{f.protect, bare}, f.token(t, "diku", "api.read"), nil, 0, ""},
		{"bare require alone fails closed", []caddyhttp.MiddlewareHandler{bare}, f.token(t, "diku", "api.read"), nil, 401, `Bearer realm="tokengate"`},
		{"require alone fails closed", []caddyhttp.MiddlewareHandler{req}, f.token(t, "diku", "api.read api.admin"), nil, 401, `Bearer realm="tokengate"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			reached, err := chain(w, caddyRequest(tc.token, tc.headers...), tc.handlers...)
			if err != nil {
				t.Fatal(err)
			}
			if tc.status == 0 {
				if reached == nil {
					t.Fatalf("refused: %d %s", w.Code, w.Body)
				}
				if c, ok := VerifiedClaims(reached.Context()); !ok || c.Subject != "alice" {
					t.Errorf("VerifiedClaims = %v, %v", c, ok)
				}
				return
			}
			if reached != nil || w.Code != tc.status {
				t.Fatalf("reached=%v status %d, want %d", reached != nil, w.Code, tc.status)
			}
			if tc.header != "" && w.Header().Get("WWW-Authenticate") != tc.header {
				t.Errorf("WWW-Authenticate\n got %s\nwant %s", w.Header().Get("WWW-Authenticate"), tc.header)
			}
			var body map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["error"] == "" {
				t.Errorf("body %q", w.Body)
			}
		})
	}
}

func TestVerifiedClaimsIgnoresOperatorVars(t *testing.T) {
	r := caddyRequest("")
	caddyhttp.SetVar(r.Context(), verifiedVar, "alice")
	if _, ok := VerifiedClaims(r.Context()); ok {
		t.Fatal("a string var was taken for a verified token")
	}
	if _, ok := VerifiedClaims(context.Background()); ok {
		t.Fatal("a context without vars has claims")
	}
}

func TestProtectSetsUserPlaceholders(t *testing.T) {
	f := newPolicyFixture(t, nil)
	f.protect.auth.userKeys = append(f.protect.auth.userKeys, "realm_access.roles")
	now := time.Now()
	var m map[string]any
	_ = json.Unmarshal([]byte(`{"type":"access","sub":"alice","tenant":"diku","scope":"a b","realm_access":{"roles":["admin","user"]}}`), &m)
	m["exp"], m["iat"] = float64(now.Add(time.Hour).Unix()), float64(now.Unix())
	tok, err := f.keys.Sign(jwt.MapClaims(m))
	if err != nil {
		t.Fatal(err)
	}
	r := caddyRequest(tok)
	reached, err := chain(httptest.NewRecorder(), r, f.protect)
	if err != nil || reached == nil {
		t.Fatalf("refused: %v", err)
	}
	repl := reached.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	for ph, want := range map[string]string{
		"{http.auth.user.id}":                   "alice",
		"{http.auth.user.tenant}":               "diku",
		"{http.auth.user.scope}":                "a b",
		"{http.auth.user.realm_access.roles}":   "admin,user",
		"{http.auth.user.unmapped}":             "",
		"{tokengate.claims.realm_access.roles}": "admin,user",
		"{tokengate.claims.nope}":               "",
	} {
		if got := repl.ReplaceAll(ph, ""); got != want {
			t.Errorf("%s = %q, want %q", ph, got, want)
		}
	}
}

func TestBearerProviderAuthenticates(t *testing.T) {
	f := newPolicyFixture(t, nil)
	prov := &BearerProvider{BearerConfig: BearerConfig{Realm: "tokengate"}}
	prov.auth = f.protect.auth
	prov.auth.cfg = &prov.BearerConfig

	r := caddyRequest(f.token(t, "diku", "api.read"), "X-Okapi-User-Id", "forged", "X_Tokengate_Subject", "forged")
	user, ok, err := prov.Authenticate(httptest.NewRecorder(), r)
	if err != nil || !ok {
		t.Fatalf("refused: %v", err)
	}
	want := map[string]string{"tenant": "diku", "user_id": "u1", "client_id": "web", "scope": "api.read", "iss": ""}
	if user.ID != "alice" || !reflect.DeepEqual(user.Metadata, want) {
		t.Errorf("user %+v", user)
	}
	if r.Header.Get("X-Okapi-User-Id") != "u1" || r.Header.Get("X_Tokengate_Subject") != "" || r.Header.Get("X-Tokengate-Subject") != "alice" {
		t.Errorf("identity headers %v", r.Header)
	}
	if c, ok := VerifiedClaims(r.Context()); !ok || c.Subject != "alice" {
		t.Error("no VerifiedClaims")
	}

	for name, r := range map[string]*http.Request{
		"bad token":      caddyRequest("x.y.z"),
		"no token":       caddyRequest(""),
		"ambiguous path": func() *http.Request { r := caddyRequest(f.token(t, "diku", "")); r.URL.Path = "/a;b"; return r }(),
	} {
		t.Run(name, func(t *testing.T) {
			w := httptest.NewRecorder()
			_, ok, err := prov.Authenticate(w, r)
			if ok || err != nil {
				t.Fatalf("ok=%v err=%v", ok, err)
			}
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `Bearer realm="tokengate"`) {
				t.Errorf("WWW-Authenticate = %q", w.Header().Get("WWW-Authenticate"))
			}
			if w.Body.Len() != 0 || w.Code != http.StatusOK {
				t.Error("the provider wrote a response: caddyauth answers")
			}
			if _, ok := VerifiedClaims(r.Context()); ok {
				t.Error("claims on a refused request")
			}
		})
	}
}

func TestAdaptRequire(t *testing.T) {
	cfg, err := adapt(t, `:8080 {
	tokengate_require scope api.read
	reverse_proxy 127.0.0.1:9000
	tokengate_protect {
		require scope api.read api.write
		require claim realm_access.roles contains admin
	}
	route /admin/* {
		tokengate_require {
			any_scope a b
			any_scope c
			claim tenant one_of diku other
			issuer https://kc.example/realms/acme
			client web cli
			realm admin
		}
	}
}`)
	if err != nil {
		t.Fatal(err)
	}
	routes := cfg["apps"].(map[string]any)["http"].(map[string]any)["servers"].(map[string]any)["srv0"].(map[string]any)["routes"].([]any)
	var order []string
	var handlers []map[string]any
	var walk func(rs []any)
	walk = func(rs []any) {
		for _, r := range rs {
			for _, h := range r.(map[string]any)["handle"].([]any) {
				hm := h.(map[string]any)
				if sub, ok := hm["routes"].([]any); ok {
					walk(sub)
					continue
				}
				order = append(order, hm["handler"].(string))
				handlers = append(handlers, hm)
			}
		}
	}
	walk(routes)
	// tokengate_require comes right after tokengate_protect, whatever the
	// order written; inside route it stays where it is.
	if got := strings.Join(order, ","); got != "tokengate_protect,tokengate_require,tokengate_require,reverse_proxy" {
		t.Fatalf("handler order %s", got)
	}
	enc := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	if got, want := enc(handlers[0]["require"]), `{"claims":[{"claim":"realm_access.roles","op":"contains","values":["admin"]}],"scopes":["api.read","api.write"]}`; got != want {
		t.Errorf("protect require %s, want %s", got, want)
	}
	if got := enc(handlers[1]["scopes"]); got != `["api.read"]` {
		t.Errorf("inline rule %s", got)
	}
	admin := handlers[2]
	delete(admin, "handler")
	if got, want := enc(admin), `{"any_scopes":[["a","b"],["c"]],"claims":[{"claim":"tenant","op":"one_of","values":["diku","other"]}],"clients":["web","cli"],"issuers":["https://kc.example/realms/acme"],"realm":"admin"}`; got != want {
		t.Errorf("block\n got %s\nwant %s", got, want)
	}
}

func TestAdaptRequireErrors(t *testing.T) {
	for name, block := range map[string]string{
		"unknown rule":         "tokengate_require {\n\t\trole admin\n\t}",
		"claim without value":  "tokengate_require {\n\t\tclaim roles contains\n\t}",
		"unknown operator":     "tokengate_require {\n\t\tclaim roles matches adm.*\n\t}",
		"equals two values":    "tokengate_require {\n\t\tclaim tenant equals a b\n\t}",
		"scope with a quote":   "tokengate_require {\n\t\tscope `a\"b`\n\t}",
		"scope without value":  "tokengate_require {\n\t\tscope\n\t}",
		"protect bad require":  "tokengate_protect {\n\t\trequire client\n\t}",
		"protect require bare": "tokengate_protect {\n\t\trequire\n\t}",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := adapt(t, ":8080 {\n\t"+block+"\n}")
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), "Caddyfile:") {
				t.Errorf("the error does not name the line: %v", err)
			}
		})
	}
}
