package policy

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/tokengate/tokengate/tokencore"
)

func TestChallengeFor(t *testing.T) {
	p, err := New(Rules{Scopes: []string{"api.read", "api.write"}, Clients: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	scopeRefusal := p.Check(&tokencore.Claims{ClientID: "web", Scope: "api.read"})
	clientRefusal := p.Check(&tokencore.Claims{ClientID: "cli", Scope: "api.read api.write"})
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		scope  string
		result string
		header string
	}{
		{"no token", ErrNoToken, 401, "", "", "missing", `Bearer realm="r"`},
		{"bad request", InvalidRequest(tokencore.ErrNotBearer), 400, "invalid_request", "", "invalid",
			`Bearer realm="r", error="invalid_request", error_description="the Authorization scheme must be Bearer"`},
		{"expired", fmt.Errorf("x: %w", tokencore.ErrTokenExpired), 401, "invalid_token", "", "expired",
			`Bearer realm="r", error="invalid_token", error_description="the token has expired"`},
		{"revoked", tokencore.ErrTokenRevoked, 401, "invalid_token", "", "revoked", ""},
		{"signature", tokencore.ErrTokenSignature, 401, "invalid_token", "", "invalid", ""},
		{"wrong type", tokencore.ErrTokenWrongType, 401, "invalid_token", "", "invalid", ""},
		{"malformed", errors.New("anything else"), 401, "invalid_token", "", "invalid", ""},
		{"store not open", fmt.Errorf("x: %w", tokencore.ErrStoreNotOpen), 503, "temporarily_unavailable", "", "unavailable", ""},
		{"stale revocations", tokencore.ErrRevocationsStale, 503, "temporarily_unavailable", "", "unavailable", ""},
		{"wrong tenant (mod-authtoken's 403)", tokencore.ErrTokenWrongTenant, 403, "insufficient_scope", "", "forbidden",
			`Bearer realm="r", error="insufficient_scope", error_description="the token belongs to another tenant"`},
		{"missing scope", scopeRefusal, 403, "insufficient_scope", "api.read api.write", "forbidden",
			`Bearer realm="r", error="insufficient_scope", error_description="the token lacks the scope api.write", scope="api.read api.write"`},
		{"other refusal", clientRefusal, 403, "insufficient_scope", "", "forbidden",
			`Bearer realm="r", error="insufficient_scope", error_description="the token's client is not accepted here"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ChallengeFor(tc.err)
			if c.Status != tc.status || c.Code != tc.code || c.Scope != tc.scope || c.Result != tc.result || c.Description == "" {
				t.Fatalf("got %+v", c)
			}
			h := c.Header("r")
			if tc.status == http.StatusServiceUnavailable {
				if h != "" {
					t.Errorf("a 503 challenges: %q", h)
				}
			} else if tc.header != "" && h != tc.header {
				t.Errorf("header\n got %s\nwant %s", h, tc.header)
			}
			body := c.Body()
			if body["error_description"] != c.Description || (tc.code != "" && body["error"] != tc.code) || body["scope"] != tc.scope {
				t.Errorf("body %v", body)
			}
		})
	}
}

func TestChallengeHeaderNeverBreaksTheQuotedString(t *testing.T) {
	c := Challenge{Status: 401, Code: "invalid_request", Description: "a \"b\" \\c\r\nX: y"}
	if got, want := c.Header("r"), `Bearer realm="r", error="invalid_request", error_description="a b cX: y"`; got != want {
		t.Fatalf("got %s", got)
	}
}
