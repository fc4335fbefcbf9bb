package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// folioCaddyfile is a gateway with the FOLIO API and protection in front
// of the echo upstream; loopback callers are trusted signers.
const folioCaddyfile = `{
	admin 127.0.0.1:{{.Admin}}
	tokengate {
		store bolt {{.Dir}}/state/tokengate.db
		default_tenant diku
		tenant_ttl short 2s 4s
		sweep_interval 1s
	}
}
http://127.0.0.1:{{.GW}} {
	bind 127.0.0.1
	tokengate_jwks
	tokengate_folio {
		trusted_signers 127.0.0.1/32 ::1
		legacy_tenants diku
	}
	tokengate_protect {
		public /public/*
		cookie folioAccessToken
		claim_header sub X-User-Name
		allow_preflight
	}
	request_header X-Placeholder-User "{tokengate.claims.user_id}@{http.auth.user.id}"
	reverse_proxy 127.0.0.1:{{.Up}}
}
http://127.0.0.1:{{.Up}} {
	bind 127.0.0.1
	tokengate_echo
}
`

const userID = "a6e5ec3a-6b3b-4f1d-9c45-0b0b3a6f8f11"

type folioPair struct {
	AccessToken            string `json:"accessToken"`
	RefreshToken           string `json:"refreshToken"`
	AccessTokenExpiration  string `json:"accessTokenExpiration"`
	RefreshTokenExpiration string `json:"refreshTokenExpiration"`
	TenantID               string `json:"tenantId"`
}

func sign(t *testing.T, g *gateway, tenant, sub, uid string) folioPair {
	t.Helper()
	r := g.do("POST", "/token/sign", map[string]any{"payload": map[string]any{"sub": sub, "user_id": uid}}, "X-Okapi-Tenant", tenant)
	expectStatus(t, r, http.StatusCreated)
	var p folioPair
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func refresh(g *gateway, tenant, rt string) *response {
	return g.do("POST", "/token/refresh", map[string]string{"refreshToken": rt}, "X-Okapi-Tenant", tenant)
}

// upstreamHeaders calls a protected path and returns what the upstream saw.
func upstreamHeaders(t *testing.T, r *response) map[string][]string {
	t.Helper()
	expectStatus(t, r, http.StatusOK)
	var echo struct {
		Headers map[string][]string `json:"headers"`
	}
	if err := json.Unmarshal(r.Body, &echo); err != nil {
		t.Fatalf("echo body: %v: %s", err, r.Body)
	}
	return echo.Headers
}

func jwtPayload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFolioSignCallRefreshInvalidate(t *testing.T) {
	g := startGateway(t, folioCaddyfile, "/admin/health")

	p := sign(t, g, "diku", "alice", userID)
	if p.TenantID != "diku" || p.AccessToken == "" || strings.Count(p.RefreshToken, ".") != 4 {
		t.Fatalf("unexpected sign response %+v", p)
	}
	claims := jwtPayload(t, p.AccessToken)
	for k, want := range map[string]any{"type": "access", "sub": "alice", "user_id": userID, "tenant": "diku"} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 600 {
		t.Errorf("access ttl = %v, want 600", exp-iat)
	}
	accessExp, err := time.Parse("2006-01-02T15:04:05Z", p.AccessTokenExpiration)
	if err != nil || accessExp.Unix() != int64(claims["exp"].(float64)) {
		t.Errorf("accessTokenExpiration %q does not match exp (%v)", p.AccessTokenExpiration, err)
	}
	refreshExp, _ := time.Parse("2006-01-02T15:04:05Z", p.RefreshTokenExpiration)
	if d := refreshExp.Sub(accessExp); d < 604800*time.Second-600*time.Second-2*time.Second || d > 604800*time.Second {
		t.Errorf("refresh expiration %v after access expiration, want about 7 days", d)
	}

	// The upstream sees the caller's identity, from the token only.
	h := upstreamHeaders(t, g.do("GET", "/orders", nil, "Authorization", "Bearer "+p.AccessToken))
	if got := h["X-Okapi-User-Id"]; len(got) != 1 || got[0] != userID {
		t.Errorf("X-Okapi-User-Id = %v", got)
	}
	if got := h["X-Okapi-Tenant"]; len(got) != 1 || got[0] != "diku" {
		t.Errorf("X-Okapi-Tenant = %v", got)
	}
	if got := h["X-User-Name"]; len(got) != 1 || got[0] != "alice" {
		t.Errorf("claim header X-User-Name = %v", got)
	}
	if got := h["X-Placeholder-User"]; len(got) != 1 || got[0] != userID+"@alice" {
		t.Errorf("placeholders {tokengate.claims.user_id}@{http.auth.user.id} = %v", got)
	}
	// The same token through X-Okapi-Token and through the cookie.
	upstreamHeaders(t, g.do("GET", "/orders", nil, "X-Okapi-Token", p.AccessToken))
	upstreamHeaders(t, g.do("GET", "/orders", nil, "Cookie", "folioAccessToken="+p.AccessToken))
	// The cache reports its hits and misses (the same token was verified
	// once, then served from the cache).
	metrics := doRequest(t, g.client, "GET", fmt.Sprintf("http://127.0.0.1:%d/metrics", g.ports.Admin), nil)
	for _, want := range []string{"caddy_tokengate_verify_cache_hits_total ", "caddy_tokengate_verify_cache_misses_total ", `caddy_tokengate_bearer_verifications_total{result="valid"} 3`} {
		if !strings.Contains(string(metrics.Body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(string(metrics.Body), "caddy_tokengate_verify_cache_hits_total 0\n") {
		t.Error("no cache hit counted")
	}
	// The bbolt file's size and its free part, for operators to watch
	// the live records (disk - free) level off.
	fi, err := os.Stat(filepath.Join(g.dir, "state", "tokengate.db"))
	if err != nil {
		t.Fatal(err)
	}
	disk, free := metricValue(t, metrics.Body, "caddy_tokengate_store_disk_bytes"), metricValue(t, metrics.Body, "caddy_tokengate_store_free_bytes")
	if disk != float64(fi.Size()) || free < 0 || free >= disk {
		t.Errorf("store metrics: disk %v bytes (the file has %d), free %v", disk, fi.Size(), free)
	}

	// Refresh rotates: a new pair, the old refresh token is used up.
	r := refresh(g, "diku", p.RefreshToken)
	expectStatus(t, r, http.StatusCreated)
	var p2 folioPair
	_ = json.Unmarshal(r.Body, &p2)
	if p2.RefreshToken == p.RefreshToken || p2.AccessToken == p.AccessToken {
		t.Fatal("refresh did not rotate the tokens")
	}
	upstreamHeaders(t, g.do("GET", "/orders", nil, "Authorization", "Bearer "+p2.AccessToken))

	// Invalidate logs the session out: its refresh token no longer works,
	// and neither does its access token.
	expectStatus(t, g.do("POST", "/token/invalidate", map[string]string{"refreshToken": p2.RefreshToken}, "X-Okapi-Tenant", "diku"), http.StatusNoContent)
	expectStatus(t, refresh(g, "diku", p2.RefreshToken), http.StatusUnauthorized)
	expectStatus(t, g.do("GET", "/orders", nil, "Authorization", "Bearer "+p2.AccessToken), http.StatusUnauthorized)
}

func TestFolioReplayRevokesEveryTokenOfTheUser(t *testing.T) {
	g := startGateway(t, folioCaddyfile, "/admin/health")
	a := sign(t, g, "diku", "alice", userID)
	other := sign(t, g, "diku", "alice", userID) // a second session of the same user
	bob := sign(t, g, "diku", "bob", "b0b00000-6b3b-4f1d-9c45-0b0b3a6f8f11")

	r := refresh(g, "diku", a.RefreshToken)
	expectStatus(t, r, http.StatusCreated)
	var a2 folioPair
	_ = json.Unmarshal(r.Body, &a2)

	// Replay of the used token: 401 "Invalid token", and every refresh
	// token of the user is revoked, including the legitimate successor
	// and the other session, and the replayed family's access tokens too.
	r = refresh(g, "diku", a.RefreshToken)
	expectStatus(t, r, http.StatusUnauthorized)
	if string(r.Body) != "Invalid token" || r.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("body %q content-type %q", r.Body, r.Header.Get("Content-Type"))
	}
	expectStatus(t, refresh(g, "diku", a2.RefreshToken), http.StatusUnauthorized)
	expectStatus(t, refresh(g, "diku", other.RefreshToken), http.StatusUnauthorized)
	expectStatus(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+a2.AccessToken), http.StatusUnauthorized)
	// Another user is untouched.
	expectStatus(t, refresh(g, "diku", bob.RefreshToken), http.StatusCreated)
}

func TestFolioConcurrentRefreshHasOneWinner(t *testing.T) {
	g := startGateway(t, folioCaddyfile, "/admin/health")
	p := sign(t, g, "diku", "alice", userID)
	const n = 50
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses[i] = refresh(g, "diku", p.RefreshToken).Status
		}()
	}
	close(start)
	wg.Wait()
	expectOneWinner(t, statuses, http.StatusCreated)
}

func TestFolioInvalidateAllStopsIssuedAccessTokens(t *testing.T) {
	g := startGateway(t, folioCaddyfile, "/admin/health")
	s1 := sign(t, g, "diku", "alice", userID)
	s2 := sign(t, g, "diku", "alice", userID)
	upstreamHeaders(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+s1.AccessToken)) // cached now

	expectStatus(t, g.do("POST", "/token/invalidate-all", nil, "X-Okapi-Tenant", "diku", "X-Okapi-Token", s2.AccessToken), http.StatusNoContent)
	for _, tok := range []string{s1.AccessToken, s2.AccessToken} {
		r := g.do("GET", "/x", nil, "Authorization", "Bearer "+tok)
		expectStatus(t, r, http.StatusUnauthorized)
		if !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
		}
	}
	expectStatus(t, refresh(g, "diku", s1.RefreshToken), http.StatusUnauthorized)
	expectStatus(t, refresh(g, "diku", s2.RefreshToken), http.StatusUnauthorized)
	// invalidate-all with a revoked or missing token is refused.
	expectStatus(t, g.do("POST", "/token/invalidate-all", nil, "X-Okapi-Tenant", "diku", "X-Okapi-Token", s2.AccessToken), http.StatusUnauthorized)
	expectStatus(t, g.do("POST", "/token/invalidate-all", nil, "X-Okapi-Tenant", "diku"), http.StatusUnauthorized)
}

func TestFolioStatusCodes(t *testing.T) {
	g := startGateway(t, folioCaddyfile, "/admin/health")
	p := sign(t, g, "diku", "alice", userID)
	big := `{"payload":{"sub":"` + strings.Repeat("a", 70<<10) + `"}}`
	tests := []struct {
		name    string
		method  string
		path    string
		body    any
		headers []string
		status  int
		text    string
	}{
		{"health", "GET", "/admin/health", nil, nil, 200, "OK"},
		{"sign wrong method", "GET", "/token/sign", nil, []string{"X-Okapi-Tenant", "diku"}, 405, ""},
		{"sign no body", "POST", "/token/sign", nil, []string{"X-Okapi-Tenant", "diku"}, 400, ""},
		{"sign not json", "POST", "/token/sign", "{", []string{"X-Okapi-Tenant", "diku"}, 400, ""},
		{"sign extra top-level property", "POST", "/token/sign", map[string]any{"payload": map[string]any{"sub": "a", "user_id": userID}, "x": 1}, []string{"X-Okapi-Tenant", "diku"}, 400, ""},
		{"sign without sub", "POST", "/token/sign", map[string]any{"payload": map[string]any{"user_id": userID}}, []string{"X-Okapi-Tenant", "diku"}, 400, ""},
		{"sign sub not a string", "POST", "/token/sign", map[string]any{"payload": map[string]any{"sub": 5, "user_id": userID}}, []string{"X-Okapi-Tenant", "diku"}, 400, ""},
		{"sign without user_id", "POST", "/token/sign", map[string]any{"payload": map[string]any{"sub": "a"}}, []string{"X-Okapi-Tenant", "diku"}, 400, ""},
		{"sign user_id not a UUID", "POST", "/token/sign", map[string]any{"payload": map[string]any{"sub": "a", "user_id": "alice"}}, []string{"X-Okapi-Tenant", "diku"}, 400, "Bad Request: user_id must be a UUID"},
		{"sign dummy with a user_id not a UUID", "POST", "/token/sign", map[string]any{"payload": map[string]any{"sub": "a", "user_id": "alice", "dummy": true}}, []string{"X-Okapi-Tenant", "diku"}, 201, ""},
		{"sign dummy not boolean", "POST", "/token/sign", map[string]any{"payload": map[string]any{"sub": "a", "dummy": "yes"}}, []string{"X-Okapi-Tenant", "diku"}, 400, ""},
		{"sign body too large", "POST", "/token/sign", big, []string{"X-Okapi-Tenant", "diku"}, 413, ""},
		{"sign dummy", "POST", "/token/sign", map[string]any{"payload": map[string]any{"sub": "a", "dummy": true}}, []string{"X-Okapi-Tenant", "diku"}, 201, ""},
		{"refresh garbage token", "POST", "/token/refresh", map[string]string{"refreshToken": "a.b.c.d.e"}, []string{"X-Okapi-Tenant", "diku"}, 401, "Invalid token"},
		{"refresh with access token", "POST", "/token/refresh", map[string]string{"refreshToken": p.AccessToken}, []string{"X-Okapi-Tenant", "diku"}, 401, "Invalid token"},
		{"refresh other tenant", "POST", "/token/refresh", map[string]string{"refreshToken": p.RefreshToken}, []string{"X-Okapi-Tenant", "other"}, 403, "Invalid token"},
		{"refresh missing field", "POST", "/token/refresh", map[string]string{}, []string{"X-Okapi-Tenant", "diku"}, 400, ""},
		{"refresh extra field", "POST", "/token/refresh", map[string]string{"refreshToken": "x", "y": "z"}, []string{"X-Okapi-Tenant", "diku"}, 400, ""},
		{"invalidate garbage", "POST", "/token/invalidate", map[string]string{"refreshToken": "nonsense"}, []string{"X-Okapi-Tenant", "diku"}, 401, "Invalid token"},
		{"invalidate bad body", "POST", "/token/invalidate", "[]", []string{"X-Okapi-Tenant", "diku"}, 400, ""},
		{"invalidate other tenant", "POST", "/token/invalidate", map[string]string{"refreshToken": p.RefreshToken}, []string{"X-Okapi-Tenant", "other"}, 403, "Invalid token"},
		{"invalidate-all with refresh token", "POST", "/token/invalidate-all", nil, []string{"X-Okapi-Tenant", "diku", "X-Okapi-Token", p.RefreshToken}, 401, "Invalid token"},
		{"legacy token", "POST", "/token", map[string]any{"payload": map[string]any{"sub": "a", "user_id": userID}}, []string{"X-Okapi-Tenant", "diku"}, 201, ""},
		{"legacy token not a legacy tenant", "POST", "/token", map[string]any{"payload": map[string]any{"sub": "a"}}, []string{"X-Okapi-Tenant", "other"}, 404, "Error: Tenant not a legacy token tenant as specified in this module's environment or system property. Cannot issue non-expiring legacy token."},
		{"legacy token bad body on non-legacy tenant", "POST", "/token", "{}", []string{"X-Okapi-Tenant", "other"}, 400, ""},
		{"legacy refreshtoken", "POST", "/refreshtoken", map[string]string{"userId": userID, "sub": "a"}, []string{"X-Okapi-Tenant", "diku"}, 201, ""},
		{"legacy refreshtoken userId not a UUID", "POST", "/refreshtoken", map[string]string{"userId": "alice", "sub": "a"}, []string{"X-Okapi-Tenant", "diku"}, 400, "Bad Request: user_id must be a UUID"},
		{"legacy refreshtoken user_id instead of userId", "POST", "/refreshtoken", map[string]string{"user_id": userID, "sub": "a"}, []string{"X-Okapi-Tenant", "diku"}, 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := g.do(tc.method, tc.path, tc.body, tc.headers...)
			expectStatus(t, r, tc.status)
			if tc.text != "" && string(r.Body) != tc.text {
				t.Errorf("body %q, want %q", r.Body, tc.text)
			}
			if r.Status >= 400 && !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("error content-type %q, want text/plain", r.Header.Get("Content-Type"))
			}
			if r.Status == 405 && r.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
}

func TestFolioUntrustedSignerAndMissingTenant(t *testing.T) {
	// Only a signer secret is accepted here, and there is no default tenant.
	const cf = `{
	admin 127.0.0.1:{{.Admin}}
	tokengate {
		store memory
	}
}
http://127.0.0.1:{{.GW}} {
	bind 127.0.0.1
	tokengate_folio {
		signer_secret_hash sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
	}
	tokengate_protect
	reverse_proxy 127.0.0.1:{{.Up}}
}
http://127.0.0.1:{{.Up}} {
	bind 127.0.0.1
	tokengate_echo
}
`
	g := startGateway(t, cf, "/admin/health")
	body := map[string]any{"payload": map[string]any{"sub": "a", "user_id": userID}}
	r := g.do("POST", "/token/sign", body, "X-Okapi-Tenant", "diku")
	expectStatus(t, r, http.StatusUnauthorized)
	if want := "Missing required module-level permissions for endpoint '/token/sign': auth.token.sign.post"; string(r.Body) != want {
		t.Errorf("body %q, want %q", r.Body, want)
	}
	expectStatus(t, g.do("POST", "/token/sign", body, "X-Okapi-Tenant", "diku", "X-Tokengate-Signer", "wrong"), http.StatusUnauthorized)
	expectStatus(t, g.do("POST", "/token", body, "X-Okapi-Tenant", "diku"), http.StatusUnauthorized)
	expectStatus(t, g.do("POST", "/refreshtoken", map[string]string{"userId": userID, "sub": "a"}, "X-Okapi-Tenant", "diku"), http.StatusUnauthorized)
	// sha256("test") is the configured hash.
	expectStatus(t, g.do("POST", "/token/sign", body, "X-Okapi-Tenant", "diku", "X-Tokengate-Signer", "test"), http.StatusCreated)
	r = g.do("POST", "/token/sign", body, "X-Tokengate-Signer", "test")
	expectStatus(t, r, http.StatusBadRequest)
	if string(r.Body) != "Missing header: X-Okapi-Tenant" {
		t.Errorf("body %q", r.Body)
	}
}

func TestProtectRefusesForeignAndMalformedTokens(t *testing.T) {
	g := startGateway(t, folioCaddyfile, "/admin/health")
	p := sign(t, g, "diku", "alice", userID)
	good := jwtPayload(t, p.AccessToken)
	header := strings.Split(p.AccessToken, ".")[0]
	hb, _ := base64.RawURLEncoding.DecodeString(header)
	var hdr map[string]any
	_ = json.Unmarshal(hb, &hdr)
	kid, _ := hdr["kid"].(string)

	// Another ES256 key, even with our kid.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	foreign := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(good))
	foreign.Header["kid"] = kid
	foreignTok, _ := foreign.SignedString(other)

	// alg none.
	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(good)).SignedString(jwt.UnsafeAllowNoneSignatureType)

	// HS256 "signed" with the gateway's public key (the classic confusion),
	// with and without our kid.
	jwks := g.do("GET", "/.well-known/jwks.json", nil)
	expectStatus(t, jwks, 200)
	hsWithKid := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(good))
	hsWithKid.Header["kid"] = kid
	hsTok1, _ := hsWithKid.SignedString(jwks.Body)
	hsTok2, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(good)).SignedString(jwks.Body)

	// Expired token signed by the right key is not reachable from outside;
	// a token for another tenant is.
	otherTenant := sign(t, g, "other", "alice", userID)

	tampered := p.AccessToken[:len(p.AccessToken)-4] + "AAAA"
	cases := map[string]struct {
		token  string
		header []string
		status int
	}{
		"foreign key":             {foreignTok, nil, 401},
		"alg none":                {noneTok, nil, 401},
		"HS256 with public key":   {hsTok1, nil, 401},
		"HS256 without kid":       {hsTok2, nil, 401},
		"tampered signature":      {tampered, nil, 401},
		"refresh token as bearer": {p.RefreshToken, nil, 401},
		"garbage":                 {"not-a-token", nil, 401},
		"oversized":               {strings.Repeat("a", 20<<10), nil, 401},
		// A valid token of another tenant: mod-authtoken's 403 (AuthTokenTest,
		// X-Okapi-Tenant mismatch), as insufficient_scope (RFC 6750 §3.1).
		"other tenant header":  {p.AccessToken, []string{"X-Okapi-Tenant", "other"}, 403},
		"other tenant default": {otherTenant.AccessToken, nil, 403},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := g.do("GET", "/x", nil, append([]string{"Authorization", "Bearer " + tc.token}, tc.header...)...)
			expectStatus(t, r, tc.status)
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
			}
			if strings.Contains(string(r.Body), "headers") {
				t.Error("the upstream answered")
			}
			code := "invalid_token"
			if tc.status == http.StatusForbidden {
				code = "insufficient_scope"
				if want := `Bearer realm="tokengate", error="insufficient_scope", error_description="the token belongs to another tenant"`; r.Header.Get("WWW-Authenticate") != want {
					t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
				}
			}
			var m map[string]any
			if err := json.Unmarshal(r.Body, &m); err != nil || m["error"] != code {
				t.Errorf("body %s", r.Body)
			}
		})
	}
	// The other tenant's token works when the request names its tenant.
	upstreamHeaders(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+otherTenant.AccessToken, "X-Okapi-Tenant", "other"))

	// No token: 401 with a challenge carrying no error code (RFC 6750 §3).
	r := g.do("GET", "/x", nil)
	expectStatus(t, r, 401)
	if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="tokengate"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	// Conflicting tokens: 400.
	expectStatus(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+p.AccessToken, "X-Okapi-Token", otherTenant.AccessToken), 400)
	// Basic is not a bearer scheme.
	expectStatus(t, g.do("GET", "/x", nil, "Authorization", "Basic YTpi"), 400)
}

func TestProtectStripsSpoofedIdentityHeaders(t *testing.T) {
	g := startGateway(t, folioCaddyfile, "/admin/health")
	p := sign(t, g, "diku", "alice", userID)
	spoof := []string{
		"X-Okapi-User-Id", "evil-1",
		"x-okapi-user-id", "evil-2",
		"X_Okapi_User_Id", "evil-3",
		"X-OKAPI-PERMISSIONS", `["*"]`,
		"X-Tokengate-Subject", "root",
		"X_User_Name", "root",
		"X-User-Name", "root",
	}
	for _, path := range []string{"/protected", "/public/page"} {
		hdrs := append([]string{}, spoof...)
		if path == "/protected" {
			hdrs = append(hdrs, "Authorization", "Bearer "+p.AccessToken)
		}
		h := upstreamHeaders(t, g.do("GET", path, nil, hdrs...))
		for name, values := range h {
			for _, v := range values {
				if strings.Contains(v, "evil") || v == "root" || v == `["*"]` {
					t.Errorf("%s: spoofed %s: %s reached the upstream", path, name, v)
				}
			}
		}
		if path == "/protected" {
			if got := h["X-Okapi-User-Id"]; len(got) != 1 || got[0] != userID {
				t.Errorf("X-Okapi-User-Id = %v", got)
			}
		} else if _, ok := h["X-Okapi-User-Id"]; ok {
			t.Error("public path got an identity header")
		}
	}
	// CORS preflight passes without a token (allow_preflight).
	r := g.do("OPTIONS", "/protected", nil, "Origin", "http://example.test", "Access-Control-Request-Method", "GET")
	expectStatus(t, r, 200)
	// A plain OPTIONS is not a preflight.
	expectStatus(t, g.do("OPTIONS", "/protected", nil), 401)
}

func TestStateSurvivesRestartAndReload(t *testing.T) {
	g := startGateway(t, folioCaddyfile, "/admin/health")
	keep := sign(t, g, "diku", "alice", userID)
	revoked := sign(t, g, "diku", "bob", "b0b00000-6b3b-4f1d-9c45-0b0b3a6f8f11")
	expectStatus(t, g.do("POST", "/token/invalidate-all", nil, "X-Okapi-Tenant", "diku", "X-Okapi-Token", revoked.AccessToken), 204)
	jwks1 := g.do("GET", "/.well-known/jwks.json", nil).Body

	check := func(stage string) {
		t.Helper()
		if r := g.do("GET", "/x", nil, "Authorization", "Bearer "+keep.AccessToken); r.Status != 200 {
			t.Fatalf("%s: valid token refused: %d %s", stage, r.Status, r.Body)
		}
		if r := g.do("GET", "/x", nil, "Authorization", "Bearer "+revoked.AccessToken); r.Status != 401 {
			t.Fatalf("%s: revoked token accepted: %d", stage, r.Status)
		}
		if jwks := g.do("GET", "/.well-known/jwks.json", nil).Body; string(jwks) != string(jwks1) {
			t.Fatalf("%s: keys changed", stage)
		}
	}
	check("before")
	g.restart()
	check("after restart")
	r := refresh(g, "diku", keep.RefreshToken)
	expectStatus(t, r, http.StatusCreated)
	used := keep.RefreshToken
	_ = json.Unmarshal(r.Body, &keep)

	// A crash (SIGKILL: no cleanup, no graceful close of the store) loses
	// nothing that was acknowledged: the rotation just answered is there,
	// so the used token is still used up and its successor works.
	g.crash()
	g.start()
	check("after crash")
	expectStatus(t, refresh(g, "diku", keep.RefreshToken), http.StatusCreated)
	expectStatus(t, refresh(g, "diku", used), http.StatusUnauthorized) // replay: logs alice out
	keep = sign(t, g, "diku", "alice", userID)

	// Reload with a changed config (a new public path): same store, same
	// keys, same revocations; the old refresh token is still used up.
	g.reload(strings.Replace(folioCaddyfile, "public /public/*", "public /public/* /open/*", 1))
	check("after reload")
	expectStatus(t, g.do("GET", "/open/x", nil), 200)
	expectStatus(t, refresh(g, "diku", keep.RefreshToken), http.StatusCreated)
}

func TestFolioShortTTLExpires(t *testing.T) {
	g := startGateway(t, folioCaddyfile, "/admin/health")
	p := sign(t, g, "short", "alice", userID) // tenant "short": 2s access, 4s refresh
	upstreamHeaders(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+p.AccessToken, "X-Okapi-Tenant", "short"))
	time.Sleep(2100 * time.Millisecond)
	r := g.do("GET", "/x", nil, "Authorization", "Bearer "+p.AccessToken, "X-Okapi-Tenant", "short")
	expectStatus(t, r, 401)
	if !strings.Contains(r.Header.Get("WWW-Authenticate"), "expired") {
		t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
	}
	time.Sleep(2 * time.Second)
	expectStatus(t, refresh(g, "short", p.RefreshToken), 401)
}

func TestFolioRefreshGraceWindow(t *testing.T) {
	cf := strings.Replace(folioCaddyfile, "legacy_tenants diku", "legacy_tenants diku\n\t\trefresh_grace 30s", 1)
	g := startGateway(t, cf, "/admin/health")
	p := sign(t, g, "diku", "alice", userID)
	r1 := refresh(g, "diku", p.RefreshToken)
	r2 := refresh(g, "diku", p.RefreshToken)
	expectStatus(t, r1, 201)
	expectStatus(t, r2, 201)
	if string(r1.Body) != string(r2.Body) {
		t.Fatalf("grace window returned a different pair:\n%s\n%s", r1.Body, r2.Body)
	}
	var p2 folioPair
	_ = json.Unmarshal(r1.Body, &p2)
	// The successor works; an older token than the previous one does not.
	expectStatus(t, refresh(g, "diku", p2.RefreshToken), 201)
	expectStatus(t, refresh(g, "diku", p.RefreshToken), 401)
}

// TestFolioInvalidateAllReadsTheTokenLikeProtect: /token/invalidate-all
// reads the caller's token exactly as tokengate_protect does. It used to
// prefer X-Okapi-Token and ignore a conflicting bearer token (and another
// Authorization scheme), logging out the user of whichever token it
// picked; now a conflict is a 400 that revokes nothing.
func TestFolioInvalidateAllReadsTheTokenLikeProtect(t *testing.T) {
	g := startGateway(t, folioCaddyfile, "/admin/health")
	alice := sign(t, g, "diku", "alice", userID)
	bob := sign(t, g, "diku", "bob", "0e2f7c4b-3a1d-4e5f-8a9b-1c2d3e4f5a6b")
	for name, headers := range map[string][]string{
		"conflicting tokens": {"X-Okapi-Token", alice.AccessToken, "Authorization", "Bearer " + bob.AccessToken},
		"basic scheme":       {"X-Okapi-Token", alice.AccessToken, "Authorization", "Basic eDp5"},
	} {
		r := g.do("POST", "/token/invalidate-all", nil, append([]string{"X-Okapi-Tenant", "diku"}, headers...)...)
		if r.Status != http.StatusBadRequest || r.Header.Get("Content-Type") != "text/plain" {
			t.Errorf("%s: %d %q, want 400 text/plain", name, r.Status, r.Body)
		}
	}
	// Nothing was revoked: both users' tokens still work.
	for _, tok := range []string{alice.AccessToken, bob.AccessToken} {
		expectStatus(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+tok), http.StatusOK)
	}
	// The bearer token alone is read as tokengate_protect reads it.
	expectStatus(t, g.do("POST", "/token/invalidate-all", nil, "X-Okapi-Tenant", "diku", "Authorization", "bearer "+bob.AccessToken), http.StatusNoContent)
	expectStatus(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+bob.AccessToken), http.StatusUnauthorized)
	expectStatus(t, g.do("GET", "/x", nil, "Authorization", "Bearer "+alice.AccessToken), http.StatusOK)
}

// metricValue returns the value of an unlabelled metric in a Prometheus
// text exposition.
func metricValue(t *testing.T, body []byte, name string) float64 {
	t.Helper()
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("metrics lack %s", name)
	return 0
}
