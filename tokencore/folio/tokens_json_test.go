package folio

import (
	"encoding/json"
	"testing"
	"time"
)

// TestTokensJSONIsTheStructEncoding: the appending encoder writes the bytes
// encoding/json wrote for mod-authtoken's response struct (key order,
// escapes, instants in whole seconds, UTC), and UnmarshalJSON reads them.
func TestTokensJSONIsTheStructEncoding(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	for _, tok := range []Tokens{
		{"eyJ.a.b", "eyJ..c.d.e", time.Unix(1700000000, 999).In(loc), time.Unix(1800000000, 0), "diku"},
		{`a"b\c<d>&e`, "\u2028\xff", time.Time{}, time.Unix(0, 0), "t\n"},
	} {
		want, _ := json.Marshal(struct {
			AccessToken            string `json:"accessToken"`
			RefreshToken           string `json:"refreshToken"`
			AccessTokenExpiration  string `json:"accessTokenExpiration"`
			RefreshTokenExpiration string `json:"refreshTokenExpiration"`
			TenantID               string `json:"tenantId"`
		}{tok.AccessToken, tok.RefreshToken, tok.AccessTokenExpiration.UTC().Format(isoInstant),
			tok.RefreshTokenExpiration.UTC().Format(isoInstant), tok.TenantID})
		got, err := json.Marshal(tok)
		if err != nil || string(got) != string(want) {
			t.Fatalf("json.Marshal(Tokens) = %s, %v\nwant %s", got, err, want)
		}
		if resp := answer(201, tok, nil); string(resp.Body) != string(want) {
			t.Fatalf("answer body = %s\nwant %s", resp.Body, want)
		}
		var back Tokens
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		if back.AccessToken != tok.AccessToken || !back.RefreshTokenExpiration.Equal(tok.RefreshTokenExpiration.Truncate(time.Second)) {
			t.Fatalf("round trip: %+v", back)
		}
	}
}
