package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tokengate/tokengate/tokencore"
)

// FuzzVerifyExternal feeds arbitrary strings to an issuer's Verify (and to
// the route selection before it). Invariants: no panic; a token is only
// accepted if it is one of the tokens the issuer's key signed here; every
// refusal wraps a token sentinel (never an unclassified error, which would
// become a 500-shaped answer); an accepted token's claims are the issuer's.
func FuzzVerifyExternal(f *testing.F) {
	key := ecKey(f)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "f1"}}})
	view := tokencore.NewRevocationView()
	set, err := NewSet([]Config{{Name: "fz", Issuer: "https://fz.example", StaticJWKS: jwks, Audiences: []string{"api"}}}, Deps{View: view})
	if err != nil {
		f.Fatal(err)
	}
	route, _ := set.Route([]string{"fz"}, false)
	iss, _ := set.Get("fz")
	exp := time.Now().Add(time.Hour).Unix()
	valid := map[string]bool{}
	for _, c := range []jwt.MapClaims{
		{"iss": "https://fz.example", "aud": "api", "sub": "a", "exp": exp},
		{"iss": "https://fz.example", "aud": []string{"x", "api"}, "sub": "b", "exp": exp, "scp": []string{"r"}},
	} {
		tok := sign(f, jwt.SigningMethodES256, key, map[string]any{"kid": "f1"}, c)
		valid[tok] = true
		f.Add(tok)
		f.Add(tok[:len(tok)-2])
		f.Add(strings.Replace(tok, ".", "..", 1))
	}
	f.Add("opaque")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2Z6LmV4YW1wbGUifQ.")
	sentinels := []error{tokencore.ErrTokenMalformed, tokencore.ErrTokenSignature, tokencore.ErrTokenExpired,
		tokencore.ErrTokenNotYetValid, tokencore.ErrTokenWrongType, tokencore.ErrTokenAudience, tokencore.ErrTokenIssuer}
	f.Fuzz(func(t *testing.T, token string) {
		if sel, err := route.Select(token); err == nil && sel != iss {
			t.Fatalf("selected %v", sel)
		}
		c, err := iss.Verify(context.Background(), token)
		if err == nil {
			if !valid[token] {
				t.Fatalf("accepted a token the key never signed: %q", token)
			}
			if c.Issuer != "https://fz.example" || c.TrustedIssuer != "fz" {
				t.Fatalf("claims %+v", c)
			}
			return
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("unclassified error %v for %q", err, token)
	})
}
