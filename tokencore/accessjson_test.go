package tokencore

import (
	"encoding/json"
	"testing"
)

var accessClaimsCases = []AccessClaims{
	{},
	{Type: TypeAccess, IssuedAt: 1_900_000_000, Tenant: "diku", Subject: "diku_admin", UserID: "9c0e5b8e-1c3a-4d7e-9a41-5d2f0c6b7a11",
		Expiry: 1_900_000_600, ID: "jti", GrantID: "fid", Issuer: "https://auth.example.org", ClientID: "web",
		Scope: "openid <x>&y", Audience: []string{"a", "b"}, Dummy: true, ExtraPermissions: []string{"p1", ""}},
	{Type: "\xff", IssuedAt: -1, Subject: "\u2028", Audience: []string{}, ExtraPermissions: []string{}},
	{Expiry: -9223372036854775808, Audience: []string{"\"\\"}},
}

// TestAccessClaimsAppendJSONIsJSONMarshal: access tokens are signed over
// the same payload bytes as before.
func TestAccessClaimsAppendJSONIsJSONMarshal(t *testing.T) {
	for _, c := range accessClaimsCases {
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("AppendJSON = %s, json.Marshal = %s", got, want)
		}
	}
}

func FuzzAccessClaimsAppendJSON(f *testing.F) {
	f.Add("access", int64(1), "diku", "sub", "u", int64(2), "j", "g", "iss", "c", "s", "aud", true, "p")
	f.Fuzz(func(t *testing.T, typ string, iat int64, tenant, sub, user string, exp int64, jti, fid, iss, client, scope, aud string, dummy bool, perm string) {
		c := AccessClaims{typ, iat, tenant, sub, user, exp, jti, fid, iss, client, scope, nil, dummy, nil}
		if aud != "" {
			c.Audience = []string{aud, perm}
		}
		if perm != "" {
			c.ExtraPermissions = []string{perm}
		}
		want, _ := json.Marshal(c)
		if got := c.AppendJSON(nil); string(got) != string(want) {
			t.Fatalf("AppendJSON = %s, json.Marshal = %s", got, want)
		}
	})
}
