package oauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/store/bolt"
	"github.com/tokengate/tokengate/tokencore/store/memory"
	redisstore "github.com/tokengate/tokengate/tokencore/store/redis"
)

const testRedisAddr = "127.0.0.1:6379"

// backends opens a fresh store of each kind. Redis runs under a random key
// prefix removed at the end, and fails the test when no server answers.
func backends() map[string]func(t *testing.T) tokencore.Store {
	return map[string]func(t *testing.T) tokencore.Store{
		"memory": func(t *testing.T) tokencore.Store { return memory.New() },
		"bolt": func(t *testing.T) tokencore.Store {
			s, err := bolt.Open(filepath.Join(t.TempDir(), "tg.db"), bolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"redis": openTestRedis,
	}
}

func openTestRedis(t *testing.T) tokencore.Store {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	prefix := "tokengate-test:" + hex.EncodeToString(b) + ":"
	s, err := redisstore.Open(t.Context(), redisstore.Options{Addr: testRedisAddr, KeyPrefix: prefix, DialTimeout: time.Second})
	if err != nil {
		t.Fatalf("this test needs Redis at %s: %v", testRedisAddr, err)
	}
	t.Cleanup(func() {
		rdb := redis.NewClient(&redis.Options{Addr: testRedisAddr})
		defer rdb.Close()
		ctx := context.Background()
		keys, err := rdb.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return s
}

// withShortClient adds the client "short", whose access tokens live 3 s.
func withShortClient(tb testing.TB) fixtureOpt {
	return func(c *Config) {
		cs := []Client{{ID: "short", AuthMethod: AuthClientSecretBasic, SecretHash: HashSecret("sh0rt"),
			GrantTypes: []string{GrantTypeRefreshToken, GrantTypeAuthorizationCode}, Scopes: []string{"api.read"},
			AccessTTL: 3 * time.Second}}
		for _, id := range []string{"web", "post", "cli", "svc"} {
			cs = append(cs, *c.Clients.lookup(id))
		}
		clients, err := NewClients(cs)
		if err != nil {
			tb.Fatal(err)
		}
		c.Clients = clients
	}
}

var shortAuth = basic("short:sh0rt")

// introspectActive asks introspection, as the resource server, whether a
// token is active.
func (f *fixture) introspectActive(tb testing.TB, token string) bool {
	tb.Helper()
	r, oerr := f.svc.Introspect(f.ctx, post("token="+url.QueryEscape(token), rsAuth))
	if oerr != nil {
		tb.Fatalf("introspect: %v", oerr)
	}
	return r.Active
}

// TestRevocationOutlivesEveryTokenOfTheGrant reproduces issue 8 §2 on every
// store backend, in real time with a 1 s sweep and a 1 s revocation sync:
// a grant created with a 1 h access token, refreshed once with the
// client's 3 s access_ttl, then revoked. The first (1 h) token must stay
// refused by the proxy and by introspection after the 3 s token expired
// and was swept, and for an instance that loads the store afresh. The same
// for a grant revoked by a management revoke by subject.
func TestRevocationOutlivesEveryTokenOfTheGrant(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 6 s of real time")
	}
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := open(t)
			t.Cleanup(func() { st.Close() })
			f := newFixtureOn(t, newTestKeys(t), st, nil, withShortClient(t))
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); tokencore.RunSweeper(ctx, st, time.Second, nil, nil) }()
			go func() {
				defer wg.Done()
				tokencore.RunEvery(ctx, time.Second, func(ctx context.Context) { _ = f.e.SyncRevocations(ctx) })
			}()
			t.Cleanup(func() { cancel(); wg.Wait() })

			longLived := func(subject string) (first string, refreshed *TokenResponse) {
				c := f.create(t, `{"grantType":"AUTHORIZATION_CODE","clientId":"short","subject":"`+subject+`","scopes":["api.read"],"accessTokenDuration":3600}`)
				return c.AccessToken, mustRefresh(t, f, c.RefreshToken, "", shortAuth)
			}
			byGrant, r1 := longLived("alice")
			bySubject, r2 := longLived("bob")
			if oerr := f.svc.Revoke(f.ctx, post("token="+url.QueryEscape(r1.RefreshToken), shortAuth)); oerr != nil {
				t.Fatal(oerr)
			}
			if status, m := f.manage(t, "POST", "/auth/token/revoke", "application/json", `{"subject":"bob"}`); status != 200 || m["count"] != 1.0 {
				t.Fatalf("revoke by subject: %d %v", status, m)
			}
			refused := func(when string) {
				t.Helper()
				for _, tok := range []string{byGrant, r1.AccessToken, bySubject, r2.AccessToken} {
					proxyErr := f.proxyAccepts(tok)
					if tok == r1.AccessToken || tok == r2.AccessToken {
						if proxyErr == nil {
							t.Errorf("%s: the proxy accepts a short token of a revoked grant", when)
						}
						continue
					}
					if !errors.Is(proxyErr, tokencore.ErrTokenRevoked) {
						t.Errorf("%s: the proxy answers %v for a revoked 1 h token, want revoked", when, proxyErr)
					}
					if f.introspectActive(t, tok) {
						t.Errorf("%s: introspection says active for a revoked 1 h token", when)
					}
				}
			}
			refused("at once")
			time.Sleep(6 * time.Second) // 3 s token + 1 s sweep + 1 s sync + a second of slack
			refused("6 s later")
			// A new instance (or a restart) learns the revocations from the store.
			fresh := tokencore.NewRevocationView()
			rs, err := st.Revocations(f.ctx, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			fresh.Load(rs)
			for _, tok := range []string{byGrant, bySubject} {
				if _, err := tokencore.NewVerifier(f.e.Keys, nil, fresh, tokencore.VerifierOptions{}, nil).Verify(tok, ""); !errors.Is(err, tokencore.ErrTokenRevoked) {
					t.Errorf("an instance loading the store accepts a revoked 1 h token: %v", err)
				}
			}
		})
	}
}

// TestProxyAndIntrospectionAgree: for every way a token can be revoked or
// can lapse, the proxy and introspection (as a resource server, which may
// see every OAuth token) give the same verdict, before and after the
// sweeper and the revocation sync ran.
func TestProxyAndIntrospectionAgree(t *testing.T) {
	f := newFixture(t, false, withShortClient(t))
	type tc struct {
		name  string
		token string
	}
	var cases []tc
	add := func(name, token string) { cases = append(cases, tc{name, token}) }
	long := `{"grantType":"AUTHORIZATION_CODE","clientId":"short","subject":"%s","scopes":["api.read"],"accessTokenDuration":3600}`

	live := f.createFor(t, "web", "live", "api.read")
	add("live", live.AccessToken)
	a := f.create(t, fmt.Sprintf(long, "a"))
	ar := mustRefresh(t, f, a.RefreshToken, "", shortAuth)
	if oerr := f.svc.Revoke(f.ctx, post("token="+ar.AccessToken, shortAuth)); oerr != nil {
		t.Fatal(oerr)
	}
	add("first token of a grant revoked by RFC 7009", a.AccessToken)
	add("current token of a grant revoked by RFC 7009", ar.AccessToken)
	b := f.create(t, fmt.Sprintf(long, "b"))
	mustRefresh(t, f, b.RefreshToken, "", shortAuth)
	if status, _ := f.manage(t, "POST", "/auth/token/revoke", "application/json", `{"subject":"b"}`); status != 200 {
		t.Fatal(status)
	}
	add("first token of a grant revoked by subject", b.AccessToken)
	c := f.create(t, fmt.Sprintf(long, "c"))
	cr := mustRefresh(t, f, c.RefreshToken, "", shortAuth)
	mustRefresh(t, f, cr.RefreshToken, "", shortAuth)
	if _, oerr := f.refresh(cr.RefreshToken, "", shortAuth); oerr == nil {
		t.Fatal("replay accepted")
	}
	add("first token of a replayed grant", c.AccessToken)
	d := f.create(t, fmt.Sprintf(long, "d"))
	if status, _ := f.manage(t, "POST", "/auth/token/update", "application/json", `{"accessToken":"`+d.AccessToken+`","accessTokenValueUpdated":true}`); status != 200 {
		t.Fatal(status)
	}
	add("access token replaced by a management update", d.AccessToken)
	e := f.create(t, fmt.Sprintf(long, "EDI-0000000000000000000000000000000000000000"))
	if err := f.e.Revoke(f.ctx, tokencore.Revocation{Kind: tokencore.RevocationOfSubject, Key: "EDI-0000000000000000000000000000000000000000",
		NotBefore: f.clk.now(), ExpiresAt: f.e.PrincipalRevocationExpiry(f.clk.now())}); err != nil {
		t.Fatal(err)
	}
	add("token of a revoked subject", e.AccessToken)
	del := f.create(t, fmt.Sprintf(long, "del"))
	if status, _ := f.manage(t, "DELETE", "/auth/token/delete/"+del.AccessToken, "", ""); status != 204 {
		t.Fatal(status)
	}
	add("token of a deleted grant", del.AccessToken)
	short := f.createFor(t, "short", "s", "api.read")
	add("3 s token", short.AccessToken)

	check := func(when string, wantAccepted map[string]bool) {
		t.Helper()
		for _, c := range cases {
			proxy := f.proxyAccepts(c.token) == nil
			intro := f.introspectActive(t, c.token)
			if proxy != intro {
				t.Errorf("%s, %s: proxy accepts=%v, introspection active=%v", when, c.name, proxy, intro)
			}
			if proxy != wantAccepted[c.name] {
				t.Errorf("%s, %s: proxy accepts=%v, want %v", when, c.name, proxy, wantAccepted[c.name])
			}
		}
	}
	check("at once", map[string]bool{"live": true, "3 s token": true})
	f.clk.advance(10 * time.Minute) // every 3 s token (and the 600 s "live" one) expired
	if _, err := f.e.Store.Sweep(f.ctx, f.clk.now()); err != nil {
		t.Fatal(err)
	}
	if err := f.e.SyncRevocations(f.ctx); err != nil {
		t.Fatal(err)
	}
	check("10 min later, swept and synced", map[string]bool{})
}
