package integration

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// opProcess is a running oidc-provider (testdata/oidc_provider.mjs): a
// real OpenID Provider written independently of tokengate.
type opProcess struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
	done chan struct{}
	logs *syncBuffer
}

// opKeys writes a JWK Set of one new private P-256 key named kid.
func opKeys(t *testing.T, kid string) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k, KeyID: kid, Use: "sig", Algorithm: "ES256"}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), kid+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startOP starts the provider on port with the key file; it fails (never
// skips) when node or the npm packages are missing: `npm ci` at the
// repository root installs them.
func startOP(t *testing.T, port int, keys string) *opProcess {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is required for the identity provider tests (Node.js 20 or later)")
	}
	if _, err := os.Stat("../node_modules/oidc-provider/package.json"); err != nil {
		t.Fatal("the npm package oidc-provider is missing: run `npm ci` at the repository root")
	}
	op := &opProcess{t: t, port: port, logs: &syncBuffer{}}
	op.cmd = exec.Command("node", "testdata/oidc_provider.mjs", fmt.Sprint(port), keys)
	op.cmd.Stderr = op.logs
	out, err := op.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := op.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				close(ready)
			}
		}
	}()
	op.done = make(chan struct{})
	go func() { _ = op.cmd.Wait(); close(op.done) }()
	select {
	case <-ready:
	case <-op.done:
		t.Fatalf("oidc-provider exited:\n%s", op.logs.String())
	case <-time.After(30 * time.Second):
		op.stop()
		t.Fatalf("oidc-provider did not start:\n%s", op.logs.String())
	}
	t.Cleanup(op.stop)
	return op
}

func (op *opProcess) stop() {
	select {
	case <-op.done:
		return
	default:
	}
	_ = op.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-op.done:
	case <-time.After(5 * time.Second):
		_ = op.cmd.Process.Kill()
		<-op.done
	}
}

func (op *opProcess) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", op.port, path)
}

// token gets an access token for resource with the client credentials grant.
func (op *opProcess) token(resource, scope string) string {
	op.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}, "scope": {scope}}
	r := doRequest(op.t, http.DefaultClient, http.MethodPost, op.url("/token"), form.Encode(),
		"Content-Type", "application/x-www-form-urlencoded", "Authorization", basicAuth("app", "app-secret"))
	expectStatus(op.t, r, http.StatusOK)
	tok, _ := r.json(op.t)["access_token"].(string)
	if tok == "" {
		op.t.Fatalf("no access token: %s", r.Body)
	}
	return tok
}

// revoke revokes token at the provider (RFC 7009).
func (op *opProcess) revoke(token string) {
	op.t.Helper()
	r := doRequest(op.t, http.DefaultClient, http.MethodPost, op.url("/token/revocation"), url.Values{"token": {token}}.Encode(),
		"Content-Type", "application/x-www-form-urlencoded", "Authorization", basicAuth("app", "app-secret"))
	expectStatus(op.t, r, http.StatusOK)
}

// idpCaddyfile trusts the provider on port OPPORT (discovery, at+jwt,
// audience urn:api), with short key and cache lifetimes so that the test
// sees them end: keys refreshed every 1-2 s, used 3 s past that when the
// provider is down; introspection answers reused 2 s.
const idpCaddyfile = `{
	admin 127.0.0.1:{{.Admin}}
	tokengate {
		store bolt {{.Dir}}/state/tokengate.db
		issuer http://127.0.0.1:{{.GW}}
		operator_key_hash sha256:4a7c449d22a99026fac16a47621ff68792ff589f72334ea3950ce186a5615e9a
		trusted_issuer idp {
			discovery http://127.0.0.1:OPPORT
			audience urn:api
			algorithms ES256 RS256
			typ at+jwt
			allow_http_loopback
			keys_refresh 1s 2s
			stale_window 3s
			unknown_kid_interval 1s
			claim_header client_id X-Idp-Client
			introspection {
				client gateway {env.TG_IT_IDP_SECRET}
				cache_ttl 2s
				inactive_ttl 1s
			}
		}
	}
}
http://127.0.0.1:{{.GW}} {
	bind 127.0.0.1
	tokengate_issuer_admin
	route /api/* {
		tokengate_protect {
			issuers self idp
		}
		reverse_proxy 127.0.0.1:{{.Up}}
	}
	route /write/* {
		tokengate_protect {
			issuers idp
			require scope write
		}
		reverse_proxy 127.0.0.1:{{.Up}}
	}
	route /own/* {
		tokengate_protect
		reverse_proxy 127.0.0.1:{{.Up}}
	}
}
http://127.0.0.1:{{.Up}} {
	bind 127.0.0.1
	tokengate_echo
}
`

// echoHeader returns the first value of header name as the upstream saw it.
func echoHeader(t *testing.T, r *response, name string) string {
	t.Helper()
	headers, _ := r.json(t)["headers"].(map[string]any)
	vs, _ := headers[name].([]any)
	if len(vs) == 0 {
		return ""
	}
	s, _ := vs[0].(string)
	return s
}

func idpBearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// TestExternalIssuerOIDCProvider protects an upstream with the tokens of a
// real oidc-provider: JWT access tokens (RFC 9068) and opaque tokens by
// introspection, key rotation, provider outage.
func TestExternalIssuerOIDCProvider(t *testing.T) {
	t.Setenv("TG_IT_IDP_SECRET", "gw-secret")
	opPort := freePort(t)
	op := startOP(t, opPort, opKeys(t, "k1"))
	g := startGateway(t, strings.ReplaceAll(idpCaddyfile, "OPPORT", fmt.Sprint(opPort)), "/own/")
	parent := t // the provider restarted by a subtest outlives it

	refused := func(t *testing.T, tok, path, desc string) {
		t.Helper()
		r := g.do(http.MethodGet, path, nil, idpBearer(tok)...)
		expectStatus(t, r, http.StatusUnauthorized)
		if got, _ := r.json(t)["error_description"].(string); !strings.Contains(got, desc) {
			t.Fatalf("error_description %q, want %q", got, desc)
		}
		if !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
		}
	}
	t.Run("operator revokes an external token by its jti", func(t *testing.T) {
		tok, other := op.token("urn:api", "read"), op.token("urn:api", "read")
		expectStatus(t, g.do(http.MethodGet, "/api/x", nil, idpBearer(tok)...), http.StatusOK)
		admin := func(body any, key string) *response {
			return g.do(http.MethodPost, "/tokengate/issuers/revoke", body, "Authorization", "Bearer "+key, "Content-Type", "application/json")
		}
		expectStatus(t, admin(map[string]string{"issuer": "idp", "token": tok}, "wrong-key"), http.StatusUnauthorized)
		expectStatus(t, admin(map[string]string{"issuer": "nope", "token": tok}, operatorKey), http.StatusBadRequest)
		expectStatus(t, admin(map[string]any{"jti": "x", "expires_at": time.Now().Add(365 * 24 * time.Hour).Unix()}, operatorKey), http.StatusBadRequest)
		r := admin(map[string]string{"issuer": "idp", "token": tok}, operatorKey)
		expectStatus(t, r, http.StatusOK)
		if jti, _ := r.json(t)["jti"].(string); jti == "" {
			t.Fatalf("answer %s", r.Body)
		}
		refused(t, tok, "/api/x", "revoked")
		// The same subject's other token is untouched.
		expectStatus(t, g.do(http.MethodGet, "/api/x", nil, idpBearer(other)...), http.StatusOK)
		// By jti alone, with an expiry.
		third := op.token("urn:api", "read")
		claims := strings.Split(third, ".")[1]
		raw, err := base64.RawURLEncoding.DecodeString(claims)
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			JTI string `json:"jti"`
			Exp int64  `json:"exp"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		expectStatus(t, admin(map[string]any{"jti": c.JTI, "expires_at": c.Exp}, operatorKey), http.StatusOK)
		refused(t, third, "/api/x", "revoked")
	})
	t.Run("valid JWT", func(t *testing.T) {
		r := g.do(http.MethodGet, "/api/x", nil, idpBearer(op.token("urn:api", "read write"))...)
		expectStatus(t, r, http.StatusOK)
		for name, want := range map[string]string{
			"X-Tokengate-Subject": "app", "X-Tokengate-Client-Id": "app", "X-Tokengate-Scope": "read write", "X-Idp-Client": "app",
		} {
			if got := echoHeader(t, r, name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
	})
	t.Run("missing scope", func(t *testing.T) {
		readOnly := op.token("urn:api", "read")
		r := g.do(http.MethodGet, "/api/x", nil, idpBearer(readOnly)...)
		expectStatus(t, r, http.StatusOK)
		if got := echoHeader(t, r, "X-Tokengate-Scope"); got != "read" {
			t.Fatalf("X-Tokengate-Scope = %q, want read", got)
		}
		r = g.do(http.MethodGet, "/write/x", nil, idpBearer(readOnly)...)
		expectStatus(t, r, http.StatusForbidden)
		if h := r.Header.Get("WWW-Authenticate"); !strings.Contains(h, `error="insufficient_scope"`) || !strings.Contains(h, `scope="write"`) {
			t.Fatalf("WWW-Authenticate %q", h)
		}
		expectStatus(t, g.do(http.MethodGet, "/write/x", nil, idpBearer(op.token("urn:api", "read write"))...), http.StatusOK)
	})
	t.Run("client headers are not trusted", func(t *testing.T) {
		h := append(idpBearer(op.token("urn:api", "read")), "X-Idp-Client", "forged")
		r := g.do(http.MethodGet, "/api/x", nil, h...)
		expectStatus(t, r, http.StatusOK)
		if got := echoHeader(t, r, "X-Idp-Client"); got != "app" {
			t.Fatalf("X-Idp-Client = %q", got)
		}
	})
	t.Run("wrong audience", func(t *testing.T) {
		refused(t, op.token("urn:other", "read"), "/api/x", "another audience")
	})
	t.Run("route without the issuer", func(t *testing.T) {
		refused(t, op.token("urn:api", "read"), "/own/x", "signature")
	})
	t.Run("wrong issuer, same keys", func(t *testing.T) {
		// Another provider with the very same keys: the signature is
		// good, the issuer is not trusted.
		otherPort := freePort(t)
		other := startOP(t, otherPort, op.cmd.Args[3])
		tok := other.token("urn:api", "read")
		other.stop()
		refused(t, tok, "/api/x", "signature") // no trusted issuer of that iss: tokengate's own verifier refuses it
	})
	t.Run("expired", func(t *testing.T) {
		tok := op.token("urn:api:short", "read")
		time.Sleep(2100 * time.Millisecond)
		refused(t, tok, "/api/x", "expired")
	})
	t.Run("opaque token: active, then revoked at the provider", func(t *testing.T) {
		tok := op.token("urn:api:opaque", "read")
		r := g.do(http.MethodGet, "/api/x", nil, idpBearer(tok)...)
		expectStatus(t, r, http.StatusOK)
		if got := echoHeader(t, r, "X-Tokengate-Scope"); got != "read" {
			t.Fatalf("X-Tokengate-Scope = %q", got)
		}
		op.revoke(tok)
		revoked := time.Now()
		// The active answer is reused for cache_ttl (2 s), then the next
		// introspection says inactive.
		expectStatus(t, g.do(http.MethodGet, "/api/x", nil, idpBearer(tok)...), http.StatusOK)
		for {
			r := g.do(http.MethodGet, "/api/x", nil, idpBearer(tok)...)
			if r.Status == http.StatusUnauthorized {
				if got, _ := r.json(t)["error_description"].(string); got != "the token is not active" {
					t.Fatalf("error_description %q", got)
				}
				break
			}
			expectStatus(t, r, http.StatusOK)
			if time.Since(revoked) > 4*time.Second {
				t.Fatal("revoked opaque token still accepted 4 s after its revocation (cache_ttl 2s)")
			}
			time.Sleep(100 * time.Millisecond)
		}
		refused(t, "not-a-token-of-anyone", "/api/x", "not active")
	})
	t.Run("key rotation: the new kid is picked up on the next request", func(t *testing.T) {
		old := op.token("urn:api", "read")
		expectStatus(t, g.do(http.MethodGet, "/api/x", nil, idpBearer(old)...), http.StatusOK)
		op.stop()
		op = startOP(parent, opPort, opKeys(parent, "k2"))
		time.Sleep(1100 * time.Millisecond) // unknown_kid_interval since the last refetch
		expectStatus(t, g.do(http.MethodGet, "/api/x", nil, idpBearer(op.token("urn:api", "read"))...), http.StatusOK)
		// The old key is gone from the provider's set: its tokens stop.
		refused(t, old, "/api/x", "signature")
	})
	t.Run("provider stopped: cached keys within the stale window, then refused", func(t *testing.T) {
		tok := op.token("urn:api", "read")
		expectStatus(t, g.do(http.MethodGet, "/api/x", nil, idpBearer(tok)...), http.StatusOK)
		op.stop()
		stopped := time.Now()
		expectStatus(t, g.do(http.MethodGet, "/api/x", nil, idpBearer(tok)...), http.StatusOK)
		for {
			r := g.do(http.MethodGet, "/api/x", nil, idpBearer(tok)...)
			if r.Status == http.StatusServiceUnavailable {
				if d := time.Since(stopped); d < 2*time.Second {
					t.Fatalf("refused %s after the provider stopped, before the stale window (3s) could end", d)
				}
				if r.Header.Get("Retry-After") == "" {
					t.Fatal("503 without Retry-After")
				}
				break
			}
			expectStatus(t, r, http.StatusOK)
			if time.Since(stopped) > 8*time.Second {
				t.Fatal("still accepted 8 s after the provider stopped (refresh 2s + stale window 3s)")
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}
