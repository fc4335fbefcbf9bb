package tokencore

import (
	"errors"
	"testing"
)

// TestRedeemableAt is the rule as a table: kind, client and tenant of the
// grant against protocol, client and tenant of the endpoint.
func TestRedeemableAt(t *testing.T) {
	folio := &Grant{ID: "f", Kind: GrantKindFolio, Tenant: "diku", UserID: "u"}
	oauth := &Grant{ID: "o", Kind: GrantKindOAuth, ClientID: "web"}
	manage := &Grant{ID: "m", Kind: GrantKindManage, ClientID: "web"}
	folioNoTenant := &Grant{ID: "f0", Kind: GrantKindFolio}
	folioWithClient := &Grant{ID: "fc", Kind: GrantKindFolio, Tenant: "diku", ClientID: "web"}
	oauthWithTenant := &Grant{ID: "ot", Kind: GrantKindOAuth, ClientID: "web", Tenant: "diku"}
	unknown := &Grant{ID: "x", Kind: "edi", ClientID: "web", Tenant: "diku"}

	folioAt := func(tenant string) Endpoint { return Endpoint{Protocol: ProtocolFolio, Tenant: tenant} }
	oauthAs := func(client string) Endpoint { return Endpoint{Protocol: ProtocolOAuth, ClientID: client} }
	operator := Endpoint{Protocol: ProtocolOAuth, AnyClient: true}
	tests := []struct {
		name string
		g    *Grant
		at   Endpoint
		want error // nil, ErrWrongProtocol, ErrWrongClient or ErrTokenWrongTenant
	}{
		{"FOLIO grant at its tenant", folio, folioAt("diku"), nil},
		{"FOLIO grant without a tenant header", folio, folioAt(""), nil},
		{"FOLIO grant at another tenant", folio, folioAt("other"), ErrTokenWrongTenant},
		{"FOLIO grant at the token endpoint", folio, oauthAs("web"), ErrWrongProtocol},
		{"FOLIO grant at the management API", folio, operator, ErrWrongProtocol},
		{"OAuth grant at its client", oauth, oauthAs("web"), nil},
		{"management grant at its client", manage, oauthAs("web"), nil},
		{"OAuth grant for the operator", oauth, operator, nil},
		{"OAuth grant at another client", oauth, oauthAs("post"), ErrWrongClient},
		{"OAuth grant without client authentication", oauth, oauthAs(""), ErrWrongClient},
		{"OAuth grant at FOLIO without a tenant header", oauth, folioAt(""), ErrWrongProtocol},
		{"management grant at FOLIO with a tenant", manage, folioAt("diku"), ErrWrongProtocol},
		{"tenantless grant at a tenant-scoped endpoint", folioNoTenant, folioAt(""), ErrTokenWrongTenant},
		{"tenantless grant with a tenant header", folioNoTenant, folioAt("diku"), ErrTokenWrongTenant},
		{"FOLIO grant with a client", folioWithClient, folioAt("diku"), ErrWrongClient},
		{"OAuth grant with a tenant", oauthWithTenant, oauthAs("web"), ErrTokenWrongTenant},
		{"unknown kind at OAuth", unknown, operator, ErrWrongProtocol},
		{"unknown kind at FOLIO", unknown, folioAt("diku"), ErrWrongProtocol},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.g.RedeemableAt(tc.at)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var re *RedeemError
			if !errors.As(err, &re) || !errors.Is(err, ErrWrongEndpoint) || !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want a *RedeemError wrapping ErrWrongEndpoint and %v", err, tc.want)
			}
			if re.GrantID != tc.g.ID || re.Kind != tc.g.Kind || re.ClientID != tc.g.ClientID || re.Tenant != tc.g.Tenant || re.At != tc.at {
				t.Errorf("error fields %+v", re)
			}
		})
	}
}

// TestTokenClaimsFollowTheRule: a token's own claims (client_id, tenant)
// are judged like its grant, so endpoints refuse before reading the store.
func TestTokenClaimsFollowTheRule(t *testing.T) {
	oauthRT := &RefreshClaims{GrantID: "g", ClientID: "web"}
	folioRT := &RefreshClaims{GrantID: "g", Tenant: "diku"}
	bare := &RefreshClaims{GrantID: "g"}
	folioAT := &Claims{GrantID: "g", Tenant: "diku"}
	oauthAT := &Claims{GrantID: "g", ClientID: "web"}
	for name, tc := range map[string]struct {
		err  error
		want error
	}{
		"OAuth refresh token at FOLIO":             {oauthRT.RedeemableAt(Endpoint{Protocol: ProtocolFolio}), ErrWrongProtocol},
		"OAuth refresh token at its client":        {oauthRT.RedeemableAt(Endpoint{Protocol: ProtocolOAuth, ClientID: "web"}), nil},
		"FOLIO refresh token at OAuth":             {folioRT.RedeemableAt(Endpoint{Protocol: ProtocolOAuth, ClientID: "web"}), ErrWrongProtocol},
		"FOLIO refresh token at its tenant":        {folioRT.RedeemableAt(Endpoint{Protocol: ProtocolFolio, Tenant: "diku"}), nil},
		"token with neither client nor tenant":     {bare.RedeemableAt(Endpoint{Protocol: ProtocolFolio}), ErrWrongProtocol},
		"FOLIO access token for a resource server": {folioAT.RedeemableAt(Endpoint{Protocol: ProtocolOAuth, AnyClient: true}), ErrWrongProtocol},
		"OAuth access token of another client":     {oauthAT.RedeemableAt(Endpoint{Protocol: ProtocolOAuth, ClientID: "post"}), ErrWrongClient},
	} {
		if tc.want == nil && tc.err != nil || tc.want != nil && !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", name, tc.err, tc.want)
		}
	}
}
