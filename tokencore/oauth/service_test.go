package oauth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/store/bolt"
	"github.com/tokengate/tokengate/tokencore/store/memory"
)

// testClock is a settable clock shared by the engine and the service.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// The demo clients of issue §7, plus one whose tokens live briefly.
func demoClients(tb testing.TB) *Clients {
	tb.Helper()
	cs, err := NewClients([]Client{
		{ID: "web", AuthMethod: AuthClientSecretBasic, SecretHash: HashSecret("w3b"),
			GrantTypes: []string{GrantTypeRefreshToken, GrantTypeAuthorizationCode},
			Scopes:     []string{"openid", "profile", "api.read", "api.write"}, IDTokenReissue: true},
		{ID: "post", AuthMethod: AuthClientSecretPost, SecretHash: HashSecret("p0st"),
			GrantTypes: []string{GrantTypeRefreshToken, GrantTypeAuthorizationCode}, Scopes: []string{"openid", "api.read"}},
		{ID: "cli", AuthMethod: AuthNone,
			GrantTypes: []string{GrantTypeRefreshToken, GrantTypeAuthorizationCode, GrantTypeClientCredentials}, Scopes: []string{"api.read"}},
		{ID: "svc", AuthMethod: AuthClientSecretBasic, SecretHash: HashSecret("s3c"),
			GrantTypes: []string{GrantTypeClientCredentials}, Scopes: []string{"api.read"}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return cs
}

type fixture struct {
	svc *Service
	e   *tokencore.Engine
	clk *testClock
	ctx context.Context
}

type fixtureOpt func(*Config)

// newFixture builds a service over a real bbolt file (or the memory store
// when inMemory is true) with an ES256 key.
func newFixture(tb testing.TB, inMemory bool, opts ...fixtureOpt) *fixture {
	tb.Helper()
	ks := newTestKeys(tb)
	var st tokencore.Store
	if inMemory {
		st = memory.New()
	} else {
		bs, err := bolt.Open(filepath.Join(tb.TempDir(), "tg.db"), bolt.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		st = bs
	}
	tb.Cleanup(func() { st.Close() })
	clk := &testClock{t: time.Unix(1_900_000_000, 0)}
	f := newFixtureOn(tb, ks, st, clk.now, opts...)
	f.clk = clk
	return f
}

// testRS256Key is one RSA key for every test of the package: generating
// 2048-bit keys is slow, and a key is immutable.
var testRS256Key = sync.OnceValues(func() (*tokencore.Key, error) {
	k, _, err := tokencore.GenerateRS256Key()
	return k, err
})

// newTestKeys returns a key set with a fresh ES256 key that signs, the
// package's RS256 key (ID tokens of clients that registered no algorithm)
// and a fresh refresh key.
func newTestKeys(tb testing.TB) *tokencore.KeySet {
	tb.Helper()
	key, _, err := tokencore.GenerateES256Key()
	if err != nil {
		tb.Fatal(err)
	}
	rs, err := testRS256Key()
	if err != nil {
		tb.Fatal(err)
	}
	refreshKey := make([]byte, 32)
	_, _ = rand.Read(refreshKey)
	ks, err := tokencore.NewKeySet(key, []*tokencore.Key{rs}, refreshKey)
	if err != nil {
		tb.Fatal(err)
	}
	return ks
}

// newFixtureOn builds the service over the given keys and store; now is
// the clock (nil: the real one).
func newFixtureOn(tb testing.TB, ks *tokencore.KeySet, st tokencore.TokenStore, now func() time.Time, opts ...fixtureOpt) *fixture {
	tb.Helper()
	cache, err := tokencore.NewVerifyCache(tokencore.CacheConfig{MaxEntries: 10000})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cache.Close)
	e := &tokencore.Engine{Keys: ks, Store: st, View: tokencore.NewRevocationView(), Cache: cache,
		Now: now, Issuer: "https://auth.example.org"}
	cfg := Config{
		Issuer:          "https://auth.example.org",
		Clients:         demoClients(tb),
		ResourceServers: []ResourceServer{{ID: "orders-api", SecretHash: HashSecret("rs-secret")}},
	}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := NewService(e, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{svc: svc, e: e, ctx: context.Background()}
}

// post builds a form request with an optional Authorization header.
func post(body string, authorization ...string) Request {
	return Request{Method: http.MethodPost, ContentType: "application/x-www-form-urlencoded", Body: []byte(body), Authorization: authorization}
}

var (
	webAuth  = basic("web:w3b")
	svcAuth  = basic("svc:s3c")
	rsAuth   = basic("orders-api:rs-secret")
	postCred = "client_id=post&client_secret=p0st"
)

// create makes a management grant and returns its tokens.
func (f *fixture) create(tb testing.TB, body string) CreateResponse {
	tb.Helper()
	r := f.svc.Manage(f.ctx, ManageRequest{Method: http.MethodPost, Path: "/auth/token/create", ContentType: "application/json", Body: []byte(body)})
	if r.Status != http.StatusOK {
		tb.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var out CreateResponse
	if err := json.Unmarshal(r.Body, &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

func (f *fixture) createFor(tb testing.TB, client, subject, scopes string) CreateResponse {
	tb.Helper()
	sc, _ := json.Marshal(strings.Fields(scopes))
	return f.create(tb, `{"grantType":"AUTHORIZATION_CODE","clientId":"`+client+`","subject":"`+subject+`","scopes":`+string(sc)+`}`)
}

// refresh runs the refresh grant with the given credentials.
func (f *fixture) refresh(rt, extra string, authorization ...string) (*TokenResponse, *Error) {
	body := "grant_type=refresh_token&refresh_token=" + url.QueryEscape(rt)
	if extra != "" {
		body += "&" + extra
	}
	return f.svc.Token(f.ctx, post(body, authorization...))
}

func mustRefresh(tb testing.TB, f *fixture, rt, extra string, authorization ...string) *TokenResponse {
	tb.Helper()
	resp, oerr := f.refresh(rt, extra, authorization...)
	if oerr != nil {
		tb.Fatalf("refresh: %v", oerr)
	}
	return resp
}

// proxyAccepts reports whether the bearer check of the proxy accepts an
// access token right now.
func (f *fixture) proxyAccepts(token string) error {
	_, err := f.e.Verifier(tokencore.VerifierOptions{}).Verify(token, "")
	return err
}

func wantError(tb testing.TB, oerr *Error, code ErrorCode, status int) {
	tb.Helper()
	if oerr == nil {
		tb.Fatalf("no error, want %s", code)
	}
	if !errors.Is(oerr, code) || oerr.HTTPStatus() != status {
		tb.Fatalf("error %q (%d), want %s (%d)", oerr.Error(), oerr.HTTPStatus(), code, status)
	}
}

func TestNewServiceConfig(t *testing.T) {
	refreshKey := make([]byte, 32)
	folioOnly, err := tokencore.NewKeySet(tokencore.NewFolioKey("secret"), nil, refreshKey)
	if err != nil {
		t.Fatal(err)
	}
	es, _, _ := tokencore.GenerateES256Key()
	esOnly, _ := tokencore.NewKeySet(es, nil, refreshKey)
	rs, err := testRS256Key()
	if err != nil {
		t.Fatal(err)
	}
	esKeys, _ := tokencore.NewKeySet(es, []*tokencore.Key{rs}, refreshKey)
	rsOnly, _ := tokencore.NewKeySet(rs, nil, refreshKey)
	oidcClient := func(alg string) *Clients {
		cs, err := NewClients([]Client{{ID: "rp", AuthMethod: AuthClientSecretBasic, SecretHash: HashSecret("x"),
			GrantTypes: []string{GrantTypeRefreshToken}, Scopes: []string{"openid"}, IDTokenSignedResponseAlg: alg}})
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	st := memory.New()
	engine := func(ks *tokencore.KeySet) *tokencore.Engine {
		return &tokencore.Engine{Keys: ks, Store: st, View: tokencore.NewRevocationView()}
	}
	noOIDC, _ := NewClients([]Client{{ID: "svc", AuthMethod: AuthClientSecretBasic, SecretHash: HashSecret("x"),
		GrantTypes: []string{GrantTypeClientCredentials}, Scopes: []string{"api.read"}}})
	tests := []struct {
		name    string
		keys    *tokencore.KeySet
		cfg     Config
		wantErr error
	}{
		{"ok", esKeys, Config{Issuer: "https://a.example", Clients: demoClients(t)}, nil},
		{"folio key without OIDC", folioOnly, Config{Issuer: "https://a.example", Clients: noOIDC}, nil},
		{"folio key only with an openid client", folioOnly, Config{Issuer: "https://a.example", Clients: demoClients(t)}, tokencore.ErrNoAsymmetricKey},
		// OpenID Discovery makes RS256 mandatory: without an RSA key, no
		// OpenID Connect, even when every client asks for ES256.
		{"ES256 key only, client with the default alg", esOnly, Config{Issuer: "https://a.example", Clients: oidcClient("")}, tokencore.ErrNoAsymmetricKey},
		{"ES256 key only, ES256 client", esOnly, Config{Issuer: "https://a.example", Clients: oidcClient("ES256")}, tokencore.ErrNoAsymmetricKey},
		{"ES256 key only without OIDC", esOnly, Config{Issuer: "https://a.example", Clients: noOIDC}, nil},
		{"RS256 key only, RS256 client", rsOnly, Config{Issuer: "https://a.example", Clients: oidcClient("RS256")}, nil},
		{"RS256 key only, ES256 client", rsOnly, Config{Issuer: "https://a.example", Clients: oidcClient("ES256")}, tokencore.ErrNoAsymmetricKey},
		{"service audience", esKeys, Config{Issuer: "https://a.example", Audience: []string{"https://api.example"}}, nil},
		{"service audience with a space", esKeys, Config{Issuer: "https://a.example", Audience: []string{"a b"}}, ErrServiceConfig},
		{"missing issuer", esKeys, Config{Clients: demoClients(t)}, ErrMetadata},
		{"issuer with slash", esKeys, Config{Issuer: "https://a.example/", Clients: demoClients(t)}, ErrServiceConfig},
		{"http issuer", esKeys, Config{Issuer: "http://a.example"}, ErrMetadata},
		{"grace too long", esKeys, Config{Issuer: "https://a.example", RefreshGrace: 2 * time.Minute}, ErrServiceConfig},
		{"negative ttl", esKeys, Config{Issuer: "https://a.example", AccessTTL: -1}, ErrServiceConfig},
		{"resource server named like a client", esKeys, Config{Issuer: "https://a.example", Clients: demoClients(t),
			ResourceServers: []ResourceServer{{ID: "web", SecretHash: HashSecret("x")}}}, ErrServiceConfig},
		{"resource server with bad hash", esKeys, Config{Issuer: "https://a.example",
			ResourceServers: []ResourceServer{{ID: "rs", SecretHash: "plain"}}}, ErrClientConfig},
		{"duplicate resource server", esKeys, Config{Issuer: "https://a.example",
			ResourceServers: []ResourceServer{{ID: "rs", SecretHash: HashSecret("x")}, {ID: "rs", SecretHash: HashSecret("y")}}}, ErrServiceConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewService(engine(tt.keys), tt.cfg)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("NewService: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("NewService error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
