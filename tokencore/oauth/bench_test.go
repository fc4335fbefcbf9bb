package oauth

import (
	"testing"
)

// BenchmarkRefreshGrantBolt measures grant_type=refresh_token end to end
// below HTTP: form parsing, Basic client authentication, refresh-token
// decryption, the grant read, minting (an ES256 signature and a JWE), and
// the rotation compare-and-swap on the embedded bbolt store (one fsynced
// transaction per refresh, grouped by the store when refreshes run
// concurrently). Each of 8×GOMAXPROCS goroutines rotates its own grant,
// like the 16 workers of bench/run.sh on two cores.
func BenchmarkRefreshGrantBolt(b *testing.B) {
	f := newFixture(b, false)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		rt := f.createFor(b, "web", "bench", "api.read").RefreshToken
		for pb.Next() {
			resp, oerr := f.refresh(rt, "", webAuth)
			if oerr != nil {
				b.Error(oerr)
				return
			}
			rt = resp.RefreshToken
		}
	})
}

// BenchmarkIntrospect measures introspection of an active access token by
// a resource server: Basic authentication, the cached signature check and
// the revocation view (the proxy's verdict; no store read).
func BenchmarkIntrospect(b *testing.B) {
	f := newFixture(b, false)
	at := f.createFor(b, "web", "bench", "api.read").AccessToken
	req := post("token="+at, rsAuth)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, oerr := f.svc.Introspect(f.ctx, req)
			if oerr != nil || !r.Active {
				b.Errorf("introspect: %+v %v", r, oerr)
				return
			}
		}
	})
}

// BenchmarkAuthorizationCodeBolt measures one whole authorization code
// flow below HTTP on the embedded bbolt store: the authorization request
// (validation and sealing the ticket), authorization/issue (opening the
// ticket, creating the grant: one fsynced write) and the code redemption
// with PKCE and an openid scope (minting the access token, a refresh
// token and an ID token, and the compare-and-swap: a second write).
func BenchmarkAuthorizationCodeBolt(b *testing.B) {
	f := newFixture(b, false, withAuthorization(b))
	query := webQuery("")
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			code := issue(b, f, ticketOf(b, f, query), "").Query().Get("code")
			if _, oerr := redeem(f, webRedeemBody(code), webAuth); oerr != nil {
				b.Error(oerr)
				return
			}
		}
	})
}

// BenchmarkRefreshGrantMemory is BenchmarkRefreshGrantBolt on the memory
// store, one goroutine: the refresh grant's own CPU and allocations
// (form, client authentication, decryption, minting, the rotation and
// the response body), without the disk.
func BenchmarkRefreshGrantMemory(b *testing.B) {
	f := newFixture(b, true)
	rt := f.createFor(b, "web", "bench", "api.read").RefreshToken
	b.ReportAllocs()
	for b.Loop() {
		resp, oerr := f.refresh(rt, "", webAuth)
		if oerr != nil {
			b.Fatal(oerr)
		}
		if _, err := resp.Body(); err != nil {
			b.Fatal(err)
		}
		rt = resp.RefreshToken
	}
}
