package edi

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testNow is the clock of the EDI tests: 2023-11-14T22:13:20Z.
var testNow = time.Unix(1_700_000_000, 0).UTC()

// fullClaims has every claim set, links included, with some nulls.
func fullClaims() Claims {
	return Claims{
		Subject:         "EDI-166ebf44ac70835c7ebce152e2219ae5eab16418",
		CommonName:      ptr("EDI"),
		Email:           ptr("edi@example.org"),
		Principals:      []string{"EDI-078e6e3cee4f7f2812f150701da9351acb51e089", "EDI-7be3510d08def0dfc667824ebd4f4f1bbd770234"},
		Links:           []Link{{EDIID: "EDI-f91e50ff19832113d40f436ae2d320add9f511fb", LinkedAt: time.Unix(1_690_000_000, 0).UTC(), CommonName: ptr("Orcid Me"), IdPName: ptr("orcid"), IdPUID: ptr("https://orcid.org/0000-0002-1825-0097")}},
		IsEmailEnabled:  true,
		IsEmailVerified: false,
		IdPCommonName:   ptr("EDI"),
		IdPName:         ptr("ldap"),
		IdPUID:          ptr("uid=EDI,o=EDI,dc=edirepository,dc=org"),
		Issuer:          DefaultIssuer,
		HostedDomain:    DefaultHostedDomain,
		IssuedAt:        testNow,
		NotBefore:       testNow,
		ExpiresAt:       testNow.Add(DefaultEDITTL),
	}
}

// groupClaims is a group-key token (spec §6.2): group defaults, nil slices.
func groupClaims() Claims {
	return Claims{
		Subject:      "EDI-bdae74972ed710c56b1e0df18ccb6e23c31f60f6",
		CommonName:   ptr("Vetted"),
		Issuer:       DefaultIssuer,
		HostedDomain: DefaultHostedDomain,
		IssuedAt:     testNow,
		NotBefore:    testNow,
		ExpiresAt:    testNow.Add(DefaultEDITTL),
	}
}

const (
	fullClaimsJSON = `{"sub":"EDI-166ebf44ac70835c7ebce152e2219ae5eab16418","cn":"EDI","email":"edi@example.org",` +
		`"principals":["EDI-078e6e3cee4f7f2812f150701da9351acb51e089","EDI-7be3510d08def0dfc667824ebd4f4f1bbd770234"],` +
		`"links":[{"ediId":"EDI-f91e50ff19832113d40f436ae2d320add9f511fb","linkedAt":1690000000,"commonName":"Orcid Me","email":null,"idpCommonName":null,"idpName":"orcid","idpUid":"https://orcid.org/0000-0002-1825-0097"}],` +
		`"isEmailEnabled":true,"isEmailVerified":false,"idpCommonName":"EDI","idpName":"ldap","idpUid":"uid=EDI,o=EDI,dc=edirepository,dc=org",` +
		`"iss":"https://auth.edirepository.org","hd":"edirepository.org","iat":1700000000,"nbf":1700000000,"exp":1700028800}`
	groupClaimsJSON = `{"sub":"EDI-bdae74972ed710c56b1e0df18ccb6e23c31f60f6","cn":"Vetted","email":null,"principals":[],"links":[],` +
		`"isEmailEnabled":false,"isEmailVerified":false,"idpCommonName":null,"idpName":null,"idpUid":null,` +
		`"iss":"https://auth.edirepository.org","hd":"edirepository.org","iat":1700000000,"nbf":1700000000,"exp":1700028800}`
)

// TestEDIClaimsJSON: EDI's claim order, null for absent values, [] for
// empty lists; and the strict reader takes the same bytes back.
func TestClaimsJSON(t *testing.T) {
	tests := []struct {
		name   string
		claims Claims
		json   string
	}{
		{"profile", fullClaims(), fullClaimsJSON},
		{"group", groupClaims(), groupClaimsJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.claims)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.json {
				t.Fatalf("JSON\n got %s\nwant %s", got, tt.json)
			}
			var back Claims
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			want := tt.claims
			if want.Principals == nil {
				want.Principals = []string{}
			}
			if want.Links == nil {
				want.Links = []Link{}
			}
			if !reflect.DeepEqual(back, want) {
				t.Fatalf("read back\n got %+v\nwant %+v", back, want)
			}
		})
	}
}

func TestClaimsMarshalRejectsTimes(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Claims)
	}{
		{"zero iat", func(c *Claims) { c.IssuedAt = time.Time{} }},
		{"zero nbf", func(c *Claims) { c.NotBefore = time.Time{} }},
		{"zero exp", func(c *Claims) { c.ExpiresAt = time.Time{} }},
		{"exp after 9999", func(c *Claims) { c.ExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"zero linkedAt", func(c *Claims) { c.Links[0].LinkedAt = time.Time{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fullClaims()
			tt.mod(&c)
			if _, err := json.Marshal(c); !errors.Is(err, ErrUnencodable) {
				t.Fatalf("Marshal: %v, want ErrUnencodable", err)
			}
		})
	}
}

// editJSON applies edits to fullClaimsJSON as plain string replacements,
// so that member order, duplicates and exotic values stay under the test's
// control.
func editJSON(t testing.TB, pairs ...string) string {
	t.Helper()
	s := fullClaimsJSON
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("editJSON: %q not found", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

// claimCase is a claim set that is wrong in one way, and a fragment of the
// error that says which, so that a case cannot pass for another reason.
type claimCase struct{ name, json, why string }

// claimCases are checked both by UnmarshalJSON and, signed, by
// Verifier.Verify.
func claimCases(t testing.TB) []claimCase {
	const (
		sub        = `"sub":"EDI-166ebf44ac70835c7ebce152e2219ae5eab16418",`
		principals = `"principals":["EDI-078e6e3cee4f7f2812f150701da9351acb51e089","EDI-7be3510d08def0dfc667824ebd4f4f1bbd770234"]`
		links      = `"links":[{"ediId":"EDI-f91e50ff19832113d40f436ae2d320add9f511fb","linkedAt":1690000000,"commonName":"Orcid Me","email":null,"idpCommonName":null,"idpName":"orcid","idpUid":"https://orcid.org/0000-0002-1825-0097"}]`
	)
	return []claimCase{
		{"missing sub", editJSON(t, sub, ""), "claim sub is missing"},
		{"missing cn", editJSON(t, `"cn":"EDI",`, ""), "claim cn is missing"},
		{"missing links", editJSON(t, links+",", ""), "claim links is missing"},
		{"missing iss", editJSON(t, `"iss":"https://auth.edirepository.org",`, ""), "claim iss is missing"},
		{"missing hd", editJSON(t, `"hd":"edirepository.org",`, ""), "claim hd is missing"},
		{"missing iat", editJSON(t, `"iat":1700000000,`, ""), "claim iat is missing"},
		{"missing nbf", editJSON(t, `"nbf":1700000000,`, ""), "claim nbf is missing"},
		{"missing exp", editJSON(t, `,"exp":1700028800`, ""), "claim exp is missing"},
		{"sub null", editJSON(t, sub, `"sub":null,`), "claim sub: is not a string"},
		{"sub number", editJSON(t, sub, `"sub":5,`), "claim sub: is not a string"},
		{"sub empty", editJSON(t, sub, `"sub":"",`), "claim sub: is empty"},
		{"sub array", editJSON(t, sub, `"sub":["EDI-1"],`), "claim sub: is not a string"},
		{"aud string", editJSON(t, sub, sub+`"aud":"pasta",`), "aud claim is not allowed"},
		{"aud array", editJSON(t, sub, sub+`"aud":["pasta"],`), "aud claim is not allowed"},
		{"jti string", editJSON(t, sub, sub+`"jti":"abc",`), "jti claim is not allowed"},
		{"jti number", editJSON(t, sub, sub+`"jti":17,`), "jti claim is not a string"},
		{"unknown claim", editJSON(t, sub, sub+`"role":"admin",`), `unknown claim "role"`},
		{"legacy identityId", editJSON(t, sub, sub+`"identityId":42,`), "legacy claim identityId"},
		{"legacy idpCname", editJSON(t, sub, sub+`"idpCname":"EDI",`), "legacy claim idpCname"},
		{"legacy claim replacing new", editJSON(t, `"idpCommonName":"EDI"`, `"idpCname":"EDI"`), "legacy claim idpCname"},
		{"claim name in other case", editJSON(t, `"sub":`, `"Sub":`), `unknown claim "Sub"`},
		{"claim name escaped, other case", editJSON(t, `"sub":`, `"\u0053ub":`), `unknown claim "Sub"`},
		{"duplicate sub", editJSON(t, sub, sub+`"sub":"EDI-0000000000000000000000000000000000000000",`), `duplicate member "sub"`},
		{"duplicate sub, escaped", editJSON(t, sub, sub+`"s\u0075b":"EDI-0000000000000000000000000000000000000000",`), `duplicate member "sub"`},
		{"duplicate cn, second null", editJSON(t, `"cn":"EDI",`, `"cn":"EDI","cn":null,`), `duplicate member "cn"`},
		{"iss null", editJSON(t, `"iss":"https://auth.edirepository.org"`, `"iss":null`), "claim iss: is not a string"},
		{"hd number", editJSON(t, `"hd":"edirepository.org"`, `"hd":1`), "claim hd: is not a string"},
		{"cn number", editJSON(t, `"cn":"EDI"`, `"cn":1`), "claim cn: is neither a string nor null"},
		{"cn object", editJSON(t, `"cn":"EDI"`, `"cn":{}`), "claim cn: is neither a string nor null"},
		{"idpUid bool", editJSON(t, `"idpUid":"uid=EDI,o=EDI,dc=edirepository,dc=org"`, `"idpUid":true`), "claim idpUid: is neither"},
		{"principals null", editJSON(t, principals, `"principals":null`), "claim principals: is not an array"},
		{"principals string", editJSON(t, principals, `"principals":"EDI-078e6e3cee4f7f2812f150701da9351acb51e089"`), "claim principals: is not an array"},
		{"principals null element", editJSON(t, `"principals":[`, `"principals":[null,`), "claim principals: element 0 is not a string"},
		{"principals number element", editJSON(t, `"principals":[`, `"principals":[7,`), "claim principals: element 0 is not a string"},
		{"links null", editJSON(t, links, `"links":null`), "claim links: is not an array"},
		{"links object", editJSON(t, links, `"links":{}`), "claim links: is not an array"},
		{"link missing email", editJSON(t, `"email":null,"idpCommonName":null,"idpName":"orcid"`, `"idpCommonName":null,"idpName":"orcid"`), "link 0: member email is missing"},
		{"link extra member", editJSON(t, `"linkedAt":1690000000,`, `"linkedAt":1690000000,"role":"x",`), `link 0: unknown member "role"`},
		{"link duplicate member", editJSON(t, `"linkedAt":1690000000,`, `"linkedAt":1690000000,"linkedAt":1,`), `link 0: duplicate member "linkedAt"`},
		{"link ediId null", editJSON(t, `"ediId":"EDI-f91e50ff19832113d40f436ae2d320add9f511fb"`, `"ediId":null`), "link 0: ediId: is not a string"},
		{"link ediId empty", editJSON(t, `"ediId":"EDI-f91e50ff19832113d40f436ae2d320add9f511fb"`, `"ediId":""`), "link 0: ediId: is empty"},
		{"link linkedAt string", editJSON(t, `"linkedAt":1690000000`, `"linkedAt":"1690000000"`), "link 0: linkedAt: is not an integer"},
		{"link linkedAt fraction", editJSON(t, `"linkedAt":1690000000`, `"linkedAt":1690000000.5`), "link 0: linkedAt: is not an integer"},
		{"link not an object", editJSON(t, `"links":[{`, `"links":["EDI-1",{`), "link 0: is not a JSON object"},
		{"isEmailEnabled null", editJSON(t, `"isEmailEnabled":true`, `"isEmailEnabled":null`), "claim isEmailEnabled: is not a boolean"},
		{"isEmailEnabled string", editJSON(t, `"isEmailEnabled":true`, `"isEmailEnabled":"true"`), "claim isEmailEnabled: is not a boolean"},
		{"isEmailVerified number", editJSON(t, `"isEmailVerified":false`, `"isEmailVerified":0`), "claim isEmailVerified: is not a boolean"},
		{"iat float", editJSON(t, `"iat":1700000000`, `"iat":1700000000.0`), "claim iat: is not an integer"},
		{"iat exponent", editJSON(t, `"iat":1700000000`, `"iat":1.7e9`), "claim iat: is not an integer"},
		{"iat string", editJSON(t, `"iat":1700000000`, `"iat":"1700000000"`), "claim iat: is not an integer"},
		{"iat null", editJSON(t, `"iat":1700000000`, `"iat":null`), "claim iat: is not an integer"},
		{"nbf negative", editJSON(t, `"nbf":1700000000`, `"nbf":-1`), "claim nbf: is not an integer"},
		{"exp after 9999", editJSON(t, `"exp":1700028800`, `"exp":253402300800`), "claim exp: is not an integer"},
		{"exp huge", editJSON(t, `"exp":1700028800`, `"exp":99999999999999999999999`), "claim exp: is not an integer"},
		{"exp null", editJSON(t, `"exp":1700028800`, `"exp":null`), "claim exp: is not an integer"},
	}
}

func TestClaimsUnmarshalRejects(t *testing.T) {
	for _, tt := range claimCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			c := groupClaims()
			err := json.Unmarshal([]byte(tt.json), &c)
			if !errors.Is(err, ErrClaims) || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("Unmarshal(%s): %v, want ErrClaims saying %q", tt.json, err, tt.why)
			}
			if !reflect.DeepEqual(c, groupClaims()) {
				t.Fatal("failed Unmarshal modified its target")
			}
		})
	}
	for _, bad := range []string{`[]`, `"x"`, `null`, `{}`, `1`} {
		var c Claims
		if err := c.UnmarshalJSON([]byte(bad)); !errors.Is(err, ErrClaims) {
			t.Errorf("UnmarshalJSON(%s): %v, want ErrClaims", bad, err)
		}
	}
	if err := new(Claims).UnmarshalJSON([]byte(fullClaimsJSON + `{}`)); !errors.Is(err, ErrClaims) {
		t.Errorf("trailing data: %v, want ErrClaims", err)
	}
}

// TestEDIClaimsUnmarshalAccepts: variations EDI's own tokens may have.
func TestClaimsUnmarshalAccepts(t *testing.T) {
	tests := []struct {
		name  string
		json  string
		check func(*testing.T, Claims)
	}{
		{"reordered", `{"exp":1700028800,"nbf":1700000000,"iat":1700000000,"hd":"edirepository.org","iss":"https://auth.edirepository.org","idpUid":null,"idpName":null,"idpCommonName":null,"isEmailVerified":false,"isEmailEnabled":false,"links":[],"principals":[],"email":null,"cn":"Vetted","sub":"EDI-bdae74972ed710c56b1e0df18ccb6e23c31f60f6"}`,
			func(t *testing.T, c Claims) {
				if !reflect.DeepEqual(c.clone(), func() Claims {
					g := groupClaims()
					g.Principals, g.Links = []string{}, []Link{}
					return g
				}()) {
					t.Fatalf("got %+v", c)
				}
			}},
		{"whitespace", strings.ReplaceAll(groupClaimsJSON, ",", " ,\n "), nil},
		{"empty strings kept distinct from null", editJSON(t, `"cn":"EDI"`, `"cn":""`, `"email":"edi@example.org"`, `"email":null`),
			func(t *testing.T, c Claims) {
				if c.CommonName == nil || *c.CommonName != "" || c.Email != nil {
					t.Fatalf("cn = %v, email = %v", c.CommonName, c.Email)
				}
			}},
		{"unicode escapes", editJSON(t, `"cn":"EDI"`, `"cn":"Zo\u00eb \ud83d\ude00"`),
			func(t *testing.T, c Claims) {
				if *c.CommonName != "Zoë 😀" {
					t.Fatalf("cn = %q", *c.CommonName)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Claims
			if err := json.Unmarshal([]byte(tt.json), &c); err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestRefreshed(t *testing.T) {
	orig := fullClaims()
	now := testNow.Add(3*time.Hour + 500*time.Millisecond)
	r := orig.Refreshed(now, 2*time.Hour)

	wantIat := time.Unix(testNow.Unix()+3*3600, 0)
	if !r.IssuedAt.Equal(wantIat) || !r.NotBefore.Equal(wantIat) || !r.ExpiresAt.Equal(wantIat.Add(2*time.Hour)) {
		t.Fatalf("times iat=%s nbf=%s exp=%s", r.IssuedAt, r.NotBefore, r.ExpiresAt)
	}
	same := r
	same.IssuedAt, same.NotBefore, same.ExpiresAt = orig.IssuedAt, orig.NotBefore, orig.ExpiresAt
	if !reflect.DeepEqual(same, orig) {
		t.Fatalf("Refreshed changed more than the times:\n got %+v\nwant %+v", same, orig)
	}

	// Deep copy: changing the original must not reach the refreshed claims.
	*orig.CommonName = "changed"
	*orig.IdPUID = "changed"
	orig.Principals[0] = "changed"
	*orig.Links[0].CommonName = "changed"
	orig.Links[0].EDIID = "changed"
	if *r.CommonName != "EDI" || *r.IdPUID != "uid=EDI,o=EDI,dc=edirepository,dc=org" || r.Principals[0] == "changed" ||
		*r.Links[0].CommonName != "Orcid Me" || r.Links[0].EDIID == "changed" {
		t.Fatalf("Refreshed shares memory with its receiver: %+v", r)
	}

	// Nil stays nil, so a group token is refreshed into the same JSON.
	g := groupClaims().Refreshed(testNow, DefaultEDITTL)
	if g.Principals != nil || g.Links != nil || g.Email != nil {
		t.Fatalf("nil fields became non-nil: %+v", g)
	}
	if b, _ := json.Marshal(g); string(b) != groupClaimsJSON {
		t.Fatalf("refreshed group claims %s, want %s", b, groupClaimsJSON)
	}
}

func TestEDIID(t *testing.T) {
	// Expected values computed with: printf %s "$uid" | sha256sum | cut -c1-40
	tests := []struct{ uid, want string }{
		{"uid=EDI,o=EDI,dc=edirepository,dc=org", "EDI-166ebf44ac70835c7ebce152e2219ae5eab16418"},
		{"https://orcid.org/0000-0002-1825-0097", "EDI-f91e50ff19832113d40f436ae2d320add9f511fb"},
		{"", "EDI-e3b0c44298fc1c149afbf4c8996fb92427ae41e4"},
	}
	for _, tt := range tests {
		if got := EDIID(tt.uid); got != tt.want {
			t.Errorf("EDIID(%q) = %s, want %s", tt.uid, got, tt.want)
		}
	}
}
