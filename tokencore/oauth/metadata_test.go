package oauth

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestNewMetadata(t *testing.T) {
	tests := []struct {
		name     string
		issuer   string
		ep       Endpoints
		wantIss  string
		wantTok  string
		wantJWKS string
		wantErr  bool
	}{
		{name: "https with path", issuer: "https://auth.example.org/auth", ep: Endpoints{Token: "/token", JWKS: "/jwk"},
			wantIss: "https://auth.example.org/auth", wantTok: "https://auth.example.org/auth/token", wantJWKS: "https://auth.example.org/auth/jwk"},
		{name: "trailing slash removed", issuer: "https://auth.example.org/", ep: Endpoints{Token: "/token"},
			wantIss: "https://auth.example.org", wantTok: "https://auth.example.org/token"},
		{name: "absolute endpoint", issuer: "https://a.example", ep: Endpoints{Token: "/t", JWKS: "https://keys.example/jwks.json"},
			wantIss: "https://a.example", wantTok: "https://a.example/t", wantJWKS: "https://keys.example/jwks.json"},
		{name: "http localhost", issuer: "http://localhost:8080", ep: Endpoints{Token: "/token"},
			wantIss: "http://localhost:8080", wantTok: "http://localhost:8080/token"},
		{name: "http loopback ip", issuer: "http://127.0.0.1:9080", wantIss: "http://127.0.0.1:9080"},
		{name: "http ipv6 loopback", issuer: "http://[::1]:9080", wantIss: "http://[::1]:9080"},
		{name: "http public host", issuer: "http://auth.example.org", wantErr: true},
		{name: "query", issuer: "https://auth.example.org?x=1", wantErr: true},
		{name: "empty query", issuer: "https://auth.example.org?", wantErr: true},
		{name: "fragment", issuer: "https://auth.example.org#x", wantErr: true},
		{name: "userinfo", issuer: "https://u:p@auth.example.org", wantErr: true},
		{name: "relative", issuer: "/auth", wantErr: true},
		{name: "empty", issuer: "", wantErr: true},
		{name: "other scheme", issuer: "ftp://auth.example.org", wantErr: true},
		{name: "protocol-relative endpoint", issuer: "https://a.example", ep: Endpoints{Token: "//evil.example/token"}, wantErr: true},
		{name: "relative endpoint", issuer: "https://a.example", ep: Endpoints{Token: "token"}, wantErr: true},
		{name: "http endpoint", issuer: "https://a.example", ep: Endpoints{JWKS: "http://keys.example/jwks"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMetadata(tc.issuer, tc.ep)
			if tc.wantErr {
				if err == nil || !errors.Is(err, ErrMetadata) {
					t.Fatalf("NewMetadata(%q) = %+v, %v; want ErrMetadata", tc.issuer, m, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewMetadata(%q) error = %v", tc.issuer, err)
			}
			if m.Issuer != tc.wantIss || m.TokenEndpoint != tc.wantTok || m.JWKSURI != tc.wantJWKS {
				t.Errorf("NewMetadata(%q) = iss %q token %q jwks %q", tc.issuer, m.Issuer, m.TokenEndpoint, m.JWKSURI)
			}
			if (m.TokenEndpoint != "") != (len(m.TokenEndpointAuthMethodsSupported) == 3) {
				t.Errorf("token auth methods %q for token endpoint %q", m.TokenEndpointAuthMethodsSupported, m.TokenEndpoint)
			}
		})
	}
}

func TestMetadataJSON(t *testing.T) {
	m, err := NewMetadata("https://dirac.example/auth", Endpoints{Token: "/token", Revocation: "/revoke", JWKS: "/jwk"})
	if err != nil {
		t.Fatal(err)
	}
	m.GrantTypesSupported = []string{GrantTypeRefreshToken}
	m.ScopesSupported = []string{} // empty: must be omitted
	m.IDTokenSigningAlgValuesSupported = []string{"RS256", "none", "NONE"}
	m.TokenEndpointAuthSigningAlgValuesSupported = []string{"none"}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"issuer":"https://dirac.example/auth","token_endpoint":"https://dirac.example/auth/token",` +
		`"jwks_uri":"https://dirac.example/auth/jwk","grant_types_supported":["refresh_token"],` +
		`"token_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post","none"],` +
		`"revocation_endpoint":"https://dirac.example/auth/revoke",` +
		`"revocation_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post","none"],` +
		`"id_token_signing_alg_values_supported":["RS256"]}`
	if string(body) != want {
		t.Errorf("json =\n%s\nwant\n%s", body, want)
	}
	if len(m.IDTokenSigningAlgValuesSupported) != 3 {
		t.Errorf("MarshalJSON modified the struct: %q", m.IDTokenSigningAlgValuesSupported)
	}
	// A value (not a pointer) must marshal the same way.
	if vb, _ := json.Marshal(*m); string(vb) != want {
		t.Errorf("value json = %s", vb)
	}
}

func TestMetadataValidate(t *testing.T) {
	good := func() *Metadata {
		m, err := NewMetadata("https://a.example", Endpoints{Token: "/token"})
		if err != nil {
			t.Fatal(err)
		}
		m.GrantTypesSupported = []string{GrantTypeRefreshToken}
		m.IDTokenSigningAlgValuesSupported = []string{"RS256"}
		return m
	}
	tests := []struct {
		name    string
		edit    func(m *Metadata)
		wantErr string
	}{
		{"valid", func(m *Metadata) {}, ""},
		{"no grant types", func(m *Metadata) { m.GrantTypesSupported = nil }, "grant_types_supported"},
		{"no token endpoint", func(m *Metadata) { m.TokenEndpoint = "" }, "token_endpoint"},
		{"none id token alg", func(m *Metadata) { m.IDTokenSigningAlgValuesSupported = []string{"RS256", "None"} }, "id_token_signing_alg_values_supported"},
		{"none auth alg", func(m *Metadata) { m.TokenEndpointAuthSigningAlgValuesSupported = []string{"none"} }, "token_endpoint_auth_signing_alg_values_supported"},
		{"trailing slash", func(m *Metadata) { m.Issuer += "/" }, "slash"},
		{"http issuer", func(m *Metadata) { m.Issuer = "http://a.example" }, "https"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := good()
			tc.edit(m)
			err := m.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrMetadata) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestMetadataWellKnown(t *testing.T) {
	tests := []struct {
		issuer, oauth, oidc string
	}{
		{"https://example.com", "https://example.com/.well-known/oauth-authorization-server", "https://example.com/.well-known/openid-configuration"},
		{"https://example.com/issuer1", "https://example.com/.well-known/oauth-authorization-server/issuer1", "https://example.com/issuer1/.well-known/openid-configuration"},
		{"http://localhost:8080/auth", "http://localhost:8080/.well-known/oauth-authorization-server/auth", "http://localhost:8080/auth/.well-known/openid-configuration"},
	}
	for _, tc := range tests {
		m, err := NewMetadata(tc.issuer, Endpoints{})
		if err != nil {
			t.Fatal(err)
		}
		if got := m.OAuthWellKnownURL(); got != tc.oauth {
			t.Errorf("OAuthWellKnownURL(%q) = %q, want %q", tc.issuer, got, tc.oauth)
		}
		if got := m.OpenIDWellKnownURL(); got != tc.oidc {
			t.Errorf("OpenIDWellKnownURL(%q) = %q, want %q", tc.issuer, got, tc.oidc)
		}
	}
}
