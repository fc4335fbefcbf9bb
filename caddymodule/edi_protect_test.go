package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/edi"
	"github.com/tokengate/tokengate/tokencore/store/memory"
)

// newTestEDIProtect builds a tokengate_edi_protect handler over a
// memory-store engine with the fixed test keys, outside Caddy, and a pair
// of tokens of alice.
func newTestEDIProtect(tb testing.TB) (p *EDIProtect, ediTok, pastaTok string) {
	tb.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile("../tokencore/edi/testdata/" + name)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	ek, err := edi.ParseEDIPrivateKeyPEM(read("edi_test_key1.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	pk, err := edi.ParsePastaPrivateKeyPEM(read("pasta_test_key1.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	cache, _ := tokencore.NewVerifyCache(tokencore.CacheConfig{})
	tb.Cleanup(cache.Close)
	engine := &tokencore.Engine{Store: memory.New(), View: tokencore.NewRevocationView(), Cache: cache}
	app := &App{engine: engine, state: &sharedState{cache: cache, view: engine.View}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	tb.Cleanup(cancel)
	registerMetrics(ctx, app)
	app.EDI = &EDIConfig{}
	if app.EDI.svc, err = edi.NewService(engine, edi.Config{EDISigningKey: ek, PastaSigningKey: pk}); err != nil {
		tb.Fatal(err)
	}
	p = &EDIProtect{}
	// Provision without Caddy: the parts of Provision after the app lookup.
	p.app, p.svc, p.logger = app, app.EDI.svc, ctx.Logger()
	p.Realm = "tokengate"
	p.counters = map[string]prometheus.Counter{}
	for _, r := range []string{"valid", "invalid", "missing", "revoked", "expired"} {
		p.counters[r] = app.metrics.verifyResult(r)
	}
	p.creds = app.credentials()
	uid := "uid=alice,o=EDI,dc=edirepository,dc=org"
	now := time.Now()
	es, _ := edi.NewSigner(ek, "")
	ediTok, err = es.Sign(edi.Claims{Subject: edi.EDIID(uid), IdPUID: &uid, Principals: []string{edi.DefaultPublicAccessID},
		Issuer: edi.DefaultIssuer, HostedDomain: edi.DefaultHostedDomain, IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		tb.Fatal(err)
	}
	ps, _ := edi.NewPastaSigner(pk)
	if pastaTok, err = ps.Sign(edi.NewPastaToken(uid, now.Add(time.Hour), "vetted", "authenticated")); err != nil {
		tb.Fatal(err)
	}
	return p, ediTok, pastaTok
}

func ediRequest(cookie string, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/package/x", nil)
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
}

func TestEDIProtectHandlerDirect(t *testing.T) {
	p, ediTok, pastaTok := newTestEDIProtect(t)
	var seen *http.Request
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { seen = r; return nil })

	w := httptest.NewRecorder()
	r := ediRequest("a=1; auth-token=\""+pastaTok+"\"; edi-token="+ediTok, "X_Tokengate_Subject", "forged", "x-tokengate-pasta-uid", "root", "X-New-Auth-Token", "x")
	if err := p.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	if seen == nil {
		t.Fatalf("valid pair refused: %d %s", w.Code, w.Body)
	}
	internal := strings.SplitN(pastaTok, "-", 2)[0]
	if got := seen.Header.Get("Cookie"); got != "a=1; edi-token="+ediTok+"; auth-token="+internal {
		t.Fatalf("Cookie %q", got)
	}
	if len(seen.Header) != 5 || seen.Header.Get("X-Tokengate-Pasta-Uid") != "uid=alice,o=EDI,dc=edirepository,dc=org" ||
		seen.Header.Get("X-Tokengate-Subject") != edi.EDIID("uid=alice,o=EDI,dc=edirepository,dc=org") ||
		seen.Header.Get("X-Tokengate-Principals") != edi.DefaultPublicAccessID || seen.Header.Get("X-Tokengate-Pasta-Groups") != "vetted,authenticated" {
		t.Fatalf("upstream headers %v", seen.Header)
	}
	repl := seen.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if v, _ := repl.GetString("http.auth.user.id"); v != edi.EDIID("uid=alice,o=EDI,dc=edirepository,dc=org") {
		t.Fatalf("http.auth.user.id = %q", v)
	}

	// A client-made internal PASTA token is dropped before anything reads
	// it: the request goes on with the EDI token alone, without it.
	seen = nil
	if err := p.ServeHTTP(httptest.NewRecorder(), ediRequest("edi-token="+ediTok+"; auth-token="+internal+"; Auth_Token="+pastaTok), next); err != nil {
		t.Fatal(err)
	}
	if seen == nil || seen.Header.Get("Cookie") != "edi-token="+ediTok || seen.Header.Get("X-Tokengate-Pasta-Uid") != "" {
		t.Fatalf("forged PASTA token: reached next %v with %v", seen != nil, seen)
	}

	for name, req := range map[string]*http.Request{
		"nothing":  ediRequest(""),
		"tampered": ediRequest("edi-token=" + ediTok + "x"),
		"Basic":    ediRequest("edi-token="+ediTok, "Authorization", "Basic eDp5"),
	} {
		seen = nil
		w := httptest.NewRecorder()
		if err := p.ServeHTTP(w, req, next); err != nil {
			t.Fatal(err)
		}
		if seen != nil || w.Code != http.StatusUnauthorized || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `Bearer realm="tokengate"`) {
			t.Errorf("%s: reached next (%v) or %d %v", name, seen != nil, w.Code, w.Header())
		}
	}
}

// BenchmarkEDIProtectCacheHit is the handler's own cost for a valid pair
// whose verdicts are cached: cookie parsing, two cache lookups, the expiry,
// revocation and binding checks, the cookie rebuild and the headers.
func BenchmarkEDIProtectCacheHit(b *testing.B) {
	p, ediTok, pastaTok := newTestEDIProtect(b)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	cookie := "auth-token=" + pastaTok + "; edi-token=" + ediTok
	w := httptest.NewRecorder()
	if err := p.ServeHTTP(w, ediRequest(cookie), next); err != nil {
		b.Fatal(err)
	}
	p.app.state.cache.Wait()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		r := ediRequest(cookie)
		b.StartTimer()
		if err := p.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
}
