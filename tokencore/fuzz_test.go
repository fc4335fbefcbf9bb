package tokencore

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Fuzz targets of the engine's parsers. `go test` runs every seed; run one
// target with `go test -run '^$' -fuzz FuzzX ./tokencore/` to search for
// more. Inputs the fuzzer found are kept in testdata/fuzz.

// tokenSentinels are the errors a token parser may report.
var tokenSentinels = []error{
	ErrTokenMalformed, ErrTokenSignature, ErrTokenExpired, ErrTokenNotYetValid,
	ErrTokenRevoked, ErrTokenWrongType, ErrTokenWrongTenant,
}

func isTokenError(err error) bool {
	for _, s := range tokenSentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// fuzzVerifier is a verifier over an ES256 signer and a FOLIO HS256 key
// (which verifies tokens without a kid), at a fixed time.
type fuzzVerifier struct {
	ks     *KeySet
	signer *Key
	folio  *Key
	clk    *clock
}

func newFuzzVerifier(f *testing.F) *fuzzVerifier {
	signer, _, err := GenerateES256Key()
	if err != nil {
		f.Fatal(err)
	}
	folio := NewFolioKey("fuzz-secret")
	ks, err := NewKeySet(signer, []*Key{folio}, DeriveFolioSecret("fuzz-secret"))
	if err != nil {
		f.Fatal(err)
	}
	return &fuzzVerifier{ks: ks, signer: signer, folio: folio, clk: &clock{t: time.Unix(1_800_000_000, 0)}}
}

// verify checks token with a fresh cache, then again through the cache,
// and returns the claims and error of the first call after checking the
// invariants every verification must keep:
//   - an error is one of the token sentinels and comes without claims;
//   - an accepted token passed the strict header and claim checks, is an
//     access token (with sub and a future exp) of the requested tenant;
//   - the cached verdict equals the first;
//   - once its grant, token or user is revoked it is refused.
func (fv *fuzzVerifier) verify(t *testing.T, token, tenant string) (*Claims, error) {
	t.Helper()
	cache, err := NewVerifyCache(CacheConfig{MaxEntries: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	view := NewRevocationView()
	v := NewVerifier(fv.ks, cache, view, VerifierOptions{}, fv.clk.now)
	c, err := v.Verify(token, tenant)
	if err != nil {
		if !isTokenError(err) {
			t.Fatalf("error %v is not a token error", err)
		}
		if c != nil {
			t.Fatalf("refused token returned claims %+v", c)
		}
		return nil, err
	}
	if err := CheckCompactJWS(token); err != nil {
		t.Fatalf("accepted a token the strict checks refuse: %v", err)
	}
	if c.Type != TypeAccess || c.Subject == "" || c.ExpiresAt <= fv.clk.t.Unix() {
		t.Fatalf("accepted claims that are not a valid access token: %+v", c)
	}
	if tenant != "" && c.Tenant != "" && c.Tenant != tenant {
		t.Fatalf("accepted tenant %q for %q", c.Tenant, tenant)
	}
	cache.Wait()
	again, err := v.Verify(token, tenant)
	if err != nil || !reflect.DeepEqual(again, c) {
		t.Fatalf("cached verdict differs: %+v, %v; first %+v", again, err, c)
	}
	for _, r := range []Revocation{
		{Kind: RevocationOfGrant, Key: c.GrantID},
		{Kind: RevocationOfToken, Key: c.TokenID},
		{Kind: RevocationOfUser, Key: UserKey(c.Tenant, c.UserID), NotBefore: time.Unix(c.IssuedAt, 0)},
		{Kind: RevocationOfSubject, Key: c.Subject, NotBefore: time.Unix(c.IssuedAt, 0)},
	} {
		if r.Key == "" || r.Kind == RevocationOfUser && c.UserID == "" {
			continue
		}
		one := NewRevocationView()
		one.Apply(r)
		if _, err := NewVerifier(fv.ks, cache, one, VerifierOptions{}, fv.clk.now).Verify(token, tenant); !errors.Is(err, ErrTokenRevoked) {
			t.Fatalf("token still accepted after revocation %+v: %v", r, err)
		}
	}
	return c, nil
}

// accessClaimsOf rebuilds the typed claims a verified token carried.
func accessClaimsOf(c *Claims) AccessClaims {
	return AccessClaims{
		Type: c.Type, IssuedAt: c.IssuedAt, Tenant: c.Tenant, Subject: c.Subject, UserID: c.UserID,
		Expiry: c.ExpiresAt, ID: c.TokenID, GrantID: c.GrantID, Issuer: c.Issuer, ClientID: c.ClientID, Scope: c.Scope,
		Audience: c.Audience,
	}
}

// typedClaims drops Raw, which holds whatever extra claims the token had;
// an empty aud is no aud, and a typ of mod-authtoken's format ("", "JWT",
// which golang-jwt adds when re-signing) is "".
func typedClaims(c *Claims) Claims {
	out := *c
	out.Raw = nil
	if len(out.Audience) == 0 {
		out.Audience = nil
	}
	if formatOf(out.JOSEType) == formatUntyped {
		out.JOSEType = ""
	}
	return out
}

// FuzzVerify: Verifier.Verify on arbitrary bearer strings keeps the
// invariants of fuzzVerifier.verify; a token it accepts, re-signed from its
// typed claims, verifies to the same claims.
func FuzzVerify(f *testing.F) {
	fv := newFuzzVerifier(f)
	now := fv.clk.t.Unix()
	access := AccessClaims{Type: TypeAccess, IssuedAt: now, Tenant: "diku", Subject: "alice", UserID: "u1", Expiry: now + 600, ID: "j1", GrantID: "g1"}
	good, err := fv.ks.Sign(access)
	if err != nil {
		f.Fatal(err)
	}
	hs, err := fv.ks.SignWith(fv.folio, access)
	if err != nil {
		f.Fatal(err)
	}
	at := access
	at.Issuer, at.ClientID, at.Audience = "https://auth.example.org", "web", []string{"https://api.example.org"}
	atJWT, err := fv.ks.SignTyped(fv.signer, TypAccessJWT, at)
	if err != nil {
		f.Fatal(err)
	}
	claims := fmt.Sprintf(`{"type":"access","iat":%d,"tenant":"diku","sub":"alice","exp":%d,"jti":"j1","fid":"g1"}`, now, now+600)
	kid := `"kid":"` + fv.signer.ID + `"`
	refresh, _ := fv.ks.Seal([]byte(`{"type":"refresh","sub":"alice","jti":"r"}`))
	for _, s := range []string{
		good, hs, refresh, atJWT,
		craftJWS(f, fv.signer, `{"alg":"ES256",`+kid+`,"crit":["exp"],"exp":1}`, claims),
		craftJWS(f, fv.signer, `{"alg":"ES256",`+kid+`,"crit":["b64"],"b64":false}`, claims),
		craftJWS(f, fv.signer, `{"alg":"ES256",`+kid+`}`, strings.Replace(claims, `"sub":"alice"`, `"sub":"alice","sub":"admin"`, 1)),
		craftJWS(f, fv.folio, `{"alg":"HS256","alg":"none"}`, claims),
		craftJWS(f, fv.folio, `{"alg":"HS256"}`, `{"type":"access","sub":"a","exp":1e400}`),
		craftJWS(f, fv.folio, `{"alg":"HS256"}`, `{"type":"access","sub":"a","exp":-1}`),
		good[:len(good)-3] + "AAA", "a.b.c", "..", "", "e30.e30.", strings.Repeat(".", 5),
	} {
		f.Add(s, "diku")
	}
	f.Fuzz(func(t *testing.T, token, tenant string) {
		c, err := fv.verify(t, token, tenant)
		if err != nil {
			return
		}
		again, err := fv.ks.SignTyped(fv.ks.Signer(), c.JOSEType, accessClaimsOf(c))
		if err != nil {
			t.Fatalf("accepted claims cannot be signed: %v", err)
		}
		back, err := fv.verify(t, again, tenant)
		if err != nil || !reflect.DeepEqual(typedClaims(back), typedClaims(c)) {
			t.Fatalf("re-signed claims: %+v, %v; want %+v", back, err, c)
		}
	})
}

// FuzzVerifySigned: a token correctly signed by a gateway key (ES256 with
// its kid, or FOLIO HS256) over any header and payload is accepted only
// if the header and claims are strict and make an access token; then its
// claims are those of the payload as encoding/json reads it.
func FuzzVerifySigned(f *testing.F) {
	fv := newFuzzVerifier(f)
	now := fv.clk.t.Unix()
	claims := fmt.Sprintf(`{"type":"access","iat":%d,"tenant":"diku","sub":"alice","user_id":"u1","exp":%d,"jti":"j1","fid":"g1","scope":"a b"}`, now, now+600)
	for _, h := range []string{
		`{"alg":"ES256","kid":"KID"}`, `{"alg":"HS256"}`, `{"alg":"ES256"}`,
		`{"alg":"ES256","kid":"KID","crit":["exp"],"exp":1}`, `{"alg":"ES256","kid":"KID","crit":["b64"],"b64":false}`,
		`{"alg":"HS256","crit":[]}`, `{"alg":"HS256","crit":"x","x":1}`, `{"alg":"HS256","crit":["alg"]}`,
		`{"alg":"HS256","typ":"JWT","typ":"x"}`, `{"alg":"HS256","Alg":"none"}`, `{"alg":"ES256","kid":"KID","\u0063rit":["x"],"x":1}`,
	} {
		f.Add(h, claims)
	}
	for _, p := range []string{
		strings.Replace(claims, `"sub":"alice"`, `"sub":"alice","sub":"admin"`, 1),
		strings.Replace(claims, `"tenant":"diku"`, `"tenant":"diku","TENANT":"x"`, 1),
		strings.Replace(claims, `"exp":`, `"exp":"soon","x":`, 1),
		strings.Replace(claims, `"type":"access"`, `"type":"refresh"`, 1),
		strings.Replace(claims, `}`, `,"nbf":9999999999}`, 1),
		`{"type":"access","sub":"a","exp":1e400}`, `{"type":"access","sub":"a","exp":2000000000.9}`,
		`{"type":"access","sub":"","exp":2000000000}`, `[]`, `{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"k":{"l":{"m":{"n":{"o":{"p":{"q":1}}}}}}}}}}}}}}}}}`,
	} {
		f.Add(`{"alg":"ES256","kid":"KID"}`, p)
	}
	f.Fuzz(func(t *testing.T, header, payload string) {
		header = strings.ReplaceAll(header, "KID", fv.signer.ID)
		key := fv.signer
		if strings.Contains(header, `"HS256"`) {
			key = fv.folio
		}
		token := craftJWS(t, key, header, payload)
		c, err := fv.verify(t, token, "diku")
		if err != nil {
			return
		}
		if CheckJOSEHeader([]byte(header), JWS) != nil || CheckStrictJSON([]byte(payload)) != nil {
			t.Fatalf("accepted a header or payload the strict checks refuse")
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(payload), &m); err != nil {
			t.Fatalf("accepted a payload encoding/json cannot read: %v", err)
		}
		if m["sub"] != c.Subject || m["type"] != c.Type {
			t.Fatalf("claims %+v differ from the payload %s", c, payload)
		}
	})
}

// FuzzParseRefreshToken: refresh-token parsing never panics, reports only
// token errors (and nothing else) on failure, accepts only strict refresh
// claims with a jti and a sub, and what it accepts seals and parses back to
// the same claims. The fuzzer gets raw strings and (header, payload) pairs
// sealed with the refresh key, as mod-authtoken or a key holder could.
func FuzzParseRefreshToken(f *testing.F) {
	fv := newFuzzVerifier(f)
	e := &Engine{Keys: fv.ks}
	rc := RefreshClaims{Type: TypeRefresh, Expiry: 1_800_000_600, IssuedAt: 1_800_000_000, Subject: "alice", UserID: "u1",
		Tenant: "diku", ID: "r1", Prn: TypeRefresh, GrantID: "g1"}
	payload, _ := json.Marshal(rc)
	minted, _ := fv.ks.Seal(payload)
	access, _ := fv.ks.Sign(AccessClaims{Type: TypeAccess, Subject: "a", Expiry: 2_000_000_000})
	jwe := `{"alg":"dir","enc":"A256GCM"}`
	for _, s := range []struct{ raw, header, payload string }{
		{minted, jwe, string(payload)},
		{access, `{"alg":"dir","enc":"A256GCM","crit":["exp"],"exp":1}`, string(payload)},
		{"a.b.c.d.e", `{"alg":"dir","enc":"A256GCM","zip":"DEF"}`, string(payload)},
		{"....", jwe, strings.Replace(string(payload), `"sub":"alice"`, `"sub":"alice","sub":"bob"`, 1)},
		{"", jwe, strings.Replace(string(payload), `"jti":"r1"`, `"jti":"r1","JTI":"r2"`, 1)},
		{minted[:len(minted)-2], `{"alg":"dir","enc":"A128GCM"}`, string(payload)},
		{minted, `{"alg":"A256KW","enc":"A256GCM"}`, `{"type":"refresh","sub":"a","jti":"b","exp":"x"}`},
		{minted, jwe, `{"type":"access","sub":"a","jti":"b"}`},
		{minted, jwe, `{"type":"refresh","sub":"a","jti":"b","exp":1e400}`},
	} {
		f.Add(s.raw, s.header, s.payload)
	}
	check := func(t *testing.T, token string) {
		got, err := e.ParseRefreshToken(token)
		if err != nil {
			if !errors.Is(err, ErrTokenMalformed) && !errors.Is(err, ErrTokenSignature) && !errors.Is(err, ErrTokenWrongType) {
				t.Fatalf("error %v is not a token error", err)
			}
			if got != nil {
				t.Fatalf("refused token returned claims %+v", got)
			}
			return
		}
		if got.Type != TypeRefresh || got.ID == "" || got.Subject == "" {
			t.Fatalf("accepted claims that are not a refresh token: %+v", got)
		}
		if CheckCompactHeader(token, JWE) != nil {
			t.Fatal("accepted a token whose header the strict checks refuse")
		}
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := fv.ks.Seal(b)
		if err != nil {
			t.Fatal(err)
		}
		back, err := e.ParseRefreshToken(sealed)
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Fatalf("resealed claims: %+v, %v; want %+v", back, err, got)
		}
	}
	f.Fuzz(func(t *testing.T, raw, header, payload string) {
		check(t, raw)
		check(t, craftJWE(t, fv.ks, header, payload))
	})
}
