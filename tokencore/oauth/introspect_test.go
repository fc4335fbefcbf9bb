package oauth

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

func TestRevoke(t *testing.T) {
	f := newFixture(t, false)
	revoke := func(token, extra string, authorization ...string) *Error {
		body := "token=" + url.QueryEscape(token)
		if extra != "" {
			body += "&" + extra
		}
		return f.svc.Revoke(f.ctx, post(body, authorization...))
	}
	tests := []struct {
		name string
		// which token of a fresh web grant to revoke: "access", "refresh",
		// "rotated" (a refresh token that was already rotated away)
		token string
		extra string
		auth  []string
	}{
		{"access token, basic", "access", "", []string{webAuth}},
		{"refresh token, basic", "refresh", "", []string{webAuth}},
		{"rotated refresh token", "rotated", "", []string{webAuth}},
		{"wrong hint is only a hint", "refresh", "token_type_hint=access_token", []string{webAuth}},
		{"unknown hint is ignored", "access", "token_type_hint=id_token", []string{webAuth}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.createFor(t, "web", "alice", "api.read")
			r := mustRefresh(t, f, c.RefreshToken, "", webAuth)
			tok := map[string]string{"access": r.AccessToken, "refresh": r.RefreshToken, "rotated": c.RefreshToken}[tt.token]
			if oerr := revoke(tok, tt.extra, tt.auth...); oerr != nil {
				t.Fatal(oerr)
			}
			if err := f.proxyAccepts(r.AccessToken); !errors.Is(err, tokencore.ErrTokenRevoked) {
				t.Errorf("access token after revocation: %v", err)
			}
			_, oerr := f.refresh(r.RefreshToken, "", webAuth)
			wantError(t, oerr, ErrInvalidGrant, 400)
			// Revoking again, or any token of the revoked grant, is a 200.
			if oerr := revoke(tok, "", tt.auth...); oerr != nil {
				t.Errorf("second revocation: %v", oerr)
			}
		})
	}

	p := f.createFor(t, "post", "bob", "api.read")
	cl := f.createFor(t, "cli", "carol", "api.read")
	if oerr := revoke(cl.RefreshToken, "client_id=cli"); oerr != nil {
		t.Errorf("a public client revokes its own token: %v", oerr)
	}
	if err := f.proxyAccepts(cl.AccessToken); !errors.Is(err, tokencore.ErrTokenRevoked) {
		t.Errorf("cli access token after revocation: %v", err)
	}
	for name, tc := range map[string]struct {
		token, extra string
		auth         []string
		code         ErrorCode
		status       int
	}{
		"another client's token": {p.AccessToken, "", []string{webAuth}, ErrInvalidGrant, 400},
		"missing token":          {"", "", []string{webAuth}, ErrInvalidRequest, 400},
		"bad client secret":      {p.AccessToken, "", []string{basic("web:x")}, ErrInvalidClient, 401},
		"no client":              {p.AccessToken, "", nil, ErrInvalidClient, 401},
	} {
		oerr := revoke(tc.token, tc.extra, tc.auth...)
		if oerr == nil || !errors.Is(oerr, tc.code) || oerr.HTTPStatus() != tc.status {
			t.Errorf("%s: %v", name, oerr)
		}
	}
	if err := f.proxyAccepts(p.AccessToken); err != nil {
		t.Errorf("refused revocations must not revoke: %v", err)
	}
	// Invalid and unknown tokens are a 200 with nothing done (RFC 7009 §2.2).
	for _, tok := range []string{"garbage", "a.b.c", "a.b.c.d.e", strings.Repeat("x", 100)} {
		if oerr := revoke(tok, "", postCred[:0]); oerr == nil {
			t.Errorf("revoking %q without credentials must fail", tok)
		}
		if oerr := f.svc.Revoke(f.ctx, post("token="+tok+"&"+postCred)); oerr != nil {
			t.Errorf("revoking %q: %v", tok, oerr)
		}
	}
	if oerr := f.svc.Revoke(f.ctx, Request{Method: "GET"}); oerr == nil || oerr.HTTPStatus() != 405 {
		t.Errorf("GET: %v", oerr)
	}
}

func TestIntrospect(t *testing.T) {
	f := newFixture(t, false)
	introspect := func(token string, authorization ...string) (*IntrospectionResponse, *Error) {
		return f.svc.Introspect(f.ctx, post("token="+url.QueryEscape(token), authorization...))
	}
	c := f.create(t, `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"alice","scopes":["openid","api.read"],"accessTokenDuration":60}`)
	now := f.clk.now().Unix()

	r, oerr := introspect(c.AccessToken, webAuth)
	if oerr != nil {
		t.Fatal(oerr)
	}
	want := IntrospectionResponse{Active: true, Scope: "openid api.read", ClientID: "web", Sub: "alice", TokenType: "Bearer",
		Exp: now + 60, Iat: now, Iss: "https://auth.example.org", Jti: c.TokenID}
	if r.Active != want.Active || r.Scope != want.Scope || r.ClientID != want.ClientID || r.Sub != want.Sub ||
		r.TokenType != want.TokenType || r.Exp != want.Exp || r.Iat != want.Iat || r.Iss != want.Iss || r.Jti != want.Jti {
		t.Fatalf("access token introspection\n got %+v\nwant %+v", r, want)
	}
	r, _ = introspect(c.RefreshToken, webAuth)
	if !r.Active || r.TokenType != "refresh_token" || r.Scope != "openid api.read" || r.Sub != "alice" || r.Exp != now+604800 {
		t.Fatalf("refresh token introspection %+v", r)
	}
	// A resource server sees every token, including other clients'.
	p := f.createFor(t, "post", "bob", "api.read")
	if r, _ := introspect(p.AccessToken, rsAuth); !r.Active || r.ClientID != "post" {
		t.Fatalf("resource server: %+v", r)
	}
	if r, oerr := f.svc.Introspect(f.ctx, post("token="+p.AccessToken+"&"+postCred)); oerr != nil || !r.Active {
		t.Fatalf("client_secret_post caller: %+v %v", r, oerr)
	}

	inactiveCases := map[string]func() (string, []string){
		"foreign access token": func() (string, []string) { return p.AccessToken, []string{webAuth} },
		"foreign refresh token": func() (string, []string) {
			return p.RefreshToken, []string{webAuth}
		},
		"garbage": func() (string, []string) { return "nope", []string{webAuth} },
		"forged signature": func() (string, []string) {
			return c.AccessToken[:len(c.AccessToken)-4] + "AAAA", []string{rsAuth}
		},
		"rotated refresh token": func() (string, []string) {
			x := f.createFor(t, "web", "dave", "api.read")
			mustRefresh(t, f, x.RefreshToken, "", webAuth)
			return x.RefreshToken, []string{webAuth}
		},
		"revoked access token": func() (string, []string) {
			x := f.createFor(t, "web", "erin", "api.read")
			if oerr := f.svc.Revoke(f.ctx, post("token="+x.RefreshToken, webAuth)); oerr != nil {
				t.Fatal(oerr)
			}
			return x.AccessToken, []string{rsAuth}
		},
		"revoked refresh token": func() (string, []string) {
			x := f.createFor(t, "web", "frank", "api.read")
			if oerr := f.svc.Revoke(f.ctx, post("token="+x.AccessToken, webAuth)); oerr != nil {
				t.Fatal(oerr)
			}
			return x.RefreshToken, []string{webAuth}
		},
	}
	for name, setup := range inactiveCases {
		tok, auth := setup()
		r, oerr := introspect(tok, auth...)
		if oerr != nil {
			t.Fatalf("%s: %v", name, oerr)
		}
		if body, _ := r.Body(); r.Active || string(body) != `{"active":false}` {
			t.Errorf("%s: %s", name, body)
		}
	}
	// Expiry: the access token lived 60 s.
	f.clk.advance(61 * time.Second)
	if r, _ := introspect(c.AccessToken, webAuth); r.Active {
		t.Error("expired access token is active")
	}
	if r, _ := introspect(c.RefreshToken, webAuth); !r.Active {
		t.Error("the refresh token has not expired yet")
	}
	f.clk.advance(7 * 24 * time.Hour)
	if r, _ := introspect(c.RefreshToken, webAuth); r.Active {
		t.Error("expired refresh token is active")
	}

	for name, tc := range map[string]struct {
		req    Request
		code   ErrorCode
		status int
	}{
		"public client":             {post("client_id=cli&token=" + c.AccessToken), ErrInvalidClient, 401},
		"wrong resource secret":     {post("token="+c.AccessToken, basic("orders-api:x")), ErrInvalidClient, 401},
		"no credentials":            {post("token=" + c.AccessToken), ErrInvalidClient, 401},
		"missing token":             {post("", rsAuth), ErrInvalidRequest, 400},
		"resource server, 2 ways":   {post("client_secret=x&token="+c.AccessToken, rsAuth), ErrInvalidRequest, 400},
		"resource server, other id": {post("client_id=web&token="+c.AccessToken, rsAuth), ErrInvalidRequest, 400},
		"GET":                       {Request{Method: "GET"}, ErrInvalidRequest, 405},
	} {
		_, oerr := f.svc.Introspect(f.ctx, tc.req)
		if oerr == nil || !errors.Is(oerr, tc.code) || oerr.HTTPStatus() != tc.status {
			t.Errorf("%s: %v", name, oerr)
		}
	}
}

func TestServiceMetadata(t *testing.T) {
	f := newFixture(t, false)
	m, err := f.svc.Metadata(Endpoints{Token: "/oauth2/token", Revocation: "/oauth2/revoke", Introspection: "/oauth2/introspect", JWKS: "/.well-known/jwks.json"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.MarshalJSON()
	for _, want := range []string{
		`"issuer":"https://auth.example.org"`,
		`"token_endpoint":"https://auth.example.org/oauth2/token"`,
		`"jwks_uri":"https://auth.example.org/.well-known/jwks.json"`,
		`"grant_types_supported":["refresh_token","client_credentials"]`,
		`"scopes_supported":["api.read","api.write","openid","profile"]`,
		`"token_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post","none"]`,
		`"introspection_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post"]`,
		// RS256 is mandatory (OpenID Connect Discovery §3); the ES256
		// signing key is offered too.
		`"id_token_signing_alg_values_supported":["RS256","ES256"]`,
		`"subject_types_supported":["public"]`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metadata lacks %s:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "response_types_supported") {
		t.Error("no authorization endpoint, so no response types")
	}
}
