package oauth

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestSecretHashes(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, hash, secret string
		valid, match       bool
	}{
		{"HashSecret round trip", HashSecret("s3cr3t"), "s3cr3t", true, true},
		{"HashSecret wrong secret", HashSecret("s3cr3t"), "s3cr3T", true, false},
		{"HashSecret empty secret", HashSecret("s3cr3t"), "", true, false},
		{"sha256 hex", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "test", true, true},
		{"sha256 base64url", "sha256:n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg", "test", true, true},
		{"sha256 truncated", "sha256:9f86d081", "test", false, false},
		{"bcrypt", string(bc), "correct horse", true, true},
		{"bcrypt wrong", string(bc), "correct horsE", true, false},
		{"bcrypt malformed", "$2b$garbage", "x", false, false},
		{"plaintext is not a hash", "test", "test", false, false},
		{"unknown scheme", "md5:098f6bcd4621d373cade4e832627b4f6", "test", false, false},
		{"empty", "", "", false, false},
		{"dummy hash is a real hash", dummySecretHash, "anything", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateSecretHash(tc.hash)
			if (err == nil) != tc.valid {
				t.Errorf("ValidateSecretHash(%q) = %v, want valid=%v", tc.hash, err, tc.valid)
			}
			if err != nil && !errors.Is(err, ErrClientConfig) {
				t.Errorf("ValidateSecretHash error %v does not wrap ErrClientConfig", err)
			}
			if got := VerifySecret(tc.hash, tc.secret); got != tc.match {
				t.Errorf("VerifySecret(%q, %q) = %v, want %v", tc.hash, tc.secret, got, tc.match)
			}
		})
	}
	if !strings.HasPrefix(HashSecret("x"), "sha256:") {
		t.Errorf("HashSecret is not the sha256 form: %q", HashSecret("x"))
	}
}

func TestClientValidate(t *testing.T) {
	ok := Client{ID: "web", AuthMethod: AuthClientSecretBasic, SecretHash: HashSecret("s"),
		GrantTypes: []string{GrantTypeRefreshToken, GrantTypeDeviceCode}, Scopes: []string{"openid", "g:dirac_user"}}
	tests := []struct {
		name    string
		edit    func(c *Client)
		wantErr string // substring; "" = valid
	}{
		{"valid basic", func(c *Client) {}, ""},
		{"valid post", func(c *Client) { c.AuthMethod = AuthClientSecretPost }, ""},
		{"valid public", func(c *Client) { c.AuthMethod, c.SecretHash = AuthNone, "" }, ""},
		{"id with space and colon", func(c *Client) { c.ID = "my client:1" }, ""},
		{"empty id", func(c *Client) { c.ID = "" }, "client ID must be"},
		{"long id", func(c *Client) { c.ID = strings.Repeat("a", MaxClientIDLength+1) }, "client ID must be"},
		{"non-ASCII id", func(c *Client) { c.ID = "clïent" }, "client ID must be"},
		{"control char id", func(c *Client) { c.ID = "a\nb" }, "client ID must be"},
		{"secret method without hash", func(c *Client) { c.SecretHash = "" }, "needs a secret hash"},
		{"plaintext secret", func(c *Client) { c.SecretHash = "hunter2" }, "secret hash must be"},
		{"public with hash", func(c *Client) { c.AuthMethod = AuthNone }, "must not have a secret"},
		{"unknown method", func(c *Client) { c.AuthMethod = "private_key_jwt" }, "unknown auth method"},
		{"empty method", func(c *Client) { c.AuthMethod = "" }, "unknown auth method"},
		{"bad scope", func(c *Client) { c.Scopes = []string{"a b"} }, "invalid scope"},
		{"empty scope", func(c *Client) { c.Scopes = []string{""} }, "invalid scope"},
		{"bad grant type", func(c *Client) { c.GrantTypes = []string{""} }, "invalid grant type"},
		{"negative ttl", func(c *Client) { c.RefreshTTL = -time.Second }, "must not be negative"},
		{"ID tokens in RS256", func(c *Client) { c.IDTokenSignedResponseAlg = "RS256" }, ""},
		{"ID tokens in ES256", func(c *Client) { c.IDTokenSignedResponseAlg = "ES256" }, ""},
		{"ID tokens in HS256", func(c *Client) { c.IDTokenSignedResponseAlg = "HS256" }, "id_token_signed_response_alg"},
		{"ID tokens unsigned", func(c *Client) { c.IDTokenSignedResponseAlg = "none" }, "id_token_signed_response_alg"},
		{"ID token alg in lower case", func(c *Client) { c.IDTokenSignedResponseAlg = "rs256" }, "id_token_signed_response_alg"},
		{"audience", func(c *Client) { c.Audience = []string{"https://api.example.org", "urn:orders"} }, ""},
		{"empty audience", func(c *Client) { c.Audience = []string{""} }, "invalid audience"},
		{"audience with a space", func(c *Client) { c.Audience = []string{"a b"} }, "invalid audience"},
		{"long audience", func(c *Client) { c.Audience = []string{strings.Repeat("a", MaxAudienceLength+1)} }, "invalid audience"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok.Clone()
			tc.edit(c)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrClientConfig) {
				t.Fatalf("Validate() = %v, want ErrClientConfig containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewClients(t *testing.T) {
	a := Client{ID: "a", AuthMethod: AuthNone}
	b := Client{ID: "b", AuthMethod: AuthClientSecretPost, SecretHash: HashSecret("x")}
	tests := []struct {
		name    string
		list    []Client
		wantErr error
		wantLen int
	}{
		{"empty", nil, nil, 0},
		{"two", []Client{a, b}, nil, 2},
		{"duplicate", []Client{a, b, a}, ErrDuplicateClient, 0},
		{"invalid", []Client{a, {ID: "c", AuthMethod: AuthClientSecretBasic}}, ErrClientConfig, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := NewClients(tc.list)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || cs != nil {
					t.Fatalf("NewClients() = %v, %v; want %v", cs, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewClients() error = %v", err)
			}
			if cs.Len() != tc.wantLen {
				t.Errorf("Len() = %d, want %d", cs.Len(), tc.wantLen)
			}
		})
	}
}

func TestClientsImmutable(t *testing.T) {
	list := []Client{{ID: "a", AuthMethod: AuthNone, Scopes: []string{"s1"}, GrantTypes: []string{GrantTypeRefreshToken}}}
	cs, err := NewClients(list)
	if err != nil {
		t.Fatal(err)
	}
	list[0].Scopes[0] = "changed"
	list[0].ID = "z"
	got, ok := cs.Lookup("a")
	if !ok || got.Scopes[0] != "s1" {
		t.Fatalf("registry changed with its input: %+v", got)
	}
	got.Scopes[0] = "changed"
	got.GrantTypes = append(got.GrantTypes, "x")
	again, _ := cs.Lookup("a")
	if again.Scopes[0] != "s1" || len(again.GrantTypes) != 1 {
		t.Fatalf("registry changed through Lookup: %+v", again)
	}
	for _, id := range []string{"", "z", "A", strings.Repeat("a", MaxClientIDLength+1)} {
		if c, ok := cs.Lookup(id); ok || c != nil {
			t.Errorf("Lookup(%q) found %+v", id, c)
		}
	}
	var nilReg *Clients
	if c, ok := nilReg.Lookup("a"); ok || c != nil || nilReg.Len() != 0 {
		t.Errorf("nil registry found a client")
	}
}

func TestClientGrantsAndScopes(t *testing.T) {
	c := &Client{GrantTypes: []string{GrantTypeRefreshToken, GrantTypeDeviceCode}, Scopes: []string{"openid", "g:user", "proxy"}}
	grants := []struct {
		gt   string
		want bool
	}{
		{GrantTypeRefreshToken, true},
		{GrantTypeDeviceCode, true},
		{GrantTypeAuthorizationCode, false},
		{"REFRESH_TOKEN", false},
		{"", false},
	}
	for _, tc := range grants {
		if got := c.AllowsGrant(tc.gt); got != tc.want {
			t.Errorf("AllowsGrant(%q) = %v, want %v", tc.gt, got, tc.want)
		}
	}
	scopes := []struct {
		req     []string
		allows  bool
		allowed []string
	}{
		{nil, true, nil},
		{[]string{"openid"}, true, []string{"openid"}},
		{[]string{"proxy", "openid"}, true, []string{"proxy", "openid"}},
		{[]string{"openid", "admin"}, false, []string{"openid"}},
		{[]string{"OPENID"}, false, nil},
	}
	for _, tc := range scopes {
		if got := c.AllowsScopes(tc.req); got != tc.allows {
			t.Errorf("AllowsScopes(%q) = %v, want %v", tc.req, got, tc.allows)
		}
		if got := c.AllowedScopes(tc.req); !slices.Equal(got, tc.allowed) {
			t.Errorf("AllowedScopes(%q) = %q, want %q", tc.req, got, tc.allowed)
		}
	}
	none := &Client{}
	if none.AllowsScopes([]string{"openid"}) || none.AllowsGrant(GrantTypeRefreshToken) {
		t.Errorf("a client with no scopes or grants allows some")
	}
}
