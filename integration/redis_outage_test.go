package integration

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/tokencore/storetest"
)

// These tests kill the gateway's Redis (a server of their own) and check
// the rule for every protocol: a revocation is stored and applied
// everywhere, or the caller gets 503 with Retry-After in its protocol's
// error shape and nothing changed; issuing endpoints answer 503 too, and
// so do protected routes once the revocation view cannot be confirmed; the
// same requests succeed once Redis is back.

func TestRedisOutageFolio(t *testing.T) {
	srv := storetest.StartDurableRedisServer(t)
	g := startGateway(t, onRedis(t, folioCaddyfile, srv.Addr(), "max_staleness 200ms"), "/admin/health")
	s := sign(t, g, "diku", "alice", userID)
	bearer := []string{"Authorization", "Bearer " + s.AccessToken}
	upstreamHeaders(t, g.do("GET", "/orders", nil, bearer...))

	srv.Stop()
	waitDown(srv)
	const folioText = "Service Unavailable: the token store cannot be reached"
	expect503(t, "sign", g.do("POST", "/token/sign", map[string]any{"payload": map[string]any{"sub": "bob", "user_id": userID}},
		"X-Okapi-Tenant", "diku"), folioText)
	expect503(t, "refresh", refresh(g, "diku", s.RefreshToken), folioText)
	expect503(t, "invalidate", g.do("POST", "/token/invalidate", map[string]string{"refreshToken": s.RefreshToken},
		"X-Okapi-Tenant", "diku"), folioText)
	expect503(t, "invalidate-all", g.do("POST", "/token/invalidate-all", nil, "X-Okapi-Tenant", "diku",
		"X-Okapi-Token", s.AccessToken), folioText)
	r := g.do("GET", "/orders", nil, bearer...)
	expect503(t, "a protected route", r, `"error":"temporarily_unavailable"`)
	if r.Header.Get("WWW-Authenticate") != "" {
		t.Error("a 503 of a protected route challenges the client's credentials")
	}

	srv.Start()
	// Nothing was revoked during the outage: the token works again.
	eventually(t, http.StatusOK, func() *response { return g.do("GET", "/orders", nil, bearer...) })
	eventually(t, http.StatusNoContent, func() *response {
		return g.do("POST", "/token/invalidate-all", nil, "X-Okapi-Tenant", "diku", "X-Okapi-Token", s.AccessToken)
	})
	expectStatus(t, g.do("GET", "/orders", nil, bearer...), http.StatusUnauthorized)
	expectStatus(t, refresh(g, "diku", s.RefreshToken), http.StatusUnauthorized)
	sign(t, g, "diku", "bob", userID)
}

func TestRedisOutageOAuth(t *testing.T) {
	srv := storetest.StartDurableRedisServer(t)
	t.Setenv("TG_SHORT_SECRET", "sh0rt-secret")
	cf := strings.Replace(oauthCaddyfile, "{{.Grace}}", "", 1)
	cf = strings.Replace(cf, "sha256:b6e2b1f2b3ba9a6f0e2e0f8b5d2b5f8d3c9a4e0f6a7b8c9d0e1f2a3b4c5d6e7f", sha256Hash(rsSecret), 1)
	g := startGateway(t, onRedis(t, cf, srv.Addr(), "max_staleness 200ms"), "/.well-known/oauth-authorization-server")
	c := createToken(t, g, "web", "alice", "api.read")
	web := []string{"Authorization", basicAuth("web", "w3b")}
	bearer := []string{"Authorization", "Bearer " + c.AccessToken}
	expectStatus(t, g.do("GET", "/orders", nil, bearer...), http.StatusOK)

	srv.Stop()
	waitDown(srv)
	const oauthErr = `{"error":"temporarily_unavailable"`
	expect503(t, "revoke", g.form("/oauth2/revoke", "token="+url.QueryEscape(c.RefreshToken), web...), oauthErr)
	expect503(t, "token", g.form("/oauth2/token", "grant_type=refresh_token&refresh_token="+url.QueryEscape(c.RefreshToken), web...), oauthErr)
	const envelope = `"action":"INTERNAL_SERVER_ERROR"`
	expect503(t, "management revoke", g.op("POST", "/auth/token/revoke", map[string]string{"subject": "alice"}), envelope)
	expect503(t, "management create", g.op("POST", "/auth/token/create", map[string]any{
		"grantType": "AUTHORIZATION_CODE", "clientId": "web", "subject": "bob", "scopes": []string{"api.read"}}), envelope)
	expect503(t, "a protected route", g.do("GET", "/orders", nil, bearer...), `"error":"temporarily_unavailable"`)

	srv.Start()
	eventually(t, http.StatusOK, func() *response { return g.do("GET", "/orders", nil, bearer...) })
	eventually(t, http.StatusOK, func() *response {
		return g.form("/oauth2/revoke", "token="+url.QueryEscape(c.RefreshToken), web...)
	})
	expectStatus(t, g.do("GET", "/orders", nil, bearer...), http.StatusUnauthorized)
	createToken(t, g, "web", "bob", "api.read")
}

func TestRedisOutageEDI(t *testing.T) {
	srv := storetest.StartDurableRedisServer(t)
	g := startGateway(t, onRedis(t, ediCaddyfile(""), srv.Addr(), "max_staleness 200ms"), "/healthz")
	pair := exchangeKey(t, g, ediAliceSecret)
	cookie := []string{"Cookie", "edi-token=" + pair.EDI + "; auth-token=" + pair.Pasta}
	expectStatus(t, g.do("GET", "/package/x", nil, cookie...), http.StatusOK)
	revoke := func() *response {
		return g.do("POST", "/api/demo/edi/subjects/"+ediAliceID+"/revoke", nil, "Authorization", "Bearer "+ediOperatorKey)
	}

	srv.Stop()
	waitDown(srv)
	r := g.do("POST", "/auth/v1/key", map[string]string{"key": ediAliceSecret})
	expect503(t, "key exchange", r, `"method":"getTokenByKey"`)
	expectEDIAnswer(t, r, http.StatusServiceUnavailable, "getTokenByKey", "Service unavailable")
	expect503(t, "subject revoke", revoke(), `"error":"temporarily_unavailable"`)
	expect503(t, "refresh", refreshEDI(g, pair.Pasta, pair.EDI), `"method":"refreshToken"`)
	expect503(t, "a protected route", g.do("GET", "/package/x", nil, cookie...), `"error":"temporarily_unavailable"`)

	srv.Start()
	// The failed revocation was applied nowhere (it used to stay in force
	// on this instance only): the pair works again.
	eventually(t, http.StatusOK, func() *response { return g.do("GET", "/package/x", nil, cookie...) })
	eventually(t, http.StatusOK, revoke)
	expectStatus(t, g.do("GET", "/package/x", nil, cookie...), http.StatusUnauthorized)
}

// TestRedisReplicaNotConfirmed: the gateway's Redis has a replica; cut off
// (SIGSTOP), it cannot confirm writes, so a revocation answers 503 rather
// than being acknowledged and lost in a failover; back, the retry answers.
func TestRedisReplicaNotConfirmed(t *testing.T) {
	primary := storetest.StartDurableRedisServer(t)
	replica := storetest.StartDurableRedisServer(t, "--replicaof", "127.0.0.1", itoa(primary.Port))
	defer replica.Freeze(false)
	waitReplicaOnline(t, primary)
	g := startGateway(t, onRedis(t, folioCaddyfile, primary.Addr(), "replica_ack_timeout 200ms"), "/admin/health")
	s := sign(t, g, "diku", "alice", userID)

	replica.Freeze(true)
	invalidate := func() *response {
		return g.do("POST", "/token/invalidate", map[string]string{"refreshToken": s.RefreshToken}, "X-Okapi-Tenant", "diku")
	}
	expect503(t, "invalidate with the replica cut off", invalidate(), "Service Unavailable")
	expect503(t, "sign with the replica cut off", g.do("POST", "/token/sign",
		map[string]any{"payload": map[string]any{"sub": "bob", "user_id": userID}}, "X-Okapi-Tenant", "diku"), "Service Unavailable")

	replica.Freeze(false)
	eventually(t, http.StatusNoContent, invalidate)
	expectStatus(t, g.do("GET", "/orders", nil, "Authorization", "Bearer "+s.AccessToken), http.StatusUnauthorized)
}

// waitReplicaOnline waits until primary reports its replica in sync.
func waitReplicaOnline(t *testing.T, primary *storetest.RedisServer) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: primary.Addr()})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		info, _ := c.Info(t.Context(), "replication").Result()
		if strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not come online:\n%s", info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
