package tokencore_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/store/memory"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

// engineStores are the real stores the engine tests run on, each wrapped
// so that failures can be injected.
func engineStores(t *testing.T) map[string]func(t *testing.T) (*storetest.Flaky, func() tokencore.Store) {
	return map[string]func(t *testing.T) (*storetest.Flaky, func() tokencore.Store){
		"memory": func(t *testing.T) (*storetest.Flaky, func() tokencore.Store) {
			s := memory.New()
			t.Cleanup(func() { s.Close() })
			// A memory store cannot be reopened: "restart" reads the same one.
			return storetest.NewFlaky(s), func() tokencore.Store { return s }
		},
		"bolt": func(t *testing.T) (*storetest.Flaky, func() tokencore.Store) {
			path := filepath.Join(t.TempDir(), "tg.db")
			s := openBolt(t, path)
			var reopened tokencore.Store
			t.Cleanup(func() {
				s.Close()
				if reopened != nil {
					reopened.Close()
				}
			})
			return storetest.NewFlaky(s), func() tokencore.Store {
				s.Close()
				reopened = openBolt(t, path)
				return reopened
			}
		},
	}
}

func activeGrant(id string, now time.Time) *tokencore.Grant {
	return &tokencore.Grant{
		ID: id, Kind: tokencore.GrantKindFolio, Subject: "alice", UserID: "u1", Tenant: "diku",
		Status: tokencore.GrantActive, CreatedAt: now, AccessID: "a-" + id, AccessHash: tokencore.TokenHash("a-" + id),
		AccessExpiresAt: now.Add(10 * time.Minute), RefreshID: "r-" + id, RefreshHash: tokencore.TokenHash("r-" + id),
		RefreshExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour),
	}
}

// restartedView is what another instance, or this one after a restart,
// learns from the store.
func restartedView(t *testing.T, s tokencore.Store) *tokencore.RevocationView {
	t.Helper()
	e := &tokencore.Engine{Store: s, View: tokencore.NewRevocationView()}
	if err := e.SyncRevocations(t.Context()); err != nil {
		t.Fatal(err)
	}
	return e.View
}

// TestRevokeGrantRetryStoresRevocation: the first RevokeGrant fails to
// store the grant's revocation; the retry must store it, so that a restart
// (or another instance) refuses the grant's tokens. Before, the first
// attempt marked the grant revoked and the retry, seeing it marked,
// answered success without storing anything. Now the failed attempt
// changes nothing at all: the grant is still active, the view untouched.
func TestRevokeGrantRetryStoresRevocation(t *testing.T) {
	for name, open := range engineStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			now := time.Now()
			flaky, reopen := open(t)
			e := &tokencore.Engine{Store: flaky, View: tokencore.NewRevocationView()}
			if err := flaky.CreateGrant(ctx, activeGrant("g1", now)); err != nil {
				t.Fatal(err)
			}
			claims := &tokencore.Claims{GrantID: "g1", Subject: "alice", IssuedAt: now.Unix()}
			flaky.FailNext("PutRevocation", 1)
			if _, err := e.RevokeGrant(ctx, "g1"); !errors.Is(err, tokencore.ErrStoreUnavailable) {
				t.Fatalf("RevocationOfGrant with a failing PutRevocation: %v, want ErrStoreUnavailable", err)
			}
			if g, _ := flaky.GetGrant(ctx, "g1"); g.Status != tokencore.GrantActive {
				t.Errorf("grant %q after a failed revocation: a grant is marked only once its revocation is stored", g.Status)
			}
			if e.View.Revoked(claims) {
				t.Error("a revocation that was not stored is applied to this instance only")
			}
			if _, err := e.RevokeGrant(ctx, "g1"); err != nil {
				t.Fatalf("retried RevocationOfGrant: %v", err)
			}
			if g, _ := flaky.GetGrant(ctx, "g1"); g.Status != tokencore.GrantRevoked {
				t.Errorf("grant %q after the retry, want revoked", g.Status)
			}
			if !e.View.Revoked(claims) {
				t.Error("this instance's view accepts the revoked grant")
			}
			if !restartedView(t, reopen()).Revoked(claims) {
				t.Error("after a restart the revoked grant's tokens are accepted: the retry did not store its revocation")
			}
		})
	}
}

// TestRevokeGrantOfTombstoneStoresRevocation: a grant already marked
// revoked whose revocation was never stored (what the old order, mark
// first, left behind after a failed store) gets it stored by the next
// RevokeGrant, which used to answer success and store nothing.
func TestRevokeGrantOfTombstoneStoresRevocation(t *testing.T) {
	ctx := t.Context()
	now := time.Now()
	s := memory.New()
	g := activeGrant("g1", now)
	g.Status, g.RevokedAt = tokencore.GrantRevoked, now
	if err := s.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	e := &tokencore.Engine{Store: s, View: tokencore.NewRevocationView()}
	if _, err := e.RevokeGrant(ctx, "g1"); err != nil {
		t.Fatal(err)
	}
	if !restartedView(t, s).Revoked(&tokencore.Claims{GrantID: "g1", IssuedAt: now.Unix()}) {
		t.Error("revoking a revoked grant did not store its revocation")
	}
}

// TestRevokeGrantMarkFails: the revocation is stored but marking the grant
// fails: the grant's tokens are refused everywhere already (fail closed),
// the caller gets the error, and the retry marks the grant.
func TestRevokeGrantMarkFails(t *testing.T) {
	ctx := t.Context()
	now := time.Now()
	flaky := storetest.NewFlaky(memory.New())
	e := &tokencore.Engine{Store: flaky, View: tokencore.NewRevocationView()}
	if err := flaky.CreateGrant(ctx, activeGrant("g1", now)); err != nil {
		t.Fatal(err)
	}
	flaky.FailNext("UpdateGrant", 1)
	if _, err := e.RevokeGrant(ctx, "g1"); !errors.Is(err, tokencore.ErrStoreUnavailable) {
		t.Fatalf("RevocationOfGrant with a failing UpdateGrant: %v, want ErrStoreUnavailable", err)
	}
	if !restartedView(t, flaky).Revoked(&tokencore.Claims{GrantID: "g1", IssuedAt: now.Unix()}) {
		t.Error("the revocation was not stored before the grant was marked")
	}
	gs, _, _ := flaky.ListGrants(ctx, tokencore.GrantFilter{ActiveOnly: true, Now: now})
	if len(gs) != 1 {
		t.Fatal("the grant must still be listed as active, so that the retry finds it")
	}
	if _, err := e.RevokeGrant(ctx, "g1"); err != nil {
		t.Fatal(err)
	}
	if g, _ := flaky.GetGrant(ctx, "g1"); g.Status != tokencore.GrantRevoked {
		t.Errorf("grant %q after the retry, want revoked", g.Status)
	}
}

// TestRevokeStoreFailureChangesNothing: a revocation the store refuses is
// applied nowhere, this process's view included, and the error says the
// store is unavailable; the retry after recovery is applied everywhere.
func TestRevokeStoreFailureChangesNothing(t *testing.T) {
	for name, open := range engineStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			now := time.Now()
			flaky, reopen := open(t)
			e := &tokencore.Engine{Store: flaky, View: tokencore.NewRevocationView()}
			r := tokencore.Revocation{Kind: tokencore.RevocationOfSubject, Key: "alice", NotBefore: now, ExpiresAt: now.Add(time.Hour)}
			claims := &tokencore.Claims{Subject: "alice", IssuedAt: now.Add(-time.Minute).Unix()}

			flaky.FailAll()
			if err := e.Revoke(ctx, r); !errors.Is(err, tokencore.ErrStoreUnavailable) {
				t.Fatalf("Revoke during an outage: %v, want ErrStoreUnavailable", err)
			}
			if e.View.Revoked(claims) || e.View.Len() != 0 {
				t.Fatal("a revocation the store refused was applied to this instance's view: instances now disagree")
			}
			flaky.Recover()
			if err := e.Revoke(ctx, r); err != nil {
				t.Fatalf("Revoke after recovery: %v", err)
			}
			if !e.View.Revoked(claims) {
				t.Error("this instance accepts the revoked subject after a successful revocation")
			}
			if !restartedView(t, reopen()).Revoked(claims) {
				t.Error("the stored revocation does not reach a restarted instance")
			}
		})
	}
}

// TestRevokeGrantsCountsOnlyStored: when some revocations of a user's
// grants fail, RevokeGrants reports the error, and every grant it counted
// is stored.
func TestRevokeGrantsCountsOnlyStored(t *testing.T) {
	ctx := t.Context()
	now := time.Now()
	flaky := storetest.NewFlaky(memory.New())
	e := &tokencore.Engine{Store: flaky, View: tokencore.NewRevocationView()}
	for _, id := range []string{"g1", "g2", "g3"} {
		if err := flaky.CreateGrant(ctx, activeGrant(id, now)); err != nil {
			t.Fatal(err)
		}
	}
	flaky.FailNext("PutRevocation", 1)
	n, err := e.RevokeGrants(ctx, tokencore.GrantFilter{Tenant: "diku", UserID: "u1"})
	if n != 2 || !errors.Is(err, tokencore.ErrStoreUnavailable) {
		t.Fatalf("RevokeGrants with one failing put = %d, %v; want 2 and ErrStoreUnavailable", n, err)
	}
	if rs, _ := flaky.Revocations(ctx, now); len(rs) != 2 {
		t.Errorf("%d revocations stored, want 2", len(rs))
	}
	if e.View.Len() != 2 {
		t.Errorf("the view holds %d revocations, want the 2 stored ones", e.View.Len())
	}
}
