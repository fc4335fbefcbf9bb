package oauth

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tokengate/tokengate/tokencore"
)

// verifyWithJWKS checks an ID token the way a relying party does: the key
// is taken from the published JWK Set by the token's kid.
func verifyWithJWKS(t *testing.T, f *fixture, idToken string) jwt.MapClaims {
	t.Helper()
	raw, err := f.e.Keys.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.NewParser(jwt.WithValidMethods([]string{"ES256", "RS256", "EdDSA"}), jwt.WithTimeFunc(f.clk.now)).
		ParseWithClaims(idToken, claims, func(tok *jwt.Token) (any, error) {
			kid, _ := tok.Header["kid"].(string)
			keys := set.Key(kid)
			if len(keys) != 1 {
				t.Fatalf("kid %q not in the JWKS", kid)
			}
			return keys[0].Key, nil
		})
	if err != nil {
		t.Fatalf("ID token does not verify with the JWKS: %v", err)
	}
	return claims
}

func TestIDTokenOnRefresh(t *testing.T) {
	f := newFixture(t, false)
	authTime := f.clk.now().Add(-time.Hour).Unix()
	c := f.create(t, `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"alice","scopes":["openid","api.read"],"authTime":`+
		jsonInt(authTime)+`,"acr":"urn:mace:incommon:iap:silver"}`)
	f.clk.advance(time.Minute)
	resp := mustRefresh(t, f, c.RefreshToken, "", webAuth)
	if resp.IDToken == "" {
		t.Fatal("a refresh of an openid grant by a client allowed to reissue returns an ID token")
	}
	claims := verifyWithJWKS(t, f, resp.IDToken)
	now := f.clk.now().Unix()
	want := map[string]any{
		"iss": "https://auth.example.org", "sub": "alice", "azp": "web", "acr": "urn:mace:incommon:iap:silver",
		"auth_time": float64(authTime), "iat": float64(now), "exp": float64(now + 600), "type": "id",
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if aud, _ := claims["aud"].([]any); len(aud) != 1 || aud[0] != "web" {
		t.Errorf("aud = %v, want [web]", claims["aud"])
	}
	if _, has := claims["nonce"]; has {
		t.Error("a refreshed ID token carries no nonce (OIDC Core §12.2)")
	}
	// The ID token is never a bearer token at the proxy.
	if err := f.proxyAccepts(resp.IDToken); err == nil {
		t.Error("the proxy accepted an ID token")
	}
	// A second refresh: same iss, sub, aud, auth_time; new iat.
	f.clk.advance(time.Minute)
	resp2 := mustRefresh(t, f, resp.RefreshToken, "", webAuth)
	claims2 := verifyWithJWKS(t, f, resp2.IDToken)
	for _, k := range []string{"iss", "sub", "auth_time", "azp"} {
		if claims2[k] != claims[k] {
			t.Errorf("claim %s changed across refreshes: %v -> %v", k, claims[k], claims2[k])
		}
	}
	if claims2["iat"] == claims["iat"] {
		t.Error("iat must be the new issue time")
	}

	// No ID token when the request narrows openid away, when the client may
	// not reissue (post), or when the grant never had openid.
	if r := mustRefresh(t, f, resp2.RefreshToken, "scope=api.read", webAuth); r.IDToken != "" {
		t.Error("ID token without openid in the narrowed scope")
	}
	p := f.createFor(t, "post", "bob", "openid api.read")
	if r := mustRefresh(t, f, p.RefreshToken, postCred); r.IDToken != "" {
		t.Error("ID token for a client without id_token_reissue")
	}
	w := f.createFor(t, "web", "carol", "api.read")
	if r := mustRefresh(t, f, w.RefreshToken, "", webAuth); r.IDToken != "" {
		t.Error("ID token for a grant without openid")
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestReissueIDToken(t *testing.T) {
	f := newFixture(t, false)
	c := f.createFor(t, "web", "alice", "openid profile")
	reissue := func(body string) (int, map[string]any) {
		r := f.svc.Manage(f.ctx, ManageRequest{Method: http.MethodPost, Path: "/idtoken/reissue", ContentType: "application/json", Body: []byte(body)})
		var m map[string]any
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatal(err)
		}
		return r.Status, m
	}
	tokens := `"accessToken":"` + c.AccessToken + `","refreshToken":"` + c.RefreshToken + `"`
	status, m := reissue(`{` + tokens + `,"claims":"{\"email\":\"alice@example.org\"}","idTokenAudType":"string"}`)
	if status != 200 || m["action"] != "OK" || m["resultCode"] != "A368001" {
		t.Fatalf("reissue: %d %v", status, m)
	}
	claims := verifyWithJWKS(t, f, m["idToken"].(string))
	if claims["aud"] != "web" || claims["email"] != "alice@example.org" || claims["sub"] != "alice" {
		t.Errorf("claims %v", claims)
	}
	var content TokenResponse
	if err := json.Unmarshal([]byte(m["responseContent"].(string)), &content); err != nil ||
		content.IDToken != m["idToken"] || content.AccessToken != c.AccessToken || content.RefreshToken != c.RefreshToken || content.Scope != "openid profile" {
		t.Errorf("responseContent %v (%v)", m["responseContent"], err)
	}

	p := f.createFor(t, "post", "bob", "openid")
	w := f.createFor(t, "web", "carol", "profile")
	for name, body := range map[string]string{
		"missing refresh token":   `{"accessToken":"` + c.AccessToken + `"}`,
		"tokens of two grants":    `{"accessToken":"` + c.AccessToken + `","refreshToken":"` + w.RefreshToken + `"}`,
		"client may not reissue":  `{"accessToken":"` + p.AccessToken + `","refreshToken":"` + p.RefreshToken + `"}`,
		"no openid":               `{"accessToken":"` + w.AccessToken + `","refreshToken":"` + w.RefreshToken + `"}`,
		"other subject":           `{` + tokens + `,"sub":"mallory"}`,
		"protected claim":         `{` + tokens + `,"claims":"{\"sub\":\"mallory\"}"}`,
		"nonce claim":             `{` + tokens + `,"claims":"{\"nonce\":\"n\"}"}`,
		"claims not an object":    `{` + tokens + `,"claims":"[1]"}`,
		"header params":           `{` + tokens + `,"idtHeaderParams":"{\"kid\":\"x\"}"}`,
		"bad aud type":            `{` + tokens + `,"idTokenAudType":"set"}`,
		"unknown member":          `{` + tokens + `,"nonce":"n"}`,
		"hash instead of a value": `{"accessToken":"` + tokenHashOf(c.AccessToken) + `","refreshToken":"` + c.RefreshToken + `"}`,
	} {
		status, m := reissue(body)
		if status != 400 || m["action"] != "CALLER_ERROR" {
			t.Errorf("%s: %d %v", name, status, m)
		}
	}
	// A rotated refresh token is no longer current.
	r := mustRefresh(t, f, c.RefreshToken, "", webAuth)
	if status, _ := reissue(`{` + tokens + `}`); status != 400 {
		t.Errorf("reissue with rotated tokens: %d", status)
	}
	if status, _ := reissue(`{"accessToken":"` + r.AccessToken + `","refreshToken":"` + r.RefreshToken + `"}`); status != 200 {
		t.Errorf("reissue with the current tokens: %d", status)
	}
}

func tokenHashOf(token string) string { return tokencore.TokenHash(token) }
