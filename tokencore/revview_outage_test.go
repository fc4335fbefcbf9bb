package tokencore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

// TestStaleViewRefusesWith503: an instance whose view cannot be confirmed
// (a shared store unreachable past max_staleness) refuses bearer tokens
// with an error wrapping ErrStoreUnavailable, so the protocols answer 503,
// and answers again once the store is back; with ServeStale it answers
// from the view. Runs on Redis: the follower needs a shared store.
func TestStaleViewRefusesWith503(t *testing.T) {
	for _, serve := range []bool{false, true} {
		t.Run(map[bool]string{false: "refuse", true: "serve"}[serve], func(t *testing.T) {
			srv := storetest.StartRedisServer(t)
			s := openRedisAt(t, srv.Addr(), storetest.NewRedisPrefix(t))
			view := tokencore.NewRevocationView()
			f, err := tokencore.StartFollower(t.Context(), s, view, tokencore.FollowerConfig{
				Poll: 10 * time.Millisecond, MaxStaleness: 50 * time.Millisecond, ServeStale: serve,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Stop()
			claims := &tokencore.Claims{Subject: "alice", GrantID: "g", IssuedAt: time.Now().Unix()}
			if err := view.Check(); err != nil || view.Revoked(claims) {
				t.Fatalf("a fresh view: Check %v, Revoked %v", err, view.Revoked(claims))
			}
			srv.Stop()
			time.Sleep(150 * time.Millisecond) // past max_staleness
			err = view.Check()
			switch {
			case serve && (err != nil || view.Revoked(claims)):
				t.Fatalf("on_stale serve: Check %v, Revoked %v; want the view's answer", err, view.Revoked(claims))
			case !serve && (!errors.Is(err, tokencore.ErrRevocationsStale) || !errors.Is(err, tokencore.ErrStoreUnavailable)):
				t.Fatalf("stale view: Check = %v, want ErrRevocationsStale", err)
			case !serve && !view.Revoked(claims):
				t.Fatal("stale view with the store unreachable accepts a token (fail closed: refuse)")
			}
			srv.Start()
			deadline := time.Now().Add(10 * time.Second)
			for view.Check() != nil {
				if time.Now().After(deadline) {
					t.Fatalf("the view did not recover after the store came back: %v", view.Check())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if view.Revoked(claims) {
				t.Fatal("a recovered view refuses a token nobody revoked")
			}
		})
	}
}
