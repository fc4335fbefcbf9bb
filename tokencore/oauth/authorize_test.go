package oauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/store/memory"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

const (
	loginURL    = "https://app.example.org/login?lang=en"
	webCB       = "https://web.example.org/cb"
	webCB2      = "https://web.example.org/cb2?x=1"
	spaCB       = "http://127.0.0.1:9000/cb"
	legacyCB    = "https://legacy.example.org/cb"
	testVerifer = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" // RFC 7636 Appendix B
	testChal    = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

// authClients are clients of the authorization code flow: a confidential
// one with two redirect URIs, a public one, a confidential one that opted
// out of PKCE and cannot refresh, and one not registered for the flow.
func withAuthorization(tb testing.TB) fixtureOpt {
	tb.Helper()
	cs, err := NewClients([]Client{
		{ID: "web", AuthMethod: AuthClientSecretBasic, SecretHash: HashSecret("w3b"),
			GrantTypes: []string{GrantTypeAuthorizationCode, GrantTypeRefreshToken},
			Scopes:     []string{"openid", "profile", "email", "api.read"}, RedirectURIs: []string{webCB, webCB2}},
		{ID: "spa", AuthMethod: AuthNone,
			GrantTypes: []string{GrantTypeAuthorizationCode, GrantTypeRefreshToken},
			Scopes:     []string{"openid", "api.read"}, RedirectURIs: []string{spaCB}},
		{ID: "legacy", AuthMethod: AuthClientSecretPost, SecretHash: HashSecret("l3g"), PKCEOptional: true,
			GrantTypes: []string{GrantTypeAuthorizationCode}, Scopes: []string{"api.read"}, RedirectURIs: []string{legacyCB}},
		{ID: "svc", AuthMethod: AuthClientSecretBasic, SecretHash: HashSecret("s3c"),
			GrantTypes: []string{GrantTypeClientCredentials}, Scopes: []string{"api.read"}, RedirectURIs: []string{"https://svc.example.org/cb"}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return func(c *Config) {
		c.LoginURL = loginURL
		c.Clients = cs
	}
}

func authorizeGet(f *fixture, query string) AuthorizeResponse {
	return f.svc.Authorize(AuthorizeRequest{Method: http.MethodGet, RawQuery: query})
}

// location parses the redirect of an answer, failing on anything else.
func location(tb testing.TB, r AuthorizeResponse) *url.URL {
	tb.Helper()
	if r.Status != http.StatusFound {
		tb.Fatalf("status %d (%s), want 302", r.Status, r.Body)
	}
	u, err := url.Parse(r.Location())
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// webQuery is a valid authorization request of the web client.
func webQuery(extra string) string {
	q := "response_type=code&client_id=web&redirect_uri=" + url.QueryEscape(webCB) +
		"&scope=openid+profile+api.read&state=xyz&nonce=n-0S6&code_challenge=" + testChal + "&code_challenge_method=S256"
	if extra != "" {
		q += "&" + extra
	}
	return q
}

// ticketOf runs an authorization request and returns the ticket given to
// the login page.
func ticketOf(tb testing.TB, f *fixture, query string) string {
	tb.Helper()
	u := location(tb, authorizeGet(f, query))
	if !strings.HasPrefix(u.String(), loginURL+"&") {
		tb.Fatalf("redirect to %s, want the login page", u)
	}
	return u.Query().Get("ticket")
}

func (f *fixture) authz(path string, body string) ManageResponse {
	return f.svc.Manage(f.ctx, ManageRequest{Method: http.MethodPost, Path: path, ContentType: "application/json", Body: []byte(body)})
}

// issue completes a ticket for alice and returns the redirect to the client.
func issue(tb testing.TB, f *fixture, ticket, extra string) *url.URL {
	tb.Helper()
	r := f.authz("/auth/authorization/issue", `{"ticket":"`+ticket+`","subject":"alice"`+extra+`}`)
	var out LocationResponse
	if err := json.Unmarshal(r.Body, &out); err != nil || r.Status != http.StatusOK || out.Action != ActionLocation {
		tb.Fatalf("issue: %d %s", r.Status, r.Body)
	}
	u, err := url.Parse(out.ResponseContent)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// webCode runs the web client's authorization up to the code.
func webCode(tb testing.TB, f *fixture) string {
	tb.Helper()
	u := issue(tb, f, ticketOf(tb, f, webQuery("")), `,"claims":{"name":"Alice","email":"alice@example.org","dept":"R&D"}`)
	return u.Query().Get("code")
}

func redeem(f *fixture, body string, authorization ...string) (*TokenResponse, *Error) {
	return f.svc.Token(f.ctx, post("grant_type=authorization_code&"+body, authorization...))
}

func webRedeemBody(code string) string {
	return "code=" + url.QueryEscape(code) + "&redirect_uri=" + url.QueryEscape(webCB) + "&code_verifier=" + testVerifer
}

func TestAuthorizeErrorPage(t *testing.T) {
	f := newFixture(t, true, withAuthorization(t))
	tests := []struct {
		name   string
		req    AuthorizeRequest
		status int
		want   string
	}{
		{"no client", AuthorizeRequest{Method: http.MethodGet, RawQuery: "response_type=code"}, 400, "client_id"},
		{"unknown client", AuthorizeRequest{Method: http.MethodGet, RawQuery: "client_id=nobody&redirect_uri=" + url.QueryEscape(webCB)}, 400, "client_id"},
		{"unregistered redirect", AuthorizeRequest{Method: http.MethodGet, RawQuery: "client_id=web&redirect_uri=" + url.QueryEscape("https://evil.example/cb")}, 400, "not registered"},
		{"redirect prefix only", AuthorizeRequest{Method: http.MethodGet, RawQuery: "client_id=web&redirect_uri=" + url.QueryEscape(webCB+"/x")}, 400, "not registered"},
		{"redirect omitted, several registered", AuthorizeRequest{Method: http.MethodGet, RawQuery: "client_id=web&response_type=code"}, 400, "several"},
		{"repeated parameter", AuthorizeRequest{Method: http.MethodGet, RawQuery: webQuery("state=again")}, 400, "state"},
		{"method", AuthorizeRequest{Method: http.MethodPut}, 405, "GET and POST"},
		{"post json", AuthorizeRequest{Method: http.MethodPost, ContentType: "application/json", Body: []byte("{}")}, 400, "x-www-form-urlencoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.svc.Authorize(tt.req)
			if r.Status != tt.status || r.Location() != "" || !strings.Contains(string(r.Body), tt.want) {
				t.Fatalf("got %d location %q body %q, want %d page with %q", r.Status, r.Location(), r.Body, tt.status, tt.want)
			}
			if ct := r.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Fatalf("Content-Type %q", ct)
			}
		})
	}
}

func TestAuthorizeRedirectedErrors(t *testing.T) {
	f := newFixture(t, true, withAuthorization(t))
	base := "client_id=web&redirect_uri=" + url.QueryEscape(webCB) + "&state=s1"
	pkce := "&code_challenge=" + testChal + "&code_challenge_method=S256"
	tests := []struct {
		name  string
		query string
		want  ErrorCode
	}{
		{"no response_type", base + pkce, ErrInvalidRequest},
		{"token response type", base + "&response_type=token" + pkce, ErrUnsupportedResponseType},
		{"client not registered for the flow", "client_id=svc&state=s1&response_type=code" + pkce, ErrUnauthorizedClient},
		{"scope outside the client's", base + "&response_type=code&scope=admin" + pkce, ErrInvalidScope},
		{"no PKCE for a confidential client by default", base + "&response_type=code", ErrInvalidRequest},
		{"plain PKCE", base + "&response_type=code&code_challenge=" + testChal + "&code_challenge_method=plain", ErrInvalidRequest},
		{"PKCE method missing (means plain)", base + "&response_type=code&code_challenge=" + testChal, ErrInvalidRequest},
		{"PKCE method without challenge", base + "&response_type=code&code_challenge_method=S256", ErrInvalidRequest},
		{"short challenge", base + "&response_type=code&code_challenge=abc&code_challenge_method=S256", ErrInvalidRequest},
		{"request object", base + "&response_type=code&request=eyJ" + pkce, ErrRequestNotSupported},
		{"request_uri", base + "&response_type=code&request_uri=urn:x" + pkce, ErrRequestURINotSupported},
		{"fragment response mode", base + "&response_type=code&response_mode=fragment" + pkce, ErrInvalidRequest},
		{"prompt none with login", base + "&response_type=code&prompt=none+login" + pkce, ErrInvalidRequest},
		{"long nonce", base + "&response_type=code&nonce=" + strings.Repeat("n", MaxNonceLength+1) + pkce, ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := location(t, authorizeGet(f, tt.query))
			redirect := webCB
			if strings.Contains(tt.query, "client_id=svc") {
				redirect = "https://svc.example.org/cb"
			}
			q := u.Query()
			if got := u.Scheme + "://" + u.Host + u.Path; got != redirect {
				t.Fatalf("redirected to %s, want %s", got, redirect)
			}
			if q.Get("error") != string(tt.want) || q.Get("state") != "s1" || q.Get("iss") != "https://auth.example.org" || q.Get("error_description") == "" {
				t.Fatalf("redirect query %v, want error %s with state s1 and iss", q, tt.want)
			}
		})
	}
	t.Run("public client cannot skip PKCE", func(t *testing.T) {
		u := location(t, authorizeGet(f, "client_id=spa&response_type=code&state=s1"))
		if u.Query().Get("error") != string(ErrInvalidRequest) || !strings.HasPrefix(u.String(), spaCB+"?") {
			t.Fatalf("got %s", u)
		}
	})
	t.Run("state too long is not echoed", func(t *testing.T) {
		u := location(t, authorizeGet(f, "client_id=spa&response_type=code&state="+strings.Repeat("s", MaxStateLength+1)))
		if u.Query().Get("error") != string(ErrInvalidRequest) || u.Query().Has("state") {
			t.Fatalf("got %s", u)
		}
	})
}

func TestAuthorizeToLogin(t *testing.T) {
	f := newFixture(t, true, withAuthorization(t))
	tests := []struct {
		name, query, client, scope, prompt string
	}{
		{"web", webQuery("prompt=login"), "web", "openid profile api.read", "login"},
		{"redirect with query, POST-free", "response_type=code&client_id=web&redirect_uri=" + url.QueryEscape(webCB2) +
			"&code_challenge=" + testChal + "&code_challenge_method=S256", "web", "", ""},
		{"public client, only redirect omitted", "response_type=code&client_id=spa&scope=api.read&code_challenge=" + testChal + "&code_challenge_method=S256", "spa", "api.read", ""},
		{"PKCE opt-out", "response_type=code&client_id=legacy&scope=api.read", "legacy", "api.read", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := location(t, authorizeGet(f, tt.query))
			q := u.Query()
			if !strings.HasPrefix(u.String(), loginURL+"&") || q.Get("lang") != "en" || q.Get("ticket") == "" ||
				q.Get("client_id") != tt.client || q.Get("scope") != tt.scope || q.Get("prompt") != tt.prompt {
				t.Fatalf("redirect %s", u)
			}
		})
	}
	t.Run("POST form", func(t *testing.T) {
		r := f.svc.Authorize(AuthorizeRequest{Method: http.MethodPost, ContentType: "application/x-www-form-urlencoded", Body: []byte(webQuery(""))})
		if q := location(t, r).Query(); q.Get("ticket") == "" {
			t.Fatalf("no ticket: %v", q)
		}
	})
	t.Run("disabled without login URL", func(t *testing.T) {
		g := newFixture(t, true)
		if r := authorizeGet(g, webQuery("")); r.Status != http.StatusNotFound {
			t.Fatalf("status %d", r.Status)
		}
	})
}

func TestAuthorizationCodeFlow(t *testing.T) {
	for _, memory := range []bool{true, false} {
		f := newFixture(t, memory, withAuthorization(t))
		ticket := ticketOf(t, f, webQuery(""))
		u := issue(t, f, ticket, `,"acr":"urn:acr:pwd","claims":{"name":"Alice","email":"alice@example.org","dept":"R&D"}`)
		q := u.Query()
		if !strings.HasPrefix(u.String(), webCB+"?") || q.Get("state") != "xyz" || q.Get("iss") != "https://auth.example.org" || q.Get("code") == "" {
			t.Fatalf("issue redirect %s", u)
		}
		f.clk.advance(5 * time.Second)
		resp, oerr := redeem(f, webRedeemBody(q.Get("code")), webAuth)
		if oerr != nil {
			t.Fatalf("redeem: %v", oerr)
		}
		if resp.AccessToken == "" || resp.RefreshToken == "" || resp.IDToken == "" || resp.Scope != "openid profile api.read" || resp.ExpiresIn != 600 {
			t.Fatalf("token response %+v", resp)
		}
		claims := verifyWithJWKS(t, f, resp.IDToken)
		for k, v := range map[string]any{"iss": "https://auth.example.org", "sub": "alice", "nonce": "n-0S6", "azp": "web",
			"acr": "urn:acr:pwd", "auth_time": float64(f.clk.now().Add(-5 * time.Second).Unix())} {
			if claims[k] != v {
				t.Fatalf("ID token %s = %v, want %v", k, claims[k], v)
			}
		}
		if err := f.proxyAccepts(resp.AccessToken); err != nil {
			t.Fatalf("proxy refuses the access token: %v", err)
		}
		// UserInfo: sub, the profile claim, the app's own claim; not the
		// email (no email scope).
		ui := f.svc.UserInfo(f.ctx, Request{Method: http.MethodGet, Authorization: []string{"Bearer " + resp.AccessToken}})
		var info map[string]any
		if err := json.Unmarshal(ui.Body, &info); err != nil || ui.Status != http.StatusOK {
			t.Fatalf("userinfo %d %s", ui.Status, ui.Body)
		}
		if len(info) != 3 || info["sub"] != "alice" || info["name"] != "Alice" || info["dept"] != "R&D" {
			t.Fatalf("userinfo %v", info)
		}
		// The grant is an ordinary one: it refreshes with rotation.
		f.clk.advance(time.Minute)
		r2 := mustRefresh(t, f, resp.RefreshToken, "", webAuth)
		if r2.RefreshToken == resp.RefreshToken || r2.AccessToken == "" {
			t.Fatal("refresh did not rotate")
		}
		intro, oerr := f.svc.Introspect(f.ctx, post("token="+url.QueryEscape(r2.AccessToken), rsAuth))
		if oerr != nil || !intro.Active || intro.Sub != "alice" || intro.ClientID != "web" {
			t.Fatalf("introspection %+v %v", intro, oerr)
		}
	}
}

func TestAuthorizationCodeRefusals(t *testing.T) {
	f := newFixture(t, true, withAuthorization(t))
	code := webCode(t, f)
	bodyWithout := func(drop string) string {
		v, _ := url.ParseQuery(webRedeemBody(code))
		v.Del(drop)
		return v.Encode()
	}
	tests := []struct {
		name string
		body string
		auth []string
		want ErrorCode
	}{
		{"missing code", "redirect_uri=" + url.QueryEscape(webCB), []string{webAuth}, ErrInvalidRequest},
		{"unknown code", webRedeemBody("0123.abc"), []string{webAuth}, ErrInvalidGrant},
		{"code with a wrong secret", webRedeemBody(strings.Split(code, ".")[0] + ".AAAA"), []string{webAuth}, ErrInvalidGrant},
		{"wrong verifier", strings.Replace(webRedeemBody(code), testVerifer, strings.Repeat("a", 43), 1), []string{webAuth}, ErrInvalidGrant},
		{"malformed verifier", strings.Replace(webRedeemBody(code), testVerifer, "short", 1), []string{webAuth}, ErrInvalidRequest},
		{"missing verifier", bodyWithout("code_verifier"), []string{webAuth}, ErrInvalidRequest},
		{"missing redirect_uri", bodyWithout("redirect_uri"), []string{webAuth}, ErrInvalidGrant},
		{"other redirect_uri", strings.Replace(webRedeemBody(code), url.QueryEscape(webCB), url.QueryEscape(webCB2), 1), []string{webAuth}, ErrInvalidGrant},
		{"another client", webRedeemBody(code) + "&client_id=spa", nil, ErrInvalidGrant},
		{"wrong secret", webRedeemBody(code), []string{basic("web:nope")}, ErrInvalidClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, oerr := redeem(f, tt.body, tt.auth...)
			if !errors.Is(oerr, tt.want) {
				t.Fatalf("got %v, want %s", oerr, tt.want)
			}
		})
	}
	// None of the refusals consumed the code.
	if _, oerr := redeem(f, webRedeemBody(code), webAuth); oerr != nil {
		t.Fatalf("the code no longer redeems after refused attempts: %v", oerr)
	}
	t.Run("expired code", func(t *testing.T) {
		code := webCode(t, f)
		f.clk.advance(CodeTTL)
		if _, oerr := redeem(f, webRedeemBody(code), webAuth); !errors.Is(oerr, ErrInvalidGrant) {
			t.Fatalf("got %v", oerr)
		}
	})
	t.Run("client not registered for the grant", func(t *testing.T) {
		if _, oerr := redeem(f, "code=x", svcAuth); !errors.Is(oerr, ErrUnauthorizedClient) {
			t.Fatalf("got %v", oerr)
		}
	})
}

func TestAuthorizationCodeReuseRevokes(t *testing.T) {
	f := newFixture(t, false, withAuthorization(t))
	code := webCode(t, f)
	first, oerr := redeem(f, webRedeemBody(code), webAuth)
	if oerr != nil {
		t.Fatal(oerr)
	}
	_, oerr = redeem(f, webRedeemBody(code), webAuth)
	wantError(t, oerr, ErrInvalidGrant, http.StatusBadRequest)
	if oerr.Replay() == nil || !errors.Is(oerr.Replay().Err, ErrCodeReused) || !errors.Is(oerr.Replay().Err, tokencore.ErrRefreshReused) {
		t.Fatalf("reuse is not reported as a replay: %+v", oerr.Replay())
	}
	if err := f.proxyAccepts(first.AccessToken); !errors.Is(err, tokencore.ErrTokenRevoked) {
		t.Fatalf("access token of a reused code still accepted: %v", err)
	}
	if _, oerr := f.refresh(first.RefreshToken, "", webAuth); !errors.Is(oerr, ErrInvalidGrant) {
		t.Fatalf("refresh token of a reused code still works: %v", oerr)
	}
}

func TestAuthorizationCodeConcurrentRedemption(t *testing.T) {
	f := newFixture(t, false, withAuthorization(t))
	code := webCode(t, f)
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, replays := 0, 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, oerr := redeem(f, webRedeemBody(code), webAuth)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case oerr == nil:
				wins++
			case errors.Is(oerr, ErrInvalidGrant):
				replays++
			default:
				t.Errorf("unexpected %v", oerr)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || replays != n-1 {
		t.Fatalf("%d wins and %d refusals, want exactly one win", wins, replays)
	}
}

func TestPKCEOptOut(t *testing.T) {
	f := newFixture(t, true, withAuthorization(t))
	code := func() string {
		return issue(t, f, ticketOf(t, f, "response_type=code&client_id=legacy&scope=api.read"), "").Query().Get("code")
	}
	cred := "&client_id=legacy&client_secret=l3g"
	// A verifier for a code issued without a challenge is the downgrade
	// attack of RFC 9700 §2.1.1.
	if _, oerr := redeem(f, "code="+url.QueryEscape(code())+"&code_verifier="+testVerifer+cred); !errors.Is(oerr, ErrInvalidGrant) {
		t.Fatalf("verifier without challenge: %v", oerr)
	}
	// The redirect URI was omitted, so the token request need not repeat it.
	resp, oerr := redeem(f, "code="+url.QueryEscape(code())+cred)
	if oerr != nil {
		t.Fatal(oerr)
	}
	if resp.RefreshToken != "" || resp.IDToken != "" {
		t.Fatalf("a client without refresh_token nor openid got %+v", resp)
	}
}

func TestAuthorizationIssueAndFail(t *testing.T) {
	f := newFixture(t, true, withAuthorization(t))
	status := func(r ManageResponse) (int, Result) {
		var res Result
		_ = json.Unmarshal(r.Body, &res)
		return r.Status, res
	}
	t.Run("ticket is single-use", func(t *testing.T) {
		ticket := ticketOf(t, f, webQuery(""))
		issue(t, f, ticket, "")
		st, res := status(f.authz("/auth/authorization/issue", `{"ticket":"`+ticket+`","subject":"mallory"}`))
		if st != 400 || res.Action != ActionBadRequest || !strings.Contains(res.ResultMessage, "already used") {
			t.Fatalf("second issue: %d %+v", st, res)
		}
		st, res = status(f.authz("/auth/authorization/fail", `{"ticket":"`+ticket+`","reason":"DENIED"}`))
		if st != 400 || !strings.Contains(res.ResultMessage, "already used") {
			t.Fatalf("fail after issue: %d %+v", st, res)
		}
	})
	t.Run("expired ticket", func(t *testing.T) {
		ticket := ticketOf(t, f, webQuery(""))
		f.clk.advance(TicketTTL)
		if st, _ := status(f.authz("/auth/authorization/issue", `{"ticket":"`+ticket+`","subject":"alice"}`)); st != 400 {
			t.Fatalf("expired ticket: %d", st)
		}
	})
	t.Run("a refresh token is not a ticket", func(t *testing.T) {
		c := f.createFor(t, "web", "alice", "api.read")
		if st, _ := status(f.authz("/auth/authorization/issue", `{"ticket":"`+c.RefreshToken+`","subject":"alice"}`)); st != 400 {
			t.Fatalf("refresh token as ticket: %d", st)
		}
	})
	ticket := ticketOf(t, f, webQuery(""))
	bad := []struct{ name, body string }{
		{"no subject", `{"ticket":"` + ticket + `"}`},
		{"reserved claim", `{"ticket":"` + ticket + `","subject":"alice","claims":{"sub":"root"}}`},
		{"claims not an object", `{"ticket":"` + ticket + `","subject":"alice","claims":[1]}`},
		{"duplicate claim", `{"ticket":"` + ticket + `","subject":"alice","claims":{"a":1,"a":2}}`},
		{"wider scope", `{"ticket":"` + ticket + `","subject":"alice","scopes":["email"]}`},
		{"unknown member", `{"ticket":"` + ticket + `","subject":"alice","sub":"x"}`},
		{"future authTime", `{"ticket":"` + ticket + `","subject":"alice","authTime":4102444800}`},
		{"bad fail reason", `{"ticket":"` + ticket + `","reason":"BECAUSE"}`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			path := "/auth/authorization/issue"
			if strings.Contains(tt.body, "reason") {
				path = "/auth/authorization/fail"
			}
			if st, res := status(f.authz(path, tt.body)); st != 400 || res.Action != ActionBadRequest {
				t.Fatalf("%d %+v", st, res)
			}
		})
	}
	t.Run("claims as a JSON string and narrowed scope", func(t *testing.T) {
		u := issue(t, f, ticket, `,"scopes":["openid","api.read"],"claims":"{\"name\":\"Alice\"}"`)
		resp, oerr := redeem(f, webRedeemBody(u.Query().Get("code")), webAuth)
		if oerr != nil || resp.Scope != "openid api.read" {
			t.Fatalf("%+v %v", resp, oerr)
		}
		ui := f.svc.UserInfo(f.ctx, Request{Method: http.MethodPost, Authorization: []string{"Bearer " + resp.AccessToken}})
		if string(ui.Body) != `{"sub":"alice"}` {
			t.Fatalf("userinfo without profile scope: %s", ui.Body)
		}
	})
	t.Run("fail redirects the error", func(t *testing.T) {
		ticket := ticketOf(t, f, webQuery(""))
		r := f.authz("/auth/authorization/fail", `{"ticket":"`+ticket+`","reason":"NOT_LOGGED_IN","description":"no session"}`)
		var out LocationResponse
		_ = json.Unmarshal(r.Body, &out)
		u, _ := url.Parse(out.ResponseContent)
		q := u.Query()
		if r.Status != 200 || out.Action != ActionLocation || !strings.HasPrefix(out.ResponseContent, webCB+"?") ||
			q.Get("error") != "login_required" || q.Get("error_description") != "no session" || q.Get("state") != "xyz" || q.Get("iss") == "" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("pending grants are not listed", func(t *testing.T) {
		g := newFixture(t, true, withAuthorization(t))
		issue(t, g, ticketOf(t, g, webQuery("")), "")
		r := g.svc.Manage(g.ctx, ManageRequest{Method: http.MethodGet, Path: "/auth/token/get/list", Query: url.Values{}})
		if r.Status != 200 || !strings.Contains(string(r.Body), `"totalCount":0`) {
			t.Fatalf("list: %s", r.Body)
		}
	})
}

func TestUserInfoRefusals(t *testing.T) {
	f := newFixture(t, true, withAuthorization(t))
	noOpenID := f.createFor(t, "web", "alice", "api.read")
	withOpenID := f.createFor(t, "web", "bob", "openid")
	tests := []struct {
		name      string
		auth      []string
		status    int
		challenge string
	}{
		{"no token", nil, 401, `Bearer realm="userinfo"`},
		{"garbage", []string{"Bearer abc.def.ghi"}, 401, `error="invalid_token"`},
		{"basic", []string{webAuth}, 400, ""},
		{"no openid scope", []string{"Bearer " + noOpenID.AccessToken}, 403, `error="insufficient_scope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.svc.UserInfo(f.ctx, Request{Method: http.MethodGet, Authorization: tt.auth})
			if r.Status != tt.status || !strings.Contains(r.Header.Get("WWW-Authenticate"), tt.challenge) {
				t.Fatalf("%d %q %s", r.Status, r.Header.Get("WWW-Authenticate"), r.Body)
			}
		})
	}
	t.Run("revoked", func(t *testing.T) {
		if r := f.svc.UserInfo(f.ctx, Request{Method: http.MethodGet, Authorization: []string{"Bearer " + withOpenID.AccessToken}}); r.Status != 200 {
			t.Fatalf("before revocation: %d %s", r.Status, r.Body)
		}
		if oerr := f.svc.Revoke(f.ctx, post("token="+url.QueryEscape(withOpenID.RefreshToken), webAuth)); oerr != nil {
			t.Fatal(oerr)
		}
		if r := f.svc.UserInfo(f.ctx, Request{Method: http.MethodGet, Authorization: []string{"Bearer " + withOpenID.AccessToken}}); r.Status != 401 {
			t.Fatalf("after revocation: %d %s", r.Status, r.Body)
		}
	})
}

func TestAuthorizationMetadata(t *testing.T) {
	ep := Endpoints{Authorization: "/oauth2/authorize", Token: "/oauth2/token", JWKS: "/jwks", Userinfo: "/oauth2/userinfo"}
	m, err := newFixture(t, true, withAuthorization(t)).svc.Metadata(ep)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(m)
	var doc map[string]any
	_ = json.Unmarshal(b, &doc)
	for k, v := range map[string]string{
		"authorization_endpoint": "https://auth.example.org/oauth2/authorize", "userinfo_endpoint": "https://auth.example.org/oauth2/userinfo",
		"response_types_supported": "[code]", "code_challenge_methods_supported": "[S256]", "response_modes_supported": "[query]",
		"grant_types_supported": "[authorization_code refresh_token client_credentials]", "subject_types_supported": "[public]",
		"authorization_response_iss_parameter_supported": "true",
	} {
		if got := strings.Trim(strings.ReplaceAll(jsonText(doc[k]), `"`, ""), ""); got != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
	m, err = newFixture(t, true).svc.Metadata(ep)
	if err != nil {
		t.Fatal(err)
	}
	if m.AuthorizationEndpoint != "" || len(m.ResponseTypesSupported) != 0 || len(m.CodeChallengeMethodsSupported) != 0 {
		t.Fatalf("without a login URL the document announces the flow: %+v", m)
	}
}

// jsonText renders a decoded JSON value as [a b] or its plain form.
func jsonText(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = jsonText(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestClientAuthorizationConfig(t *testing.T) {
	tests := []struct {
		name string
		c    Client
		ok   bool
	}{
		{"https redirect", Client{ID: "a", AuthMethod: AuthNone, RedirectURIs: []string{"https://x.example/cb?a=1"}}, true},
		{"loopback http", Client{ID: "a", AuthMethod: AuthNone, RedirectURIs: []string{"http://localhost:8080/cb"}}, true},
		{"native scheme", Client{ID: "a", AuthMethod: AuthNone, RedirectURIs: []string{"com.example.app:/cb"}}, true},
		{"http non-loopback", Client{ID: "a", AuthMethod: AuthNone, RedirectURIs: []string{"http://x.example/cb"}}, false},
		{"fragment", Client{ID: "a", AuthMethod: AuthNone, RedirectURIs: []string{"https://x.example/cb#f"}}, false},
		{"relative", Client{ID: "a", AuthMethod: AuthNone, RedirectURIs: []string{"/cb"}}, false},
		{"public client opting out of PKCE", Client{ID: "a", AuthMethod: AuthNone, PKCEOptional: true}, false},
		{"confidential client opting out of PKCE", Client{ID: "a", AuthMethod: AuthClientSecretBasic, SecretHash: HashSecret("x"), PKCEOptional: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrClientConfig) {
				t.Fatalf("Validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	for _, bad := range []string{"app.example/login", "http://app.example/login", "/login#x"} {
		if _, err := NewService(&tokencore.Engine{Keys: newTestKeys(t), Store: memory.New(), View: tokencore.NewRevocationView()},
			Config{Issuer: "https://a.example", LoginURL: bad}); !errors.Is(err, ErrServiceConfig) {
			t.Errorf("login URL %q accepted: %v", bad, err)
		}
	}
}

// TestAuthorizationCodeEveryStore runs the code's life on every backend:
// the ticket's single use (CreateGrant conflicts on the ticket's ID), the
// code part of the grant through the store's encoding and its
// compare-and-swap, and the replay that revokes.
func TestAuthorizationCodeEveryStore(t *testing.T) {
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			clk := &testClock{t: time.Unix(1_900_000_000, 0)}
			st := open(t)
			t.Cleanup(func() { st.Close() })
			f := newFixtureOn(t, newTestKeys(t), st, clk.now, withAuthorization(t))
			f.clk = clk
			ticket := ticketOf(t, f, webQuery(""))
			code := issue(t, f, ticket, `,"claims":{"name":"Alice"}`).Query().Get("code")
			if r := f.authz("/auth/authorization/issue", `{"ticket":"`+ticket+`","subject":"mallory"}`); r.Status != http.StatusBadRequest {
				t.Fatalf("second issue of a ticket: %d %s", r.Status, r.Body)
			}
			resp, oerr := redeem(f, webRedeemBody(code), webAuth)
			if oerr != nil {
				t.Fatal(oerr)
			}
			ui := f.svc.UserInfo(f.ctx, Request{Method: http.MethodGet, Authorization: []string{"Bearer " + resp.AccessToken}})
			if ui.Status != http.StatusOK || !strings.Contains(string(ui.Body), `"name":"Alice"`) {
				t.Fatalf("userinfo %d %s", ui.Status, ui.Body)
			}
			if _, oerr := redeem(f, webRedeemBody(code), webAuth); !errors.Is(oerr, ErrInvalidGrant) || oerr.Replay() == nil {
				t.Fatalf("replay: %v", oerr)
			}
			if err := f.proxyAccepts(resp.AccessToken); !errors.Is(err, tokencore.ErrTokenRevoked) {
				t.Fatalf("access token after the replay: %v", err)
			}
		})
	}
}

// FuzzAuthorize: whatever the query, the endpoint answers a redirect or an
// error page, never panics, and redirects only to the login page or to a
// registered redirect URI.
func FuzzAuthorize(f *testing.F) {
	f.Add(webQuery(""))
	f.Add("client_id=web&redirect_uri=" + url.QueryEscape(webCB) + "&response_type=code&scope=%00")
	f.Add("client_id=spa&response_type=code&state=%ZZ")
	f.Add("client_id=web&client_id=web")
	fx := newFixture(f, true, withAuthorization(f))
	f.Fuzz(func(t *testing.T, query string) {
		r := authorizeGet(fx, query)
		switch r.Status {
		case http.StatusFound:
			loc := r.Location()
			if !strings.HasPrefix(loc, loginURL+"&") && !strings.HasPrefix(loc, webCB+"?") && !strings.HasPrefix(loc, webCB2+"&") &&
				!strings.HasPrefix(loc, spaCB+"?") && !strings.HasPrefix(loc, legacyCB+"?") && !strings.HasPrefix(loc, "https://svc.example.org/cb?") {
				t.Fatalf("redirect to %q", loc)
			}
		case http.StatusBadRequest:
			if r.Location() != "" {
				t.Fatal("an error page with a Location")
			}
		default:
			t.Fatalf("status %d", r.Status)
		}
	})
}

// TestAuthorizationCodeStoreOutage: issue, redemption and UserInfo answer
// 503 with Retry-After during an outage, change nothing, and work after.
func TestAuthorizationCodeStoreOutage(t *testing.T) {
	f := newFixture(t, false, withAuthorization(t))
	flaky := storetest.NewFlaky(f.e.Store.(tokencore.Store))
	f.e.Store = flaky

	ticket := ticketOf(t, f, webQuery(""))
	flaky.FailAll()
	if r := f.authz("/auth/authorization/issue", `{"ticket":"`+ticket+`","subject":"alice"}`); r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("issue during an outage: %d %v %s", r.Status, r.Header, r.Body)
	}
	flaky.Recover()
	code := issue(t, f, ticket, `,"claims":{"name":"Alice"}`).Query().Get("code") // the ticket was not used up
	flaky.FailAll()
	_, oerr := redeem(f, webRedeemBody(code), webAuth)
	want503(t, "redeem", oerr)
	flaky.Recover()
	resp, oerr := redeem(f, webRedeemBody(code), webAuth) // the code was not consumed
	if oerr != nil {
		t.Fatal(oerr)
	}
	flaky.FailAll()
	ui := f.svc.UserInfo(f.ctx, Request{Method: http.MethodGet, Authorization: []string{"Bearer " + resp.AccessToken}})
	if ui.Status != http.StatusServiceUnavailable || ui.Header.Get("Retry-After") == "" || ui.Cause == nil {
		t.Fatalf("userinfo during an outage: %d %v %s", ui.Status, ui.Header, ui.Body)
	}
	flaky.Recover()
	if ui := f.svc.UserInfo(f.ctx, Request{Method: http.MethodGet, Authorization: []string{"Bearer " + resp.AccessToken}}); ui.Status != http.StatusOK {
		t.Fatalf("userinfo after recovery: %d %s", ui.Status, ui.Body)
	}
	if r := f.svc.UserInfo(f.ctx, Request{Method: http.MethodPut}); r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, POST" {
		t.Fatalf("PUT: %d %v", r.Status, r.Header)
	}
}
