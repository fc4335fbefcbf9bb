package tokencore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCheckStrictJSON(t *testing.T) {
	deep := strings.Repeat(`{"a":`, MaxJSONDepth) + "1" + strings.Repeat("}", MaxJSONDepth)
	tooDeep := strings.Repeat(`{"a":`, MaxJSONDepth+1) + "1" + strings.Repeat("}", MaxJSONDepth+1)
	deepArray := `{"a":` + strings.Repeat("[", MaxJSONDepth-1) + strings.Repeat("]", MaxJSONDepth-1) + "}"
	tooDeepArray := `{"a":` + strings.Repeat("[", MaxJSONDepth) + strings.Repeat("]", MaxJSONDepth) + "}"
	var many strings.Builder
	many.WriteString("{")
	for i := range 40 {
		fmt.Fprintf(&many, `"m%d":%d,`, i, i)
	}
	many.WriteString(`"m7":0}`) // a duplicate after the switch to the map
	tests := []struct {
		name string
		json string
		ok   bool
	}{
		{"flat claims", `{"type":"access","sub":"alice","exp":1800000000,"extra_permissions":["a","b"]}`, true},
		{"empty object", `{}`, true},
		{"white space after", "{\"a\":1} \n", true},
		{"nested objects may repeat names across levels", `{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}`, true},
		{"deepest allowed object", deep, true},
		{"deepest allowed array", deepArray, true},
		{"forty members", strings.Replace(many.String(), `,"m7":0`, "", 1), true},
		{"duplicate member", `{"sub":"alice","sub":"admin"}`, false},
		{"duplicate member through an escape", `{"sub":"alice","\u0073ub":"admin"}`, false},
		{"members differing only in case", `{"sub":"alice","SUB":"admin"}`, false},
		{"Kelvin sign folds onto k", `{"kid":"a","` + "\u212a" + `id":"b"}`, false},
		{"duplicate in a nested object", `{"a":{"x":1,"x":2}}`, false},
		{"duplicate in an object inside an array", `{"a":[{"x":1},{"y":1,"y":2}]}`, false},
		{"duplicate after forty members", many.String(), false},
		{"too deep (objects)", tooDeep, false},
		{"too deep (arrays)", tooDeepArray, false},
		{"array at the top", `["a"]`, false},
		{"string at the top", `"a"`, false},
		{"two objects", `{}{}`, false},
		{"trailing garbage", `{"a":1}x`, false},
		{"unterminated", `{"a":1`, false},
		{"missing value", `{"a"}`, false},
		{"bare word", `{"a":nope}`, false},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", false},
		{"empty", ``, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckStrictJSON([]byte(tc.json))
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrStrictJSON) {
				t.Fatalf("err = %v, want ErrStrictJSON", err)
			}
		})
	}
}

func TestCheckJOSEHeader(t *testing.T) {
	tests := []struct {
		name   string
		header string
		kind   JOSEKind
		want   string // "" when accepted, else a fragment of the error
	}{
		{"mod-authtoken header", `{"alg":"HS256"}`, JWS, ""},
		{"tokengate header", `{"alg":"ES256","kid":"k1","typ":"JWT"}`, JWS, ""},
		{"unknown parameter is ignored", `{"alg":"ES256","x-trace":"1"}`, JWS, ""},
		{"JWE header", `{"alg":"dir","enc":"A256GCM"}`, JWE, ""},
		{"crit exp", `{"alg":"ES256","crit":["exp"],"exp":1}`, JWS, "does not implement"},
		{"crit b64 with b64 false", `{"alg":"ES256","crit":["b64"],"b64":false}`, JWS, "does not implement"},
		{"crit naming an absent parameter", `{"alg":"ES256","crit":["exp"]}`, JWS, "does not contain"},
		{"crit empty", `{"alg":"ES256","crit":[]}`, JWS, "empty array"},
		{"crit a string", `{"alg":"ES256","crit":"exp","exp":1}`, JWS, "not an array"},
		{"crit null", `{"alg":"ES256","crit":null}`, JWS, "not an array"},
		{"crit holding a number", `{"alg":"ES256","crit":[1]}`, JWS, "not a string"},
		{"crit listing a name twice", `{"alg":"ES256","crit":["exp","exp"],"exp":1}`, JWS, "twice"},
		{"crit listing alg", `{"alg":"ES256","crit":["alg"]}`, JWS, "JOSE specifications"},
		{"crit listing kid", `{"alg":"ES256","kid":"k","crit":["kid"]}`, JWS, "JOSE specifications"},
		{"crit listing enc in a JWE", `{"alg":"dir","enc":"A256GCM","crit":["enc"]}`, JWE, "JOSE specifications"},
		{"crit in a JWE", `{"alg":"dir","enc":"A256GCM","crit":["exp"],"exp":1}`, JWE, "does not implement"},
		{"b64 without crit", `{"alg":"ES256","b64":false}`, JWS, "b64"},
		{"b64 true without crit", `{"alg":"ES256","b64":true}`, JWS, "b64"},
		{"zip in a JWE", `{"alg":"dir","enc":"A256GCM","zip":"DEF"}`, JWE, "zip"},
		{"duplicate alg", `{"alg":"ES256","alg":"none"}`, JWS, "duplicate member"},
		{"duplicate kid in another case", `{"alg":"ES256","kid":"a","KID":"b"}`, JWS, "duplicate member"},
		{"not an object", `["alg"]`, JWS, "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckJOSEHeader([]byte(tc.header), tc.kind)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrJOSEHeader) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrJOSEHeader saying %q", err, tc.want)
			}
		})
	}
}

var b64 = base64.RawURLEncoding

// craftJWS signs a literal header and payload with k, as a producer that
// holds the key (mod-authtoken, a module misusing /token/sign, a bug of
// ours) could: the parser rules must hold even for correctly signed tokens.
func craftJWS(t testing.TB, k *Key, header, payload string) string {
	t.Helper()
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	sig, err := k.signingMethod().Sign(in, k.signKey())
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + b64.EncodeToString(sig)
}

// craftJWE seals payload under a literal protected header with the refresh
// key, as RFC 7516 dir/A256GCM does: AAD is the encoded header.
func craftJWE(t testing.TB, ks *KeySet, header, payload string) string {
	t.Helper()
	block, err := aes.NewCipher(ks.refreshKey)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	iv := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(iv)
	h := b64.EncodeToString([]byte(header))
	sealed := gcm.Seal(nil, iv, []byte(payload), []byte(h))
	ct, tag := sealed[:len(sealed)-16], sealed[len(sealed)-16:]
	return h + ".." + b64.EncodeToString(iv) + "." + b64.EncodeToString(ct) + "." + b64.EncodeToString(tag)
}

// TestVerifierStrictParsing: correctly signed access tokens whose header
// carries crit or b64, or whose header or claims repeat a member, are
// refused as malformed, by the ES256 key and by a FOLIO HS256 key, cached
// or not. Before the strict checks golang-jwt accepted every one of them.
func TestVerifierStrictParsing(t *testing.T) {
	ks, signer := testKeys(t)
	folio := NewFolioKey("a-folio-secret")
	folioSet, err := NewKeySet(folio, nil, DeriveFolioSecret("a-folio-secret"))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	claims := fmt.Sprintf(`{"type":"access","iat":%d,"tenant":"diku","sub":"alice","user_id":"u1","exp":%d,"jti":"j1","fid":"g1"}`,
		clk.t.Unix(), clk.t.Unix()+600)
	es := `{"alg":"ES256","kid":"` + signer.ID + `"`
	tests := []struct {
		name          string
		header        string // ES256 header; the HS256 variant drops kid and alg
		payload       string
		wantMalformed bool
	}{
		{"plain (control)", es + `}`, claims, false},
		{"unknown header parameter (control)", es + `,"x-trace":"1"}`, claims, false},
		{"crit exp", es + `,"crit":["exp"],"exp":1}`, claims, true},
		{"crit b64, b64 false", es + `,"crit":["b64"],"b64":false}`, claims, true},
		{"b64 false without crit", es + `,"b64":false}`, claims, true},
		{"crit empty", es + `,"crit":[]}`, claims, true},
		{"crit not an array", es + `,"crit":"exp","exp":1}`, claims, true},
		{"crit names an absent parameter", es + `,"crit":["exp"]}`, claims, true},
		{"crit names alg", es + `,"crit":["alg"]}`, claims, true},
		{"duplicate header member", es + `,"typ":"JWT","typ":"at+jwt"}`, claims, true},
		{"duplicate sub", es + `}`, strings.Replace(claims, `"sub":"alice"`, `"sub":"alice","sub":"admin"`, 1), true},
		{"duplicate tenant in another case", es + `}`, strings.Replace(claims, `"tenant":"diku"`, `"tenant":"diku","Tenant":"other"`, 1), true},
		{"duplicate exp", es + `}`, strings.Replace(claims, `"exp":`, `"exp":1,"exp":`, 1), true},
		{"duplicate inside a nested claim", es + `}`, strings.Replace(claims, `}`, `,"ctx":{"a":1,"a":2}}`, 1), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hsHeader := `{"alg":"HS256"` + strings.TrimPrefix(tc.header, es)
			for _, v := range []struct {
				name  string
				ks    *KeySet
				token string
			}{
				{"ES256", ks, craftJWS(t, signer, tc.header, tc.payload)},
				{"HS256", folioSet, craftJWS(t, folio, hsHeader, tc.payload)},
			} {
				for _, cached := range []bool{false, true} {
					var cache *VerifyCache
					if cached {
						cache, _ = NewVerifyCache(CacheConfig{MaxEntries: 100})
					}
					ver := NewVerifier(v.ks, cache, NewRevocationView(), VerifierOptions{}, clk.now)
					for range 2 { // the second call would hit the cache
						c, err := ver.Verify(v.token, "diku")
						if tc.wantMalformed && (!errors.Is(err, ErrTokenMalformed) || c != nil) {
							t.Fatalf("%s cached=%v: claims %v, err = %v, want ErrTokenMalformed", v.name, cached, c, err)
						}
						if !tc.wantMalformed && (err != nil || c.Subject != "alice") {
							t.Fatalf("%s cached=%v: %v, %v", v.name, cached, c, err)
						}
						if cache != nil {
							cache.Wait()
						}
					}
					if cache != nil {
						cache.Close()
					}
				}
			}
		})
	}
}

// TestParseRefreshTokenStrict: a refresh token whose JWE header carries crit
// or zip, or whose header or claims repeat a member, is refused as
// malformed. go-jose refused crit and duplicate header members before; the
// claims (parsed with encoding/json, last wins, any case) were not checked.
func TestParseRefreshTokenStrict(t *testing.T) {
	ks, _ := testKeys(t)
	e := &Engine{Keys: ks}
	claims := `{"type":"refresh","exp":1800000600,"iat":1800000000,"sub":"alice","user_id":"u1","tenant":"diku","jti":"r1","prn":"refresh","fid":"g1"}`
	jwe := `{"alg":"dir","enc":"A256GCM"}`
	tests := []struct {
		name          string
		header        string
		payload       string
		wantMalformed bool
	}{
		{"plain (control)", jwe, claims, false},
		{"crit", `{"alg":"dir","enc":"A256GCM","crit":["exp"],"exp":1}`, claims, true},
		{"zip", `{"alg":"dir","enc":"A256GCM","zip":"DEF"}`, claims, true},
		{"duplicate header member", `{"alg":"dir","enc":"A256GCM","enc":"A256GCM"}`, claims, true},
		{"duplicate fid", jwe, strings.Replace(claims, `"fid":"g1"`, `"fid":"g1","fid":"g2"`, 1), true},
		{"duplicate sub in another case", jwe, strings.Replace(claims, `"sub":"alice"`, `"sub":"alice","SUB":"bob"`, 1), true},
		{"claims not an object", jwe, `["refresh"]`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := e.ParseRefreshToken(craftJWE(t, ks, tc.header, tc.payload))
			if tc.wantMalformed {
				if !errors.Is(err, ErrTokenMalformed) || rc != nil {
					t.Fatalf("claims %+v, err = %v, want ErrTokenMalformed", rc, err)
				}
				return
			}
			if err != nil || rc.Subject != "alice" || rc.GrantID != "g1" {
				t.Fatalf("%+v, %v", rc, err)
			}
		})
	}
}

// BenchmarkCheckCompactJWS is the cost the strict checks add to a
// verification-cache miss (the signature check is BenchmarkVerify).
func BenchmarkCheckCompactJWS(b *testing.B) {
	ks, _ := testKeys(b)
	now := time.Now()
	tok, _ := ks.Sign(AccessClaims{Type: TypeAccess, IssuedAt: now.Unix(), Tenant: "diku", Subject: "alice", UserID: "u", Expiry: now.Add(time.Hour).Unix(), ID: NewTokenID(), GrantID: NewGrantID()})
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckCompactJWS(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCheckJOSEHeaderEscapedNames: a crit, b64 or zip member written with
// JSON escapes is the same member and is refused the same way.
func TestCheckJOSEHeaderEscapedNames(t *testing.T) {
	for _, h := range []string{
		`{"alg":"ES256","\u0063rit":["exp"],"exp":1}`,
		`{"alg":"ES256","b\u0036\u0034":false}`,
		`{"alg":"ES256","kid":"\u006b","cr\u0069t":[]}`,
	} {
		if err := CheckJOSEHeader([]byte(h), JWS); !errors.Is(err, ErrJOSEHeader) {
			t.Errorf("%s: err = %v, want ErrJOSEHeader", h, err)
		}
	}
	if err := CheckJOSEHeader([]byte(`{"alg":"dir","enc":"A256GCM","\u007aip":"DEF"}`), JWE); !errors.Is(err, ErrJOSEHeader) {
		t.Errorf("escaped zip: err = %v", err)
	}
}
