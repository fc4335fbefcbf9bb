package issuer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tokengate/tokengate/tokencore"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// provider is a real HTTP server that plays an OpenID Provider: discovery,
// a JWK Set (with the Cache-Control it is told), introspection.
type provider struct {
	t            testing.TB
	srv          *httptest.Server
	mu           sync.Mutex
	keys         map[string]crypto.Signer // kid -> key
	cacheControl string
	down         bool
	active       map[string]map[string]any // opaque token -> answer
	jwksFetches  atomic.Int64
	introCalls   atomic.Int64
}

func newProvider(t testing.TB) *provider {
	p := &provider{t: t, keys: map[string]crypto.Signer{}, cacheControl: "max-age=300", active: map[string]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if p.isDown(w) {
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{
			"issuer": p.srv.URL, "jwks_uri": p.srv.URL + "/jwks", "introspection_endpoint": p.srv.URL + "/introspect",
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		if p.isDown(w) {
			return
		}
		p.jwksFetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		var set jose.JSONWebKeySet
		for kid, k := range p.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public(), KeyID: kid, Use: "sig"})
		}
		w.Header().Set("Cache-Control", p.cacheControl)
		_ = json.NewEncoder(w).Encode(set)
	})
	mux.HandleFunc("/introspect", func(w http.ResponseWriter, r *http.Request) {
		if p.isDown(w) {
			return
		}
		p.introCalls.Add(1)
		id, secret, _ := r.BasicAuth()
		if id != "gw" || secret != "s3cret" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		p.mu.Lock()
		ans, ok := p.active[r.PostFormValue("token")]
		p.mu.Unlock()
		if !ok {
			ans = map[string]any{"active": false}
		}
		_ = json.NewEncoder(w).Encode(ans)
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) isDown(w http.ResponseWriter) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}
	return p.down
}

func (p *provider) set(f func(p *provider)) { p.mu.Lock(); f(p); p.mu.Unlock() }

func (p *provider) addKey(kid string, k crypto.Signer) { p.set(func(p *provider) { p.keys[kid] = k }) }

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sign makes a JWT with header fields hdr over claims.
func sign(t testing.TB, method jwt.SigningMethod, key any, hdr map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range hdr {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type fixture struct {
	p     *provider
	clk   *clock
	view  *tokencore.RevocationView
	cache *tokencore.VerifyCache
	iss   *Issuer
	key   *ecdsa.PrivateKey
}

func newFixture(t testing.TB, mod func(c *Config)) *fixture {
	p := newProvider(t)
	f := &fixture{p: p, clk: &clock{t: time.Now()}, view: tokencore.NewRevocationView(), key: ecKey(t)}
	p.addKey("k1", f.key)
	var err error
	f.cache, err = tokencore.NewVerifyCache(tokencore.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.cache.Close)
	cfg := Config{
		Name: "idp", Issuer: p.srv.URL, Discovery: true, Audiences: []string{"api"}, Typ: "at+jwt",
		AllowHTTPLoopback: true, KeysMinRefresh: time.Minute, KeysMaxRefresh: time.Hour,
		StaleWindow: 10 * time.Minute, UnknownKIDInterval: 30 * time.Second,
		Introspection: &IntrospectionConfig{ClientID: "gw", ClientSecret: "s3cret", CacheTTL: time.Minute, InactiveTTL: 5 * time.Second},
	}
	if mod != nil {
		mod(&cfg)
	}
	f.iss, err = New(cfg, Deps{Cache: f.cache, View: f.view, Now: f.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// claims are valid claims of the fixture's issuer at its clock.
func (f *fixture) claims() jwt.MapClaims {
	now := f.clk.now().Unix()
	return jwt.MapClaims{"iss": f.p.srv.URL, "aud": "api", "sub": "alice", "jti": "j-1", "client_id": "app",
		"scope": "read  write", "iat": now, "exp": now + 300}
}

func (f *fixture) token(t testing.TB, mod func(h map[string]any, c jwt.MapClaims)) string {
	h := map[string]any{"typ": "at+jwt", "kid": "k1"}
	c := f.claims()
	if mod != nil {
		mod(h, c)
	}
	return sign(t, jwt.SigningMethodES256, f.key, h, c)
}

func TestVerifyJWT(t *testing.T) {
	f := newFixture(t, nil)
	other := ecKey(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f.p.addKey("rsa", rsaKey)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		token func() string
		want  error
	}{
		{"valid", func() string { return f.token(t, nil) }, nil},
		{"valid application/at+jwt", func() string {
			return f.token(t, func(h map[string]any, _ jwt.MapClaims) { h["typ"] = "application/at+JWT" })
		}, nil},
		{"audience in a list", func() string {
			return f.token(t, func(_ map[string]any, c jwt.MapClaims) { c["aud"] = []string{"x", "api"} })
		}, nil},
		{"RSA key, RS256", func() string {
			return sign(t, jwt.SigningMethodRS256, rsaKey, map[string]any{"typ": "at+jwt", "kid": "rsa"}, f.claims())
		}, nil},
		{"RSA key, RS512 not accepted by the issuer", func() string {
			return sign(t, jwt.SigningMethodRS512, rsaKey, map[string]any{"typ": "at+jwt", "kid": "rsa"}, f.claims())
		}, tokencore.ErrTokenSignature},
		{"expired", func() string {
			return f.token(t, func(_ map[string]any, c jwt.MapClaims) { c["exp"] = f.clk.now().Unix() - 1 })
		}, tokencore.ErrTokenExpired},
		{"not yet valid", func() string {
			return f.token(t, func(_ map[string]any, c jwt.MapClaims) { c["nbf"] = f.clk.now().Unix() + 60 })
		}, tokencore.ErrTokenNotYetValid},
		{"no exp", func() string {
			return f.token(t, func(_ map[string]any, c jwt.MapClaims) { delete(c, "exp") })
		}, tokencore.ErrTokenMalformed},
		{"wrong audience", func() string {
			return f.token(t, func(_ map[string]any, c jwt.MapClaims) { c["aud"] = "other-api" })
		}, tokencore.ErrTokenAudience},
		{"no audience", func() string {
			return f.token(t, func(_ map[string]any, c jwt.MapClaims) { delete(c, "aud") })
		}, tokencore.ErrTokenAudience},
		{"wrong issuer", func() string {
			return f.token(t, func(_ map[string]any, c jwt.MapClaims) { c["iss"] = "https://evil.example" })
		}, tokencore.ErrTokenIssuer},
		{"typ JWT where at+jwt is required", func() string {
			return f.token(t, func(h map[string]any, _ jwt.MapClaims) { h["typ"] = "JWT" })
		}, tokencore.ErrTokenWrongType},
		{"signed by another key", func() string {
			return sign(t, jwt.SigningMethodES256, other, map[string]any{"typ": "at+jwt", "kid": "k1"}, f.claims())
		}, tokencore.ErrTokenSignature},
		{"EC key used with ES384", func() string {
			k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			return sign(t, jwt.SigningMethodES384, k384, map[string]any{"typ": "at+jwt", "kid": "k1"}, f.claims())
		}, tokencore.ErrTokenSignature},
		{"HMAC with the public key as secret", func() string {
			pub, _ := json.Marshal(jose.JSONWebKey{Key: f.key.Public()})
			return sign(t, jwt.SigningMethodHS256, pub, map[string]any{"typ": "at+jwt", "kid": "k1"}, f.claims())
		}, tokencore.ErrTokenSignature},
		{"alg none", func() string {
			return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, map[string]any{"typ": "at+jwt", "kid": "k1"}, f.claims())
		}, tokencore.ErrTokenSignature},
		{"sender-constrained (cnf)", func() string {
			return f.token(t, func(_ map[string]any, c jwt.MapClaims) { c["cnf"] = map[string]any{"jkt": "x"} })
		}, tokencore.ErrTokenWrongType},
		{"scope of the wrong type", func() string {
			return f.token(t, func(_ map[string]any, c jwt.MapClaims) { c["scope"] = 7 })
		}, tokencore.ErrTokenMalformed},
		{"tampered signature", func() string {
			tok := f.token(t, nil)
			return tok[:len(tok)-4] + "AAAA"
		}, tokencore.ErrTokenSignature},
		{"duplicate claim", func() string {
			tok := f.token(t, nil)
			h, _, _ := strings.Cut(tok, ".")
			payload := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"x","sub":"alice","sub":"root"}`))
			return h + "." + payload + ".c2ln"
		}, tokencore.ErrTokenMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := f.iss.Verify(ctx, tc.token())
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Subject != "alice" || c.TrustedIssuer != "idp" || c.ClientID != "app" || c.Scope != "read write" || c.TokenID != "j-1" {
					t.Fatalf("claims %+v", c)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestScopeNormalization(t *testing.T) {
	for _, tc := range []struct {
		claims map[string]any
		want   string
	}{
		{map[string]any{"scope": " a  b "}, "a b"},
		{map[string]any{"scp": []any{"a", "b"}}, "a b"},
		{map[string]any{"scp": "a b"}, "a b"},
		{map[string]any{}, ""},
	} {
		got, err := scopeOf(tc.claims)
		if err != nil || got != tc.want {
			t.Errorf("scopeOf(%v) = %q, %v; want %q", tc.claims, got, err, tc.want)
		}
	}
	if _, err := scopeOf(map[string]any{"scp": []any{"a", 1.0}}); !errors.Is(err, tokencore.ErrTokenMalformed) {
		t.Errorf("scp with a number: %v", err)
	}
}

func TestRevocationsApplyToExternalTokens(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	exp := f.clk.now().Add(time.Hour)
	bySubject := f.token(t, func(_ map[string]any, c jwt.MapClaims) { c["sub"] = "bob"; c["jti"] = "j-bob" })
	byJTI := f.token(t, func(_ map[string]any, c jwt.MapClaims) { c["jti"] = "j-revoked" })
	for _, tok := range []string{bySubject, byJTI} {
		if _, err := f.iss.Verify(ctx, tok); err != nil {
			t.Fatalf("before revocation: %v", err)
		}
	}
	f.view.Apply(tokencore.Revocation{Kind: tokencore.RevocationOfSubject, Key: "bob", NotBefore: f.clk.now(), ExpiresAt: exp})
	f.view.Apply(tokencore.Revocation{Kind: tokencore.RevocationOfToken, Key: "j-revoked", NotBefore: f.clk.now(), ExpiresAt: exp})
	for _, tok := range []string{bySubject, byJTI} { // cached verdicts, still refused
		if _, err := f.iss.Verify(ctx, tok); !errors.Is(err, tokencore.ErrTokenRevoked) {
			t.Fatalf("after revocation: %v", err)
		}
	}
	if _, err := f.iss.Verify(ctx, f.token(t, nil)); err != nil {
		t.Fatalf("another token: %v", err)
	}

	// With user_id_claim and tenant_claim, a revocation by user (FOLIO's
	// logout-everywhere) applies to the user's external tokens too.
	g := newFixture(t, func(c *Config) { c.UserIDClaim, c.TenantClaim = "uid", "tid" })
	userTok := g.token(t, func(_ map[string]any, c jwt.MapClaims) { c["uid"], c["tid"] = "u1", "diku" })
	c, err := g.iss.Verify(ctx, userTok)
	if err != nil || c.UserID != "u1" || c.Tenant != "diku" {
		t.Fatalf("user token: %+v, %v", c, err)
	}
	g.view.Apply(tokencore.Revocation{Kind: tokencore.RevocationOfUser, Key: tokencore.UserKey("diku", "u1"), NotBefore: g.clk.now(), ExpiresAt: exp})
	if _, err := g.iss.Verify(ctx, userTok); !errors.Is(err, tokencore.ErrTokenRevoked) {
		t.Fatalf("after the user's revocation: %v", err)
	}
	if _, err := g.iss.Verify(ctx, g.token(t, func(_ map[string]any, c jwt.MapClaims) { c["uid"], c["tid"] = "u1", 7 })); !errors.Is(err, tokencore.ErrTokenMalformed) {
		t.Fatalf("tenant of the wrong type: %v", err)
	}
}

func TestUnknownKIDRefetchIsRateLimited(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if _, err := f.iss.Verify(ctx, f.token(t, nil)); err != nil {
		t.Fatal(err)
	}
	base := f.p.jwksFetches.Load()
	// A flood of made-up kids: one fetch.
	for i := range 50 {
		tok := f.token(t, func(h map[string]any, _ jwt.MapClaims) { h["kid"] = fmt.Sprint("made-up-", i) })
		if _, err := f.iss.Verify(ctx, tok); !errors.Is(err, tokencore.ErrTokenSignature) {
			t.Fatalf("made-up kid: %v", err)
		}
	}
	if n := f.p.jwksFetches.Load() - base; n != 1 {
		t.Fatalf("%d fetches for 50 unknown kids, want 1", n)
	}
	// The provider rotates; the first token with the new kid after the
	// interval is verified at once.
	k2 := ecKey(t)
	f.p.addKey("k2", k2)
	f.clk.add(31 * time.Second)
	tok := sign(t, jwt.SigningMethodES256, k2, map[string]any{"typ": "at+jwt", "kid": "k2"}, f.claims())
	if _, err := f.iss.Verify(ctx, tok); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	if n := f.p.jwksFetches.Load() - base; n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

func TestStaleWindowThenFailClosed(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.KeysMinRefresh, c.KeysMaxRefresh, c.StaleWindow = time.Minute, time.Minute, 5*time.Minute
	})
	ctx := context.Background()
	tok := f.token(t, func(_ map[string]any, c jwt.MapClaims) { c["exp"] = f.clk.now().Add(time.Hour).Unix() })
	if _, err := f.iss.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	f.p.set(func(p *provider) { p.down = true })
	f.clk.add(4 * time.Minute) // refresh due at 1m, failing; within 1m + 5m
	f.iss.keys.mu.Lock()
	if err := f.iss.keys.refresh(ctx); err == nil {
		t.Fatal("refresh against a stopped provider succeeded")
	}
	f.iss.keys.mu.Unlock()
	if _, err := f.iss.Verify(ctx, tok); err != nil {
		t.Fatalf("within the stale window: %v", err)
	}
	f.clk.add(2*time.Minute + time.Second) // past 1m + 5m
	if _, err := f.iss.Verify(ctx, tok); !errors.Is(err, tokencore.ErrIssuerUnavailable) {
		t.Fatalf("past the stale window (cached verdict): %v", err)
	}
	f.p.set(func(p *provider) { p.down = false })
	f.iss.keys.mu.Lock()
	_ = f.iss.keys.refresh(ctx)
	f.iss.keys.mu.Unlock()
	if _, err := f.iss.Verify(ctx, tok); err != nil {
		t.Fatalf("provider back: %v", err)
	}
}

func TestCacheControlClamped(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"max-age=5", time.Minute}, // floor
		{"public, max-age=600", 10 * time.Minute},
		{"max-age=999999", time.Hour}, // ceiling
		{"no-store", time.Minute},
		{"", DefaultKeysRefresh},
	} {
		f := newFixture(t, nil)
		f.p.set(func(p *provider) { p.cacheControl = tc.header })
		f.iss.keys.mu.Lock()
		if err := f.iss.keys.refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.iss.keys.mu.Unlock()
		snap := f.iss.keys.snap.Load()
		if got := snap.refreshAt.Sub(f.clk.now()); got != tc.want {
			t.Errorf("Cache-Control %q: refresh after %s, want %s", tc.header, got, tc.want)
		}
		if got := snap.usableUntil.Sub(snap.refreshAt); got != 10*time.Minute {
			t.Errorf("stale window %s", got)
		}
	}
}

func TestBackgroundFetchStopsWithContext(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.KeysMinRefresh, c.KeysMaxRefresh = time.Second, time.Second })
	f.iss.deps.Now = time.Now // the loop's timers are real
	f.iss.keys.now = time.Now
	ctx, cancel := context.WithCancel(context.Background())
	f.iss.Start(ctx)
	<-f.iss.keys.ready
	deadline := time.Now().Add(5 * time.Second)
	for f.p.jwksFetches.Load() < 2 { // refreshed in the background when due
		if time.Now().After(deadline) {
			t.Fatal("no background refresh within 5s (refresh every 1s)")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	time.Sleep(100 * time.Millisecond)
	n := f.p.jwksFetches.Load()
	time.Sleep(1500 * time.Millisecond)
	if got := f.p.jwksFetches.Load(); got != n {
		t.Fatalf("%d fetches after the context ended", got-n)
	}
}

func TestIntrospection(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	exp := f.clk.now().Add(time.Hour).Unix()
	f.p.set(func(p *provider) {
		p.active["opaque-1"] = map[string]any{"active": true, "sub": "carol", "client_id": "app", "scope": "read", "aud": "api", "exp": exp, "token_type": "Bearer"}
		p.active["opaque-aud"] = map[string]any{"active": true, "sub": "carol", "aud": "other", "exp": exp}
		p.active["opaque-refresh"] = map[string]any{"active": true, "sub": "carol", "aud": "api", "exp": exp, "token_type": "refresh_token"}
	})
	c, err := f.iss.Verify(ctx, "opaque-1")
	if err != nil || c.Subject != "carol" || c.Scope != "read" || c.Issuer != f.p.srv.URL {
		t.Fatalf("active: %+v, %v", c, err)
	}
	f.cache.Wait()
	if _, err := f.iss.Verify(ctx, "opaque-1"); err != nil {
		t.Fatal(err)
	}
	if n := f.p.introCalls.Load(); n != 1 {
		t.Fatalf("%d introspection calls, want 1 (cached)", n)
	}
	// Revoked at the provider: refused once the cache entry (1m) ends.
	f.p.set(func(p *provider) { delete(p.active, "opaque-1") })
	for _, tc := range []struct {
		token string
		want  error
	}{
		{"opaque-unknown", tokencore.ErrTokenInactive},
		{"opaque-aud", tokencore.ErrTokenAudience},
		{"opaque-refresh", tokencore.ErrTokenWrongType},
	} {
		if _, err := f.iss.Verify(ctx, tc.token); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.token, err, tc.want)
		}
	}
	f.cache.Clear() // the TTL elapsed (ristretto's clock is the real one)
	if _, err := f.iss.Verify(ctx, "opaque-1"); !errors.Is(err, tokencore.ErrTokenInactive) {
		t.Fatalf("after the cache entry: %v", err)
	}
	// Wrong client credentials: the issuer is unusable, not the token.
	g := newFixture(t, func(c *Config) { c.Introspection.ClientSecret = "wrong" })
	if _, err := g.iss.Verify(ctx, "opaque-1"); !errors.Is(err, tokencore.ErrIssuerUnavailable) {
		t.Fatalf("bad credentials: %v", err)
	}
}

func TestCacheScopesNeverShared(t *testing.T) {
	// Two issuers sharing one cache and the same provider keys, differing
	// in audience: a verdict of one is never the other's.
	f := newFixture(t, nil)
	g, err := New(Config{Name: "idp2", Issuer: f.p.srv.URL, JWKSURL: f.p.srv.URL + "/jwks", Audiences: []string{"other"}, AllowHTTPLoopback: true},
		Deps{Cache: f.cache, View: f.view, Now: f.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	tok := f.token(t, nil)
	if _, err := f.iss.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	f.cache.Wait()
	if _, err := g.Verify(context.Background(), tok); !errors.Is(err, tokencore.ErrTokenAudience) {
		t.Fatalf("second issuer: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Name: "k", Issuer: "https://idp.example/realms/x", Discovery: true, Audiences: []string{"api"}}
	for _, tc := range []struct {
		name string
		mod  func(c *Config)
	}{
		{"self", func(c *Config) { c.Name = "self" }},
		{"no audience", func(c *Config) { c.Audiences = nil }},
		{"HS256", func(c *Config) { c.Algorithms = []string{"HS256"} }},
		{"none", func(c *Config) { c.Algorithms = []string{"none"} }},
		{"http issuer", func(c *Config) { c.Issuer = "http://idp.example" }},
		{"http loopback without the option", func(c *Config) { c.Issuer = "http://127.0.0.1:9" }},
		{"http non-loopback with the option", func(c *Config) { c.Issuer = "http://idp.example"; c.AllowHTTPLoopback = true }},
		{"two sources", func(c *Config) { c.JWKSURL = "https://idp.example/jwks" }},
		{"introspection without secret", func(c *Config) { c.Introspection = &IntrospectionConfig{ClientID: "x"} }},
		{"typ", func(c *Config) { c.Typ = "dpop+jwt" }},
	} {
		c := ok
		tc.mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	lo := ok
	lo.Issuer, lo.AllowHTTPLoopback = "http://127.0.0.1:9", true
	if err := lo.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestStaticKeyFileAndRoute(t *testing.T) {
	k := ecKey(t)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.Public(), KeyID: "s1"}}})
	view := tokencore.NewRevocationView()
	set, err := NewSet([]Config{
		{Name: "file", Issuer: "https://file.example", StaticJWKS: jwks, Audiences: []string{"api"}},
		{Name: "intro", Issuer: "https://intro.example", Audiences: []string{"api"},
			Introspection: &IntrospectionConfig{Endpoint: "https://intro.example/introspect", ClientID: "c", ClientSecret: "s"}},
	}, Deps{View: view})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	tok := sign(t, jwt.SigningMethodES256, k, map[string]any{"kid": "s1"}, jwt.MapClaims{"iss": "https://file.example", "aud": "api", "sub": "s", "exp": now + 60})
	for _, tc := range []struct {
		names []string
		self  bool
		token string
		want  string // issuer name, "self" or the error
	}{
		{[]string{"file"}, true, tok, "file"},
		{nil, true, tok, "self"},
		{[]string{"file"}, false, "opaque", "error"},
		{[]string{"file"}, true, "a.b.c", "self"},
		{[]string{"intro"}, true, "opaque", "intro"},
		{[]string{"intro"}, true, "h.k.iv.c.t", "self"}, // tokengate's refresh token: never introspected elsewhere
		{[]string{"intro"}, false, "h.k.iv.c.t", "intro"},
	} {
		r, err := set.Route(tc.names, tc.self)
		if err != nil {
			t.Fatal(err)
		}
		iss, err := r.Select(tc.token)
		got := "self"
		switch {
		case err != nil:
			got = "error"
		case iss != nil:
			got = iss.Name()
		}
		if got != tc.want {
			t.Errorf("Select(%v, %t, %.10s) = %s, want %s", tc.names, tc.self, tc.token, got, tc.want)
		}
	}
	iss, _ := set.Get("file")
	if _, err := iss.Verify(context.Background(), tok); err != nil {
		t.Fatalf("static key: %v", err)
	}
	if _, err := set.Route([]string{"nope"}, true); err == nil {
		t.Fatal("unknown issuer accepted")
	}
	if _, err := NewSet([]Config{
		{Name: "a", Issuer: "https://x.example", StaticJWKS: jwks, Audiences: []string{"api"}},
		{Name: "b", Issuer: "https://x.example", StaticJWKS: jwks, Audiences: []string{"api"}},
	}, Deps{View: view}); err == nil || !strings.Contains(err.Error(), "same iss") {
		t.Fatalf("two issuers with one iss: %v", err)
	}
	two, err := NewSet([]Config{
		{Name: "i1", Issuer: "https://i1.example", Audiences: []string{"api"}, Introspection: &IntrospectionConfig{Endpoint: "https://i1.example/i", ClientID: "c", ClientSecret: "s"}},
		{Name: "i2", Issuer: "https://i2.example", Audiences: []string{"api"}, Introspection: &IntrospectionConfig{Endpoint: "https://i2.example/i", ClientID: "c", ClientSecret: "s"}},
	}, Deps{View: view})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := two.Route([]string{"i1", "i2"}, false); err == nil {
		t.Fatal("a route with two introspecting issuers accepted")
	}
}

func TestStaticPEMKey(t *testing.T) {
	k := ecKey(t)
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	iss, err := New(Config{Name: "pem", Issuer: "https://pem.example", StaticJWKS: pemKey, Audiences: []string{"api"}}, Deps{View: tokencore.NewRevocationView()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	claims := jwt.MapClaims{"iss": "https://pem.example", "aud": "api", "sub": "s", "exp": now + 60}
	for _, kid := range []any{nil, "whatever"} { // a key file's one key verifies whatever kid
		h := map[string]any{}
		if kid != nil {
			h["kid"] = kid
		}
		if _, err := iss.Verify(context.Background(), sign(t, jwt.SigningMethodES256, k, h, claims)); err != nil {
			t.Fatalf("kid %v: %v", kid, err)
		}
	}
	if _, err := iss.Verify(context.Background(), sign(t, jwt.SigningMethodES256, ecKey(t), nil, claims)); !errors.Is(err, tokencore.ErrTokenSignature) {
		t.Fatalf("another key: %v", err)
	}
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	der, _ = x509.MarshalPKIXPublicKey(weak.Public())
	if _, err := New(Config{Name: "weak", Issuer: "https://weak.example", StaticJWKS: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), Audiences: []string{"api"}},
		Deps{View: tokencore.NewRevocationView()}); err == nil {
		t.Fatal("a 1024-bit RSA key file accepted")
	}
}

func TestIssuerOfPayload(t *testing.T) {
	a := &Issuer{cfg: Config{Name: "a", Issuer: "https://a.example"}}
	b := &Issuer{cfg: Config{Name: "b", Issuer: `https://b.example/"q"`}}
	r := &Route{byIss: map[string]*Issuer{a.cfg.Issuer: a, b.cfg.Issuer: b}}
	enc := func(payload string) string {
		return "e30." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
	}
	for _, tc := range []struct {
		payload string
		want    *Issuer
	}{
		{`{"iss":"https://a.example","sub":"x"}`, a},
		{`{"sub":"x", "iss" : "https://a.example"}`, a},
		{`{"iss":"https:\/\/a.example"}`, a},                                 // escaped: decoded in full
		{`{"act":{"iss":"https://b.example"},"iss":"https://a.example"}`, a}, // twice: decoded in full
		{`{"iss":"https://b.example/\"q\""}`, b},
		{`{"typ":"iss","iss":"https://c.example"}`, nil},
		{`{"iss":42}`, nil},
		{`not json`, nil},
		{`{"iss":"https://a.example","pad":"` + strings.Repeat("x", 3000) + `"}`, a}, // over 2 KiB
	} {
		if got := r.issuerOf(enc(tc.payload)); got != tc.want {
			t.Errorf("issuerOf(%.60s) = %v, want %v", tc.payload, got, tc.want)
		}
	}
	if got := r.issuerOf("e30.!!!.c2ln"); got != nil {
		t.Errorf("bad base64: %v", got)
	}
}

// TestIntrospectionCacheKeyedByEndpoint is Oathkeeper's GHSA-qvp4-rpmr-xwrr
// case: two configurations identical but for the introspection endpoint,
// one cache. A token active at the first endpoint is not active at the
// second just because the first answer is cached.
func TestIntrospectionCacheKeyedByEndpoint(t *testing.T) {
	f := newFixture(t, nil)
	other := newProvider(t)
	exp := f.clk.now().Add(time.Hour).Unix()
	f.p.set(func(p *provider) {
		p.active["shared"] = map[string]any{"active": true, "sub": "s", "aud": "api", "exp": exp}
	})
	g, err := New(Config{Name: "idp", Issuer: f.p.srv.URL, Audiences: []string{"api"}, AllowHTTPLoopback: true, Typ: "at+jwt",
		Introspection: &IntrospectionConfig{Endpoint: other.srv.URL + "/introspect", ClientID: "gw", ClientSecret: "s3cret"}},
		Deps{Cache: f.cache, View: f.view, Now: f.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := f.iss.Verify(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	f.cache.Wait()
	if _, err := g.Verify(ctx, "shared"); !errors.Is(err, tokencore.ErrTokenInactive) {
		t.Fatalf("second endpoint: %v, want inactive", err)
	}
	if other.introCalls.Load() != 1 {
		t.Fatalf("the second endpoint was asked %d times", other.introCalls.Load())
	}
}
