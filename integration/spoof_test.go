package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore/edi"
)

// forgedMark is in every value a spoofing client sends; the upstream must
// never see it.
const forgedMark = "FORGED"

// assertedHeaders are the identity headers a tokengate handler asserts (the
// builtin part of caddymodule's list); credentialHeaders are read by the
// gateway under their canonical name only, so every other spelling is a
// forgery.
var (
	assertedHeaders = []string{"X-Okapi-User-Id", "X-Okapi-Permissions", "X-Okapi-Module-Tokens",
		"X-Tokengate-Subject", "X-Tokengate-Client-Id", "X-Tokengate-Scope",
		"X-Tokengate-Principals", "X-Tokengate-Pasta-Uid", "X-Tokengate-Pasta-Groups", "X-New-Auth-Token"}
	credentialHeaders = []string{"X-Okapi-Tenant", "X-Okapi-Token"}
)

// headerSpellings are the spellings under which a header can reach an
// upstream that folds case, '_' and '.' (sent as written: the test client
// does not canonicalize them). One '_' and one '.' spelling each: Caddy
// canonicalizes names, and drops an expected '_' or '.' header that
// arrives with several values.
func headerSpellings(name string) []string {
	lower := strings.ToLower(name)
	return []string{name, lower, strings.ToUpper(name),
		strings.ReplaceAll(name, "-", "_"), strings.ReplaceAll(name, "-", "."),
		strings.Replace(strings.Replace(lower, "-", "_", 1), "-", ".", 1)}
}

// forgedHeaders returns every spelling of the asserted headers and of
// claimHeaders, and the non-canonical spellings of the credential headers,
// each with a forged value.
func forgedHeaders(claimHeaders ...string) http.Header {
	h := http.Header{}
	for _, name := range append(append([]string{}, assertedHeaders...), claimHeaders...) {
		for _, s := range headerSpellings(name) {
			h[s] = append(h[s], forgedMark+"-"+s)
		}
	}
	for _, name := range credentialHeaders {
		for _, s := range headerSpellings(name)[3:] {
			h[s] = append(h[s], forgedMark+"-"+s)
		}
	}
	return h
}

// spoofTry is one request of the spoofing matrix.
type spoofTry struct {
	route, path string
	auth        http.Header // the legitimate credentials of the try
}

// bypassPaths are the forms of /package/eml/edi/1/1 that Tomcat reads as
// /package/... while Caddy's `path /package/*` does not match them.
var bypassPaths = []string{"/package;x/eml/edi/1/1", "/package;/", "/package%3Bx/", "/package%3bx/eml", "/package;jsessionid=1/eml/edi/1/1"}

// runSpoofMatrix sends every try with every forged header and each forged
// cookie set, and fails for every forged value that reaches the upstream.
// A try may be refused (400, 401): then it must not be an echo. It returns
// the number of requests sent.
func runSpoofMatrix(t *testing.T, g *gateway, tries []spoofTry, forgedPasta string, claimHeaders ...string) int {
	t.Helper()
	forgedCookies := []string{
		"auth-token=" + forgedPasta,
		`auth-token="` + forgedPasta + `"`,
		"AUTH-TOKEN=" + forgedPasta,
		"auth_token=" + forgedPasta,
		"Auth.Token=" + forgedPasta,
		"edi_token=" + forgedMark,
	}
	sent, passed, forged := 0, 0, 0
	for _, try := range tries {
		for _, cookie := range append([]string{""}, forgedCookies...) {
			req, err := http.NewRequest("GET", g.url(try.path), nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = forgedHeaders(claimHeaders...)
			var cookies []string
			for k, v := range try.auth {
				if k == "Cookie" {
					cookies = append(cookies, v...)
					continue
				}
				req.Header[k] = v
			}
			if cookie != "" {
				cookies = append(cookies, cookie)
			}
			if len(cookies) > 0 {
				req.Header["Cookie"] = []string{strings.Join(cookies, "; ")}
			}
			resp, err := g.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			sent++
			var echo struct {
				Headers map[string][]string `json:"headers"`
			}
			isEcho := json.Unmarshal(body, &echo) == nil && echo.Headers != nil
			switch {
			case resp.StatusCode == http.StatusOK && isEcho:
				for name, values := range echo.Headers {
					for _, v := range values {
						if strings.Contains(v, forgedMark) || strings.Contains(v, forgedPasta) {
							if forged++; forged <= 20 {
								t.Errorf("%s %s (cookie %q): the upstream received %s: %q", try.route, try.path, cookie, name, v)
							}
						}
					}
				}
				passed++
			case (resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized) && !isEcho:
			default:
				t.Errorf("%s %s (cookie %q): %d %s", try.route, try.path, cookie, resp.StatusCode, body)
			}
		}
	}
	if passed == 0 {
		t.Fatalf("no try reached the upstream: the matrix proves nothing")
	}
	t.Logf("%d spoofing requests (%d forged headers each), %d reached the upstream, %d forged values received by it", sent, len(forgedHeaders(claimHeaders...)), passed, forged)
	if forged > 0 {
		t.Errorf("%d forged values reached the upstream", forged)
	}
	return sent
}

// forgedInternalPasta is a client-made PASTA token in the internal
// (unsigned) form PASTA services trust: uid=root in every group.
func forgedInternalPasta(t *testing.T) string {
	t.Helper()
	b, err := edi.NewPastaToken("uid=root,o=EDI,dc=edirepository,dc=org", time.Now().Add(time.Hour), "vetted", "authenticated").Internal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func bearerAuth(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// TestSpoofingDemo: with a valid token of each kind, forged identity
// headers (every spelling) and the forged unsigned PASTA cookie never reach
// the upstream through any protected route of Caddyfile.example, the
// bypass paths of /package/ included.
func TestSpoofingDemo(t *testing.T) {
	g := startDemo(t, "/auth/v1/key")
	folio := sign(t, g, "diku", "alice", userID)
	oauthTok := createTokenAs(t, g, "demo-operator-key", "web", "alice", "openid api.read")
	alice := exchangeKey(t, g, ediAliceSecret)
	ediCookie := http.Header{"Cookie": {`auth-token="` + alice.Pasta + `"; edi-token=` + alice.EDI}}

	var tries []spoofTry
	for _, path := range append([]string{"/anything", "/orders/1", "/package/eml/edi/1/1"}, bypassPaths...) {
		tries = append(tries,
			spoofTry{route: "FOLIO bearer", path: path, auth: bearerAuth(folio.AccessToken)},
			spoofTry{route: "FOLIO X-Okapi-Token", path: path, auth: http.Header{"X-Okapi-Token": {folio.AccessToken}}},
			spoofTry{route: "FOLIO cookie", path: path, auth: http.Header{"Cookie": {"folioAccessToken=" + folio.AccessToken}}},
			spoofTry{route: "OAuth bearer", path: path, auth: bearerAuth(oauthTok)},
			spoofTry{route: "EDI cookies", path: path, auth: ediCookie},
			spoofTry{route: "EDI bearer", path: path, auth: bearerAuth(alice.EDI)},
			spoofTry{route: "no credentials", path: path},
		)
	}
	runSpoofMatrix(t, g, tries, forgedInternalPasta(t), "X-User-Name")

	// The bypass paths are refused outright, whatever the credentials.
	for _, path := range bypassPaths {
		r := g.do("GET", path, nil, "Authorization", "Bearer "+folio.AccessToken)
		if r.Status != http.StatusBadRequest || r.json(t)["error"] != "invalid_request" {
			t.Errorf("%s: %d %s", path, r.Status, r.Body)
		}
	}
}

// spoofCaddyfile mounts FOLIO protection with configured claim headers
// and EDI protection side by side: the claim headers of tokengate_protect
// must be stripped by tokengate_edi_protect (and every other tokengate
// handler) too. Caddy drops request headers with '_' or '.' unless a server
// expects them; these servers (gateway and upstream) expect some, as a
// deployment in front of such a backend would, so that tokengate's own
// handling of those spellings is what the test sees.
func spoofCaddyfile() string {
	cf := strings.Replace(ediCaddyfile(""), "\tadmin 127.0.0.1:{{.Admin}}\n", `	admin 127.0.0.1:{{.Admin}}
	servers {
		expected_underscore_headers X_Tokengate_Pasta_Uid X_Okapi_Permissions X_Tokengate_Client_Id
		expected_dot_headers X.Tokengate.Principals X.Okapi.Module.Tokens X.Tokengate.Pasta.Groups X.Tokengate.Scope
	}
`, 1)
	return strings.Replace(cf, "\ttokengate_edi_protect @pasta\n", `	tokengate_edi_protect @pasta
	tokengate_folio {
		trusted_signers 127.0.0.1/32
		signer_header X-Folio-Signer
	}
	@other not path /package/*
	tokengate_protect @other {
		claim_header sub X-User-Name
		claim_header user_id X-Folio-User
		public /public/*
	}
`, 1)
}

// TestSpoofingClaimHeaders: a configured claim_header is stripped on every
// route, by every tokengate handler, in every spelling.
func TestSpoofingClaimHeaders(t *testing.T) {
	g := startGateway(t, spoofCaddyfile(), "/healthz")
	folio := sign(t, g, "diku", "alice", userID)
	alice := exchangeKey(t, g, ediAliceSecret)
	ediCookie := http.Header{"Cookie": {"auth-token=" + alice.Pasta + "; edi-token=" + alice.EDI}}
	var tries []spoofTry
	for _, path := range append([]string{"/public/x", "/orders/1", "/package/eml/edi/1/1", "/auth/v1/other"}, bypassPaths...) {
		tries = append(tries,
			spoofTry{route: "FOLIO bearer", path: path, auth: bearerAuth(folio.AccessToken)},
			spoofTry{route: "EDI cookies", path: path, auth: ediCookie},
			spoofTry{route: "no credentials", path: path},
		)
	}
	runSpoofMatrix(t, g, tries, forgedInternalPasta(t), "X-User-Name", "X-Folio-User")

	// The FOLIO API takes no identity from a client header either.
	expectStatus(t, g.do("POST", "/token/refresh", map[string]string{"refreshToken": folio.RefreshToken},
		"X-Okapi-Tenant", "diku", "X-Okapi-User-Id", "someone-else"), http.StatusCreated)

	// The gateway's own values do arrive.
	h := upstreamHeaders(t, g.do("GET", "/orders/1", nil, "Authorization", "Bearer "+folio.AccessToken))
	if got := h["X-User-Name"]; len(got) != 1 || got[0] != "alice" {
		t.Errorf("X-User-Name = %v", got)
	}
	if got := h["X-Folio-User"]; len(got) != 1 || got[0] != userID {
		t.Errorf("X-Folio-User = %v (headers %v)", got, h)
	}
	// The signer secret of the FOLIO API never reaches an upstream.
	req, _ := http.NewRequest("GET", g.url("/orders/1"), nil)
	req.Header = http.Header{"Authorization": {"Bearer " + folio.AccessToken}, "X-Folio-Signer": {"s3cret"}, "X_Folio_Signer": {"s3cret"}, "X-Tokengate-Signer": {"s3cret"}}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	h = upstreamHeaders(t, &response{Status: resp.StatusCode, Header: resp.Header, Body: body})
	for name := range h {
		if strings.Contains(strings.ToLower(name), "signer") {
			t.Errorf("%s reached the upstream", name)
		}
	}
}

// createTokenAs is createToken with the operator key of the gateway.
func createTokenAs(t *testing.T, g *gateway, operator, client, subject, scopes string) string {
	t.Helper()
	r := g.do("POST", "/api/demo/auth/token/create", map[string]any{
		"grantType": "AUTHORIZATION_CODE", "clientId": client, "subject": subject, "scopes": strings.Fields(scopes),
	}, "Authorization", "Bearer "+operator, "Content-Type", "application/json")
	expectStatus(t, r, http.StatusOK)
	var c created
	if err := json.Unmarshal(r.Body, &c); err != nil || c.AccessToken == "" {
		t.Fatalf("create answered %s", r.Body)
	}
	return c.AccessToken
}
