package edi

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const es256Header = `{"alg":"ES256","typ":"JWT"}`

var b64url = base64.RawURLEncoding

// craft builds a compact JWS from a literal header and payload; sign gets
// the signing input and returns the raw signature bytes.
func craft(header, payload string, sign func(in string) []byte) string {
	in := b64url.EncodeToString([]byte(header)) + "." + b64url.EncodeToString([]byte(payload))
	return in + "." + b64url.EncodeToString(sign(in))
}

// with signs with a golang-jwt method, which writes ES* signatures as the
// raw r‖s of JWS.
func with(t *testing.T, m jwt.SigningMethod, key any) func(string) []byte {
	return func(in string) []byte {
		sig, err := m.Sign(in, key)
		if err != nil {
			t.Fatalf("signing with %s: %v", m.Alg(), err)
		}
		return sig
	}
}

// der signs ES256 but writes the ASN.1 DER signature of X.509, not r‖s.
func der(t *testing.T, key *ecdsa.PrivateKey) func(string) []byte {
	return func(in string) []byte {
		h := sha256.Sum256([]byte(in))
		sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

func noSig(string) []byte { return nil }

// nonCanonical sets padding bits in the last character of the signature:
// 64 bytes take 86 characters, the last carrying 2 data and 4 zero bits.
// Lenient decoders read the same signature; strict decoding refuses it.
func nonCanonical(t *testing.T, tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, tok[len(tok)-1])
	if i%16 != 0 {
		t.Fatalf("last signature character %q is not canonical", tok[len(tok)-1])
	}
	out := tok[:len(tok)-1] + string(alphabet[i+1])
	sig, err := base64.RawURLEncoding.DecodeString(out[strings.LastIndexByte(out, '.')+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("lenient decoding of the altered signature: %v", err)
	}
	return out
}

func mustEDIVerifier(t testing.TB, keys []*ecdsa.PublicKey, opts ...VerifierOption) *Verifier {
	t.Helper()
	v, err := NewVerifier(keys, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func fixedClock(now time.Time) VerifierOption {
	return WithClock(func() time.Time { return now })
}

// timedJSON is fullClaimsJSON with other iat, nbf and exp.
func timedJSON(t *testing.T, iat, nbf, exp int64) string {
	c := fullClaims()
	c.IssuedAt, c.NotBefore, c.ExpiresAt = time.Unix(iat, 0), time.Unix(nbf, 0), time.Unix(exp, 0)
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEDIVerify covers spec §4.1 and §4.3 steps 1–6 through Verify.
func TestEDIVerify(t *testing.T) {
	key, key2 := testEDIKey(), testEDIKey2()
	rsaKey := testPastaKey()
	p384, p521 := mustEC(elliptic.P384()), mustEC(elliptic.P521())
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pubPEM, err := MarshalPublicKeyPEM(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)

	v := mustEDIVerifier(t, []*ecdsa.PublicKey{&key.PublicKey}, WithKeyID("k2", &key2.PublicKey), fixedClock(testNow))
	signer, err := NewSigner(key, "")
	if err != nil {
		t.Fatal(err)
	}
	good, err := signer.Sign(fullClaims())
	if err != nil {
		t.Fatal(err)
	}
	goodParts := strings.Split(good, ".")
	rawSig, _ := b64url.DecodeString(goodParts[2])
	es256 := with(t, jwt.SigningMethodES256, key)
	now := testNow.Unix()
	payload := fullClaimsJSON

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"valid, minted", good, nil},
		{"valid, crafted", craft(es256Header, payload, es256), nil},
		{"valid, header without typ", craft(`{"alg":"ES256"}`, payload, es256), nil},
		{"valid, extra header field", craft(`{"alg":"ES256","typ":"JWT","x5u":"https://evil.example/"}`, payload, es256), nil},

		// The key decides the algorithm.
		{"alg none, no signature", craft(`{"alg":"none","typ":"JWT"}`, payload, noSig), ErrSignature},
		{"alg none, ES256 signature", craft(`{"alg":"none","typ":"JWT"}`, payload, es256), ErrSignature},
		{"HS256 keyed with the public key PEM", craft(`{"alg":"HS256","typ":"JWT"}`, payload, with(t, jwt.SigningMethodHS256, pubPEM)), ErrSignature},
		{"HS256 keyed with the public key DER", craft(`{"alg":"HS256","typ":"JWT"}`, payload, with(t, jwt.SigningMethodHS256, pubDER)), ErrSignature},
		{"RS256", craft(`{"alg":"RS256","typ":"JWT"}`, payload, with(t, jwt.SigningMethodRS256, rsaKey)), ErrSignature},
		{"PS256", craft(`{"alg":"PS256","typ":"JWT"}`, payload, with(t, jwt.SigningMethodPS256, rsaKey)), ErrSignature},
		{"ES384", craft(`{"alg":"ES384","typ":"JWT"}`, payload, with(t, jwt.SigningMethodES384, p384)), ErrSignature},
		{"ES512", craft(`{"alg":"ES512","typ":"JWT"}`, payload, with(t, jwt.SigningMethodES512, p521)), ErrSignature},
		{"EdDSA", craft(`{"alg":"EdDSA","typ":"JWT"}`, payload, with(t, jwt.SigningMethodEdDSA, edKey)), ErrSignature},
		{"ES256 header, P-384 signature", craft(es256Header, payload, with(t, jwt.SigningMethodES384, p384)), ErrSignature},
		{"alg in lower case", craft(`{"alg":"es256","typ":"JWT"}`, payload, es256), ErrSignature},
		{"alg missing", craft(`{"typ":"JWT"}`, payload, es256), ErrSignature},
		{"alg not a string", craft(`{"alg":256,"typ":"JWT"}`, payload, es256), ErrSignature},

		// The signature is exactly 64 raw bytes under a configured key.
		{"DER signature", craft(es256Header, payload, der(t, key)), ErrSignature},
		{"63-byte signature", goodParts[0] + "." + goodParts[1] + "." + b64url.EncodeToString(rawSig[:63]), ErrSignature},
		{"65-byte signature", goodParts[0] + "." + goodParts[1] + "." + b64url.EncodeToString(append(rawSig[:64:64], 0)), ErrSignature},
		{"empty signature", goodParts[0] + "." + goodParts[1] + ".", ErrSignature},
		{"signature of another payload", goodParts[0] + "." + b64url.EncodeToString([]byte(groupClaimsJSON)) + "." + goodParts[2], ErrSignature},
		{"unconfigured key", craft(es256Header, payload, with(t, jwt.SigningMethodES256, mustEC(elliptic.P256()))), ErrSignature},
		{"kid of no configured key", craft(`{"alg":"ES256","kid":"k9","typ":"JWT"}`, payload, es256), ErrSignature},
		{"kid of another key", craft(`{"alg":"ES256","kid":"k2","typ":"JWT"}`, payload, es256), ErrSignature},
		{"kid not a string", craft(`{"alg":"ES256","kid":2,"typ":"JWT"}`, payload, with(t, jwt.SigningMethodES256, key2)), ErrSignature},
		{"kid selects its key", craft(`{"alg":"ES256","kid":"k2","typ":"JWT"}`, payload, with(t, jwt.SigningMethodES256, key2)), nil},
		{"no kid, kid-mapped key tried too", craft(es256Header, payload, with(t, jwt.SigningMethodES256, key2)), nil},

		// Encoding.
		{"two segments", goodParts[0] + "." + goodParts[1], ErrMalformed},
		{"four segments", good + "." + goodParts[2], ErrMalformed},
		{"padded payload", goodParts[0] + "." + b64url.EncodeToString([]byte(payload+" ")) + "==." + goodParts[2], ErrMalformed},
		{"standard base64 alphabet", good[:5] + "+" + good[6:], ErrMalformed},
		{"non-canonical signature encoding", nonCanonical(t, good), ErrMalformed},
		{"header not JSON", craft(`{"alg":"ES256"`, payload, es256), ErrMalformed},
		{"payload not JSON", craft(es256Header, `{"sub":`, es256), ErrMalformed},
		{"empty", "", ErrMalformed},
		{"a PASTA token", specPastaToken, ErrMalformed},
		{"over MaxTokenLength", good + strings.Repeat("A", MaxTokenLength), ErrMalformed},

		// The header rules of every tokengate parser (tokencore.CheckJOSEHeader):
		// correctly signed, yet refused.
		{"crit exp", craft(`{"alg":"ES256","typ":"JWT","crit":["exp"],"exp":1}`, payload, es256), ErrMalformed},
		{"crit b64, b64 false", craft(`{"alg":"ES256","typ":"JWT","crit":["b64"],"b64":false}`, payload, es256), ErrMalformed},
		{"b64 false without crit", craft(`{"alg":"ES256","typ":"JWT","b64":false}`, payload, es256), ErrMalformed},
		{"crit empty", craft(`{"alg":"ES256","typ":"JWT","crit":[]}`, payload, es256), ErrMalformed},
		{"crit not an array", craft(`{"alg":"ES256","typ":"JWT","crit":"exp","exp":1}`, payload, es256), ErrMalformed},
		{"crit names an absent parameter", craft(`{"alg":"ES256","typ":"JWT","crit":["exp"]}`, payload, es256), ErrMalformed},
		{"crit names typ", craft(`{"alg":"ES256","typ":"JWT","crit":["typ"]}`, payload, es256), ErrMalformed},
		{"duplicate alg", craft(`{"alg":"none","alg":"ES256","typ":"JWT"}`, payload, es256), ErrMalformed},
		{"duplicate kid in another case", craft(`{"alg":"ES256","kid":"k2","KID":"k9","typ":"JWT"}`, payload, with(t, jwt.SigningMethodES256, key2)), ErrMalformed},

		// Time: exp ≤ now is expired; nbf and iat must not be in the future.
		{"exp exactly now", craft(es256Header, timedJSON(t, now-10, now-10, now), es256), ErrExpired},
		{"exp one second ago", craft(es256Header, timedJSON(t, now-10, now-10, now-1), es256), ErrExpired},
		{"exp in one second", craft(es256Header, timedJSON(t, now-10, now-10, now+1), es256), nil},
		{"nbf and iat exactly now", craft(es256Header, timedJSON(t, now, now, now+1), es256), nil},
		{"nbf in one second", craft(es256Header, timedJSON(t, now, now+1, now+60), es256), ErrNotYetValid},
		{"iat in one second", craft(es256Header, timedJSON(t, now+1, now, now+60), es256), ErrNotYetValid},
		{"expired and iat in the future", craft(es256Header, timedJSON(t, now+1, now, now), es256), ErrExpired},

		// Claims.
		{"payload an array", craft(es256Header, `[1]`, es256), ErrClaims},
		{"payload a string", craft(es256Header, `"x"`, es256), ErrClaims},
		{"payload empty object", craft(es256Header, `{}`, es256), ErrClaims},
		{"wrong iss", craft(es256Header, editJSON(t, `"iss":"https://auth.edirepository.org"`, `"iss":"https://auth.example.org"`), es256), ErrClaims},
		{"wrong hd", craft(es256Header, editJSON(t, `"hd":"edirepository.org"`, `"hd":"example.org"`), es256), ErrClaims},
		{"hd in other case", craft(es256Header, editJSON(t, `"hd":"edirepository.org"`, `"hd":"EDIrepository.org"`), es256), ErrClaims},
		{"wrong iss, expired", craft(es256Header, strings.Replace(timedJSON(t, now-10, now-10, now-1), DefaultIssuer, "https://x", 1), es256), ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(tt.token)
			checkErr(t, err, tt.want)
			if err != nil && !reflect.DeepEqual(got, Claims{}) {
				t.Fatalf("failed Verify returned claims %+v", got)
			}
			if err == nil && got.Subject != fullClaims().Subject {
				t.Fatalf("claims = %+v", got)
			}
		})
	}
	if _, err := v.Verify(good + strings.Repeat("A", MaxTokenLength)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized token: %v, want ErrTooLarge", err)
	}
}

// TestEDIAlgorithmLayers checks each of the two independent guards on the
// algorithm: golang-jwt's method list, and the keyfunc's own check.
func TestEDIAlgorithmLayers(t *testing.T) {
	key := testEDIKey()
	v := mustEDIVerifier(t, []*ecdsa.PublicKey{&key.PublicKey}, WithKeyID("k", &key.PublicKey), fixedClock(testNow))
	pubPEM, _ := MarshalPublicKeyPEM(&key.PublicKey)
	_, err := v.Verify(craft(`{"alg":"HS256","typ":"JWT"}`, fullClaimsJSON, with(t, jwt.SigningMethodHS256, pubPEM)))
	if !strings.Contains(err.Error(), "signing method HS256 is invalid") {
		t.Fatalf("HS256 not stopped by the method list: %v", err)
	}
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodRS256, jwt.SigningMethodES384, jwt.SigningMethodNone} {
		for _, h := range []map[string]any{{"alg": m.Alg()}, {"alg": m.Alg(), "kid": "k"}} {
			if k, err := v.keyfunc(&jwt.Token{Method: m, Header: h}); err == nil || k != nil {
				t.Errorf("keyfunc gave %v for %s %v", k, m.Alg(), h)
			}
		}
	}
	if k, err := v.keyfunc(&jwt.Token{Method: jwt.SigningMethodES256, Header: map[string]any{"alg": "ES256", "kid": "k"}}); err != nil || k != &key.PublicKey {
		t.Errorf("keyfunc for ES256 kid k = %v, %v", k, err)
	}
}

// TestEDIVerifyClaimCases signs every malformed claim set of claimCases:
// behind a valid signature each must fail with ErrClaims, for its reason.
func TestEDIVerifyClaimCases(t *testing.T) {
	key := testEDIKey()
	v := mustEDIVerifier(t, []*ecdsa.PublicKey{&key.PublicKey}, fixedClock(testNow))
	es256 := with(t, jwt.SigningMethodES256, key)
	for _, tt := range claimCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(craft(es256Header, tt.json, es256))
			checkErr(t, err, ErrClaims)
			if !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("error %q does not say %q", err, tt.why)
			}
		})
	}
	// The same claim sets with a forged signature fail as forgeries.
	forged := with(t, jwt.SigningMethodES256, testEDIKey2())
	for _, tt := range claimCases(t)[:5] {
		_, err := v.Verify(craft(es256Header, tt.json, forged))
		checkErr(t, err, ErrSignature)
	}
}

func TestEDIVerifyLeeway(t *testing.T) {
	key := testEDIKey()
	es256 := with(t, jwt.SigningMethodES256, key)
	now := testNow.Unix()
	v := mustEDIVerifier(t, []*ecdsa.PublicKey{&key.PublicKey}, fixedClock(testNow), WithLeeway(30*time.Second))
	tests := []struct {
		name          string
		iat, nbf, exp int64
		want          error
	}{
		{"exp 29s ago", now - 100, now - 100, now - 29, nil},
		{"exp 30s ago", now - 100, now - 100, now - 30, ErrExpired},
		{"nbf in 30s", now - 100, now + 30, now + 100, nil},
		{"nbf in 31s", now - 100, now + 31, now + 100, ErrNotYetValid},
		{"iat in 30s", now + 30, now - 100, now + 100, nil},
		{"iat in 31s", now + 31, now - 100, now + 100, ErrNotYetValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(craft(es256Header, timedJSON(t, tt.iat, tt.nbf, tt.exp), es256))
			checkErr(t, err, tt.want)
		})
	}
}

func TestEDIVerifyOptions(t *testing.T) {
	key := testEDIKey()
	c := fullClaims()
	c.Issuer, c.HostedDomain = "https://auth.example.org", "example.org"
	s, _ := NewSigner(key, "")
	tok, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	keys := []*ecdsa.PublicKey{&key.PublicKey}
	tests := []struct {
		name string
		opts []VerifierOption
		want error
	}{
		{"defaults", nil, ErrClaims},
		{"issuer only", []VerifierOption{WithIssuer(c.Issuer)}, ErrClaims},
		{"hosted domain only", []VerifierOption{WithHostedDomain(c.HostedDomain)}, ErrClaims},
		{"both", []VerifierOption{WithIssuer(c.Issuer), WithHostedDomain(c.HostedDomain)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustEDIVerifier(t, keys, append(tt.opts, fixedClock(testNow))...)
			_, err := v.Verify(tok)
			checkErr(t, err, tt.want)
		})
	}
	// The real clock: a token minted now verifies now.
	fresh, err := s.Sign(fullClaims().Refreshed(time.Now(), time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mustEDIVerifier(t, keys).Verify(fresh); err != nil {
		t.Fatalf("default clock: %v", err)
	}
}

func TestNewVerifierRejects(t *testing.T) {
	good := []*ecdsa.PublicKey{&testEDIKey().PublicKey}
	p384 := &mustEC(elliptic.P384()).PublicKey
	tests := []struct {
		name string
		keys []*ecdsa.PublicKey
		opts []VerifierOption
	}{
		{"no keys", nil, nil},
		{"nil key", []*ecdsa.PublicKey{nil}, nil},
		{"P-384 key", []*ecdsa.PublicKey{p384}, nil},
		{"P-384 kid key", good, []VerifierOption{WithKeyID("k", p384)}},
		{"empty kid", good, []VerifierOption{WithKeyID("", good[0])}},
		{"kid twice", good, []VerifierOption{WithKeyID("k", good[0]), WithKeyID("k", good[0])}},
		{"leeway over a minute", good, []VerifierOption{WithLeeway(61 * time.Second)}},
		{"negative leeway", good, []VerifierOption{WithLeeway(-time.Second)}},
		{"empty issuer", good, []VerifierOption{WithIssuer("")}},
		{"empty hosted domain", good, []VerifierOption{WithHostedDomain("")}},
		{"nil clock", good, []VerifierOption{WithClock(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := NewVerifier(tt.keys, tt.opts...); err == nil || v != nil {
				t.Fatalf("NewVerifier = %v, %v; want an error", v, err)
			}
		})
	}
	if _, err := NewVerifier(nil, WithKeyID("k", good[0]), WithLeeway(MaxLeeway)); err != nil {
		t.Fatalf("kid key only, maximal leeway: %v", err)
	}
}

// TestEDISign: the header is EDI's, with kid when set; the payload is the
// claims in EDI's order; the signature is raw r‖s.
func TestEDISign(t *testing.T) {
	key := testEDIKey()
	tests := []struct {
		name, kid, header string
		claims            Claims
		payload           string
	}{
		{"profile, no kid", "", es256Header, fullClaims(), fullClaimsJSON},
		{"group, kid", "k1", `{"alg":"ES256","kid":"k1","typ":"JWT"}`, groupClaims(), groupClaimsJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSigner(key, tt.kid)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := s.Sign(tt.claims)
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(tok, ".")
			if len(parts) != 3 {
				t.Fatalf("token %q", tok)
			}
			h, _ := b64url.DecodeString(parts[0])
			p, _ := b64url.DecodeString(parts[1])
			sig, _ := b64url.DecodeString(parts[2])
			if string(h) != tt.header {
				t.Fatalf("header %s, want %s", h, tt.header)
			}
			if string(p) != tt.payload {
				t.Fatalf("payload\n got %s\nwant %s", p, tt.payload)
			}
			if len(sig) != 64 {
				t.Fatalf("signature of %d bytes, want 64", len(sig))
			}
			opts := []VerifierOption{fixedClock(testNow)}
			if tt.kid != "" {
				opts = append(opts, WithKeyID(tt.kid, &key.PublicKey))
			}
			got, err := mustEDIVerifier(t, []*ecdsa.PublicKey{&key.PublicKey}, opts...).Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.claims
			if want.Principals == nil {
				want.Principals = []string{}
			}
			if want.Links == nil {
				want.Links = []Link{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestEDISignRejects(t *testing.T) {
	s, err := NewSigner(testEDIKey(), "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mod  func(*Claims)
	}{
		{"empty sub", func(c *Claims) { c.Subject = "" }},
		{"empty iss", func(c *Claims) { c.Issuer = "" }},
		{"empty hd", func(c *Claims) { c.HostedDomain = "" }},
		{"zero times", func(c *Claims) { c.IssuedAt, c.NotBefore, c.ExpiresAt = time.Time{}, time.Time{}, time.Time{} }},
		{"zero nbf", func(c *Claims) { c.NotBefore = time.Time{} }},
		{"exp equals iat", func(c *Claims) { c.ExpiresAt = c.IssuedAt.Add(999 * time.Millisecond) }},
		{"exp before iat", func(c *Claims) { c.ExpiresAt = c.IssuedAt.Add(-time.Hour) }},
		{"link without ediId", func(c *Claims) { c.Links[0].EDIID = "" }},
		{"zero linkedAt", func(c *Claims) { c.Links[0].LinkedAt = time.Time{} }},
		{"too large", func(c *Claims) { c.CommonName = ptr(strings.Repeat("x", MaxTokenLength)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fullClaims()
			tt.mod(&c)
			if tok, err := s.Sign(c); !errors.Is(err, ErrUnencodable) || tok != "" {
				t.Fatalf("Sign = %q, %v; want ErrUnencodable", tok, err)
			}
		})
	}
	if _, err := NewSigner(nil, ""); !errors.Is(err, ErrKey) {
		t.Errorf("nil key: %v", err)
	}
	if _, err := NewSigner(mustEC(elliptic.P384()), ""); !errors.Is(err, ErrKey) {
		t.Errorf("P-384 key: %v", err)
	}
}

// TestEDIRefreshRoundTrip: verify, refresh, sign, verify — everything but
// iat, nbf and exp comes through unchanged.
func TestEDIRefreshRoundTrip(t *testing.T) {
	key := testEDIKey()
	s, _ := NewSigner(key, "")
	tok, err := s.Sign(fullClaims())
	if err != nil {
		t.Fatal(err)
	}
	later := testNow.Add(7 * time.Hour)
	v := mustEDIVerifier(t, []*ecdsa.PublicKey{&key.PublicKey}, fixedClock(later))
	c, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	tok2, err := s.Sign(c.Refreshed(later, DefaultEDITTL))
	if err != nil {
		t.Fatal(err)
	}
	after := mustEDIVerifier(t, []*ecdsa.PublicKey{&key.PublicKey}, fixedClock(later.Add(8*time.Hour-time.Second)))
	if _, err := after.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("old token after 15h: %v, want ErrExpired", err)
	}
	c2, err := after.Verify(tok2)
	if err != nil {
		t.Fatal(err)
	}
	if !c2.IssuedAt.Equal(later) || !c2.NotBefore.Equal(later) || !c2.ExpiresAt.Equal(later.Add(DefaultEDITTL)) {
		t.Fatalf("refreshed times iat=%s nbf=%s exp=%s", c2.IssuedAt, c2.NotBefore, c2.ExpiresAt)
	}
	c2.IssuedAt, c2.NotBefore, c2.ExpiresAt = c.IssuedAt, c.NotBefore, c.ExpiresAt
	if !reflect.DeepEqual(c2, c) {
		t.Fatalf("refresh changed claims:\n got %+v\nwant %+v", c2, c)
	}
}

// TestEDIVerifyConcurrent runs one verifier from many goroutines; with
// -race it checks that Verify shares no mutable state.
func TestEDIVerifyConcurrent(t *testing.T) {
	key := testEDIKey()
	s, _ := NewSigner(key, "k")
	v := mustEDIVerifier(t, nil, WithKeyID("k", &key.PublicKey), fixedClock(testNow))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				c := fullClaims()
				c.Subject = EDIID(strings.Repeat("x", i*20+j))
				tok, err := s.Sign(c)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := v.Verify(tok)
				if err != nil || got.Subject != c.Subject {
					t.Errorf("Verify = %+v, %v", got.Subject, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
