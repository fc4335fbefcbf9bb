package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/folio"
)

func (f *fixture) manage(t *testing.T, method, path, contentType, body string) (int, map[string]any) {
	t.Helper()
	u, _ := url.Parse(path)
	r := f.svc.Manage(f.ctx, ManageRequest{Method: method, Path: u.Path, Query: u.Query(), ContentType: contentType, Body: []byte(body)})
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s %s: Cache-Control %q", method, path, r.Header.Get("Cache-Control"))
	}
	if r.Status == http.StatusNoContent {
		if len(r.Body) != 0 {
			t.Errorf("204 with a body %s", r.Body)
		}
		return r.Status, nil
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, path, r.Body, err)
	}
	code, _ := m["resultCode"].(string)
	if msg, _ := m["resultMessage"].(string); code == "" || !strings.HasPrefix(msg, "["+code+"] ") {
		t.Errorf("%s %s: envelope %v", method, path, m)
	}
	return r.Status, m
}

func TestManageAuthenticate(t *testing.T) {
	isOp := func(k string) bool { return tokencore.VerifySecretHash(tokencore.HashSecret("op-key"), k) }
	if r := ManageAuthenticate([]string{"Bearer op-key"}, isOp); r != nil {
		t.Fatalf("operator refused: %d %s", r.Status, r.Body)
	}
	if r := ManageAuthenticate([]string{"bearer  op-key "}, isOp); r != nil {
		t.Fatalf("scheme is case-insensitive: %d", r.Status)
	}
	for name, tc := range map[string]struct {
		auth      []string
		code      string
		challenge string
	}{
		"no header":     {nil, "A001202", `Bearer realm="tokengate-manage"`},
		"empty bearer":  {[]string{"Bearer "}, "A001202", `Bearer realm="tokengate-manage"`},
		"basic":         {[]string{"Basic b3A6a2V5"}, "A001202", `Bearer realm="tokengate-manage"`},
		"wrong key":     {[]string{"Bearer op-kex"}, "A001203", `Bearer realm="tokengate-manage", error="invalid_token"`},
		"two headers":   {[]string{"Bearer op-key", "Bearer op-key"}, "A001202", `Bearer realm="tokengate-manage"`},
		"oversized key": {[]string{"Bearer " + strings.Repeat("k", 5000)}, "A001203", `Bearer realm="tokengate-manage", error="invalid_token"`},
	} {
		r := ManageAuthenticate(tc.auth, isOp)
		if r == nil || r.Status != 401 || r.Header.Get("WWW-Authenticate") != tc.challenge || !strings.Contains(string(r.Body), tc.code) {
			t.Errorf("%s: %+v", name, r)
		}
	}
}

func TestManageUnreadableBody(t *testing.T) {
	for tooLarge, msg := range map[bool]string{true: "[A001201] The request body is too large.", false: "[A001201] The request body cannot be read."} {
		r := ManageUnreadableBody(tooLarge)
		var res Result
		if err := json.Unmarshal(r.Body, &res); err != nil || r.Status != 400 || r.Header.Get("Cache-Control") != "no-store" ||
			res != (Result{ResultCode: "A001201", ResultMessage: msg, Action: ActionBadRequest}) {
			t.Errorf("tooLarge=%v: %d %v %s %v", tooLarge, r.Status, r.Header, r.Body, err)
		}
	}
}

func TestManageCreate(t *testing.T) {
	f := newFixture(t, false)
	status, m := f.manage(t, "POST", "/auth/token/create", "application/json",
		`{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"alice","scopes":["openid","api.read"],
		  "accessTokenDuration":120,"refreshTokenDuration":3600,"properties":[{"key":"k","value":"v","hidden":true}],"clientIdAliasUsed":false}`)
	if status != 200 || m["action"] != "OK" || m["resultCode"] != "A109001" {
		t.Fatalf("create: %d %v", status, m)
	}
	now := f.clk.now()
	if m["expiresIn"] != 120.0 || m["expiresAt"] != float64(now.Add(120*time.Second).UnixMilli()) || m["tokenType"] != "Bearer" ||
		m["grantType"] != "AUTHORIZATION_CODE" || m["clientId"] != "web" || m["subject"] != "alice" {
		t.Fatalf("create response %v", m)
	}
	at, rt := m["accessToken"].(string), m["refreshToken"].(string)
	g, err := f.e.Store.GrantByTokenHash(f.ctx, tokencore.TokenHash(at))
	if err != nil || g.Kind != tokencore.GrantKindManage || g.RefreshHash != tokencore.TokenHash(rt) ||
		!g.RefreshExpiresAt.Equal(now.Add(time.Hour)) || len(g.Properties) != 1 || !g.AuthTime.Equal(now) {
		t.Fatalf("stored grant %+v, %v", g, err)
	}
	if err := f.proxyAccepts(at); err != nil {
		t.Fatalf("proxy refuses a created token: %v", err)
	}
	// A created token refreshes at the token endpoint.
	mustRefresh(t, f, rt, "", webAuth)

	// Form encoding: lists space-delimited; a numeric clientId is a string here.
	status, m = f.manage(t, "POST", "/auth/token/create", "application/x-www-form-urlencoded",
		"grantType=AUTHORIZATION_CODE&clientIdentifier=cli&subject=bob&scopes=api.read")
	if status != 200 || m["refreshToken"] == nil || m["scopes"].([]any)[0] != "api.read" {
		t.Fatalf("form create: %d %v", status, m)
	}
	// client_credentials: no subject, no refresh token; the token's sub is the client.
	status, m = f.manage(t, "POST", "/auth/token/create", "application/json",
		`{"grantType":"CLIENT_CREDENTIALS","clientId":"svc","subject":"ignored"}`)
	if status != 200 || m["refreshToken"] != nil || m["subject"] != nil || m["expiresIn"] != 600.0 {
		t.Fatalf("client credentials create: %d %v", status, m)
	}
	if c, err := f.e.Verifier(tokencore.VerifierOptions{}).Verify(m["accessToken"].(string), ""); err != nil || c.Subject != "svc" {
		t.Errorf("client credentials token: %+v %v", c, err)
	}

	for name, tc := range map[string]struct {
		ct, body string
		status   int
		action   string
	}{
		"no grant type":       {"application/json", `{"clientId":"web","subject":"a"}`, 400, "BAD_REQUEST"},
		"REFRESH_TOKEN":       {"application/json", `{"grantType":"REFRESH_TOKEN","clientId":"web","subject":"a"}`, 400, "BAD_REQUEST"},
		"unknown grant type":  {"application/json", `{"grantType":"MAGIC","clientId":"web","subject":"a"}`, 400, "BAD_REQUEST"},
		"no client":           {"application/json", `{"grantType":"AUTHORIZATION_CODE","subject":"a"}`, 400, "BAD_REQUEST"},
		"two clients":         {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"web","clientIdentifier":"post","subject":"a"}`, 400, "BAD_REQUEST"},
		"unknown client":      {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"nobody","subject":"a"}`, 403, "FORBIDDEN"},
		"numeric client":      {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":26888344961664,"subject":"a"}`, 403, "FORBIDDEN"},
		"grant not allowed":   {"application/json", `{"grantType":"PASSWORD","clientId":"web","subject":"a"}`, 403, "FORBIDDEN"},
		"no subject":          {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"web"}`, 400, "BAD_REQUEST"},
		"long subject":        {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"` + strings.Repeat("a", 101) + `"}`, 400, "BAD_REQUEST"},
		"non-ASCII subject":   {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"ä"}`, 400, "BAD_REQUEST"},
		"scope not allowed":   {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"post","subject":"a","scopes":["api.write"]}`, 400, "BAD_REQUEST"},
		"malformed scope":     {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"a","scopes":["a b"]}`, 400, "BAD_REQUEST"},
		"negative duration":   {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"a","accessTokenDuration":-1}`, 400, "BAD_REQUEST"},
		"huge duration":       {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"a","refreshTokenDuration":9999999999}`, 400, "BAD_REQUEST"},
		"future auth time":    {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"a","authTime":4000000000}`, 400, "BAD_REQUEST"},
		"own token value":     {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"a","accessToken":"mine"}`, 400, "BAD_REQUEST"},
		"persistent":          {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"a","accessTokenPersistent":true}`, 400, "BAD_REQUEST"},
		"dpop binding":        {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"a","dpopKeyThumbprint":"x"}`, 400, "BAD_REQUEST"},
		"unknown member":      {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"a","colour":"red"}`, 400, "BAD_REQUEST"},
		"wrong member type":   {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":7}`, 400, "BAD_REQUEST"},
		"trailing data":       {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"a"} {}`, 400, "BAD_REQUEST"},
		"not JSON":            {"application/json", `grantType=AUTHORIZATION_CODE`, 400, "BAD_REQUEST"},
		"properties in form":  {"application/x-www-form-urlencoded", `grantType=AUTHORIZATION_CODE&clientId=web&subject=a&properties=x`, 400, "BAD_REQUEST"},
		"bad form integer":    {"application/x-www-form-urlencoded", `grantType=AUTHORIZATION_CODE&clientId=web&subject=a&accessTokenDuration=ten`, 400, "BAD_REQUEST"},
		"unknown form param":  {"application/x-www-form-urlencoded", `grantType=AUTHORIZATION_CODE&clientId=web&subject=a&colour=red`, 400, "BAD_REQUEST"},
		"duplicate form":      {"application/x-www-form-urlencoded", `grantType=AUTHORIZATION_CODE&clientId=web&subject=a&subject=b`, 400, "BAD_REQUEST"},
		"xml":                 {"text/xml", `<x/>`, 400, "BAD_REQUEST"},
		"too many properties": {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"a","properties":[` + strings.TrimSuffix(strings.Repeat(`{"key":"k","value":"v"},`, 33), ",") + `]}`, 400, "BAD_REQUEST"},
		"big property":        {"application/json", `{"grantType":"AUTHORIZATION_CODE","clientId":"web","subject":"a","properties":[{"key":"k","value":"` + strings.Repeat("v", 1025) + `"}]}`, 400, "BAD_REQUEST"},
	} {
		status, m := f.manage(t, "POST", "/auth/token/create", tc.ct, tc.body)
		if status != tc.status || m["action"] != tc.action {
			t.Errorf("%s: %d %v", name, status, m)
		}
	}
}

func TestManageListWindowsAndHashes(t *testing.T) {
	f := newFixture(t, false)
	var created []CreateResponse
	for i := 0; i < 7; i++ {
		created = append(created, f.createFor(t, "web", "alice", "api.read"))
		f.clk.advance(time.Second)
	}
	for i := 0; i < 3; i++ {
		f.createFor(t, "post", "alice", "api.read")
		f.createFor(t, "web", "bob", "api.read")
	}
	// FOLIO sessions of a user of the same name are not OAuth tokens.
	fsvc := folio.New(f.e, folio.Config{})
	if _, ferr := fsvc.Sign(f.ctx, "diku", folio.SignPayload{Subject: "alice", UserID: "a6e5ec3a-6b3b-4f1d-9c45-0b0b3a6f8f11"}); ferr != nil {
		t.Fatal(ferr)
	}

	list := func(q string) (int, map[string]any) { return f.manage(t, "GET", "/auth/token/get/list?"+q, "", "") }
	tests := []struct {
		query                string
		total, n, start, end int
		firstCreated         int // index into created of the first element, -1 = don't check
	}{
		{"subject=alice&clientIdentifier=web", 7, 5, 0, 5, 0},
		{"subject=alice&clientIdentifier=web&start=5", 7, 2, 5, 10, 5},
		{"subject=alice&clientIdentifier=web&start=2&end=4", 7, 2, 2, 4, 2},
		{"subject=alice&clientIdentifier=web&start=20&end=25", 7, 0, 20, 25, -1},
		{"subject=alice", 10, 5, 0, 5, -1},
		{"clientIdentifier=web", 10, 5, 0, 5, -1},
		{"clientIdentifier=web&start=0&end=20", 10, 10, 0, 20, -1},
		{"", 13, 5, 0, 5, -1},
		{"subject=nobody", 0, 0, 0, 5, -1},
		{"subject=alice&tokenStatus=INVALID", 0, 0, 0, 5, -1},
		{"subject=alice&tokenStatus=VALID&end=20", 10, 10, 0, 20, -1},
	}
	for _, tt := range tests {
		status, m := list(tt.query)
		if status != 200 {
			t.Fatalf("%s: %d %v", tt.query, status, m)
		}
		toks := m["accessTokens"].([]any)
		if int(m["totalCount"].(float64)) != tt.total || len(toks) != tt.n || int(m["start"].(float64)) != tt.start || int(m["end"].(float64)) != tt.end {
			t.Errorf("%s: total %v, %d tokens, window [%v,%v)", tt.query, m["totalCount"], len(toks), m["start"], m["end"])
			continue
		}
		if tt.firstCreated >= 0 {
			first := toks[0].(map[string]any)
			want := created[tt.firstCreated]
			if first["accessTokenHash"] != tokencore.TokenHash(want.AccessToken) || first["refreshTokenHash"] != tokencore.TokenHash(want.RefreshToken) {
				t.Errorf("%s: first element %v, want the hashes of created[%d]", tt.query, first, tt.firstCreated)
			}
		}
		for _, e := range toks {
			b, _ := json.Marshal(e)
			for _, c := range created {
				if strings.Contains(string(b), c.AccessToken) || strings.Contains(string(b), c.RefreshToken) {
					t.Fatalf("%s: a raw token value is listed", tt.query)
				}
			}
		}
	}
	_, m := list("subject=alice&clientIdentifier=web&end=1")
	e := m["accessTokens"].([]any)[0].(map[string]any)
	if e["subject"] != "alice" || e["clientId"] != "web" || e["grantType"] != "AUTHORIZATION_CODE" || e["lastRefreshedAt"] != 0.0 ||
		e["createdAt"] != float64(time.Unix(1_900_000_000, 0).UnixMilli()) || m["subject"] != "alice" ||
		m["client"].(map[string]any)["clientType"] != "CONFIDENTIAL" {
		t.Errorf("list element %v (client %v)", e, m["client"])
	}
	// Expired grants are INVALID until swept.
	f.clk.advance(8 * 24 * time.Hour)
	if _, m := list("subject=bob&tokenStatus=INVALID"); m["totalCount"] != 3.0 {
		t.Errorf("INVALID after expiry: %v", m["totalCount"])
	}
	if _, m := list("subject=bob&tokenStatus=VALID"); m["totalCount"] != 0.0 {
		t.Errorf("VALID after expiry: %v", m["totalCount"])
	}

	for _, q := range []string{"start=-1", "start=x", "end=3&start=4", "start=0&end=21", "tokenStatus=SOME", "subject=a&subject=b"} {
		if status, m := list(q); status != 400 || m["action"] != "BAD_REQUEST" {
			t.Errorf("%s: %d %v", q, status, m)
		}
	}
}

func TestManageUpdate(t *testing.T) {
	f := newFixture(t, false)
	c := f.createFor(t, "web", "alice", "openid api.read")
	update := func(body string) (int, map[string]any) {
		return f.manage(t, "POST", "/auth/token/update", "application/json", body)
	}

	// Properties only: in place, no new access token.
	status, m := update(`{"accessTokenHash":"` + tokencore.TokenHash(c.AccessToken) + `","properties":[{"key":"plan","value":"gold"}]}`)
	if status != 200 || m["resultCode"] != "A135001" || m["accessToken"] != nil || m["properties"].([]any)[0].(map[string]any)["value"] != "gold" {
		t.Fatalf("update properties: %d %v", status, m)
	}
	// The refresh expiry moves in place.
	newRefresh := f.clk.now().Add(time.Hour).UnixMilli()
	status, m = update(fmt.Sprintf(`{"refreshToken":%q,"refreshTokenExpiresAt":%d}`, c.RefreshToken, newRefresh))
	if status != 200 || m["refreshTokenExpiresAt"] != float64(newRefresh) || m["accessToken"] != nil {
		t.Fatalf("update refresh expiry: %d %v", status, m)
	}
	// Scopes: unknown scopes dropped, a new access token minted, the old one revoked.
	status, m = update(`{"accessToken":"` + c.AccessToken + `","scopes":["api.read","api.write","admin"]}`)
	if status != 200 || m["accessToken"] == nil {
		t.Fatalf("update scopes: %d %v", status, m)
	}
	if got := m["scopes"].([]any); len(got) != 2 || got[0] != "api.read" || got[1] != "api.write" {
		t.Errorf("scopes %v", got)
	}
	newAT := m["accessToken"].(string)
	if err := f.proxyAccepts(c.AccessToken); !errors.Is(err, tokencore.ErrTokenRevoked) {
		t.Errorf("old access token after reissue: %v", err)
	}
	claims, err := f.e.Verifier(tokencore.VerifierOptions{}).Verify(newAT, "")
	if err != nil || claims.Scope != "api.read api.write" || claims.ExpiresAt != f.clk.now().Add(600*time.Second).Unix() {
		t.Fatalf("new access token %+v, %v", claims, err)
	}
	// The grant scope changed too: a refresh now yields it.
	if r := mustRefresh(t, f, c.RefreshToken, "", webAuth); r.Scope != "api.read api.write" {
		t.Errorf("refresh after scope update: %q", r.Scope)
	} else {
		c.AccessToken, c.RefreshToken = r.AccessToken, r.RefreshToken
	}
	// Access expiry: a new token with that exp.
	exp := f.clk.now().Add(30 * time.Minute)
	status, m = update(fmt.Sprintf(`{"accessTokenHash":%q,"accessTokenExpiresAt":%d}`, tokencore.TokenHash(c.AccessToken), exp.UnixMilli()))
	if status != 200 || m["accessTokenExpiresAt"] != float64(exp.UnixMilli()) {
		t.Fatalf("update access expiry: %d %v", status, m)
	}
	if claims, err := f.e.Verifier(tokencore.VerifierOptions{}).Verify(m["accessToken"].(string), ""); err != nil || claims.ExpiresAt != exp.Unix() {
		t.Fatalf("access token with new expiry: %+v %v", claims, err)
	}
	// A value update alone.
	cur := m["accessToken"].(string)
	status, m = update(`{"accessToken":"` + cur + `","accessTokenValueUpdated":true}`)
	if status != 200 || m["accessToken"] == nil || m["accessToken"] == cur {
		t.Fatalf("value update: %d %v", status, m)
	}

	for name, tc := range map[string]struct {
		body   string
		status int
		action string
	}{
		"no token":                  {`{"scopes":["api.read"]}`, 400, "BAD_REQUEST"},
		"unknown token":             {`{"accessToken":"nope","scopes":[]}`, 404, "NOT_FOUND"},
		"superseded access token":   {`{"accessToken":"` + cur + `","scopes":[]}`, 404, "NOT_FOUND"},
		"hash given as value":       {`{"accessToken":"` + tokencore.TokenHash(m["accessToken"].(string)) + `"}`, 404, "NOT_FOUND"},
		"refresh hash as access":    {`{"accessTokenHash":"` + tokencore.TokenHash(c.RefreshToken) + `"}`, 404, "NOT_FOUND"},
		"past expiry":               {fmt.Sprintf(`{"refreshToken":%q,"refreshTokenExpiresAt":1000}`, c.RefreshToken), 400, "BAD_REQUEST"},
		"persistent":                {`{"refreshToken":"` + c.RefreshToken + `","accessTokenPersistent":true}`, 400, "BAD_REQUEST"},
		"certificate binding":       {`{"refreshToken":"` + c.RefreshToken + `","certificateThumbprint":"x"}`, 400, "BAD_REQUEST"},
		"properties in a form body": {"", 400, "BAD_REQUEST"},
	} {
		var status int
		var m map[string]any
		if name == "properties in a form body" {
			status, m = f.manage(t, "POST", "/auth/token/update", "application/x-www-form-urlencoded", "refreshToken="+url.QueryEscape(c.RefreshToken)+"&properties=x")
		} else {
			status, m = update(tc.body)
		}
		if status != tc.status || m["action"] != tc.action {
			t.Errorf("%s: %d %v", name, status, m)
		}
	}
	// Precedence: accessToken wins over refreshTokenHash.
	other := f.createFor(t, "web", "zoe", "api.read")
	status, m = update(`{"accessToken":"` + other.AccessToken + `","refreshTokenHash":"` + tokencore.TokenHash(c.RefreshToken) + `","properties":[{"key":"who","value":"zoe"}]}`)
	if status != 200 {
		t.Fatalf("precedence: %d %v", status, m)
	}
	g, _ := f.e.Store.GrantByTokenHash(f.ctx, tokencore.TokenHash(other.AccessToken))
	if len(g.Properties) != 1 || g.Properties[0].Value != "zoe" {
		t.Errorf("the accessToken target was not the one updated: %+v", g.Properties)
	}
}

func TestManageRevokeAndDelete(t *testing.T) {
	f := newFixture(t, false)
	revoke := func(body string) (int, map[string]any) {
		return f.manage(t, "POST", "/auth/token/revoke", "application/json", body)
	}
	a1 := f.createFor(t, "web", "alice", "api.read")
	a2 := f.createFor(t, "web", "alice", "api.read")
	a3 := f.createFor(t, "post", "alice", "api.read")
	b1 := f.createFor(t, "web", "bob", "api.read")
	b2 := f.createFor(t, "post", "bob", "api.read")
	c1 := f.createFor(t, "cli", "carol", "api.read")
	c2 := f.createFor(t, "web", "carol", "api.read")
	fsvc := folio.New(f.e, folio.Config{})
	fv, _ := fsvc.Sign(f.ctx, "diku", folio.SignPayload{Subject: "alice", UserID: "a6e5ec3a-6b3b-4f1d-9c45-0b0b3a6f8f11"})
	folioAT := fv.(folio.Tokens).AccessToken

	count := func(status int, m map[string]any) float64 {
		t.Helper()
		if status != 200 || m["resultCode"] != "A312001" {
			t.Fatalf("revoke: %d %v", status, m)
		}
		return m["count"].(float64)
	}
	// 1. accessTokenIdentifier (a hash) wins over everything else.
	if n := count(revoke(`{"accessTokenIdentifier":"` + tokencore.TokenHash(a1.AccessToken) + `","subject":"bob"}`)); n != 1 {
		t.Errorf("access identifier: count %v", n)
	}
	if err := f.proxyAccepts(a1.AccessToken); !errors.Is(err, tokencore.ErrTokenRevoked) {
		t.Errorf("a1: %v", err)
	}
	if err := f.proxyAccepts(b1.AccessToken); err != nil {
		t.Errorf("the subject filter must be ignored when an identifier is given: %v", err)
	}
	// 2. refreshTokenIdentifier (a raw value).
	if n := count(revoke(`{"refreshTokenIdentifier":"` + a2.RefreshToken + `","clientIdentifier":"post"}`)); n != 1 {
		t.Errorf("refresh identifier: count %v", n)
	}
	if err := f.proxyAccepts(a3.AccessToken); err != nil {
		t.Errorf("client filter must be ignored: %v", err)
	}
	// 3. client + subject.
	if n := count(revoke(`{"clientIdentifier":"post","subject":"bob"}`)); n != 1 {
		t.Errorf("client+subject: count %v", n)
	}
	if f.proxyAccepts(b2.AccessToken) == nil || f.proxyAccepts(b1.AccessToken) != nil {
		t.Error("client+subject revoked the wrong grants")
	}
	// 4. client only.
	if n := count(revoke(`{"clientIdentifier":"cli"}`)); n != 1 || f.proxyAccepts(c1.AccessToken) == nil || f.proxyAccepts(c2.AccessToken) != nil {
		t.Errorf("client only: count %v", n)
	}
	// 5. subject only: the OAuth grants of alice, never her FOLIO session.
	if n := count(revoke(`{"subject":"alice"}`)); n != 1 || f.proxyAccepts(a3.AccessToken) == nil {
		t.Errorf("subject only: count %v", n)
	}
	if err := f.proxyAccepts(folioAT); err != nil {
		t.Errorf("a FOLIO session was revoked by the management API: %v", err)
	}
	// Nothing matching: 200, count 0. Nothing given: 400.
	if n := count(revoke(`{"accessTokenIdentifier":"unknown"}`)); n != 0 {
		t.Errorf("unknown: count %v", n)
	}
	if status, m := revoke(`{}`); status != 400 || m["action"] != "BAD_REQUEST" {
		t.Errorf("empty revoke: %d %v", status, m)
	}
	// A revoked refresh token replayed at the token endpoint is refused.
	_, oerr := f.refresh(a2.RefreshToken, "", webAuth)
	wantError(t, oerr, ErrInvalidGrant, 400)

	// Delete by hash and by value: 204, then gone (404), and refused by the proxy.
	for _, id := range []string{tokencore.TokenHash(c2.AccessToken), b1.AccessToken} {
		if status, _ := f.manage(t, "DELETE", "/auth/token/delete/"+id, "", ""); status != 204 {
			t.Fatalf("delete: %d", status)
		}
		if status, m := f.manage(t, "DELETE", "/auth/token/delete/"+id, "", ""); status != 404 || m["action"] != "NOT_FOUND" {
			t.Errorf("second delete: %d %v", status, m)
		}
	}
	if f.proxyAccepts(c2.AccessToken) == nil || f.proxyAccepts(b1.AccessToken) == nil {
		t.Error("deleted tokens must be refused by the proxy")
	}
	if _, err := f.e.Store.GrantByTokenHash(f.ctx, tokencore.TokenHash(c2.AccessToken)); !errors.Is(err, tokencore.ErrNotFound) {
		t.Errorf("deleted grant still stored: %v", err)
	}
	// Deleting by the refresh token is not deleting an access token.
	if status, _ := f.manage(t, "DELETE", "/auth/token/delete/"+a3.RefreshToken, "", ""); status != 404 {
		t.Errorf("delete by refresh token: %d", status)
	}
	// Revoked (tombstoned) grants can be deleted.
	if status, _ := f.manage(t, "DELETE", "/auth/token/delete/"+a1.AccessToken, "", ""); status != 204 {
		t.Errorf("delete of a revoked grant: %d", status)
	}
}

func TestManageRouting(t *testing.T) {
	f := newFixture(t, true)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/auth/token/nothing", 404, ""},
		{"POST", "/auth/token/get/list", 405, "GET"},
		{"GET", "/auth/token/create", 405, "POST"},
		{"POST", "/auth/token/delete/abc", 405, "DELETE"},
		{"DELETE", "/auth/token/delete/", 404, ""},
		{"GET", "/idtoken/reissue", 405, "POST"},
	} {
		r := f.svc.Manage(f.ctx, ManageRequest{Method: tc.method, Path: tc.path})
		if r.Status != tc.status || r.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d allow %q", tc.method, tc.path, r.Status, r.Header.Get("Allow"))
		}
	}
}
