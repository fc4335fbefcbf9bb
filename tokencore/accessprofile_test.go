package tokencore

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// decodeSegment returns the JSON object of a compact JWS segment (0: the
// header, 1: the payload) as raw text and decoded.
func decodeSegment(t *testing.T, token string, i int) (string, map[string]any) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return string(raw), m
}

// TestMintAccessProfiles: the RFC 9068 profile puts typ at+jwt in the
// header (instead of golang-jwt's "JWT") and aud in the payload;
// mod-authtoken's keeps its exact header and payload; a persistent token
// (no exp) is never an at+jwt. Each
// verifies with the gateway's own verifier.
func TestMintAccessProfiles(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	e := newTestEngine(t, clk)
	e.Issuer = "https://auth.example.org"
	g := &Grant{ID: "g1", Kind: GrantKindOAuth, ClientID: "web", Subject: "alice", Scopes: []string{"api.read"}}
	tests := []struct {
		name        string
		spec        MintSpec
		wantTyp     string
		wantPayload string
		verifies    bool
	}{
		{"RFC 9068", MintSpec{AccessTTL: time.Minute, Profile: ProfileJWTAccess, Audience: []string{"https://api.example.org"}}, TypAccessJWT,
			`{"type":"access","iat":1800000000,"sub":"alice","exp":1800000060,"jti":"JTI","fid":"g1","iss":"https://auth.example.org","client_id":"web","scope":"api.read","aud":["https://api.example.org"]}`, true},
		{"RFC 9068 without audience", MintSpec{AccessTTL: time.Minute, Profile: ProfileJWTAccess}, TypAccessJWT,
			`{"type":"access","iat":1800000000,"sub":"alice","exp":1800000060,"jti":"JTI","fid":"g1","iss":"https://auth.example.org","client_id":"web","scope":"api.read"}`, true},
		{"RFC 9068 persistent", MintSpec{Profile: ProfileJWTAccess, AccessPersistent: true}, "JWT",
			`{"type":"access","iat":1800000000,"sub":"alice","jti":"JTI","fid":"g1","iss":"https://auth.example.org","client_id":"web","scope":"api.read"}`, false},
		{"mod-authtoken", MintSpec{AccessTTL: time.Minute}, "JWT",
			`{"type":"access","iat":1800000000,"sub":"alice","exp":1800000060,"jti":"JTI","fid":"g1","iss":"https://auth.example.org","client_id":"web","scope":"api.read"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			minted, err := e.MintTokens(g, tt.spec, clk.t)
			if err != nil {
				t.Fatal(err)
			}
			_, header := decodeSegment(t, minted.AccessToken, 0)
			if header["typ"] != tt.wantTyp || header["alg"] != AlgES256 || header["kid"] != e.Keys.Signer().ID || len(header) != 3 {
				t.Errorf("header %v, want typ %v", header, tt.wantTyp)
			}
			payload, _ := decodeSegment(t, minted.AccessToken, 1)
			if want := strings.Replace(tt.wantPayload, "JTI", minted.AccessID, 1); payload != want {
				t.Errorf("payload\n%s\nwant\n%s", payload, want)
			}
			c, err := e.Verifier(VerifierOptions{}).Verify(minted.AccessToken, "")
			if tt.verifies != (err == nil) {
				t.Fatalf("Verify = %v, want success %v", err, tt.verifies)
			}
			if err == nil && (c.JOSEType != tt.wantTyp ||
				strings.Join(c.Audience, " ") != strings.Join(tt.spec.Audience, " ")) {
				t.Errorf("verified claims typ %q aud %v", c.JOSEType, c.Audience)
			}
		})
	}
}

func TestFormatOf(t *testing.T) {
	for typ, want := range map[string]tokenFormat{
		"": formatUntyped, "JWT": formatUntyped, "jwt": formatUntyped, "application/jwt": formatUntyped,
		"at+jwt": formatJWTAccess, "AT+JWT": formatJWTAccess, "application/at+jwt": formatJWTAccess,
		"at+JWT ": formatOther, "logout+jwt": formatOther, "dpop+jwt": formatOther, "JOSE": formatOther,
		"application/": formatOther, "secevent+jwt": formatOther,
	} {
		if got := formatOf(typ); got != want {
			t.Errorf("formatOf(%q) = %v, want %v", typ, got, want)
		}
	}
}
