package caddymodule

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/tokencore"
)

// newExternalProtect is newBenchProtect's handler with a trusted issuer
// "ext" (a JWK Set key file, tenant_claim tid, claim_header email) on the
// route beside tokengate's own tokens; it returns a signer of ext's tokens.
func newExternalProtect(tb testing.TB, issuers ...string) (*Protect, string, func(claims jwt.MapClaims) string) {
	tb.Helper()
	p, own := newBenchProtect(tb)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "e1"}}})
	path := filepath.Join(tb.TempDir(), "ext.jwks")
	if err := os.WriteFile(path, jwks, 0o600); err != nil {
		tb.Fatal(err)
	}
	app := p.auth.app
	app.logger = zap.NewNop()
	app.TrustedIssuers = []TrustedIssuerConfig{{
		Name: "ext", Issuer: "https://ext.example", KeyFile: path, Audiences: []string{"api"},
		TenantClaim: "tid", ClaimHeaders: map[string]string{"email": "X-User-Email"},
	}}
	if err := app.provisionIssuers(); err != nil {
		tb.Fatal(err)
	}
	p.auth.userKeys = slices.Clone(identityClaims)
	if err := p.auth.useIssuers(issuers); err != nil {
		tb.Fatal(err)
	}
	sign := func(claims jwt.MapClaims) string {
		now := time.Now().Unix()
		c := jwt.MapClaims{"iss": "https://ext.example", "aud": "api", "sub": "erin", "jti": "ext-1", "iat": now, "exp": now + 600,
			"scp": []string{"read"}, "azp": "spa", "email": "erin@example.com"}
		for k, v := range claims {
			c[k] = v
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
		tok.Header["kid"] = "e1"
		s, err := tok.SignedString(key)
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
	return p, own, sign
}

func TestProtectExternalIssuer(t *testing.T) {
	p, own, sign := newExternalProtect(t, "self", "ext")
	var placeholders string
	serve := func(p *Protect, tok string, headers ...string) (*httptest.ResponseRecorder, http.Header) {
		var seen http.Header
		next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			seen = r.Header.Clone()
			repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
			placeholders = repl.ReplaceAll("{http.auth.user.id} {http.auth.user.email} {http.auth.user.scope} {http.auth.user.tenant}", "-")
			return nil
		})
		r := protectedRequest(tok)
		r.Header.Set("X-User-Email", "forged@example.com")
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		w := httptest.NewRecorder()
		if err := p.ServeHTTP(w, r, next); err != nil {
			t.Fatal(err)
		}
		return w, seen
	}

	w, seen := serve(p, sign(jwt.MapClaims{"tid": "diku"}), "X-Okapi-Tenant", "diku")
	if w.Code != http.StatusOK || seen == nil {
		t.Fatalf("external token: %d %s", w.Code, w.Body)
	}
	for name, want := range map[string]string{
		"X-Tokengate-Subject": "erin", "X-Tokengate-Client-Id": "spa", "X-Tokengate-Scope": "read",
		"X-User-Email": "erin@example.com", "X-Okapi-Tenant": "diku", "X-Okapi-User-Id": "",
	} {
		if got := seen.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if want := "erin erin@example.com read diku"; placeholders != want {
		t.Errorf("placeholders %q, want %q", placeholders, want)
	}
	if _, seen := serve(p, own); seen == nil || seen.Get("X-User-Email") != "" {
		t.Fatalf("own token: %v (the issuer's claim header must not be set for it)", seen)
	}

	refused := func(p *Protect, tok, desc string, headers ...string) {
		t.Helper()
		w, seen := serve(p, tok, headers...)
		if w.Code != http.StatusUnauthorized || seen != nil || !strings.Contains(w.Body.String(), desc) {
			t.Fatalf("%d %s, want 401 %q", w.Code, w.Body, desc)
		}
	}
	if w, seen := serve(p, sign(jwt.MapClaims{"tid": "diku"}), "X-Okapi-Tenant", "other"); w.Code != http.StatusForbidden || seen != nil {
		t.Fatalf("another tenant: %d %s", w.Code, w.Body)
	}
	refused(p, sign(jwt.MapClaims{"aud": "x"}), "another audience")
	refused(p, sign(jwt.MapClaims{"typ": 1, "sub": 5}), "malformed")

	extOnly, own2, sign2 := newExternalProtect(t, "ext")
	refused(extOnly, own2, "not trusted")
	if w, _ := serve(extOnly, sign2(nil)); w.Code != http.StatusOK {
		t.Fatalf("external-only route: %d %s", w.Code, w.Body)
	}

	// tokengate's revocation by subject stops the external token.
	tok := sign(nil)
	if w, _ := serve(p, tok); w.Code != http.StatusOK {
		t.Fatalf("before revocation: %d", w.Code)
	}
	now := time.Now()
	if err := p.auth.app.engine.Revoke(context.Background(), tokencore.Revocation{Kind: tokencore.RevocationOfSubject, Key: "erin", NotBefore: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	refused(p, tok, "revoked")
}

// BenchmarkProtectExternalCacheHit is BenchmarkProtectCacheHit with an
// external issuer's ES256 token: the handler's cost on a verification
// cache hit, to compare with tokengate's own token.
func BenchmarkProtectExternalCacheHit(b *testing.B) {
	p, _, sign := newExternalProtect(b, "self", "ext")
	benchProtectCacheHit(b, p, sign(nil))
}
