package oauth

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

func TestTokenEndpointErrors(t *testing.T) {
	f := newFixture(t, false)
	web := f.createFor(t, "web", "alice", "openid api.read")
	pst := f.createFor(t, "post", "bob", "api.read")
	rt := "refresh_token=" + web.RefreshToken

	tests := []struct {
		name      string
		req       Request
		code      ErrorCode
		status    int
		desc      string // substring of the description; "-" = no description
		challenge bool
	}{
		{name: "GET", req: Request{Method: http.MethodGet}, code: ErrInvalidRequest, status: 405},
		{name: "JSON body", req: Request{Method: http.MethodPost, ContentType: "application/json", Body: []byte(`{}`)},
			code: ErrInvalidRequest, status: 400, desc: "x-www-form-urlencoded"},
		{name: "two Authorization headers", req: post("grant_type=refresh_token&"+rt, webAuth, webAuth), code: ErrInvalidRequest, status: 400},
		{name: "duplicate parameter", req: post("grant_type=refresh_token&"+rt+"&"+rt, webAuth), code: ErrInvalidRequest, status: 400, desc: "Duplicate 'refresh_token'"},
		{name: "missing grant_type", req: post(rt, webAuth), code: ErrInvalidRequest, status: 400, desc: "grant_type"},
		{name: "empty grant_type", req: post("grant_type=&"+rt, webAuth), code: ErrInvalidRequest, status: 400, desc: "grant_type"},
		{name: "unsupported grant", req: post("grant_type=password&username=a&password=b", webAuth), code: ErrUnsupportedGrantType, status: 400, desc: "-"},
		{name: "authorization_code without the authorization endpoint", req: post("grant_type=authorization_code&code=x", webAuth), code: ErrUnsupportedGrantType, status: 400},
		{name: "no client credentials", req: post("grant_type=refresh_token&" + rt), code: ErrInvalidClient, status: 401, challenge: true},
		{name: "basic wrong secret", req: post("grant_type=refresh_token&"+rt, basic("web:nope")), code: ErrInvalidClient, status: 401, challenge: true},
		{name: "basic unknown client", req: post("grant_type=refresh_token&"+rt, basic("nobody:x")), code: ErrInvalidClient, status: 401,
			desc: "does not exist", challenge: true},
		{name: "post unknown client", req: post("grant_type=refresh_token&" + rt + "&client_id=nobody&client_secret=x"), code: ErrInvalidClient, status: 400,
			desc: "does not exist"},
		{name: "post client using basic", req: post("grant_type=refresh_token&"+rt, basic("post:p0st")), code: ErrInvalidClient, status: 401, challenge: true},
		{name: "two methods", req: post("grant_type=refresh_token&"+rt+"&client_secret=w3b", webAuth), code: ErrInvalidRequest, status: 400},
		{name: "confidential client without secret", req: post("grant_type=refresh_token&" + rt + "&client_id=web"), code: ErrInvalidClient, status: 401},
		{name: "client not registered for refresh", req: post("grant_type=refresh_token&"+rt, svcAuth), code: ErrUnauthorizedClient, status: 400,
			desc: "grant_type=refresh_token"},
		{name: "client not registered for client_credentials", req: post("grant_type=client_credentials", webAuth), code: ErrUnauthorizedClient, status: 400},
		{name: "public client and client_credentials", req: post("grant_type=client_credentials&client_id=cli"), code: ErrUnauthorizedClient, status: 400},
		{name: "missing refresh_token", req: post("grant_type=refresh_token", webAuth), code: ErrInvalidRequest, status: 400, desc: "Missing 'refresh_token'"},
		{name: "empty refresh_token", req: post("grant_type=refresh_token&refresh_token=", webAuth), code: ErrInvalidRequest, status: 400},
		{name: "garbage refresh token", req: post("grant_type=refresh_token&refresh_token=abc", webAuth), code: ErrInvalidGrant, status: 400},
		{name: "access token as refresh token", req: post("grant_type=refresh_token&refresh_token="+web.AccessToken, webAuth), code: ErrInvalidGrant, status: 400},
		{name: "refresh token of post, presented by public cli", req: post("grant_type=refresh_token&client_id=cli&refresh_token=" + pst.RefreshToken),
			code: ErrInvalidGrant, status: 400, desc: "not issued to this client"},
		{name: "refresh token issued to post, presented by web", req: post("grant_type=refresh_token&refresh_token="+pst.RefreshToken, webAuth),
			code: ErrInvalidGrant, status: 400, desc: "not issued to this client"},
		{name: "widening scope", req: post("grant_type=refresh_token&"+rt+"&scope=api.write", webAuth), code: ErrInvalidScope, status: 400},
		{name: "malformed scope", req: post("grant_type=refresh_token&"+rt+"&scope=a%09b", webAuth), code: ErrInvalidScope, status: 400},
		{name: "client_credentials widening", req: post("grant_type=client_credentials&scope=api.write", svcAuth), code: ErrInvalidScope, status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, oerr := f.svc.Token(f.ctx, tt.req)
			if resp != nil {
				t.Fatalf("unexpected success %+v", resp)
			}
			wantError(t, oerr, tt.code, tt.status)
			switch {
			case tt.desc == "-" && oerr.Description != "":
				t.Errorf("description %q, want none", oerr.Description)
			case tt.desc != "" && tt.desc != "-" && !strings.Contains(oerr.Description, tt.desc):
				t.Errorf("description %q, want it to contain %q", oerr.Description, tt.desc)
			}
			if got := oerr.WWWAuthenticate() != ""; got != (tt.status == 401) {
				t.Errorf("challenge %q with status %d", oerr.WWWAuthenticate(), tt.status)
			}
			if tt.challenge && !strings.HasPrefix(oerr.WWWAuthenticate(), `Basic error="invalid_client"`) {
				t.Errorf("WWW-Authenticate %q", oerr.WWWAuthenticate())
			}
		})
	}
	// None of the refused requests consumed or revoked anything.
	mustRefresh(t, f, web.RefreshToken, "", webAuth)
	mustRefresh(t, f, pst.RefreshToken, postCred)
}

func TestRefreshEachClientAuthMethod(t *testing.T) {
	for _, memory := range []bool{false, true} {
		f := newFixture(t, memory)
		for _, tc := range []struct {
			client, creds string
			auth          []string
		}{
			{"web", "", []string{webAuth}},
			{"post", postCred, nil},
			{"cli", "client_id=cli", nil},
		} {
			created := f.createFor(t, tc.client, "alice", "api.read")
			rt := created.RefreshToken
			at := created.AccessToken
			for i := 0; i < 3; i++ {
				resp := mustRefresh(t, f, rt, tc.creds, tc.auth...)
				if resp.RefreshToken == "" || resp.RefreshToken == rt || resp.AccessToken == at {
					t.Fatalf("%s: refresh %d did not rotate", tc.client, i)
				}
				if resp.TokenType != "Bearer" || resp.ExpiresIn != 600 || resp.Scope != "api.read" {
					t.Fatalf("%s: response %+v", tc.client, resp)
				}
				if err := f.proxyAccepts(resp.AccessToken); err != nil {
					t.Fatalf("%s: new access token refused: %v", tc.client, err)
				}
				g, err := f.e.Store.GrantByTokenHash(f.ctx, tokencore.TokenHash(resp.RefreshToken))
				if err != nil || g.ClientID != tc.client || g.AccessHash != tokencore.TokenHash(resp.AccessToken) || g.LastRefreshedAt.IsZero() {
					t.Fatalf("%s: grant after refresh %+v, %v", tc.client, g, err)
				}
				rt, at = resp.RefreshToken, resp.AccessToken
			}
		}
	}
}

func TestRefreshScopeNarrowing(t *testing.T) {
	f := newFixture(t, false)
	c := f.createFor(t, "web", "alice", "openid profile api.read api.write")
	resp := mustRefresh(t, f, c.RefreshToken, "scope=api.read", webAuth)
	if resp.Scope != "api.read" || resp.IDToken != "" {
		t.Fatalf("narrowed response scope %q, id token %v", resp.Scope, resp.IDToken != "")
	}
	claims, err := f.e.Verifier(tokencore.VerifierOptions{}).Verify(resp.AccessToken, "")
	if err != nil || claims.Scope != "api.read" {
		t.Fatalf("access token scope %q, %v", claims.Scope, err)
	}
	g, _ := f.e.Store.GrantByTokenHash(f.ctx, tokencore.TokenHash(resp.RefreshToken))
	if !slices.Equal(g.Scopes, []string{"openid", "profile", "api.read", "api.write"}) || !slices.Equal(g.AccessScopes, []string{"api.read"}) {
		t.Fatalf("grant scopes %v, access scopes %v", g.Scopes, g.AccessScopes)
	}
	// The new refresh token keeps the granted scope (RFC 6749 §6).
	resp = mustRefresh(t, f, resp.RefreshToken, "", webAuth)
	if resp.Scope != "openid profile api.read api.write" {
		t.Fatalf("scope after an unscoped refresh %q", resp.Scope)
	}
	// Narrowing to a scope set in another order keeps the request's order.
	resp = mustRefresh(t, f, resp.RefreshToken, "scope=api.write+openid", webAuth)
	if resp.Scope != "api.write openid" || resp.IDToken == "" {
		t.Fatalf("scope %q, id token %v", resp.Scope, resp.IDToken != "")
	}
}

func TestRefreshReplayRevokesGrant(t *testing.T) {
	for _, memory := range []bool{false, true} {
		f := newFixture(t, memory)
		c := f.createFor(t, "web", "alice", "api.read")
		first := mustRefresh(t, f, c.RefreshToken, "", webAuth)
		second := mustRefresh(t, f, first.RefreshToken, "", webAuth)
		if err := f.proxyAccepts(second.AccessToken); err != nil {
			t.Fatal(err)
		}
		_, oerr := f.refresh(c.RefreshToken, "", webAuth) // replay of a rotated token
		wantError(t, oerr, ErrInvalidGrant, 400)
		if !strings.Contains(oerr.Description, "already used") {
			t.Errorf("description %q", oerr.Description)
		}
		// The security log learns which grant the replay revoked.
		if r := oerr.Replay(); r == nil || r.Protocol != "oauth" || r.GrantID == "" || r.Revoked != 1 || !errors.Is(r, tokencore.ErrRefreshReused) {
			t.Errorf("replay %+v", r)
		}
		// Every token of the grant is refused: the latest access token by
		// the proxy, the latest refresh token at the token endpoint.
		for _, at := range []string{c.AccessToken, first.AccessToken, second.AccessToken} {
			if err := f.proxyAccepts(at); !errors.Is(err, tokencore.ErrTokenRevoked) {
				t.Errorf("access token after replay: %v, want revoked", err)
			}
		}
		_, oerr = f.refresh(second.RefreshToken, "", webAuth)
		wantError(t, oerr, ErrInvalidGrant, 400)
		g, _ := f.e.Store.GrantByTokenHash(f.ctx, tokencore.TokenHash(second.RefreshToken))
		if g.Status != tokencore.GrantRevoked {
			t.Errorf("grant status %s", g.Status)
		}
		// The revocation is persisted, so other instances and restarts see it.
		rs, _ := f.e.Store.Revocations(f.ctx, f.clk.now())
		if len(rs) != 1 || rs[0].Kind != tokencore.RevocationOfGrant || rs[0].Key != g.ID {
			t.Errorf("stored revocations %+v", rs)
		}
	}
}

func TestRefreshExpiry(t *testing.T) {
	f := newFixture(t, false)
	c := f.create(t, `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"alice","scopes":["api.read"],"refreshTokenDuration":60}`)
	f.clk.advance(61 * time.Second)
	_, oerr := f.refresh(c.RefreshToken, "", webAuth)
	wantError(t, oerr, ErrInvalidGrant, 400)
	g, _ := f.e.Store.GrantByTokenHash(f.ctx, tokencore.TokenHash(c.RefreshToken))
	if g.Status != tokencore.GrantActive {
		t.Errorf("an expired refresh token must not revoke its grant: %s", g.Status)
	}
}

func TestConcurrentRefreshOneWinner(t *testing.T) {
	for _, memory := range []bool{false, true} {
		f := newFixture(t, memory)
		c := f.createFor(t, "web", "alice", "api.read")
		const n = 24
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			wins  []*TokenResponse
			codes = map[string]int{}
		)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, oerr := f.refresh(c.RefreshToken, "", webAuth)
				mu.Lock()
				defer mu.Unlock()
				if oerr != nil {
					codes[oerr.Code]++
					return
				}
				wins = append(wins, resp)
			}()
		}
		wg.Wait()
		if len(wins) != 1 || codes[string(ErrInvalidGrant)] != n-1 {
			t.Fatalf("memory=%v: %d winners, errors %v", memory, len(wins), codes)
		}
		// Without a grace window the losers were replays: the grant is revoked.
		if err := f.proxyAccepts(wins[0].AccessToken); !errors.Is(err, tokencore.ErrTokenRevoked) {
			t.Fatalf("winner's access token after the replays: %v", err)
		}
	}
}

func TestRefreshGraceWindow(t *testing.T) {
	f := newFixture(t, false, func(c *Config) { c.RefreshGrace = 10 * time.Second })
	c := f.createFor(t, "web", "alice", "openid api.read")
	const n = 16
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		pairs = map[string]int{}
		errs  []*Error
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, oerr := f.refresh(c.RefreshToken, "", webAuth)
			mu.Lock()
			defer mu.Unlock()
			if oerr != nil {
				errs = append(errs, oerr)
				return
			}
			pairs[resp.AccessToken+" "+resp.RefreshToken+" "+resp.IDToken]++
		}()
	}
	wg.Wait()
	if len(errs) != 0 || len(pairs) != 1 {
		t.Fatalf("within the grace window every presentation gets the one pair: %d pairs, errors %v", len(pairs), errs)
	}
	var winner string
	for k := range pairs {
		winner = k
	}
	at, rt := strings.Fields(winner)[0], strings.Fields(winner)[1]
	if err := f.proxyAccepts(at); err != nil {
		t.Fatalf("winner refused: %v", err)
	}
	// After the window, the old token is a replay again.
	f.clk.advance(11 * time.Second)
	_, oerr := f.refresh(c.RefreshToken, "", webAuth)
	wantError(t, oerr, ErrInvalidGrant, 400)
	if _, oerr := f.refresh(rt, "", webAuth); oerr == nil {
		t.Fatal("the grant must be revoked after a replay outside the window")
	}
}

func TestClientCredentials(t *testing.T) {
	f := newFixture(t, false)
	resp, oerr := f.svc.Token(f.ctx, post("grant_type=client_credentials", svcAuth))
	if oerr != nil {
		t.Fatal(oerr)
	}
	if resp.RefreshToken != "" || resp.IDToken != "" || resp.Scope != "api.read" || resp.ExpiresIn != 600 {
		t.Fatalf("response %+v", resp)
	}
	c, err := f.e.Verifier(tokencore.VerifierOptions{}).Verify(resp.AccessToken, "")
	if err != nil || c.Subject != "svc" || c.ClientID != "svc" || c.Scope != "api.read" || c.Issuer != "https://auth.example.org" {
		t.Fatalf("claims %+v, %v", c, err)
	}
	g, err := f.e.Store.GrantByTokenHash(f.ctx, tokencore.TokenHash(resp.AccessToken))
	if err != nil || g.Subject != "" || g.GrantType != GrantTypeClientCredentials || g.RefreshHash != "" {
		t.Fatalf("grant %+v, %v", g, err)
	}
	// Explicit scope, and the token is revocable like any other.
	resp, oerr = f.svc.Token(f.ctx, post("grant_type=client_credentials&scope=api.read", svcAuth))
	if oerr != nil || resp.Scope != "api.read" {
		t.Fatalf("%+v %v", resp, oerr)
	}
	if oerr := f.svc.Revoke(f.ctx, post("token="+resp.AccessToken, svcAuth)); oerr != nil {
		t.Fatal(oerr)
	}
	if err := f.proxyAccepts(resp.AccessToken); !errors.Is(err, tokencore.ErrTokenRevoked) {
		t.Fatalf("after revocation: %v", err)
	}
}
