package edi

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/store/memory"
)

// Demo identities of the issue: alice (LDAP) and bob (GitHub).
const (
	aliceUID  = "uid=alice,o=EDI,dc=edirepository,dc=org"
	aliceID   = "EDI-581f8a60cb1482332e92fb44c67078293df21d6c"
	bobUID    = "https://github.com/bob"
	bobID     = "EDI-16b1e796d8a45e2c630ca07b892552bc38628a8c"
	groupID   = "EDI-0d5c2ba3b1a5c1b1e3f0f7d0a9b2c3d4e5f60718"
	aliceLink = "https://orcid.org/0000-0002-1825-0097"
)

// fixture is a service on a memory store with a settable clock.
type fixture struct {
	t     testing.TB
	mu    sync.Mutex
	now   time.Time
	e     *tokencore.Engine
	s     *Service
	m     *Manager
	edi   *Signer      // the service's key, without kid (as EDI signs)
	pasta *PastaSigner // the service's key
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) setNow(t time.Time) {
	f.mu.Lock()
	f.now = t
	f.mu.Unlock()
}

func newFixture(t testing.TB, mods ...func(*Config)) *fixture {
	t.Helper()
	cache, err := tokencore.NewVerifyCache(tokencore.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cache.Close)
	f := &fixture{t: t, now: testNow}
	f.e = &tokencore.Engine{Store: memory.New(), View: tokencore.NewRevocationView(), Cache: cache, Now: f.clock}
	cfg := Config{EDISigningKey: testEDIKey(), PastaSigningKey: testPastaKey(), Now: f.clock}
	for _, m := range mods {
		m(&cfg)
	}
	if f.s, err = NewService(f.e, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.s.Close)
	f.m = f.s.Manager()
	if f.edi, err = NewSigner(testEDIKey(), ""); err != nil {
		t.Fatal(err)
	}
	f.pasta = mustPastaSigner(t, testPastaKey())
	return f
}

// aliceClaims are alice's claims issued at iat.
func aliceClaims(iat time.Time) Claims {
	return Claims{
		Subject: aliceID, CommonName: ptr("Alice Demo"), Email: ptr("alice@example.org"),
		Principals: []string{DefaultPublicAccessID, DefaultAuthenticatedAccessID},
		Links: []Link{{EDIID: "EDI-f91e50ff19832113d40f436ae2d320add9f511fb", LinkedAt: time.Unix(1_690_000_000, 0).UTC(),
			IdPName: ptr("orcid"), IdPUID: ptr(aliceLink)}},
		IdPCommonName: ptr("Alice"), IdPName: ptr("ldap"), IdPUID: ptr(aliceUID),
		Issuer: DefaultIssuer, HostedDomain: DefaultHostedDomain,
		IssuedAt: iat, NotBefore: iat, ExpiresAt: iat.Add(DefaultEDITTL),
	}
}

func bobClaims(iat time.Time) Claims {
	return Claims{
		Subject: bobID, IdPName: ptr("github"), IdPUID: ptr(bobUID),
		Issuer: DefaultIssuer, HostedDomain: DefaultHostedDomain,
		IssuedAt: iat, NotBefore: iat, ExpiresAt: iat.Add(DefaultEDITTL),
	}
}

func (f *fixture) signEDI(c Claims) string {
	f.t.Helper()
	tok, err := f.edi.Sign(c)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

func (f *fixture) signPasta(uid string, exp time.Time, groups ...string) string {
	f.t.Helper()
	tok, err := f.pasta.Sign(NewPastaToken(uid, exp, groups...))
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

func refreshBody(pasta, ediTok string) string {
	b, _ := json.Marshal(map[string]string{FieldPastaToken: pasta, FieldEDIToken: ediTok})
	return string(b)
}

// checkResponse asserts status, method and message prefix.
func checkResponse(t *testing.T, r *Response, status int, method, msgPrefix string) {
	t.Helper()
	if r.Status != status || r.Method != method || !strings.HasPrefix(r.Msg, msgPrefix) {
		t.Fatalf("response %d %q (method %q), want %d %q… (method %q); cause %v", r.Status, r.Msg, r.Method, status, msgPrefix, method, r.Err)
	}
	if status != http.StatusOK && (r.PastaToken != "" || r.EDIToken != "") {
		t.Fatalf("failed response carries tokens")
	}
}

// TestRefreshErrorTable covers every row of spec §5.4 through Refresh.
func TestRefreshErrorTable(t *testing.T) {
	f := newFixture(t)
	now := testNow
	goodEDI := f.signEDI(aliceClaims(now.Add(-time.Hour)))
	goodPasta := f.signPasta(aliceUID, now.Add(time.Hour), "vetted", "authenticated")
	otherEDI, _ := NewSigner(testEDIKey2(), "")
	foreignEDI, err := otherEDI.Sign(aliceClaims(now.Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	foreignPasta, err := mustPastaSigner(t, testPastaKey2()).Sign(NewPastaToken(aliceUID, now.Add(time.Hour), "vetted"))
	if err != nil {
		t.Fatal(err)
	}
	claimsJSON := func(mod func(m map[string]any)) string {
		b, _ := json.Marshal(aliceClaims(now.Add(-time.Hour)))
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		mod(m)
		out, _ := json.Marshal(m)
		return string(out)
	}
	es256 := func(payload string) string {
		return craft(es256Header, payload, with(t, jwt.SigningMethodES256, testEDIKey()))
	}
	expired := aliceClaims(now.Add(-DefaultEDITTL - time.Hour))
	expNow := aliceClaims(now.Add(-DefaultEDITTL))
	future := aliceClaims(now.Add(time.Minute))
	wrongIss := aliceClaims(now.Add(-time.Hour))
	wrongIss.Issuer = "https://evil.example"
	wrongHD := aliceClaims(now.Add(-time.Hour))
	wrongHD.HostedDomain = "evil.example"
	revokedSub := bobClaims(now.Add(-time.Hour))
	if err := f.e.Revoke(t.Context(), tokencore.Revocation{Kind: tokencore.RevocationOfSubject, Key: bobID, NotBefore: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	internalForm, _ := NewPastaToken(aliceUID, now.Add(time.Hour), "vetted").Internal()
	huge := strings.Repeat("A", MaxTokenLength+1)

	const (
		badJSON = "Bad request: Invalid JSON in request body"
		bad     = "Bad request: "
		ediBad  = "Attempted to refresh invalid edi-token"
		pasBad  = "Attempted to refresh invalid pasta-token"
	)
	for _, tc := range []struct {
		name   string
		body   string
		status int
		msg    string
	}{
		// Body not JSON.
		{"empty body", "", 400, badJSON},
		{"whitespace body", " \n", 400, badJSON},
		{"trailing comma (the document's own example)", `{"pasta-token": "a", "edi-token": "b",}`, 400, badJSON},
		{"comment", `{"pasta-token": "a", /* c */ "edi-token": "b"}`, 400, badJSON},
		{"single quotes", `{'pasta-token': 'a'}`, 400, badJSON},
		{"form encoding", `pasta-token=a&edi-token=b`, 400, badJSON},
		{"two objects", `{"pasta-token":"a","edi-token":"b"}{}`, 400, badJSON},
		{"truncated", `{"pasta-token":"a"`, 400, badJSON},
		{"invalid UTF-8", "{\"pasta-token\":\"\xff\",\"edi-token\":\"b\"}", 400, badJSON},
		// JSON but not an object.
		{"array", `["a","b"]`, 400, bad},
		{"string", `"a"`, 400, bad},
		{"number", `42`, 400, bad},
		{"null", `null`, 400, bad},
		{"true", `true`, 400, bad},
		// Missing fields, pasta-token first.
		{"both missing", `{}`, 400, "Bad request: Missing field in JSON in request body: 'pasta-token'"},
		{"pasta missing", `{"edi-token":"x"}`, 400, "Bad request: Missing field in JSON in request body: 'pasta-token'"},
		{"edi missing", `{"pasta-token":"x"}`, 400, "Bad request: Missing field in JSON in request body: 'edi-token'"},
		{"edi missing, pasta not a string", `{"pasta-token":1}`, 400, "Bad request: Field 'pasta-token'"},
		{"wrong names", `{"pastaToken":"x","ediToken":"y"}`, 400, "Bad request: Missing field in JSON in request body: 'pasta-token'"},
		// Fields that are not strings.
		{"pasta number", `{"pasta-token":1,"edi-token":"x"}`, 400, bad},
		{"pasta null", `{"pasta-token":null,"edi-token":"x"}`, 400, bad},
		{"edi object", `{"pasta-token":"x","edi-token":{}}`, 400, bad},
		{"edi array", `{"pasta-token":"x","edi-token":["a"]}`, 400, bad},
		{"edi bool", `{"pasta-token":"x","edi-token":true}`, 400, bad},
		// EDI token invalid.
		{"edi empty", refreshBody(goodPasta, ""), 401, ediBad},
		{"edi garbage", refreshBody(goodPasta, "not-a-jwt"), 401, ediBad},
		{"edi alg none", refreshBody(goodPasta, craft(`{"alg":"none","typ":"JWT"}`, claimsJSON(func(map[string]any) {}), noSig)), 401, ediBad},
		{"edi alg HS256", refreshBody(goodPasta, craft(`{"alg":"HS256","typ":"JWT"}`, claimsJSON(func(map[string]any) {}), with(t, jwt.SigningMethodHS256, []byte("secret")))), 401, ediBad},
		{"edi DER signature", refreshBody(goodPasta, craft(es256Header, claimsJSON(func(map[string]any) {}), der(t, testEDIKey()))), 401, ediBad},
		{"edi other key", refreshBody(goodPasta, foreignEDI), 401, ediBad},
		{"edi expired", refreshBody(goodPasta, f.signEDI(expired)), 401, ediBad},
		{"edi exp equals now", refreshBody(goodPasta, f.signEDI(expNow)), 401, ediBad},
		{"edi not yet valid", refreshBody(goodPasta, f.signEDI(future)), 401, ediBad},
		{"edi unknown claim", refreshBody(goodPasta, es256(claimsJSON(func(m map[string]any) { m["role"] = "admin" }))), 401, ediBad},
		{"edi legacy identityId", refreshBody(goodPasta, es256(claimsJSON(func(m map[string]any) { m["identityId"] = 1 }))), 401, ediBad},
		{"edi aud", refreshBody(goodPasta, es256(claimsJSON(func(m map[string]any) { m["aud"] = "x" }))), 401, ediBad},
		{"edi missing claim", refreshBody(goodPasta, es256(claimsJSON(func(m map[string]any) { delete(m, "hd") }))), 401, ediBad},
		{"edi wrong iss", refreshBody(goodPasta, f.signEDI(wrongIss)), 401, ediBad},
		{"edi wrong hd", refreshBody(goodPasta, f.signEDI(wrongHD)), 401, ediBad},
		{"edi revoked subject", refreshBody(f.signPasta(bobUID, now.Add(time.Hour), "authenticated"), f.signEDI(revokedSub)), 401, ediBad},
		{"edi over 16 KiB", refreshBody(goodPasta, huge), 401, ediBad},
		// PASTA token invalid.
		{"pasta empty", refreshBody("", goodEDI), 401, pasBad},
		{"pasta unsigned internal form", refreshBody(internalForm, goodEDI), 401, pasBad},
		{"pasta raw plaintext", refreshBody(specPastaPlaintext, goodEDI), 401, pasBad},
		{"pasta three parts", refreshBody(goodPasta+"-QQ==", goodEDI), 401, pasBad},
		{"pasta bad base64", refreshBody(strings.Replace(goodPasta, "-", "-!", 1), goodEDI), 401, pasBad},
		{"pasta other key", refreshBody(foreignPasta, goodEDI), 401, pasBad},
		{"pasta unparseable body", refreshBody(signPlaintext(t, testPastaKey(), "no-fields"), goodEDI), 401, pasBad},
		{"pasta over 16 KiB", refreshBody(huge+"-QQ==", goodEDI), 401, pasBad},
		// Binding.
		{"pair not bound", refreshBody(f.signPasta(bobUID, now.Add(time.Hour), "authenticated"), goodEDI), 401, pasBad},
		// Both invalid: the EDI message.
		{"both invalid", refreshBody("x", "y"), 401, ediBad},
		{"both invalid, pasta unbound", refreshBody(f.signPasta(bobUID, now.Add(time.Hour)), f.signEDI(expired)), 401, ediBad},
		// Successes.
		{"valid pair", refreshBody(goodPasta, goodEDI), 200, "PASTA and EDI tokens refreshed successfully"},
		{"pasta expired, edi valid", refreshBody(f.signPasta(aliceUID, now.Add(-7*time.Hour), "vetted", "authenticated"), goodEDI), 200, "PASTA"},
		{"pasta expired in 2019 (spec key not ours: invalid)", refreshBody(specPastaToken, goodEDI), 401, pasBad},
		{"pasta public", refreshBody(f.signPasta("public", now.Add(time.Hour)), goodEDI), 200, "PASTA"},
		{"pasta of a linked identity", refreshBody(f.signPasta(aliceLink, now.Add(time.Hour), "authenticated"), goodEDI), 200, "PASTA"},
		{"BOM, unknown fields, duplicates (last wins)", "\ufeff" + `{"x":1,"edi-token":"junk","pasta-token":"` + goodPasta + `","edi-token":"` + goodEDI + `"}`, 200, "PASTA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.s.Refresh([]byte(tc.body))
			checkResponse(t, r, tc.status, MethodRefresh, tc.msg)
		})
	}
}

// TestRefreshResult: a refresh keeps every claim and PASTA field except
// the times, gives both tokens a fresh lifetime from one clock reading, and
// chains (the output refreshes again, exp moving forward).
func TestRefreshResult(t *testing.T) {
	f := newFixture(t)
	issued := testNow.Add(-7 * time.Hour)
	c := aliceClaims(issued)
	ediTok := f.signEDI(c)
	pastaTok := f.signPasta(aliceUID, issued.Add(-time.Minute), "vetted", "authenticated") // expired
	var lastExp time.Time
	for i := range 3 {
		now := testNow.Add(time.Duration(i) * 90 * time.Minute).Add(123 * time.Millisecond)
		f.setNow(now)
		r := f.s.RefreshPair(pastaTok, ediTok)
		checkResponse(t, r, 200, MethodRefresh, msgRefreshed)
		gotC, err := f.s.ediVerifier.Verify(r.EDIToken)
		if err != nil {
			t.Fatal(err)
		}
		want := c.Refreshed(now, DefaultEDITTL)
		if !reflect.DeepEqual(gotC, want) {
			t.Fatalf("refresh %d: claims\n got %+v\nwant %+v", i, gotC, want)
		}
		if !gotC.IssuedAt.Equal(time.Unix(now.Unix(), 0)) || !gotC.ExpiresAt.Equal(gotC.IssuedAt.Add(8*time.Hour)) {
			t.Fatalf("refresh %d: iat %s exp %s", i, gotC.IssuedAt, gotC.ExpiresAt)
		}
		if !gotC.ExpiresAt.After(lastExp) {
			t.Fatalf("refresh %d: exp %s did not move forward from %s", i, gotC.ExpiresAt, lastExp)
		}
		lastExp = gotC.ExpiresAt
		p, err := f.s.pastaVerifier.Verify(r.PastaToken)
		if err != nil {
			t.Fatal(err)
		}
		if p.UID != aliceUID || p.AuthSystem != PastaAuthSystem || !reflect.DeepEqual(p.Groups, []string{"vetted", "authenticated"}) {
			t.Fatalf("refresh %d: PASTA fields changed: %+v", i, p)
		}
		if p.Expiry.UnixMilli() != now.Add(DefaultPastaTTL).UnixMilli() {
			t.Fatalf("refresh %d: PASTA expiry %d, want %d (one clock reading)", i, p.Expiry.UnixMilli(), now.Add(DefaultPastaTTL).UnixMilli())
		}
		body, _ := r.MarshalJSON()
		if !regexpKeys(string(body), "msg", "pasta-token", "edi-token", "method") {
			t.Fatalf("key order of %s", body)
		}
		pastaTok, ediTok, c = r.PastaToken, r.EDIToken, gotC
	}
}

// regexpKeys reports whether the JSON object's keys appear in this order.
func regexpKeys(body string, keys ...string) bool {
	pos := 0
	for _, k := range keys {
		i := strings.Index(body[pos:], `"`+k+`":`)
		if i < 0 {
			return false
		}
		pos += i + len(k)
	}
	return true
}

// TestRefreshKeepsLegacyAuthSystem: only the expiry of a PASTA token
// changes, even an old LDAP authSystem alias.
func TestRefreshKeepsLegacyAuthSystem(t *testing.T) {
	f := newFixture(t)
	old, err := f.pasta.Sign(PastaToken{UID: aliceUID, AuthSystem: "ldap://ldap.ecoinformatics.org:389", Expiry: testNow, Groups: []string{"authenticated", "vetted"}})
	if err != nil {
		t.Fatal(err)
	}
	r := f.s.RefreshPair(old, f.signEDI(aliceClaims(testNow.Add(-time.Hour))))
	checkResponse(t, r, 200, MethodRefresh, msgRefreshed)
	p, err := f.s.pastaVerifier.Verify(r.PastaToken)
	if err != nil || p.AuthSystem != "ldap://ldap.ecoinformatics.org:389" || !reflect.DeepEqual(p.Groups, []string{"authenticated", "vetted"}) {
		t.Fatalf("refreshed %+v, %v", p, err)
	}
}

// TestPairBinding is spec §5.3.
func TestPairBinding(t *testing.T) {
	for _, tc := range []struct {
		binding  PairBinding
		pastaUID string
		want     int
	}{
		{BindingStrict, aliceUID, 200},
		{BindingStrict, "public", 200},
		{BindingStrict, aliceLink, 200},
		{BindingStrict, bobUID, 401},
		{BindingStrict, "uid=alice,o=EDI,dc=edirepository,dc=org ", 401}, // byte for byte
		{BindingStrict, "UID=alice,o=EDI,dc=edirepository,dc=org", 401},
		{BindingOff, bobUID, 200},
		{BindingOff, aliceUID, 200},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.binding, tc.pastaUID), func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.Binding = tc.binding })
			r := f.s.RefreshPair(f.signPasta(tc.pastaUID, testNow.Add(time.Hour), "vetted"), f.signEDI(aliceClaims(testNow.Add(-time.Hour))))
			if r.Status != tc.want {
				t.Fatalf("status %d, want %d (%s)", r.Status, tc.want, r.Msg)
			}
			if tc.want == 401 && !errors.Is(r.Err, ErrUnbound) {
				t.Fatalf("cause %v, want ErrUnbound", r.Err)
			}
		})
	}
	// A group-key EDI token (idpUid null, no links) binds only public.
	f := newFixture(t)
	g := Claims{Subject: groupID, CommonName: ptr("demo-group"), Principals: []string{}, Links: []Link{},
		Issuer: DefaultIssuer, HostedDomain: DefaultHostedDomain, IssuedAt: testNow, NotBefore: testNow, ExpiresAt: testNow.Add(time.Hour)}
	if r := f.s.RefreshPair(f.signPasta("public", testNow), f.signEDI(g)); r.Status != 200 {
		t.Fatalf("group pair: %d %s", r.Status, r.Msg)
	}
	if r := f.s.RefreshPair(f.signPasta(aliceUID, testNow), f.signEDI(g)); r.Status != 401 {
		t.Fatalf("group EDI token with alice's PASTA token: %d", r.Status)
	}
}

func TestPastaMaxExpiredAge(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.PastaMaxExpiredAge = time.Hour })
	edi := f.signEDI(aliceClaims(testNow.Add(-time.Hour)))
	if r := f.s.RefreshPair(f.signPasta(aliceUID, testNow.Add(-59*time.Minute)), edi); r.Status != 200 {
		t.Fatalf("expired 59m ago: %d %s", r.Status, r.Msg)
	}
	r := f.s.RefreshPair(f.signPasta(aliceUID, testNow.Add(-61*time.Minute)), edi)
	checkResponse(t, r, 401, MethodRefresh, msgInvalidPasta)
	// Disabled by default: a PASTA token expired for years still refreshes.
	f = newFixture(t)
	if r := f.s.RefreshPair(f.signPasta(aliceUID, testNow.AddDate(-5, 0, 0)), f.signEDI(aliceClaims(testNow.Add(-time.Hour)))); r.Status != 200 {
		t.Fatalf("default: %d %s", r.Status, r.Msg)
	}
}

// TestRefreshRevocation: a subject revocation refuses tokens issued up to
// its second, before anything is minted; tokens issued later pass.
func TestRefreshRevocation(t *testing.T) {
	f := newFixture(t)
	pasta := f.signPasta(aliceUID, testNow.Add(time.Hour))
	before := f.signEDI(aliceClaims(testNow.Add(-time.Hour)))
	if _, err := f.m.RevokeSubject(t.Context(), aliceID); err != nil {
		t.Fatal(err)
	}
	r := f.s.RefreshPair(pasta, before)
	checkResponse(t, r, 401, MethodRefresh, msgInvalidEDI)
	if !errors.Is(r.Err, ErrRevoked) {
		t.Fatalf("cause %v", r.Err)
	}
	sameSecond := f.signEDI(aliceClaims(testNow))
	checkResponse(t, f.s.RefreshPair(pasta, sameSecond), 401, MethodRefresh, msgInvalidEDI)
	f.setNow(testNow.Add(2 * time.Second))
	after := f.signEDI(aliceClaims(testNow.Add(time.Second)))
	checkResponse(t, f.s.RefreshPair(pasta, after), 200, MethodRefresh, msgRefreshed)
	// Other subjects are unaffected.
	checkResponse(t, f.s.RefreshPair(f.signPasta(bobUID, testNow), f.signEDI(bobClaims(testNow.Add(-time.Hour)))), 200, MethodRefresh, msgRefreshed)
}

// TestRefreshReadsNoStore: refresh works on a closed store, so it cannot
// have read it (spec §5.1: no database).
func TestRefreshReadsNoStore(t *testing.T) {
	f := newFixture(t)
	if err := f.e.Store.Close(); err != nil {
		t.Fatal(err)
	}
	r := f.s.RefreshPair(f.signPasta(aliceUID, testNow), f.signEDI(aliceClaims(testNow.Add(-time.Hour))))
	checkResponse(t, r, 200, MethodRefresh, msgRefreshed)
}

func TestVerifyOnlyService(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.EDIVerifyKeys = []*ecdsa.PublicKey{&c.EDISigningKey.PublicKey}
		c.PastaVerifyKeys = []*rsa.PublicKey{&c.PastaSigningKey.PublicKey}
		c.EDISigningKey, c.PastaSigningKey = nil, nil
	})
	if f.s.CanMint() {
		t.Fatal("CanMint without signing keys")
	}
	r := f.s.RefreshPair(f.signPasta(aliceUID, testNow), f.signEDI(aliceClaims(testNow.Add(-time.Hour))))
	checkResponse(t, r, 500, MethodRefresh, msgInternal)
	// Verification still works.
	if _, err := f.s.VerifyProxied(RequestTokens{EDIToken: f.signEDI(aliceClaims(testNow.Add(-time.Hour)))}); err != nil {
		t.Fatal(err)
	}
}

func TestConfigDefaultsAndRejects(t *testing.T) {
	c, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != DefaultIssuer || c.HostedDomain != DefaultHostedDomain || c.EDITTL != 8*time.Hour || c.PastaTTL != 8*time.Hour ||
		c.Binding != BindingStrict || c.PublicUID != "public" || c.AuthSystem != PastaAuthSystem || c.Leeway != 0 ||
		c.PastaMaxExpiredAge != 0 || c.System.PublicAccess != DefaultPublicAccessID || c.Location != time.UTC {
		t.Fatalf("defaults: %+v", c)
	}
	for name, cfg := range map[string]Config{
		"negative leeway":    {Leeway: -time.Second},
		"leeway over 60s":    {Leeway: 61 * time.Second},
		"binding":            {Binding: "loose"},
		"short ttl":          {EDITTL: time.Millisecond},
		"long ttl":           {PastaTTL: 400 * 24 * time.Hour},
		"public uid with *":  {PublicUID: "pub*lic"},
		"auth system":        {AuthSystem: "https://evil.example"},
		"system id":          {System: SystemIDs{Vetted: "EDI-XYZ"}},
		"negative max age":   {PastaMaxExpiredAge: -time.Hour},
		"uppercase EDI-ID":   {System: SystemIDs{PublicAccess: "EDI-078E6E3CEE4F7F2812F150701DA9351ACB51E089"}},
		"pasta ttl negative": {PastaTTL: -time.Hour},
	} {
		if _, err := cfg.withDefaults(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewService(&tokencore.Engine{}, Config{EDISigningKey: testEDIKey(), PastaSigningKey: testPastaKey()}); err == nil {
		t.Error("NewService without a store")
	}
	e := &tokencore.Engine{Store: memory.New(), View: tokencore.NewRevocationView()}
	if _, err := NewService(e, Config{PastaSigningKey: testPastaKey()}); err == nil {
		t.Error("NewService without any EDI key")
	}
	if _, err := NewService(e, Config{EDISigningKey: testEDIKey()}); err == nil {
		t.Error("NewService without any PASTA key")
	}
}

func TestWantsXML(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                                   false,
		"*/*":                                false,
		"application/json":                   false,
		"application/xml":                    true,
		"text/xml":                           true,
		"TEXT/XML; charset=utf-8":            true,
		"application/json, application/xml":  true,
		"application/xml;q=0":                false,
		"application/xml;q=0.5, */*;q=0.1":   true,
		"application/xhtml+xml":              false,
		"text/html,application/xml;q=0.9":    true,
		"garbage;;;":                         false,
		"application/xml;q=abc":              false,
		"application/json;q=1, text/xml;q=1": true,
	} {
		if got := WantsXML(accept); got != want {
			t.Errorf("WantsXML(%q) = %v, want %v", accept, got, want)
		}
	}
}

func TestResponseEncoding(t *testing.T) {
	ok := &Response{Status: 200, Msg: msgRefreshed, PastaToken: "p<&>", EDIToken: "e.x.y", Method: MethodRefresh}
	ct, body := ok.Encode("")
	if ct != "application/json" || string(body) != `{"msg":"PASTA and EDI tokens refreshed successfully","pasta-token":"p\u003c\u0026\u003e","edi-token":"e.x.y","method":"refreshToken"}` {
		t.Fatalf("JSON: %s %s", ct, body)
	}
	ct, body = ok.Encode("application/xml")
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<result><msg>PASTA and EDI tokens refreshed successfully</msg><pasta-token>p&lt;&amp;&gt;</pasta-token><edi-token>e.x.y</edi-token><method>refreshToken</method></result>` + "\n"
	if ct != "application/xml; charset=utf-8" || string(body) != want {
		t.Fatalf("XML: %s\n%s\nwant\n%s", ct, body, want)
	}
	fail := &Response{Status: 401, Msg: msgInvalidKey, Method: MethodKey, PastaToken: "leak"}
	if _, body := fail.Encode("*/*"); string(body) != `{"msg":"Invalid API key","method":"getTokenByKey"}` {
		t.Fatalf("error JSON: %s", body)
	}
	if _, body := fail.Encode("text/xml"); !strings.Contains(string(body), "<result><msg>Invalid API key</msg><method>getTokenByKey</method></result>") {
		t.Fatalf("error XML: %s", body)
	}
	if r := TooLarge(MethodKey, 65536); r.Status != 413 || r.Method != MethodKey {
		t.Fatalf("TooLarge: %+v", r)
	}
	if r := MethodNotAllowed(MethodRefresh); r.Status != 405 || r.Method != MethodRefresh {
		t.Fatalf("MethodNotAllowed: %+v", r)
	}
}

// TestRefreshSpecVector refreshes EDI's own expired PASTA token (spec §3.6)
// with a valid EDI token of its subject, the PASTA key being EDI's public
// key: the PASTA token is refreshed although it expired in 2019, and only
// its expiry changes.
func TestRefreshSpecVector(t *testing.T) {
	specPub, err := ParsePastaPublicKeyPEM([]byte(specPastaPublicKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *Config) { c.PastaVerifyKeys = []*rsa.PublicKey{specPub} })
	uid := "uid=EDI,o=EDI,dc=edirepository,dc=org"
	c := aliceClaims(testNow.Add(-time.Hour))
	c.Subject, c.IdPUID = EDIID(uid), &uid
	r := f.s.RefreshPair(specPastaToken, f.signEDI(c))
	checkResponse(t, r, 200, MethodRefresh, msgRefreshed)
	p, err := f.s.pastaVerifier.Verify(r.PastaToken)
	if err != nil {
		t.Fatal(err)
	}
	want := NewPastaToken(uid, testNow.Add(DefaultPastaTTL), "authenticated")
	if !samePasta(p, want) {
		t.Fatalf("refreshed %+v, want %+v", p, want)
	}
	// Under strict binding, another subject's EDI token cannot refresh it.
	checkResponse(t, f.s.RefreshPair(specPastaToken, f.signEDI(aliceClaims(testNow.Add(-time.Hour)))), 401, MethodRefresh, msgInvalidPasta)
}
