package oauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/folio"
)

// TestOAuthRefreshTokenRefusedAtFolio reproduces issue 8 §1: a refresh
// token of the confidential client web, presented at FOLIO's
// /token/refresh without X-Okapi-Tenant (and with one), was answered 201
// with a new pair, and the legitimate client was then locked out as a
// replayer. It must be refused in FOLIO's shape, consume nothing and
// revoke nothing.
func TestOAuthRefreshTokenRefusedAtFolio(t *testing.T) {
	for _, tenantHeader := range []string{"", "diku"} {
		t.Run("tenant="+tenantHeader, func(t *testing.T) {
			f := newFixture(t, false)
			fsvc := folio.New(f.e, folio.Config{})
			c := f.createFor(t, "web", "alice", "api.read")

			out, ferr := fsvc.Refresh(f.ctx, tenantHeader, "", c.RefreshToken)
			if ferr == nil {
				t.Fatalf("FOLIO refresh of an OAuth refresh token answered a pair for tenant %q", out.TenantID)
			}
			if ferr.Status != http.StatusUnauthorized || ferr.Message != "Invalid token" {
				t.Errorf("refusal %d %q, want 401 Invalid token", ferr.Status, ferr.Message)
			}
			var re *tokencore.RedeemError
			if !errors.Is(ferr, tokencore.ErrWrongEndpoint) || !errors.As(ferr, &re) || re.Protocol != tokencore.ProtocolOAuth || re.ClientID != "web" || re.GrantID == "" {
				t.Errorf("cause %v, want a *RedeemError naming the OAuth grant of web", ferr.Err)
			}
			if errors.Is(ferr, tokencore.ErrRefreshReused) {
				t.Error("a token at the wrong endpoint was treated as a replay")
			}
			if ferr := fsvc.Invalidate(f.ctx, "diku", c.RefreshToken); ferr == nil || !errors.Is(ferr, tokencore.ErrWrongEndpoint) {
				t.Errorf("FOLIO invalidate of an OAuth refresh token: %v", ferr)
			}
			// The legitimate holder is untouched: its access token works,
			// its refresh token rotates (no replay), and so on.
			if err := f.proxyAccepts(c.AccessToken); err != nil {
				t.Fatalf("access token after the refused attempt: %v", err)
			}
			r := mustRefresh(t, f, c.RefreshToken, "", webAuth)
			mustRefresh(t, f, r.RefreshToken, "", webAuth)
		})
	}
}

// TestFolioRefreshTokenRefusedAtOAuth is the reverse: a FOLIO refresh
// token at the token endpoint, with any client's authentication, is
// invalid_grant and changes nothing; a token of tenant A at tenant B's
// FOLIO endpoints is refused without counting as a replay.
func TestFolioRefreshTokenRefusedAtOAuth(t *testing.T) {
	f := newFixture(t, false)
	fsvc := folio.New(f.e, folio.Config{})
	v, ferr := fsvc.Sign(f.ctx, "diku", folio.SignPayload{Subject: "alice", UserID: "a6e5ec3a-6b3b-4f1d-9c45-0b0b3a6f8f11"})
	if ferr != nil {
		t.Fatal(ferr)
	}
	p := v.(folio.Tokens)
	for _, cred := range []struct {
		extra string
		auth  []string
	}{{"", []string{webAuth}}, {postCred, nil}} {
		_, oerr := f.refresh(p.RefreshToken, cred.extra, cred.auth...)
		if oerr == nil {
			t.Fatal("the token endpoint redeemed a FOLIO refresh token")
		}
		wantError(t, oerr, ErrInvalidGrant, http.StatusBadRequest)
	}
	if _, oerr := f.svc.Token(f.ctx, post("grant_type=refresh_token&client_id=cli&refresh_token="+url.QueryEscape(p.RefreshToken))); oerr == nil ||
		!errors.Is(oerr.Refusal(), tokencore.ErrWrongEndpoint) {
		t.Errorf("public client with a FOLIO refresh token: %v (refusal %v)", oerr, oerr.Refusal())
	}

	// Tenant A's token at tenant B: 403, and not a replay.
	if _, ferr := fsvc.Refresh(f.ctx, "other", "", p.RefreshToken); ferr == nil || ferr.Status != http.StatusForbidden ||
		!errors.Is(ferr, tokencore.ErrTokenWrongTenant) {
		t.Errorf("tenant diku's token at tenant other: %v", ferr)
	}
	if ferr := fsvc.Invalidate(f.ctx, "other", p.RefreshToken); ferr == nil || ferr.Status != http.StatusForbidden {
		t.Errorf("invalidate at another tenant: %v", ferr)
	}
	if _, err := f.e.Verifier(tokencore.VerifierOptions{}).Verify(p.AccessToken, "diku"); err != nil {
		t.Fatalf("FOLIO access token after refused attempts: %v", err)
	}
	next, ferr := fsvc.Refresh(f.ctx, "diku", "", p.RefreshToken)
	if ferr != nil {
		t.Fatalf("the FOLIO holder's refresh after refused attempts: %v", ferr)
	}
	if _, ferr := fsvc.Refresh(f.ctx, "", "", next.RefreshToken); ferr != nil {
		t.Fatalf("FOLIO refresh without a tenant header (the token's tenant stands): %v", ferr)
	}
}

// TestOAuthEndpointsSeeOnlyOAuthGrants: introspection, revocation and the
// management API act only on grants their caller may see. FOLIO sessions
// are invisible at every OAuth endpoint, to resource servers too.
func TestOAuthEndpointsSeeOnlyOAuthGrants(t *testing.T) {
	f := newFixture(t, false)
	fsvc := folio.New(f.e, folio.Config{})
	v, ferr := fsvc.Sign(f.ctx, "diku", folio.SignPayload{Subject: "alice", UserID: "a6e5ec3a-6b3b-4f1d-9c45-0b0b3a6f8f11"})
	if ferr != nil {
		t.Fatal(ferr)
	}
	p := v.(folio.Tokens)
	for _, tok := range []string{p.AccessToken, p.RefreshToken} {
		for _, auth := range []string{rsAuth, webAuth} {
			r, oerr := f.svc.Introspect(f.ctx, post("token="+url.QueryEscape(tok), auth))
			if oerr != nil || r.Active {
				t.Errorf("introspection of a FOLIO token by %s: %+v %v", auth, r, oerr)
			}
		}
		oerr := f.svc.Revoke(f.ctx, post("token="+url.QueryEscape(tok), webAuth))
		if oerr == nil || !errors.Is(oerr, ErrInvalidGrant) || !errors.Is(oerr.Refusal(), tokencore.ErrWrongEndpoint) {
			t.Errorf("OAuth revocation of a FOLIO token: %v", oerr)
		}
	}
	for _, req := range []struct{ method, path, body string }{
		{"POST", "/auth/token/update", `{"accessToken":"` + p.AccessToken + `","accessTokenValueUpdated":true}`},
		{"POST", "/auth/token/update", `{"refreshToken":"` + p.RefreshToken + `","properties":[]}`},
		{"POST", "/auth/token/revoke", `{"accessTokenIdentifier":"` + p.AccessToken + `"}`},
		{"POST", "/auth/token/revoke", `{"refreshTokenIdentifier":"` + tokencore.TokenHash(p.RefreshToken) + `"}`},
		{"DELETE", "/auth/token/delete/" + p.AccessToken, ""},
		{"POST", "/idtoken/reissue", `{"accessToken":"` + p.AccessToken + `","refreshToken":"` + p.RefreshToken + `"}`},
	} {
		ct := ""
		if req.body != "" {
			ct = "application/json"
		}
		resp := f.svc.Manage(f.ctx, ManageRequest{Method: req.method, Path: req.path, ContentType: ct, Body: []byte(req.body)})
		if req.path == "/auth/token/revoke" {
			var m map[string]any
			if err := json.Unmarshal(resp.Body, &m); err != nil || resp.Status != http.StatusOK || m["count"] != 0.0 {
				t.Errorf("%s %s on a FOLIO token: %d %s, want 200 with count 0", req.method, req.path, resp.Status, resp.Body)
			}
		} else if resp.Status < 400 {
			t.Errorf("%s %s on a FOLIO token: %d %s", req.method, req.path, resp.Status, resp.Body)
		}
		if !errors.Is(resp.Refusal, tokencore.ErrWrongEndpoint) {
			t.Errorf("%s %s: refusal %v, want ErrWrongEndpoint", req.method, req.path, resp.Refusal)
		}
	}
	if _, err := f.e.Verifier(tokencore.VerifierOptions{}).Verify(p.AccessToken, "diku"); err != nil {
		t.Fatalf("FOLIO access token after the OAuth endpoints refused it: %v", err)
	}
	if _, ferr := fsvc.Refresh(f.ctx, "diku", "", p.RefreshToken); ferr != nil {
		t.Fatalf("FOLIO refresh after the OAuth endpoints refused it: %v", ferr)
	}
}

// TestRefreshByAnotherClientConsumesNothing: web's refresh token presented
// with post's authentication is refused, and web keeps refreshing.
func TestRefreshByAnotherClientConsumesNothing(t *testing.T) {
	f := newFixture(t, false)
	c := f.createFor(t, "web", "alice", "api.read")
	_, oerr := f.refresh(c.RefreshToken, postCred)
	wantError(t, oerr, ErrInvalidGrant, http.StatusBadRequest)
	var re *tokencore.RedeemError
	if !errors.As(oerr.Refusal(), &re) || !errors.Is(re, tokencore.ErrWrongClient) {
		t.Errorf("refusal %v, want a wrong-client *RedeemError", oerr.Refusal())
	}
	mustRefresh(t, f, c.RefreshToken, "", webAuth)
}
