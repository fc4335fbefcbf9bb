package oauth

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/tokencore"
)

// jwsHeader decodes the JOSE header of a compact JWS.
func jwsHeader(t *testing.T, token string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// withOIDCClients replaces the clients: "rp" registered no ID-token
// algorithm (RS256 by default), "rp-es" asked for ES256; both may receive
// reissued ID tokens. "api" has its own access-token audience.
func withOIDCClients(tb testing.TB) fixtureOpt {
	return func(c *Config) {
		cs, err := NewClients([]Client{
			{ID: "rp", AuthMethod: AuthClientSecretBasic, SecretHash: HashSecret("rp"),
				GrantTypes: []string{GrantTypeRefreshToken, GrantTypeAuthorizationCode}, Scopes: []string{"openid", "api.read"}, IDTokenReissue: true},
			{ID: "rp-es", AuthMethod: AuthClientSecretBasic, SecretHash: HashSecret("es"), IDTokenSignedResponseAlg: tokencore.AlgES256,
				GrantTypes: []string{GrantTypeRefreshToken, GrantTypeAuthorizationCode}, Scopes: []string{"openid", "api.read"}, IDTokenReissue: true},
			{ID: "api", AuthMethod: AuthClientSecretBasic, SecretHash: HashSecret("api"), Audience: []string{"https://orders.example.org", "urn:billing"},
				GrantTypes: []string{GrantTypeClientCredentials, GrantTypeRefreshToken, GrantTypeAuthorizationCode}, Scopes: []string{"api.read"}},
		})
		if err != nil {
			tb.Fatal(err)
		}
		c.Clients = cs
		c.Audience = []string{"https://api.example.org"}
	}
}

// TestIDTokenAlgPerClient: each client's ID tokens, on refresh and through
// the reissue API, are signed with the algorithm it registered (RS256 when
// it registered none), by a key of the JWKS whose alg is that algorithm.
func TestIDTokenAlgPerClient(t *testing.T) {
	f := newFixture(t, false, withOIDCClients(t))
	jwks, err := f.e.Keys.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct{ Kid, Alg, Use, Kty string }
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	jwkAlg := map[string]string{}
	for _, k := range set.Keys {
		if k.Use != "sig" {
			t.Errorf("key %s has use %q", k.Kid, k.Use)
		}
		jwkAlg[k.Kid] = k.Alg
	}
	for _, tt := range []struct{ client, auth, alg string }{
		{"rp", basic("rp:rp"), tokencore.AlgRS256},
		{"rp-es", basic("rp-es:es"), tokencore.AlgES256},
	} {
		t.Run(tt.client, func(t *testing.T) {
			c := f.createFor(t, tt.client, "alice", "openid api.read")
			resp := mustRefresh(t, f, c.RefreshToken, "", tt.auth)
			h := jwsHeader(t, resp.IDToken)
			kid, _ := h["kid"].(string)
			if h["alg"] != tt.alg || jwkAlg[kid] != tt.alg {
				t.Fatalf("ID token header %v (JWKS alg of its kid: %q), want alg %s", h, jwkAlg[kid], tt.alg)
			}
			claims := verifyWithJWKS(t, f, resp.IDToken)
			if claims["azp"] != tt.client {
				t.Errorf("azp %v", claims["azp"])
			}
			// The reissue API signs like the refresh.
			r := f.svc.Manage(f.ctx, ManageRequest{Method: http.MethodPost, Path: "/idtoken/reissue", ContentType: "application/json",
				Body: []byte(`{"accessToken":"` + resp.AccessToken + `","refreshToken":"` + resp.RefreshToken + `"}`)})
			var m map[string]any
			if err := json.Unmarshal(r.Body, &m); err != nil || r.Status != http.StatusOK {
				t.Fatalf("reissue: %d %s", r.Status, r.Body)
			}
			if h := jwsHeader(t, m["idToken"].(string)); h["alg"] != tt.alg {
				t.Errorf("reissued ID token header %v, want alg %s", h, tt.alg)
			}
			verifyWithJWKS(t, f, m["idToken"].(string))
			// An ID token is never a bearer token, whatever its algorithm.
			if err := f.proxyAccepts(resp.IDToken); err == nil {
				t.Error("the proxy accepted an ID token")
			}
			if r, _ := f.svc.Introspect(f.ctx, post("token="+url.QueryEscape(resp.IDToken), rsAuth)); r == nil || r.Active {
				t.Errorf("introspection of an ID token: %+v", r)
			}
		})
	}
	m, err := f.svc.Metadata(Endpoints{Token: "/token"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.IDTokenSigningAlgValuesSupported, []string{tokencore.AlgRS256, tokencore.AlgES256}) {
		t.Errorf("id_token_signing_alg_values_supported = %v", m.IDTokenSigningAlgValuesSupported)
	}
}

// TestAccessTokensAreRFC9068: every access token of the OAuth service
// (refresh, client credentials, management create and update) has the
// header typ at+jwt and the claims of RFC 9068 §2.2, aud from the client
// or else the service; the proxy accepts it and introspection reports it,
// aud included.
func TestAccessTokensAreRFC9068(t *testing.T) {
	f := newFixture(t, false, withOIDCClients(t))
	created := f.createFor(t, "rp", "alice", "openid api.read")
	refreshed := mustRefresh(t, f, created.RefreshToken, "", basic("rp:rp"))
	cc, oerr := f.svc.Token(f.ctx, post("grant_type=client_credentials", basic("api:api")))
	if oerr != nil {
		t.Fatal(oerr)
	}
	apiGrant := f.createFor(t, "api", "bob", "api.read")
	status, updated := f.manage(t, http.MethodPost, "/auth/token/update", "application/json",
		`{"accessToken":"`+apiGrant.AccessToken+`","accessTokenExpiresAt":`+jsonInt(f.clk.now().Add(3600e9).UnixMilli())+`}`)
	if status != http.StatusOK {
		t.Fatalf("update: %d %v", status, updated)
	}
	service := []string{"https://api.example.org"}
	own := []string{"https://orders.example.org", "urn:billing"}
	for _, tt := range []struct {
		name, token, client, sub string
		aud                      []string
	}{
		{"management create", created.AccessToken, "rp", "alice", service},
		{"refresh", refreshed.AccessToken, "rp", "alice", service},
		{"client credentials", cc.AccessToken, "api", "api", own},
		{"management update", updated["accessToken"].(string), "api", "bob", own},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if h := jwsHeader(t, tt.token); h["typ"] != tokencore.TypAccessJWT {
				t.Errorf("header %v, want typ at+jwt", h)
			}
			c, err := f.e.Verifier(tokencore.VerifierOptions{}).Verify(tt.token, "")
			if err != nil {
				t.Fatalf("the proxy refuses the access token: %v", err)
			}
			if c.Issuer != "https://auth.example.org" || c.Subject != tt.sub || c.ClientID != tt.client || c.TokenID == "" ||
				c.IssuedAt != f.clk.now().Unix() || c.ExpiresAt <= c.IssuedAt || c.Scope != "api.read" && c.Scope != "openid api.read" ||
				!slices.Equal(c.Audience, tt.aud) {
				t.Errorf("claims %+v", c)
			}
			r, oerr := f.svc.Introspect(f.ctx, post("token="+url.QueryEscape(tt.token), rsAuth))
			if oerr != nil || !r.Active || !slices.Equal(r.Aud, tt.aud) || r.ClientID != tt.client || r.Sub != tt.sub ||
				r.TokenType != TokenTypeBearer || r.Exp != c.ExpiresAt || r.Iss != c.Issuer || r.Jti != c.TokenID {
				t.Errorf("introspection %+v (%v)", r, oerr)
			}
		})
	}
	// A refresh token is no access token: introspection knows it as one,
	// the proxy refuses it.
	if err := f.proxyAccepts(refreshed.RefreshToken); err == nil {
		t.Error("the proxy accepted a refresh token")
	}
}
