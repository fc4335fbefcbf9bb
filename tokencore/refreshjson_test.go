package tokencore

import (
	"encoding/json"
	"reflect"
	"testing"
)

var refreshClaimsCases = []RefreshClaims{
	{},
	{Type: TypeRefresh, Expiry: 1_900_086_400, IssuedAt: 1_900_000_000, Subject: "diku_admin",
		UserID: "9c0e5b8e-1c3a-4d7e-9a41-5d2f0c6b7a11", Tenant: "diku", ID: "cmVmcmVzaC1pZC0xMjM0", Prn: TypeRefresh,
		GrantID: "Q2x3b1pXa0ZBbHJlYWR5", ClientID: "web"},
	{Type: "<&>", Expiry: -1, IssuedAt: -9223372036854775808, Subject: "\u2028\"\\\n", UserID: "\xff", Tenant: "é", ID: "x"},
	{Expiry: 9223372036854775807, GrantID: "g"},
}

// TestRefreshClaimsAppendJSONIsJSONMarshal: refresh tokens carry the same
// payload bytes as before, so every release reads them.
func TestRefreshClaimsAppendJSONIsJSONMarshal(t *testing.T) {
	for _, rc := range refreshClaimsCases {
		want, _ := json.Marshal(rc)
		if got := rc.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("AppendJSON = %s, json.Marshal = %s", got, want)
		}
	}
}

// refreshPayloads are payloads the in-place reader reads and ones it
// leaves to encoding/json (names in other case, values of other types).
var refreshPayloads = []string{
	`{"type":"refresh","exp":5,"iat":4,"sub":"a","user_id":"u","tenant":"t","jti":"j","prn":"refresh","fid":"g","client_id":"c"}`,
	`{ "sub" : "a\u00e9\ud800" , "exp" : -0 , "unknown" : [1,{"x":null}] }`,
	`{"sub":null,"exp":null,"fid":"x"}`,
	`{"SUB":"a"}`, `{"Sub":"a","exp":1}`, `{"ſub":"a"}`, `{"\u0073ub":"a"}`, `{"s\u0055b":"a"}`,
	`{"exp":1.5}`, `{"exp":1e3}`, `{"exp":"5"}`, `{"exp":99999999999999999999}`, `{"exp":true}`,
	`{"sub":5}`, `{"sub":["a"]}`, `{"sub":{}}`, `{"type":false}`, `{}`,
}

// TestDecodeRefreshClaimsIsJSONUnmarshal: the same claims, or the same
// error, as json.Unmarshal.
func TestDecodeRefreshClaimsIsJSONUnmarshal(t *testing.T) {
	for _, rc := range refreshClaimsCases {
		refreshPayloads = append(refreshPayloads, string(rc.AppendJSON(nil)))
	}
	for _, p := range refreshPayloads {
		sameRefreshDecoding(t, []byte(p))
	}
}

func sameRefreshDecoding(t *testing.T, payload []byte) {
	t.Helper()
	if CheckStrictJSON(payload) != nil {
		return // ParseRefreshToken refuses it first
	}
	var got, want RefreshClaims
	err := decodeRefreshClaims(payload, &got)
	werr := json.Unmarshal(payload, &want)
	if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) || !reflect.DeepEqual(got, want) {
		t.Errorf("decodeRefreshClaims(%s) = %+v, %v; json.Unmarshal: %+v, %v", payload, got, err, want, werr)
	}
}

// FuzzDecodeRefreshClaims: on any strict payload the in-place reader
// agrees with json.Unmarshal, and never panics.
func FuzzDecodeRefreshClaims(f *testing.F) {
	for _, p := range refreshPayloads {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, payload []byte) { sameRefreshDecoding(t, payload) })
}
