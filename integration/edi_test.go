package integration

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokengate/tokengate/tokencore/edi"
)

// The demo identities of the issue, seeded by ediCaddyfile.
const (
	ediAliceUID    = "uid=alice,o=EDI,dc=edirepository,dc=org"
	ediAliceID     = "EDI-581f8a60cb1482332e92fb44c67078293df21d6c"
	ediBobUID      = "https://github.com/bob"
	ediBobID       = "EDI-16b1e796d8a45e2c630ca07b892552bc38628a8c"
	ediGroupID     = "EDI-b1f91fd08c6362b1cb6cc582b8bf85c0a5c7b251"
	ediAliceSecret = "R9arQwYMFqdgVVYt7jqcsxfyPyU"
	ediBobSecret   = "VCR0K0lppvds2QaXdpiJxjKuVxc"
	ediGroupSecret = "_2AimSpCMGxV0ah_hW6SYBA3X7c"
	ediOperatorKey = "it-operator-key"

	ediExpiredSecret = "expired-key-secret-00000000"
	ediFutureSecret  = "future-key-secret-000000000"
)

// ediTestKeys are the fixed test keys of tokencore/edi/testdata, so tests
// can mint tokens the gateway accepts (and tokens it must refuse).
var ediTestKeys = sync.OnceValues(func() (*ecdsa.PrivateKey, *rsa.PrivateKey) {
	dir := ediKeyDir()
	e, err := os.ReadFile(filepath.Join(dir, "edi_test_key1.pem"))
	if err != nil {
		panic(err)
	}
	p, err := os.ReadFile(filepath.Join(dir, "pasta_test_key1.pem"))
	if err != nil {
		panic(err)
	}
	ek, err := edi.ParseEDIPrivateKeyPEM(e)
	if err != nil {
		panic(err)
	}
	pk, err := edi.ParsePastaPrivateKeyPEM(p)
	if err != nil {
		panic(err)
	}
	return ek, pk
})

func ediKeyDir() string {
	dir, err := filepath.Abs("../tokencore/edi/testdata")
	if err != nil {
		panic(err)
	}
	return dir
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// ediCaddyfile is a gateway with the EDI endpoints, the operator API under
// /api/demo and EDI protection on /package/*, with file keys (the test
// keys), the demo records, and keys that expired or are not valid yet.
// extra goes into the edi block.
func ediCaddyfile(extra string) string {
	return strings.NewReplacer("KEYDIR", ediKeyDir(), "OPHASH", sha256Hex(ediOperatorKey), "EXTRA", extra,
		"ALICEHASH", sha256Hex(ediAliceSecret), "BOBHASH", sha256Hex(ediBobSecret), "GROUPHASH", sha256Hex(ediGroupSecret),
		"EXPIREDHASH", sha256Hex(ediExpiredSecret), "FUTUREHASH", sha256Hex(ediFutureSecret)).Replace(`{
	admin 127.0.0.1:{{.Admin}}
	tokengate {
		store bolt {{.Dir}}/state/tokengate.db
		operator_key_hash sha256:OPHASH
		edi {
			edi_key file KEYDIR/edi_test_key1.pem
			pasta_key file KEYDIR/pasta_test_key1.pem
			subject ` + ediAliceID + ` {
				profile
				cn "Alice Demo"
				idp_name ldap
				idp_uid ` + ediAliceUID + `
			}
			subject ` + ediBobID + ` {
				profile
				idp_name github
				idp_uid ` + ediBobUID + `
			}
			subject ` + ediGroupID + ` {
				group
				cn demo-group
				owner ` + ediAliceID + `
			}
			api_key alice-key {
				owner ` + ediAliceID + `
				secret_sha256 ALICEHASH
				preview R9arQ
			}
			api_key bob-key {
				owner ` + ediBobID + `
				secret_sha256 sha256:BOBHASH
			}
			api_key group-key {
				owner ` + ediAliceID + `
				group ` + ediGroupID + `
				secret_sha256 GROUPHASH
			}
			api_key expired-key {
				owner ` + ediBobID + `
				secret_sha256 EXPIREDHASH
				valid_from 2020-01-01
				valid_to 2020-12-31
			}
			api_key future-key {
				owner ` + ediBobID + `
				secret_sha256 FUTUREHASH
				valid_from 2099-01-01
				valid_to 2099-12-31
			}
			EXTRA
		}
	}
}
http://127.0.0.1:{{.GW}} {
	bind 127.0.0.1
	tokengate_edi
	tokengate_edi_admin {
		prefix /api/demo
	}
	@pasta path /package/*
	tokengate_edi_protect @pasta
	reverse_proxy 127.0.0.1:{{.Up}}
}
http://127.0.0.1:{{.Up}} {
	bind 127.0.0.1
	tokengate_echo
}
`)
}

func startEDIGateway(t *testing.T, extra string) *gateway {
	t.Helper()
	return startGateway(t, ediCaddyfile(extra), "/healthz")
}

// ediPair is the answer of /auth/v1/key and /auth/v1/token/refresh.
type ediPair struct {
	Msg    string `json:"msg"`
	Pasta  string `json:"pasta-token"`
	EDI    string `json:"edi-token"`
	Method string `json:"method"`
}

func ediBody(t *testing.T, r *response) ediPair {
	t.Helper()
	var p ediPair
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("body is not JSON: %v: %q", err, r.Body)
	}
	return p
}

// exchangeKey exchanges an API key and returns the pair.
func exchangeKey(t *testing.T, g *gateway, secret string) ediPair {
	t.Helper()
	r := g.do("POST", "/auth/v1/key", map[string]string{"key": secret})
	expectStatus(t, r, http.StatusOK)
	p := ediBody(t, r)
	if p.Msg != "Token created successfully" || p.Method != "getTokenByKey" || p.Pasta == "" || p.EDI == "" {
		t.Fatalf("key exchange answer %s", r.Body)
	}
	return p
}

func refreshEDI(g *gateway, pasta, ediToken string) *response {
	return g.do("POST", "/auth/v1/token/refresh", map[string]string{"pasta-token": pasta, "edi-token": ediToken})
}

// expectEDIAnswer checks the shape every answer of the two endpoints has.
func expectEDIAnswer(t *testing.T, r *response, status int, method, msgPrefix string) ediPair {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	p := ediBody(t, r)
	if p.Method != method || !strings.HasPrefix(p.Msg, msgPrefix) {
		t.Fatalf("answer %s, want method %s and msg %q…", r.Body, method, msgPrefix)
	}
	if status != http.StatusOK && (p.Pasta != "" || p.EDI != "") {
		t.Fatalf("failure carries tokens: %s", r.Body)
	}
	// EDI's key order: msg, the tokens, method.
	if i, j := bytes.Index(r.Body, []byte(`"msg"`)), bytes.Index(r.Body, []byte(`"method"`)); i != 1 || j < i {
		t.Fatalf("key order of %s", r.Body)
	}
	return p
}

// ediClaims is a token of alice as the gateway would mint it at iat.
func ediClaims(iat time.Time) edi.Claims {
	uid, cn, idp := ediAliceUID, "Alice Demo", "ldap"
	return edi.Claims{
		Subject: ediAliceID, CommonName: &cn, IdPName: &idp, IdPUID: &uid,
		Principals: []string{edi.DefaultPublicAccessID, edi.DefaultAuthenticatedAccessID, edi.DefaultVettedID},
		Issuer:     edi.DefaultIssuer, HostedDomain: edi.DefaultHostedDomain,
		IssuedAt: iat, NotBefore: iat, ExpiresAt: iat.Add(8 * time.Hour),
	}
}

func mintEDI(t *testing.T, c edi.Claims) string {
	t.Helper()
	k, _ := ediTestKeys()
	s, err := edi.NewSigner(k, "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mintPasta(t *testing.T, uid string, exp time.Time, groups ...string) string {
	t.Helper()
	_, k := ediTestKeys()
	s, err := edi.NewPastaSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign(edi.NewPastaToken(uid, exp, groups...))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// pastaFields decodes the plaintext of an external PASTA token (the
// gateway verified it; tests only read it).
func pastaFields(t *testing.T, external string) []string {
	t.Helper()
	b, _, ok := strings.Cut(external, "-")
	if !ok {
		t.Fatalf("not an external PASTA token: %q", external)
	}
	plain, err := base64.StdEncoding.DecodeString(b)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(plain), "*")
}

// signRawPasta signs any B with the gateway's PASTA key (MD5withRSA over
// the base64 text), to reach the checks behind a valid signature.
func signRawPasta(t *testing.T, b string) string {
	t.Helper()
	_, k := ediTestKeys()
	digest := md5.Sum([]byte(b))
	sig, err := rsa.SignPKCS1v15(nil, k, crypto.MD5, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return b + "-" + base64.StdEncoding.EncodeToString(sig)
}

// craftJWT builds a JWS with a literal header and payload.
func craftJWT(t *testing.T, header, payload string, m jwt.SigningMethod, key any) string {
	t.Helper()
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	var sig []byte
	if m != nil {
		var err error
		if sig, err = m.Sign(in, key); err != nil {
			t.Fatal(err)
		}
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestEDIRefreshErrorTable drives every row of spec §5.4 through Caddy.
func TestEDIRefreshErrorTable(t *testing.T) {
	g := startEDIGateway(t, "")
	now := time.Now()
	pair := exchangeKey(t, g, ediAliceSecret)
	ediKey, _ := ediTestKeys()

	payload := func(mod func(m map[string]any)) string {
		b, _ := json.Marshal(ediClaims(now.Add(-time.Minute)))
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		mod(m)
		out, _ := json.Marshal(m)
		return string(out)
	}
	otherEC, _ := edi.GenerateEDIKey()
	otherSigner, _ := edi.NewSigner(otherEC, "")
	foreign, _ := otherSigner.Sign(ediClaims(now.Add(-time.Minute)))
	otherRSA, _ := edi.GeneratePastaKey()
	otherPasta, _ := edi.NewPastaSigner(otherRSA)
	foreignPasta, _ := otherPasta.Sign(edi.NewPastaToken(ediAliceUID, now.Add(time.Hour), "vetted"))
	expired := ediClaims(now.Add(-9 * time.Hour))
	future := ediClaims(now.Add(time.Hour))
	wrongIss := ediClaims(now.Add(-time.Minute))
	wrongIss.Issuer = "https://auth.example.org"
	wrongHD := ediClaims(now.Add(-time.Minute))
	wrongHD.HostedDomain = "example.org"
	internal, _ := edi.NewPastaToken(ediAliceUID, now.Add(time.Hour), "vetted", "authenticated").Internal()
	// A validly signed B whose plaintext has two fields only.
	unparseable := signRawPasta(t, base64.StdEncoding.EncodeToString([]byte("only*"+edi.PastaAuthSystem)))
	huge := strings.Repeat("A", 16<<10+1)

	const (
		badJSON = "Bad request: Invalid JSON in request body"
		bad     = "Bad request: "
		ediBad  = "Attempted to refresh invalid edi-token"
		pasBad  = "Attempted to refresh invalid pasta-token"
	)
	body := func(p, e string) string {
		b, _ := json.Marshal(map[string]string{"pasta-token": p, "edi-token": e})
		return string(b)
	}
	for _, tc := range []struct {
		name   string
		body   string
		status int
		msg    string
	}{
		{"empty body", "", 400, badJSON},
		{"trailing comma", `{"pasta-token": "a", "edi-token": "b",}`, 400, badJSON},
		{"not UTF-8", "{\"pasta-token\":\"\xff\",\"edi-token\":\"b\"}", 400, badJSON},
		{"array", `["a"]`, 400, bad},
		{"null", `null`, 400, bad},
		{"pasta-token missing (checked first)", `{}`, 400, "Bad request: Missing field in JSON in request body: 'pasta-token'"},
		{"edi-token missing", `{"pasta-token":"a"}`, 400, "Bad request: Missing field in JSON in request body: 'edi-token'"},
		{"field not a string", `{"pasta-token":["a"],"edi-token":"b"}`, 400, bad},
		{"edi malformed", body(pair.Pasta, "abc"), 401, ediBad},
		{"edi alg none", body(pair.Pasta, craftJWT(t, `{"alg":"none","typ":"JWT"}`, payload(func(map[string]any) {}), nil, nil)), 401, ediBad},
		{"edi alg HS256 with the public key", body(pair.Pasta, craftJWT(t, `{"alg":"HS256","typ":"JWT"}`, payload(func(map[string]any) {}), jwt.SigningMethodHS256, []byte("k"))), 401, ediBad},
		{"edi ES384", body(pair.Pasta, craftJWT(t, `{"alg":"ES384","typ":"JWT"}`, payload(func(map[string]any) {}), jwt.SigningMethodES256, ediKey)), 401, ediBad},
		{"edi other key", body(pair.Pasta, foreign), 401, ediBad},
		{"edi tampered", body(pair.Pasta, pair.EDI[:len(pair.EDI)-3]+"AAA"), 401, ediBad},
		{"edi expired", body(pair.Pasta, mintEDI(t, expired)), 401, ediBad},
		{"edi not yet valid", body(pair.Pasta, mintEDI(t, future)), 401, ediBad},
		{"edi unexpected claim", body(pair.Pasta, craftJWT(t, `{"alg":"ES256","typ":"JWT"}`, payload(func(m map[string]any) { m["admin"] = true }), jwt.SigningMethodES256, ediKey)), 401, ediBad},
		{"edi legacy claims", body(pair.Pasta, craftJWT(t, `{"alg":"ES256","typ":"JWT"}`, payload(func(m map[string]any) { m["identityId"] = 7; m["idpCname"] = "x" }), jwt.SigningMethodES256, ediKey)), 401, ediBad},
		{"edi wrong iss", body(pair.Pasta, mintEDI(t, wrongIss)), 401, ediBad},
		{"edi wrong hd", body(pair.Pasta, mintEDI(t, wrongHD)), 401, ediBad},
		{"edi over 16 KiB", body(pair.Pasta, huge), 401, ediBad},
		{"pasta three parts", body(pair.Pasta+"-QQ==", pair.EDI), 401, pasBad},
		{"pasta one part (unsigned internal form)", body(internal, pair.EDI), 401, pasBad},
		{"pasta bad base64", body(strings.Replace(pair.Pasta, "-", "-*", 1), pair.EDI), 401, pasBad},
		{"pasta bad signature", body(foreignPasta, pair.EDI), 401, pasBad},
		{"pasta unparseable", body(unparseable, pair.EDI), 401, pasBad},
		{"pasta over 16 KiB", body(huge+"-QQ==", pair.EDI), 401, pasBad},
		{"pair not bound", body(mintPasta(t, ediBobUID, now.Add(time.Hour), "authenticated"), pair.EDI), 401, pasBad},
		{"pasta expired, edi valid", body(mintPasta(t, ediAliceUID, now.Add(-7*time.Hour), "vetted", "authenticated"), pair.EDI), 200, "PASTA and EDI tokens refreshed successfully"},
		{"both invalid: the edi message", body("x", "y"), 401, ediBad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := g.do("POST", "/auth/v1/token/refresh", tc.body)
			expectEDIAnswer(t, r, tc.status, "refreshToken", tc.msg)
		})
	}

	// Body over the limit: 413 with the JSON error body (a 2 MiB body).
	r := g.do("POST", "/auth/v1/token/refresh", bytes.Repeat([]byte("x"), 2<<20))
	expectEDIAnswer(t, r, http.StatusRequestEntityTooLarge, "refreshToken", "")
	// A valid body padded past 64 KiB with an unknown field is too large too.
	padded := fmt.Sprintf(`{"pad":%q,"pasta-token":%q,"edi-token":%q}`, strings.Repeat("p", 64<<10), pair.Pasta, pair.EDI)
	expectEDIAnswer(t, g.do("POST", "/auth/v1/token/refresh", padded), http.StatusRequestEntityTooLarge, "refreshToken", "")
	// Methods other than POST: 405, Allow: POST.
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		r := g.do(m, "/auth/v1/token/refresh", nil)
		expectEDIAnswer(t, r, http.StatusMethodNotAllowed, "refreshToken", "")
		if r.Header.Get("Allow") != "POST" {
			t.Errorf("%s: Allow %q", m, r.Header.Get("Allow"))
		}
	}
}

// TestEDIRefreshContentTypes: the body is JSON whatever the Content-Type,
// the query string is ignored, and Accept selects XML.
func TestEDIRefreshContentTypes(t *testing.T) {
	g := startEDIGateway(t, "")
	pair := exchangeKey(t, g, ediBobSecret)
	body := fmt.Sprintf(`{"pasta-token":%q,"edi-token":%q}`, pair.Pasta, pair.EDI)
	for _, ct := range []string{"", "application/json", "application/x-www-form-urlencoded", "text/plain", "application/xml"} {
		headers := []string{}
		if ct != "" {
			headers = append(headers, "Content-Type", ct)
		}
		r := g.do("POST", "/auth/v1/token/refresh?pasta-token=x&edi-token=y", body, headers...)
		expectEDIAnswer(t, r, http.StatusOK, "refreshToken", "PASTA and EDI tokens refreshed successfully")
	}
	r := g.do("POST", "/auth/v1/token/refresh", body, "Accept", "application/xml")
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/xml") || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("XML answer %d %v", r.Status, r.Header)
	}
	for _, want := range []string{`<?xml version="1.0" encoding="UTF-8"?>`, "<result><msg>PASTA and EDI tokens refreshed successfully</msg><pasta-token>", "</edi-token><method>refreshToken</method></result>"} {
		if !strings.Contains(string(r.Body), want) {
			t.Fatalf("XML body lacks %q:\n%s", want, r.Body)
		}
	}
	r = g.do("POST", "/auth/v1/key", `{"key":"nope"}`, "Accept", "text/xml")
	if r.Status != 401 || !strings.Contains(string(r.Body), "<result><msg>Invalid API key</msg><method>getTokenByKey</method></result>") {
		t.Fatalf("XML error %d %s", r.Status, r.Body)
	}
}

// TestEDIRefreshChain: refreshes keep every claim and PASTA field, give a
// fresh 8 h lifetime from one clock reading, and chain with exp moving
// forward; no store is involved.
func TestEDIRefreshChain(t *testing.T) {
	g := startEDIGateway(t, "")
	pair := exchangeKey(t, g, ediAliceSecret)
	first := jwtPayload(t, pair.EDI)
	firstPasta := pastaFields(t, pair.Pasta)
	if !strings.Contains(string(mustJSON(t, first)), `"principals":["EDI-078e6e3cee4f7f2812f150701da9351acb51e089","EDI-7be3510d08def0dfc667824ebd4f4f1bbd770234","EDI-bdae74972ed710c56b1e0df18ccb6e23c31f60f6"]`) {
		t.Fatalf("alice's principals: %v", first["principals"])
	}
	if len(first) != 15 {
		t.Fatalf("EDI token has %d claims, want 15: %v", len(first), first)
	}
	lastExp := first["exp"].(float64)
	for i := range 2 {
		time.Sleep(1100 * time.Millisecond)
		r := refreshEDI(g, pair.Pasta, pair.EDI)
		next := ediBody(t, expectEDIAnswerOK(t, r))
		c := jwtPayload(t, next.EDI)
		for k, v := range first {
			if k == "iat" || k == "nbf" || k == "exp" {
				continue
			}
			if fmt.Sprint(c[k]) != fmt.Sprint(v) {
				t.Errorf("refresh %d changed claim %s: %v -> %v", i, k, v, c[k])
			}
		}
		if c["exp"].(float64) <= lastExp || c["exp"].(float64)-c["iat"].(float64) != 8*3600 || c["nbf"] != c["iat"] {
			t.Fatalf("refresh %d: iat %v nbf %v exp %v (previous exp %v)", i, c["iat"], c["nbf"], c["exp"], lastExp)
		}
		lastExp = c["exp"].(float64)
		p := pastaFields(t, next.Pasta)
		if len(p) != len(firstPasta) || p[0] != firstPasta[0] || p[1] != firstPasta[1] || strings.Join(p[3:], "*") != strings.Join(firstPasta[3:], "*") {
			t.Fatalf("refresh %d changed PASTA fields: %v -> %v", i, firstPasta, p)
		}
		var ms int64
		fmt.Sscan(p[2], &ms)
		if d := ms - int64(c["iat"].(float64))*1000; d < 8*3600*1000 || d >= 8*3600*1000+1000 {
			t.Fatalf("refresh %d: PASTA expiry %d is not iat + 8 h (one clock reading): %d ms off", i, ms, d-8*3600*1000)
		}
		pair = next
	}
}

func expectEDIAnswerOK(t *testing.T, r *response) *response {
	t.Helper()
	expectEDIAnswer(t, r, http.StatusOK, "refreshToken", "PASTA and EDI tokens refreshed successfully")
	return r
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEDIPairBinding: swapped subjects are refused under strict binding,
// a public PASTA token binds to anyone, and `pair_binding off` (after a
// config reload) reproduces EDI.
func TestEDIPairBinding(t *testing.T) {
	g := startEDIGateway(t, "")
	alice := exchangeKey(t, g, ediAliceSecret)
	bob := exchangeKey(t, g, ediBobSecret)
	group := exchangeKey(t, g, ediGroupSecret)
	if f := pastaFields(t, group.Pasta); f[0] != "public" || len(f) != 3 {
		t.Fatalf("group PASTA token %v, want public without groups", f)
	}
	gc := jwtPayload(t, group.EDI)
	if gc["sub"] != ediGroupID || gc["cn"] != "demo-group" || gc["idpUid"] != nil || len(gc["principals"].([]any)) != 0 {
		t.Fatalf("group EDI token %v", gc)
	}
	expectEDIAnswer(t, refreshEDI(g, bob.Pasta, alice.EDI), 401, "refreshToken", "Attempted to refresh invalid pasta-token")
	expectEDIAnswer(t, refreshEDI(g, alice.Pasta, bob.EDI), 401, "refreshToken", "Attempted to refresh invalid pasta-token")
	expectEDIAnswer(t, refreshEDI(g, alice.Pasta, group.EDI), 401, "refreshToken", "Attempted to refresh invalid pasta-token")
	// public is exempt.
	expectEDIAnswerOK(t, refreshEDI(g, group.Pasta, alice.EDI))
	expectEDIAnswerOK(t, refreshEDI(g, group.Pasta, group.EDI))
	// The same on proxied traffic.
	expectStatus(t, g.do("GET", "/package/x", nil, "Cookie", "edi-token="+alice.EDI+"; auth-token="+bob.Pasta), 401)

	g.reload(ediCaddyfile("pair_binding off"))
	r := expectEDIAnswerOK(t, refreshEDI(g, bob.Pasta, alice.EDI))
	if f := pastaFields(t, ediBody(t, r).Pasta); f[0] != ediBobUID {
		t.Fatalf("binding off refreshed %v", f)
	}
	expectStatus(t, g.do("GET", "/package/x", nil, "Cookie", "edi-token="+alice.EDI+"; auth-token="+bob.Pasta), 200)
}

// TestEDIExpiredPastaRefreshed: the EDI token is authoritative, so an
// expired PASTA token of its subject is refreshed, however old.
func TestEDIExpiredPastaRefreshed(t *testing.T) {
	g := startEDIGateway(t, "")
	pair := exchangeKey(t, g, ediAliceSecret)
	old := mintPasta(t, ediAliceUID, time.Now().AddDate(-1, 0, 0), "vetted", "authenticated")
	// Proxied traffic refuses it...
	expectStatus(t, g.do("GET", "/package/x", nil, "Cookie", "edi-token="+pair.EDI+"; auth-token="+old), 401)
	// ...refresh renews it.
	next := ediBody(t, expectEDIAnswerOK(t, refreshEDI(g, old, pair.EDI)))
	f := pastaFields(t, next.Pasta)
	var ms int64
	fmt.Sscan(f[2], &ms)
	if d := time.Until(time.UnixMilli(ms)); d < 8*time.Hour-time.Minute || d > 8*time.Hour {
		t.Fatalf("new PASTA expiry in %s, want 8h", d)
	}
	expectStatus(t, g.do("GET", "/package/x", nil, "Cookie", "edi-token="+next.EDI+"; auth-token="+next.Pasta), 200)
}
