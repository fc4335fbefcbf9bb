package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/store/memory"
)

func TestClaimStringDropsControlCharacters(t *testing.T) {
	for in, want := range map[any]string{
		"a\r\nX-Evil: 1": "aX-Evil: 1", float64(42): "42", true: "true", nil: "",
	} {
		if got := claimString(in); got != want {
			t.Errorf("claimString(%q) = %q, want %q", in, got, want)
		}
	}
	if got := claimString([]any{"a", "b"}); got != "a,b" {
		t.Errorf("array: %q", got)
	}
}

// newBenchProtect builds a Protect handler over a memory-store engine,
// outside Caddy, for measuring the handler's own cost.
func newBenchProtect(tb testing.TB) (*Protect, string) {
	tb.Helper()
	k, _, err := tokencore.GenerateES256Key()
	if err != nil {
		tb.Fatal(err)
	}
	ks, err := tokencore.NewKeySet(k, nil, make([]byte, 32))
	if err != nil {
		tb.Fatal(err)
	}
	cache, _ := tokencore.NewVerifyCache(tokencore.CacheConfig{})
	tb.Cleanup(cache.Close)
	engine := &tokencore.Engine{Keys: ks, Store: memory.New(), View: tokencore.NewRevocationView(), Cache: cache}
	app := &App{engine: engine, state: &sharedState{cache: cache, view: engine.View}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	tb.Cleanup(cancel)
	registerMetrics(ctx, app)
	p := &Protect{BearerConfig: BearerConfig{Realm: "tokengate"}}
	p.auth = bearerAuth{cfg: &p.BearerConfig, app: app, counters: app.metrics.verifyCounters(),
		verifier: engine.Verifier(tokencore.VerifierOptions{}), creds: app.credentials(), logger: ctx.Logger(),
		userKeys: identityClaims}
	now := time.Now()
	tok, err := ks.Sign(tokencore.AccessClaims{Type: tokencore.TypeAccess, IssuedAt: now.Unix(), Tenant: "diku",
		Subject: "alice", UserID: "u1", Expiry: now.Add(time.Hour).Unix(), ID: tokencore.NewTokenID(), GrantID: tokencore.NewGrantID()})
	if err != nil {
		tb.Fatal(err)
	}
	return p, tok
}

func protectedRequest(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("X-Okapi-User-Id", "forged")
	r.Header.Set("Accept", "*/*")
	r.Header.Set("User-Agent", "bench")
	repl := caddy.NewReplacer()
	return r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
}

func TestProtectHandlerDirect(t *testing.T) {
	p, tok := newBenchProtect(t)
	var seen http.Header
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { seen = r.Header.Clone(); return nil })
	w := httptest.NewRecorder()
	if err := p.ServeHTTP(w, protectedRequest(tok), next); err != nil {
		t.Fatal(err)
	}
	if seen.Get("X-Okapi-User-Id") != "u1" || seen.Get("X-Tokengate-Subject") != "alice" || seen.Get("X-Okapi-Tenant") != "diku" {
		t.Fatalf("upstream headers %v", seen)
	}
	seen = nil
	w = httptest.NewRecorder()
	if err := p.ServeHTTP(w, protectedRequest(tok+"x"), next); err != nil {
		t.Fatal(err)
	}
	if seen != nil || w.Code != http.StatusUnauthorized {
		t.Fatalf("bad token reached next (%v) or code %d", seen != nil, w.Code)
	}
}

// BenchmarkProtect is the handler's cost on a cache hit, the path of every
// protected request (benchProtectCacheHit).
func BenchmarkProtect(b *testing.B) {
	p, tok := newBenchProtect(b)
	benchProtectCacheHit(b, p, tok)
}

// BenchmarkProtectCacheHit is BenchmarkProtect under the name
// bench/external.sh compares with BenchmarkProtectExternalCacheHit.
func BenchmarkProtectCacheHit(b *testing.B) {
	p, tok := newBenchProtect(b)
	benchProtectCacheHit(b, p, tok)
}

// benchProtectCacheHit measures p.ServeHTTP on requests bearing tok, once
// its verdict is cached. A request is changed by the handler, so each is
// used once: they are built in batches outside the timer, and stopping the
// timer once per batch (not once per request, which would count the
// timer's own cost with -benchmem) keeps that work out of the figure.
func benchProtectCacheHit(b *testing.B, p *Protect, tok string) {
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	w := httptest.NewRecorder()
	if err := p.ServeHTTP(w, protectedRequest(tok), next); err != nil || w.Code != http.StatusOK {
		b.Fatal(err, w.Code)
	}
	p.auth.app.state.cache.Wait()
	const batch = 512
	reqs := make([]*http.Request, 0, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(reqs) == 0 {
			b.StopTimer()
			for range min(batch, b.N-i) {
				reqs = append(reqs, protectedRequest(tok))
			}
			b.StartTimer()
		}
		r := reqs[len(reqs)-1]
		reqs = reqs[:len(reqs)-1]
		if err := p.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
}
