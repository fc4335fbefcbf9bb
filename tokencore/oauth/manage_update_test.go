package oauth

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// TestDecodeUpdate: the body alone decides these refusals, before any
// store read.
func TestDecodeUpdate(t *testing.T) {
	for name, tc := range map[string]struct {
		contentType, body string
		refused           bool
	}{
		"access token":       {"application/json", `{"accessToken":"a","scopes":["x"]}`, false},
		"refresh token hash": {"", `{"refreshTokenHash":"h"}`, false},
		"form":               {"application/x-www-form-urlencoded", "accessTokenHash=h&scopes=a+b", false},
		"no token":           {"application/json", `{"scopes":["x"]}`, true},
		"persistent":         {"application/json", `{"accessToken":"a","accessTokenPersistent":true}`, true},
		"dpop binding":       {"application/json", `{"accessToken":"a","dpopKeyThumbprint":"x"}`, true},
		"details":            {"application/json", `{"accessToken":"a","authorizationDetails":[{}]}`, true},
		"unknown member":     {"application/json", `{"accessToken":"a","colour":"red"}`, true},
		"malformed":          {"application/json", `{"accessToken":`, true},
		"wrong content type": {"text/plain", `accessToken=a`, true},
	} {
		in, refused := decodeUpdate(ManageRequest{ContentType: tc.contentType, Body: []byte(tc.body)})
		if (refused != nil) != tc.refused {
			t.Errorf("%s: refused %v, want %v (%+v)", name, refused != nil, tc.refused, in)
			continue
		}
		if refused != nil && (refused.Status != 400 || !strings.Contains(string(refused.Body), `"A135201"`)) {
			t.Errorf("%s: %d %s", name, refused.Status, refused.Body)
		}
	}
}

// TestPlanUpdate: the plan decides every change of the update and changes
// nothing: the grant and its tokens stay as they were.
func TestPlanUpdate(t *testing.T) {
	f := newFixture(t, false)
	c := f.createFor(t, "web", "alice", "openid api.read")
	g, err := f.e.Store.GrantByTokenHash(f.ctx, tokencore.TokenHash(c.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	now := f.clk.now()
	remaining := g.AccessExpiresAt.Sub(now)
	decode := func(body string) updateRequest {
		var in updateRequest
		if err := json.Unmarshal([]byte(body), &in); err != nil {
			t.Fatal(err)
		}
		return in
	}
	at := `"accessToken":"` + c.AccessToken + `"`
	for name, tc := range map[string]struct {
		body      string
		reissue   bool
		ttl       time.Duration
		scopes    []string // nil: unchanged
		refreshAt time.Time
		code      string // refusal's result code, "" for a plan
	}{
		"properties only":     {body: `{` + at + `,"properties":[{"key":"k","value":"v"}]}`},
		"same scopes":         {body: `{` + at + `,"scopes":["openid","api.read"]}`, scopes: []string{"openid", "api.read"}},
		"scopes filtered":     {body: `{` + at + `,"scopes":["api.read","admin","api.write"]}`, reissue: true, ttl: remaining, scopes: []string{"api.read", "api.write"}},
		"value update":        {body: `{` + at + `,"accessTokenValueUpdated":true}`, reissue: true, ttl: remaining},
		"access expiry":       {body: fmt.Sprintf(`{%s,"accessTokenExpiresAt":%d}`, at, now.Add(time.Hour).UnixMilli()), reissue: true, ttl: time.Hour},
		"refresh expiry":      {body: fmt.Sprintf(`{%s,"refreshTokenExpiresAt":%d}`, at, now.Add(time.Hour).UnixMilli()), refreshAt: now.Add(time.Hour)},
		"expiry too far":      {body: fmt.Sprintf(`{%s,"accessTokenExpiresAt":%d}`, at, now.Add(MaxManagedDuration+time.Hour).UnixMilli()), code: "A135201"},
		"invalid scope":       {body: `{` + at + `,"scopes":["a b"]}`, code: "A135201"},
		"too many properties": {body: `{` + at + `,"properties":[` + strings.Repeat(`{"key":"k","value":"v"},`, MaxProperties) + `{"key":"k","value":"v"}]}`, code: "A135201"},
		"unknown token":       {body: `{"accessToken":"nope","properties":[]}`, code: "A135301"},
	} {
		p, refused := f.svc.planUpdate(f.ctx, decode(tc.body))
		if tc.code != "" {
			if refused == nil || !strings.Contains(string(refused.Body), `"`+tc.code+`"`) {
				t.Errorf("%s: want refusal %s, got plan %+v / %v", name, tc.code, p, refused)
			}
			continue
		}
		if refused != nil {
			t.Errorf("%s: refused %d %s", name, refused.Status, refused.Body)
			continue
		}
		if p.reissue != tc.reissue || p.accessTTL != tc.ttl || !p.refreshExpiresAt.Equal(tc.refreshAt) || p.grant.ID != g.ID {
			t.Errorf("%s: plan %+v", name, p)
		}
		if (p.scopes == nil) != (tc.scopes == nil) || p.scopes != nil && !slices.Equal(*p.scopes, tc.scopes) {
			t.Errorf("%s: scopes %v, want %v", name, p.scopes, tc.scopes)
		}
	}
	after, err := f.e.Store.GrantByTokenHash(f.ctx, tokencore.TokenHash(c.AccessToken))
	if err != nil || after.AccessID != g.AccessID || !slices.Equal(after.Scopes, g.Scopes) || len(after.Properties) != 0 || !after.UpdatedAt.Equal(g.UpdatedAt) {
		t.Errorf("planning changed the grant: %+v, %v", after, err)
	}
	if err := f.proxyAccepts(c.AccessToken); err != nil {
		t.Errorf("planning revoked the access token: %v", err)
	}

	// Only a grant with a refresh token can have its refresh expiry moved.
	svc := f.create(t, `{"grantType":"CLIENT_CREDENTIALS","clientId":"svc","scopes":["api.read"]}`)
	body := fmt.Sprintf(`{"accessToken":%q,"refreshTokenExpiresAt":%d}`, svc.AccessToken, now.Add(time.Hour).UnixMilli())
	if _, refused := f.svc.planUpdate(f.ctx, decode(body)); refused == nil || !strings.Contains(string(refused.Body), "no refresh token") {
		t.Errorf("refresh expiry of a grant without refresh token: %+v", refused)
	}

	// A token that expires within the second has nothing left to update.
	f.clk.advance(remaining - 500*time.Millisecond)
	if _, refused := f.svc.planUpdate(f.ctx, decode(`{`+at+`,"accessTokenValueUpdated":true}`)); refused == nil || refused.Status != 404 {
		t.Errorf("access token expiring within the second: %+v", refused)
	}
}
