package oauth

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestHeaders(t *testing.T) {
	h := Headers()
	want := http.Header{
		"Content-Type":  {"application/json"},
		"Cache-Control": {"no-store"},
		"Pragma":        {"no-cache"},
	}
	if len(h) != len(want) {
		t.Fatalf("Headers() = %v", h)
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v[0] {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	h.Set("Cache-Control", "public")
	if Headers().Get("Cache-Control") != "no-store" {
		t.Errorf("Headers() shares its map between calls")
	}
}

func TestTokenResponseBody(t *testing.T) {
	tests := []struct {
		name string
		r    TokenResponse
		want string
	}{
		{"full", TokenResponse{AccessToken: "at", TokenType: TokenTypeBearer, ExpiresIn: 3600, RefreshToken: "rt", Scope: "openid g:<x>&y", IDToken: "idt"},
			`{"access_token":"at","token_type":"Bearer","expires_in":3600,"refresh_token":"rt","scope":"openid g:<x>&y","id_token":"idt"}`},
		{"minimal", TokenResponse{AccessToken: "at", TokenType: TokenTypeBearer, ExpiresIn: 60},
			`{"access_token":"at","token_type":"Bearer","expires_in":60}`},
		{"never expires", TokenResponse{AccessToken: "at", TokenType: TokenTypeBearer},
			`{"access_token":"at","token_type":"Bearer"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, err := tc.r.Body()
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != tc.want {
				t.Errorf("Body() = %s\nwant     %s", body, tc.want)
			}
		})
	}
}

func TestIntrospectionResponse(t *testing.T) {
	leaky := IntrospectionResponse{Scope: "openid", ClientID: "c", Sub: "alice", Exp: 99, Jti: "j"}
	active := IntrospectionResponse{Active: true, Scope: "openid proxy", ClientID: "DIRAC_CLI", TokenType: "Bearer",
		Exp: 200, Iat: 100, Sub: "alice", Aud: []string{"rs"}, Iss: "https://a.example", Jti: "j1"}
	tests := []struct {
		name string
		r    *IntrospectionResponse
		want string
	}{
		{"zero", &IntrospectionResponse{}, `{"active":false}`},
		{"inactive with fields set", &leaky, `{"active":false}`},
		{"nil", nil, `{"active":false}`},
		{"active", &active, `{"active":true,"scope":"openid proxy","client_id":"DIRAC_CLI","token_type":"Bearer","exp":200,"iat":100,"sub":"alice","aud":["rs"],"iss":"https://a.example","jti":"j1"}`},
		{"active minimal", &IntrospectionResponse{Active: true}, `{"active":true}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, err := tc.r.Body()
			if err != nil || string(body) != tc.want {
				t.Errorf("Body() = %s, %v; want %s", body, err, tc.want)
			}
			if tc.r == nil {
				return
			}
			for _, v := range []any{tc.r, *tc.r} {
				mb, err := json.Marshal(v)
				if err != nil || string(mb) != tc.want {
					t.Errorf("json.Marshal(%T) = %s, %v; want %s", v, mb, err, tc.want)
				}
			}
		})
	}
}

// TestTokenResponseBodyIsMarshalJSON: the appended body is the bytes the
// reflecting encoder wrote, escapes and omitted members included.
func TestTokenResponseBodyIsMarshalJSON(t *testing.T) {
	for _, r := range tokenResponseCases {
		sameTokenResponse(t, r)
	}
}

var tokenResponseCases = []TokenResponse{
	{},
	{AccessToken: "at", TokenType: TokenTypeBearer, ExpiresIn: -5, Scope: "a <b> & c"},
	{AccessToken: "\u2028\"\\\n\x01", TokenType: "\xff", ExpiresIn: 1 << 62, RefreshToken: "é", IDToken: "<>"},
	{RefreshToken: "rt", IDToken: "idt"},
}

func sameTokenResponse(t *testing.T, r TokenResponse) {
	t.Helper()
	type plain TokenResponse // the struct as encoding/json sees it
	want, err := marshalJSON(plain(r))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Body(); string(got) != string(want) {
		t.Errorf("Body() = %s, marshalJSON = %s", got, want)
	}
}

func FuzzTokenResponseBody(f *testing.F) {
	for _, r := range tokenResponseCases {
		f.Add(r.AccessToken, r.TokenType, r.ExpiresIn, r.RefreshToken, r.Scope, r.IDToken)
	}
	f.Fuzz(func(t *testing.T, at, tt string, exp int64, rt, scope, idt string) {
		sameTokenResponse(t, TokenResponse{at, tt, exp, rt, scope, idt})
	})
}
