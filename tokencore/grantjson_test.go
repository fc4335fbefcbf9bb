package tokencore

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fullGrant has every field of a grant set, with strings that need
// escaping, times in several zones and with nanoseconds, and a code.
func fullGrant() *Grant {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	east := time.FixedZone("east", 5*3600+30*60)
	return &Grant{
		ID: "g<1>&", Kind: GrantKindOAuth, Subject: "alice \"the\" admin\n", UserID: "9c0e5b8e-1c3a-4d7e-9a41-5d2f0c6b7a11",
		Tenant: "diku", ClientID: "web", GrantType: "authorization_code", Scopes: []string{"openid", "api.read", "<x>"},
		AuthTime: t0.In(east), ACR: "urn:mace:incommon:iap:silver",
		Properties:      []Property{{Key: "k", Value: "v"}, {Key: "secret", Value: "\u2028 \u2029", Hidden: true}},
		IDTokenAudience: "web",
		Code: &AuthorizationCode{Hash: "h", ExpiresAt: t0.Add(time.Minute), TicketExpiresAt: t0.Add(time.Hour),
			RedeemedAt: t0.Add(time.Second), RedirectURI: "https://app.example/cb?a=1&b=<2>", RedirectOmitted: true,
			Challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Nonce: "n-0S6_WzA2Mj"},
		Claims: json.RawMessage(` {"email" : "a@example.org", "html":"<b>&amp;</b>",` + "\n" + `"n":[1, 2.5e3]} `),
		Status: GrantRevoked, CreatedAt: t0, UpdatedAt: t0.Add(time.Nanosecond), LastRefreshedAt: t0.Add(2 * time.Second),
		RevokedAt: t0.Add(3 * time.Second), AccessID: "aid", AccessHash: "ahash", AccessExpiresAt: t0.Add(10 * time.Minute),
		AccessScopes: []string{"api.read"}, AccessPersistent: true, MaxAccessExpiresAt: t0.Add(20 * time.Minute),
		RefreshID: "rid", RefreshHash: "rhash", RefreshExpiresAt: t0.Add(24 * time.Hour), PreviousRefreshID: "prev",
		PreviousRotatedAt: t0.Add(-time.Hour).In(time.FixedZone("west", -8*3600)), GraceResponse: []byte{0, 1, 2, 0xff, 'x'},
		ExpiresAt: t0.Add(48 * time.Hour),
	}
}

// grantCodecCases are grants with every field set and empty, one by one.
func grantCodecCases() map[string]*Grant {
	cases := map[string]*Grant{
		"full":    fullGrant(),
		"minimal": {ID: "g"},
		"folio":   benchGrant(),
		"local times": {ID: "g", Kind: GrantKindFolio, Status: GrantActive, CreatedAt: time.Unix(1_900_000_000, 1),
			UpdatedAt: time.Unix(1_900_000_000, 999_999_999)},
		"empty slices, not nil": {ID: "g", Scopes: []string{}, AccessScopes: []string{}, Properties: []Property{},
			GraceResponse: []byte{}, Claims: json.RawMessage{}},
		"code with zero times": {ID: "g", Code: &AuthorizationCode{}},
		"claims null":          {ID: "g", Claims: json.RawMessage("null")},
		"year 0 and 9999": {ID: "g", CreatedAt: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
			UpdatedAt: time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC)},
		"empty strings in arrays": {ID: "g", Scopes: []string{"", ""}, Properties: []Property{{}}},
		// Invalid UTF-8 is written as U+FFFD, as json.Marshal does: it
		// does not read back as it was (lossy for both encoders alike).
		"invalid UTF-8": {ID: "g\xff", Subject: "a\xc3", Scopes: []string{"\xff"}},
	}
	// Each field of the full grant left empty in turn.
	for _, clear := range []struct {
		name string
		fn   func(g *Grant)
	}{
		{"Kind", func(g *Grant) { g.Kind = "" }}, {"Subject", func(g *Grant) { g.Subject = "" }},
		{"UserID", func(g *Grant) { g.UserID = "" }}, {"Tenant", func(g *Grant) { g.Tenant = "" }},
		{"ClientID", func(g *Grant) { g.ClientID = "" }}, {"GrantType", func(g *Grant) { g.GrantType = "" }},
		{"Scopes", func(g *Grant) { g.Scopes = nil }}, {"AuthTime", func(g *Grant) { g.AuthTime = time.Time{} }},
		{"ACR", func(g *Grant) { g.ACR = "" }}, {"Properties", func(g *Grant) { g.Properties = nil }},
		{"IDTokenAudience", func(g *Grant) { g.IDTokenAudience = "" }}, {"Code", func(g *Grant) { g.Code = nil }},
		{"Claims", func(g *Grant) { g.Claims = nil }}, {"Status", func(g *Grant) { g.Status = "" }},
		{"CreatedAt", func(g *Grant) { g.CreatedAt = time.Time{} }}, {"UpdatedAt", func(g *Grant) { g.UpdatedAt = time.Time{} }},
		{"LastRefreshedAt", func(g *Grant) { g.LastRefreshedAt = time.Time{} }}, {"RevokedAt", func(g *Grant) { g.RevokedAt = time.Time{} }},
		{"AccessID", func(g *Grant) { g.AccessID = "" }}, {"AccessHash", func(g *Grant) { g.AccessHash = "" }},
		{"AccessExpiresAt", func(g *Grant) { g.AccessExpiresAt = time.Time{} }}, {"AccessScopes", func(g *Grant) { g.AccessScopes = nil }},
		{"AccessPersistent", func(g *Grant) { g.AccessPersistent = false }},
		{"MaxAccessExpiresAt", func(g *Grant) { g.MaxAccessExpiresAt = time.Time{} }},
		{"RefreshID", func(g *Grant) { g.RefreshID = "" }}, {"RefreshHash", func(g *Grant) { g.RefreshHash = "" }},
		{"RefreshExpiresAt", func(g *Grant) { g.RefreshExpiresAt = time.Time{} }},
		{"PreviousRefreshID", func(g *Grant) { g.PreviousRefreshID = "" }},
		{"PreviousRotatedAt", func(g *Grant) { g.PreviousRotatedAt = time.Time{} }},
		{"GraceResponse", func(g *Grant) { g.GraceResponse = nil }}, {"ExpiresAt", func(g *Grant) { g.ExpiresAt = time.Time{} }},
		{"Code.TicketExpiresAt", func(g *Grant) { g.Code.TicketExpiresAt = time.Time{} }},
		{"Code.RedeemedAt", func(g *Grant) { g.Code.RedeemedAt = time.Time{} }},
		{"Code.RedirectURI", func(g *Grant) { g.Code.RedirectURI = "" }},
		{"Code.RedirectOmitted", func(g *Grant) { g.Code.RedirectOmitted = false }},
		{"Code.Challenge", func(g *Grant) { g.Code.Challenge = "" }}, {"Code.Nonce", func(g *Grant) { g.Code.Nonce = "" }},
	} {
		g := fullGrant()
		clear.fn(g)
		cases["full without "+clear.name] = g
	}
	return cases
}

// TestEncodeGrantIsJSONMarshal: the stored form is unchanged: EncodeGrant
// writes json.Marshal's exact bytes, so every release reads what this one
// writes (json.Unmarshal gives the same grant back) and the reverse holds
// trivially.
func TestEncodeGrantIsJSONMarshal(t *testing.T) {
	for name, g := range grantCodecCases() {
		want, err := json.Marshal(g)
		if err != nil {
			t.Fatalf("%s: json.Marshal: %v", name, err)
		}
		got, err := EncodeGrant(g)
		if err != nil {
			t.Errorf("%s: EncodeGrant: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: EncodeGrant =\n%s\njson.Marshal =\n%s", name, got, want)
			continue
		}
		var back Grant
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%s: the old decoder refuses the new encoding: %v", name, err)
		}
		if again, _ := EncodeGrant(&back); !bytes.Equal(again, want) && name != "invalid UTF-8" {
			t.Errorf("%s: round trip through json.Unmarshal changed the grant:\n%s\n%s", name, again, want)
		}
	}
}

// TestEncodeGrantRefusesLikeJSONMarshal: what json.Marshal cannot encode
// (years outside RFC 3339, invalid claims) EncodeGrant refuses too, and the
// record limits hold.
func TestEncodeGrantRefusesLikeJSONMarshal(t *testing.T) {
	tests := []struct {
		name string
		g    *Grant
		want string
	}{
		{"year 10000", &Grant{ID: "g", CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, "created_at"},
		{"year -1", &Grant{ID: "g", ExpiresAt: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}, "expires_at"},
		{"code year", &Grant{ID: "g", Code: &AuthorizationCode{ExpiresAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}, "expires_at"},
		{"zone hour 24", &Grant{ID: "g", UpdatedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 24*3600))}, "updated_at"},
		{"invalid claims", &Grant{ID: "g", Claims: json.RawMessage(`{"a":`)}, "claims"},
	}
	for _, tt := range tests {
		if _, err := json.Marshal(tt.g); err == nil {
			t.Fatalf("%s: json.Marshal accepts it; the case tests nothing", tt.name)
		}
		if _, err := EncodeGrant(tt.g); err == nil {
			t.Errorf("%s: EncodeGrant accepted what json.Marshal refuses", tt.name)
		} else if !strings.Contains(err.Error(), `"g"`) {
			t.Errorf("%s: error %q does not name the grant", tt.name, err)
		}
		if err := ValidateGrant(tt.g); err == nil {
			t.Errorf("%s: ValidateGrant accepted it", tt.name)
		}
	}
	big := &Grant{ID: "g", Properties: []Property{{Key: "k", Value: strings.Repeat("v", MaxGrantSize)}}}
	if _, err := EncodeGrant(big); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("a grant over MaxGrantSize: %v, want ErrInvalidRecord", err)
	}
	if err := ValidateGrant(&Grant{Subject: "x"}); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("a grant without ID: %v, want ErrInvalidRecord", err)
	}
}

// FuzzEncodeGrant: on arbitrary strings, bytes and instants EncodeGrant
// writes json.Marshal's bytes, or refuses what it refuses.
func FuzzEncodeGrant(f *testing.F) {
	f.Add("g", "alice", "<&>\u2028", []byte{1, 2}, int64(1_900_000_000), int64(5), 3600, true)
	f.Add("", "", "\xff", []byte(nil), int64(-62135596800), int64(0), 0, false)
	f.Add("x", "y", "z", []byte{}, int64(253402300800), int64(999999999), -86399, true)
	f.Fuzz(func(t *testing.T, id, sub, s string, b []byte, sec, nsec int64, offset int, flag bool) {
		tm := time.Unix(sec, nsec).In(time.FixedZone("z", offset))
		g := &Grant{ID: id, Kind: GrantKind(s), Subject: sub, Tenant: s, Scopes: []string{s, sub}, AuthTime: tm,
			Properties: []Property{{Key: s, Value: sub, Hidden: flag}}, Status: GrantStatus(sub), CreatedAt: tm,
			UpdatedAt: tm.Add(time.Duration(nsec)), AccessPersistent: flag, GraceResponse: b, ExpiresAt: tm}
		if flag {
			g.Code = &AuthorizationCode{Hash: s, ExpiresAt: tm, Nonce: sub, RedirectOmitted: flag}
		}
		want, werr := json.Marshal(g)
		got, err := appendGrant(nil, g)
		if (err == nil) != (werr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("appendGrant = %s, %v; json.Marshal = %s, %v", got, err, want, werr)
		}
	})
}

// storedGrantVariants are stored forms DecodeGrant must read as
// json.Unmarshal does, beyond what EncodeGrant writes: other spellings of
// names, nulls, other types, duplicates, unknown members, bad values.
var storedGrantVariants = []string{
	`{"id":"g","kind":"folio","status":"active","created_at":"2030-01-02T03:04:05Z","updated_at":"2030-01-02T03:04:05.5+02:00"}`,
	` { "id" : "g" , "scopes" : [ "a" , "b" ] , "unknown" : {"x":[1,null]} , "access_persistent" : false } `,
	`{"ID":"g"}`, `{"Id":"g","SUB":"s"}`, `{"ſub":"s"}`, `{"\u0069d":"g"}`, `{"i\u0044":"g"}`,
	`{"id":null}`, `{"scopes":null}`, `{"code":null}`, `{"claims":null}`, `{"created_at":null}`, `{"scopes":["a",null]}`,
	`{"id":5}`, `{"scopes":"a"}`, `{"scopes":[1]}`, `{"created_at":"yesterday"}`, `{"created_at":5}`,
	`{"created_at":"2030-01-02T03:04:05"}`, `{"access_persistent":"true"}`, `{"access_persistent":1}`,
	`{"grace_response":"AAEC/3g="}`, `{"grace_response":""}`, `{"grace_response":"!!"}`, `{"grace_response":"AA\u003d\u003d"}`,
	`{"grace_response":5}`, `{"properties":[{"key":"k","KEY":"x"}]}`, `{"properties":{}}`, `{"code":{"hash":"h","Hash":"x"}}`,
	`{"code":{"hash":"a","nonce":"n"},"code":{"hash":"b"}}`, `{"id":"a","id":"b"}`, `{"scopes":["a"],"scopes":["b","c"]}`,
	`{"claims":{"a":1}, "claims":[2]}`, `{"claims": {"a" : 1} }`, `{"scopes":[]}`, `{"sub":"a\u00e9\ud800\n"}`,
	"{\"sub\":\"\xff\"}", `{"id":"g"} x`, `{"id":`, ``, `null`, `[]`, `{}`, `"x"`,
}

func sameGrantDecoding(t *testing.T, data []byte) {
	t.Helper()
	var got, want Grant
	err := DecodeGrant(data, &got)
	werr := json.Unmarshal(data, &want)
	if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) || !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeGrant(%s) = %+v, %v;\njson.Unmarshal: %+v, %v", data, got, err, want, werr)
	}
}

// TestDecodeGrantIsJSONUnmarshal: every stored grant (written by
// json.Marshal, so by any release) reads as json.Unmarshal reads it, and
// so do the variants above.
func TestDecodeGrantIsJSONUnmarshal(t *testing.T) {
	for name, g := range grantCodecCases() {
		old, err := json.Marshal(g)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sameGrantDecoding(t, old)
	}
	for _, v := range storedGrantVariants {
		sameGrantDecoding(t, []byte(v))
	}
}

// FuzzDecodeGrant: on any bytes DecodeGrant agrees with json.Unmarshal and
// never panics.
func FuzzDecodeGrant(f *testing.F) {
	for _, g := range grantCodecCases() {
		b, _ := json.Marshal(g)
		f.Add(b)
	}
	for _, v := range storedGrantVariants {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, data []byte) { sameGrantDecoding(t, data) })
}

// TestGrantCodecCoversEveryField: the full grant sets every field (a field
// added to Grant without a case in appendGrant and readGrant fails here),
// and what EncodeGrant writes is read in place, not left to encoding/json.
func TestGrantCodecCoversEveryField(t *testing.T) {
	g := fullGrant()
	for _, v := range []reflect.Value{reflect.ValueOf(*g), reflect.ValueOf(*g.Code)} {
		for i := range v.NumField() {
			if v.Field(i).IsZero() {
				t.Errorf("fullGrant leaves %s.%s empty", v.Type().Name(), v.Type().Field(i).Name)
			}
		}
	}
	for name, g := range grantCodecCases() {
		b, err := EncodeGrant(g)
		if err != nil {
			t.Fatal(err)
		}
		if name == "claims null" {
			continue // "claims":null is left to encoding/json
		}
		var got Grant
		if !readGrant(b, &got) {
			t.Errorf("%s: the stored form is not read in place", name)
		}
	}
}

// TestUpdateGrantRecordChecksLikeUpdateRecord: the memory store's update
// step refuses and passes on exactly what UpdateRecord does, and leaves
// the stored grant untouched.
func TestUpdateGrantRecordChecksLikeUpdateRecord(t *testing.T) {
	errMine := errors.New("the callback's own error")
	tests := []struct {
		name string
		fn   func(*Grant) error
	}{
		{"ok", func(g *Grant) error { g.ACR = "x"; return nil }},
		{"callback error", func(g *Grant) error { g.ACR = "x"; return errMine }},
		{"ID changed", func(g *Grant) error { g.ID = "other"; return nil }},
		{"too large", func(g *Grant) error { g.ACR = strings.Repeat("a", MaxGrantSize); return nil }},
		{"key field too long", func(g *Grant) error { g.Subject = strings.Repeat("s", MaxKeyFieldLen+1); return nil }},
		{"unencodable", func(g *Grant) error { g.ExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC); return nil }},
	}
	for _, tt := range tests {
		old := benchGrant()
		got, err := UpdateGrantRecord(old, tt.fn)
		want, _, werr := UpdateRecord(benchGrant(), tt.fn)
		if (err == nil) != (werr == nil) || errors.Is(err, ErrInvalidRecord) != errors.Is(werr, ErrInvalidRecord) ||
			errors.Is(err, errMine) != errors.Is(werr, errMine) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: UpdateGrantRecord = %v, %v; UpdateRecord = %v, %v", tt.name, got, err, want, werr)
		}
		if !reflect.DeepEqual(old, benchGrant()) {
			t.Errorf("%s: the old grant was changed", tt.name)
		}
	}
}
