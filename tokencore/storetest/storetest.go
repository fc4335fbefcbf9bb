// Package storetest is the conformance suite of tokencore.Store. Every
// backend (memory, bbolt, Redis) runs it from its own tests, so that the
// protocol code, which is tested against one backend, behaves the same on
// the others:
//
//	func TestMemoryStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) tokencore.Store { return memory.New() })
//	}
//
// Each clause of the contract documented on tokencore.Store is one subtest.
package storetest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// Run runs the conformance suite. open must return a new, empty store each
// time it is called (every subtest opens its own); Run closes it at the
// end of the subtest, ignoring the error of a second Close. open may
// register its own cleanup with t.Cleanup (removing files, flushing a Redis
// database), which runs after the store is closed.
func Run(t *testing.T, open func(t *testing.T) tokencore.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s tokencore.Store)
	}{
		{"CreateGet", testCreateGet},
		{"CreateConflict", testCreateConflict},
		{"NotFound", testNotFound},
		{"InvalidRecords", testInvalidRecords},
		{"Copies", testCopies},
		{"TokenHashIndex", testTokenHashIndex},
		{"TokenHashConflict", testTokenHashConflict},
		{"Update", testUpdate},
		{"UpdateFnError", testUpdateFnError},
		{"UpdateChangesID", testUpdateChangesID},
		{"UpdateConcurrentRotation", testUpdateConcurrentRotation},
		{"Delete", testDelete},
		{"List", testList},
		{"ListOrderAcrossEpochs", testListOrderAcrossEpochs},
		{"ListFollowsUpdates", testListFollowsUpdates},
		{"Revocations", testRevocations},
		{"RevocationMerge", testRevocationMerge},
		{"RevocationSeq", testRevocationSeq},
		{"RevocationSeqConcurrent", testRevocationSeqConcurrent},
		{"RevocationFeed", testRevocationFeed},
		{"InstanceRegistry", testInstanceRegistry},
		{"Sweep", testSweep},
		{"SweepFollowsUpdates", testSweepFollowsUpdates},
		{"SweepKeepsRevokedTokens", testSweepKeepsRevokedTokens},
		{"Cancelled", testCancelled},
		{"Concurrent", testConcurrent},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
	runEDI(t, open)
}

// t0 is the reference time of every record: nanoseconds included, so a
// backend that truncates times fails; UTC, so a JSON round trip gives back
// an identical value.
func t0() time.Time { return time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.UTC) }

// sample returns a grant with every field set.
func sample(id string, created time.Time) *tokencore.Grant {
	return &tokencore.Grant{
		ID:        id,
		Kind:      tokencore.GrantKindFolio,
		Subject:   "alice",
		UserID:    "u-1",
		Tenant:    "diku",
		ClientID:  "client-1",
		GrantType: "refresh_token",
		Scopes:    []string{"openid", "profile"},
		AuthTime:  created,
		ACR:       "urn:acr:pwd",
		Properties: []tokencore.Property{
			{Key: "k", Value: "v"}, {Key: "secret", Value: "s", Hidden: true},
		},
		IDTokenAudience:    "aud",
		Status:             tokencore.GrantActive,
		CreatedAt:          created,
		UpdatedAt:          created,
		LastRefreshedAt:    created,
		AccessID:           "a-" + id,
		AccessHash:         tokencore.TokenHash("access-" + id),
		AccessExpiresAt:    created.Add(time.Hour),
		MaxAccessExpiresAt: created.Add(2 * time.Hour),
		AccessScopes:       []string{"openid"},
		RefreshID:          "r-" + id,
		RefreshHash:        tokencore.TokenHash("refresh-" + id),
		RefreshExpiresAt:   created.Add(24 * time.Hour),
		PreviousRefreshID:  "r0-" + id,
		PreviousRotatedAt:  created,
		GraceResponse:      []byte("sealed"),
		ExpiresAt:          created.Add(24 * time.Hour),
	}
}

// sameGrant fails t unless got and want encode to the same JSON: every
// field, times to the nanosecond.
func sameGrant(t *testing.T, got, want *tokencore.Grant) {
	t.Helper()
	if got == nil {
		t.Fatalf("got nil grant, want %q", want.ID)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("grant differs\n got: %s\nwant: %s", g, w)
	}
}

func create(t *testing.T, s tokencore.Store, gs ...*tokencore.Grant) {
	t.Helper()
	for _, g := range gs {
		if err := s.CreateGrant(t.Context(), g); err != nil {
			t.Fatalf("CreateGrant(%q): %v", g.ID, err)
		}
	}
}

func get(t *testing.T, s tokencore.Store, id string) *tokencore.Grant {
	t.Helper()
	g, err := s.GetGrant(t.Context(), id)
	if err != nil {
		t.Fatalf("GetGrant(%q): %v", id, err)
	}
	return g
}

// byHash fails t unless hash finds grant wantID ("" = not found).
func byHash(t *testing.T, s tokencore.Store, hash, wantID string) {
	t.Helper()
	g, err := s.GrantByTokenHash(t.Context(), hash)
	switch {
	case wantID == "" && !errors.Is(err, tokencore.ErrNotFound):
		t.Errorf("GrantByTokenHash: got %v, %v; want ErrNotFound", g, err)
	case wantID != "" && err != nil:
		t.Errorf("GrantByTokenHash: %v; want grant %q", err, wantID)
	case wantID != "" && g.ID != wantID:
		t.Errorf("GrantByTokenHash: got grant %q, want %q", g.ID, wantID)
	}
}

func ids(gs []*tokencore.Grant) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.ID
	}
	return out
}

// list fails t unless f lists exactly wantIDs, in order, out of total.
func list(t *testing.T, s tokencore.Store, f tokencore.GrantFilter, wantTotal int, wantIDs ...string) {
	t.Helper()
	gs, total, err := s.ListGrants(t.Context(), f)
	if err != nil {
		t.Fatalf("ListGrants(%+v): %v", f, err)
	}
	if got := ids(gs); !slices.Equal(got, wantIDs) || total != wantTotal {
		t.Errorf("ListGrants(%+v) = %q, total %d; want %q, total %d", f, got, total, wantIDs, wantTotal)
	}
}

func testCreateGet(t *testing.T, s tokencore.Store) {
	full := sample("full", t0())
	minimal := &tokencore.Grant{ID: "minimal"} // zero times, no indexed field
	create(t, s, full, minimal)
	sameGrant(t, get(t, s, "full"), full)
	sameGrant(t, get(t, s, "minimal"), minimal)
}

func testCreateConflict(t *testing.T, s tokencore.Store) {
	g := sample("g", t0())
	create(t, s, g)
	dup := sample("other", t0())
	dup.ID, dup.Subject = "g", "mallory"
	if err := s.CreateGrant(t.Context(), dup); !errors.Is(err, tokencore.ErrConflict) {
		t.Fatalf("second CreateGrant: %v, want ErrConflict", err)
	}
	sameGrant(t, get(t, s, "g"), g)
	byHash(t, s, dup.AccessHash, "") // nothing of the refused grant is indexed
	list(t, s, tokencore.GrantFilter{Subject: "mallory"}, 0)
}

func testNotFound(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	create(t, s, sample("g", t0()))
	if _, err := s.GetGrant(ctx, "missing"); !errors.Is(err, tokencore.ErrNotFound) {
		t.Errorf("GetGrant: %v, want ErrNotFound", err)
	}
	if _, err := s.GetGrant(ctx, ""); !errors.Is(err, tokencore.ErrNotFound) {
		t.Errorf("GetGrant(\"\"): %v, want ErrNotFound", err)
	}
	byHash(t, s, tokencore.TokenHash("missing"), "")
	byHash(t, s, "", "")
	called := false
	_, err := s.UpdateGrant(ctx, "missing", func(*tokencore.Grant) error { called = true; return nil })
	if !errors.Is(err, tokencore.ErrNotFound) || called {
		t.Errorf("UpdateGrant: %v (fn called: %v), want ErrNotFound without calling fn", err, called)
	}
	if err := s.DeleteGrant(ctx, "missing"); !errors.Is(err, tokencore.ErrNotFound) {
		t.Errorf("DeleteGrant: %v, want ErrNotFound", err)
	}
}

func testInvalidRecords(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	long := strings.Repeat("x", tokencore.MaxKeyFieldLen+1)
	big := sample("big", t0())
	big.Properties = []tokencore.Property{{Key: "blob", Value: strings.Repeat("b", tokencore.MaxGrantSize)}}
	tests := []struct {
		name string
		g    *tokencore.Grant
	}{
		{"nil", nil},
		{"no ID", &tokencore.Grant{Subject: "alice"}},
		{"long ID", &tokencore.Grant{ID: long}},
		{"long subject", &tokencore.Grant{ID: "s", Subject: long}},
		{"long user", &tokencore.Grant{ID: "u", UserID: long}},
		{"long tenant", &tokencore.Grant{ID: "t", Tenant: long}},
		{"long client", &tokencore.Grant{ID: "c", ClientID: long}},
		{"long access hash", &tokencore.Grant{ID: "a", AccessHash: long}},
		{"long refresh hash", &tokencore.Grant{ID: "r", RefreshHash: long}},
		{"too large", big},
	}
	for _, tc := range tests {
		if err := s.CreateGrant(ctx, tc.g); !errors.Is(err, tokencore.ErrInvalidRecord) {
			t.Errorf("CreateGrant(%s): %v, want ErrInvalidRecord", tc.name, err)
		}
	}
	list(t, s, tokencore.GrantFilter{}, 0)

	// At the limit is fine, and indexed.
	edge := sample("edge", t0())
	edge.Subject = strings.Repeat("e", tokencore.MaxKeyFieldLen)
	create(t, s, edge)
	list(t, s, tokencore.GrantFilter{Subject: edge.Subject}, 1, "edge")

	// An update may not grow a grant past the limit either.
	_, err := s.UpdateGrant(ctx, "edge", func(g *tokencore.Grant) error {
		g.Properties = big.Properties
		return nil
	})
	if !errors.Is(err, tokencore.ErrInvalidRecord) {
		t.Errorf("UpdateGrant past the size limit: %v, want ErrInvalidRecord", err)
	}
	sameGrant(t, get(t, s, "edge"), edge)

	for _, r := range []tokencore.Revocation{
		{Key: "no-kind", ExpiresAt: t0()},
		{Kind: tokencore.RevocationOfToken, Key: strings.Repeat("k", tokencore.MaxRevocationKeyLen+1)},
	} {
		if _, err := s.PutRevocation(ctx, r); !errors.Is(err, tokencore.ErrInvalidRecord) {
			t.Errorf("PutRevocation(kind %q, key of %d bytes): %v, want ErrInvalidRecord", r.Kind, len(r.Key), err)
		}
	}
	if rs, err := s.Revocations(ctx, t0()); err != nil || len(rs) != 0 {
		t.Errorf("Revocations after refused puts = %v, %v; want none", rs, err)
	}
}

// mutate edits every field kind of g: scalars, slices, slices of structs,
// bytes.
func mutate(g *tokencore.Grant) {
	g.Subject = "mutated"
	g.Scopes[0] = "mutated"
	g.AccessScopes[0] = "mutated"
	g.Properties[0].Value = "mutated"
	g.GraceResponse[0] = 'X'
	g.ExpiresAt = time.Time{}
}

func testCopies(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	in := sample("g", t0())
	want := in.Clone()
	create(t, s, in)
	mutate(in)
	sameGrant(t, get(t, s, "g"), want)

	mutate(get(t, s, "g"))
	sameGrant(t, get(t, s, "g"), want)

	g, err := s.GrantByTokenHash(ctx, want.AccessHash)
	if err != nil {
		t.Fatal(err)
	}
	mutate(g)
	sameGrant(t, get(t, s, "g"), want)

	gs, _, err := s.ListGrants(ctx, tokencore.GrantFilter{Subject: "alice"})
	if err != nil || len(gs) != 1 {
		t.Fatalf("ListGrants = %d grants, %v; want 1", len(gs), err)
	}
	mutate(gs[0])
	sameGrant(t, get(t, s, "g"), want)

	// Neither the grant fn edited nor the one returned is the stored one.
	var inFn *tokencore.Grant
	out, err := s.UpdateGrant(ctx, "g", func(g *tokencore.Grant) error {
		inFn = g
		g.ACR = "updated"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want.ACR = "updated"
	mutate(out)
	mutate(inFn)
	sameGrant(t, get(t, s, "g"), want)
}

func testTokenHashIndex(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	g := sample("g", t0())
	other := sample("other", t0())
	create(t, s, g, other)
	byHash(t, s, g.AccessHash, "g")
	byHash(t, s, g.RefreshHash, "g")
	byHash(t, s, other.RefreshHash, "other")

	// Rotation: the index follows the current tokens only.
	newAccess, newRefresh := tokencore.TokenHash("access-2"), tokencore.TokenHash("refresh-2")
	if _, err := s.UpdateGrant(ctx, "g", func(g *tokencore.Grant) error {
		g.AccessHash, g.RefreshHash = newAccess, newRefresh
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	byHash(t, s, g.AccessHash, "")
	byHash(t, s, g.RefreshHash, "")
	byHash(t, s, newAccess, "g")
	byHash(t, s, newRefresh, "g")
	byHash(t, s, other.AccessHash, "other")

	// A grant that drops its refresh token is no longer found by it.
	if _, err := s.UpdateGrant(ctx, "g", func(g *tokencore.Grant) error {
		g.RefreshID, g.RefreshHash = "", ""
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	byHash(t, s, newRefresh, "")
	byHash(t, s, newAccess, "g")

	// An old hash may be reused once released (nothing stale remains).
	reuse := sample("reuse", t0())
	reuse.AccessHash = g.AccessHash
	create(t, s, reuse)
	byHash(t, s, g.AccessHash, "reuse")
}

func testTokenHashConflict(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	a := sample("a", t0())
	create(t, s, a)

	b := sample("b", t0())
	b.AccessHash = a.RefreshHash
	if err := s.CreateGrant(ctx, b); !errors.Is(err, tokencore.ErrConflict) {
		t.Errorf("CreateGrant with another grant's token hash: %v, want ErrConflict", err)
	}
	if _, err := s.GetGrant(ctx, "b"); !errors.Is(err, tokencore.ErrNotFound) {
		t.Errorf("refused grant was stored: %v", err)
	}
	byHash(t, s, b.RefreshHash, "")

	c := sample("c", t0())
	create(t, s, c)
	_, err := s.UpdateGrant(ctx, "c", func(g *tokencore.Grant) error {
		g.RefreshHash = a.AccessHash
		return nil
	})
	if !errors.Is(err, tokencore.ErrConflict) {
		t.Errorf("UpdateGrant to another grant's token hash: %v, want ErrConflict", err)
	}
	sameGrant(t, get(t, s, "c"), c)
	byHash(t, s, a.AccessHash, "a")
	byHash(t, s, c.RefreshHash, "c")
}

func testUpdate(t *testing.T, s tokencore.Store) {
	g := sample("g", t0())
	create(t, s, g)
	later := t0().Add(time.Minute)
	want := g.Clone()
	want.Status, want.RevokedAt, want.UpdatedAt, want.Scopes = tokencore.GrantRevoked, later, later, []string{"openid"}
	calls := 0
	out, err := s.UpdateGrant(t.Context(), "g", func(in *tokencore.Grant) error {
		calls++
		sameGrant(t, in, g) // fn sees the stored grant
		in.Status, in.RevokedAt, in.UpdatedAt, in.Scopes = tokencore.GrantRevoked, later, later, []string{"openid"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 {
		t.Error("fn was not called")
	}
	sameGrant(t, out, want)
	sameGrant(t, get(t, s, "g"), want)
}

func testUpdateFnError(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	errRefused := errors.New("storetest: refused")
	g := sample("g", t0())
	create(t, s, g)
	for _, ret := range []error{errRefused, fmt.Errorf("wrapped: %w", errRefused)} {
		out, err := s.UpdateGrant(ctx, "g", func(in *tokencore.Grant) error {
			mutate(in)
			in.AccessHash = tokencore.TokenHash("never")
			in.ClientID = "never"
			return ret
		})
		if err != ret || !errors.Is(err, errRefused) { //nolint:errorlint // the contract: fn's error, unwrapped
			t.Errorf("UpdateGrant = %v, want fn's own error %v", err, ret)
		}
		if out != nil {
			t.Errorf("UpdateGrant returned a grant with an error: %+v", out)
		}
	}
	sameGrant(t, get(t, s, "g"), g)
	byHash(t, s, tokencore.TokenHash("never"), "")
	byHash(t, s, g.AccessHash, "g")
	list(t, s, tokencore.GrantFilter{ClientID: "never"}, 0)
	list(t, s, tokencore.GrantFilter{Subject: "mutated"}, 0)
	list(t, s, tokencore.GrantFilter{Subject: "alice"}, 1, "g")
}

func testUpdateChangesID(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	g := sample("g", t0())
	create(t, s, g)
	_, err := s.UpdateGrant(ctx, "g", func(in *tokencore.Grant) error {
		in.ID = "renamed"
		return nil
	})
	if !errors.Is(err, tokencore.ErrInvalidRecord) {
		t.Errorf("UpdateGrant changing the ID: %v, want ErrInvalidRecord", err)
	}
	if _, err := s.GetGrant(ctx, "renamed"); !errors.Is(err, tokencore.ErrNotFound) {
		t.Errorf("GetGrant(renamed): %v, want ErrNotFound", err)
	}
	sameGrant(t, get(t, s, "g"), g)
}

// testUpdateConcurrentRotation is refresh-token rotation under contention:
// many requests present the same refresh token at once, exactly one may
// rotate it.
func testUpdateConcurrentRotation(t *testing.T, s tokencore.Store) {
	const n = 50
	ctx := t.Context()
	g := sample("g", t0())
	g.RefreshID = "r0"
	create(t, s, g)
	errLost := errors.New("storetest: refresh token already rotated")

	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = s.UpdateGrant(ctx, "g", func(g *tokencore.Grant) error {
				if g.RefreshID != "r0" {
					return errLost
				}
				g.PreviousRefreshID, g.RefreshID = g.RefreshID, fmt.Sprintf("r%d", i+1)
				g.RefreshHash = tokencore.TokenHash(g.RefreshID)
				return nil
			})
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("rotations %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case err != errLost: //nolint:errorlint // the contract: fn's error, unwrapped
			t.Errorf("rotation %d: %v, want fn's own error", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no rotation succeeded")
	}
	got := get(t, s, "g")
	if wantID := fmt.Sprintf("r%d", winner+1); got.RefreshID != wantID || got.PreviousRefreshID != "r0" {
		t.Errorf("stored refresh %q (previous %q), want the winner's %q (previous r0)", got.RefreshID, got.PreviousRefreshID, wantID)
	}
	byHash(t, s, g.RefreshHash, "")
	for i := range n {
		want := ""
		if i == winner {
			want = "g"
		}
		byHash(t, s, tokencore.TokenHash(fmt.Sprintf("r%d", i+1)), want)
	}
}

func testDelete(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	g := sample("g", t0())
	keep := sample("keep", t0().Add(time.Second))
	create(t, s, g, keep)
	if err := s.DeleteGrant(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetGrant(ctx, "g"); !errors.Is(err, tokencore.ErrNotFound) {
		t.Errorf("GetGrant after delete: %v, want ErrNotFound", err)
	}
	byHash(t, s, g.AccessHash, "")
	byHash(t, s, g.RefreshHash, "")
	byHash(t, s, keep.AccessHash, "keep")
	list(t, s, tokencore.GrantFilter{Subject: g.Subject}, 1, "keep")
	list(t, s, tokencore.GrantFilter{ClientID: g.ClientID}, 1, "keep")
	list(t, s, tokencore.GrantFilter{Tenant: g.Tenant, UserID: g.UserID}, 1, "keep")
	list(t, s, tokencore.GrantFilter{Tenant: g.Tenant}, 1, "keep")
	list(t, s, tokencore.GrantFilter{}, 1, "keep")
	// No expiry entry is left behind for Sweep to trip over.
	if n, err := s.Sweep(ctx, g.ExpiresAt.Add(-time.Second)); err != nil || n != 0 {
		t.Errorf("Sweep after delete = %d, %v; want 0, nil", n, err)
	}
	if err := s.DeleteGrant(ctx, "g"); !errors.Is(err, tokencore.ErrNotFound) {
		t.Errorf("second DeleteGrant: %v, want ErrNotFound", err)
	}
	// The ID and the token hashes are free again.
	create(t, s, g)
	byHash(t, s, g.RefreshHash, "g")
}

// listData is the data set of testList. Creation times tie between a and d
// (ID breaks the tie); g has fields that extend others' ("alice" and
// "alicea", "T1" and "T1a") to catch prefix scans that leak.
func listData() []*tokencore.Grant {
	mk := func(id, sub, client, tenant, user string, kind tokencore.GrantKind, created, expires time.Duration, status tokencore.GrantStatus) *tokencore.Grant {
		g := &tokencore.Grant{
			ID: id, Subject: sub, ClientID: client, Tenant: tenant, UserID: user, Kind: kind, Status: status,
			CreatedAt: t0().Add(created), AccessHash: tokencore.TokenHash("access-" + id),
		}
		if expires != 0 {
			g.ExpiresAt = t0().Add(expires)
		}
		return g
	}
	active, revoked := tokencore.GrantActive, tokencore.GrantRevoked
	folio, oauth, manage := tokencore.GrantKindFolio, tokencore.GrantKindOAuth, tokencore.GrantKindManage
	// Created in this (shuffled) order.
	return []*tokencore.Grant{
		mk("e", "carol", "", "T1", "u1", folio, 3*time.Minute, 2*time.Hour, active),
		mk("c", "bob", "c1", "T1", "u2", oauth, 2*time.Minute, 10*time.Minute, active), // expired at now
		mk("g", "alicea", "c1a", "T1a", "u1", folio, 4*time.Minute, time.Hour, active),
		mk("a", "alice", "c1", "T1", "u1", folio, time.Minute, time.Hour, active),
		mk("f", "", "c1", "", "", manage, -time.Hour, time.Hour, active),
		mk("d", "alice", "c1", "T2", "u1", manage, time.Minute, 0, active), // never expires
		mk("b", "alice", "c2", "T1", "u1", oauth, 0, time.Hour, revoked),
	}
}

func testList(t *testing.T, s tokencore.Store) {
	create(t, s, listData()...)
	now := t0().Add(30 * time.Minute)
	type F = tokencore.GrantFilter
	tests := []struct {
		name  string
		f     F
		total int
		want  []string
	}{
		{"all", F{}, 7, []string{"f", "b", "a", "d", "c", "e", "g"}},
		{"subject", F{Subject: "alice"}, 3, []string{"b", "a", "d"}},
		{"subject window", F{Subject: "alice", Start: 1, End: 2}, 3, []string{"a"}},
		{"subject start only", F{Subject: "alice", Start: 1}, 3, []string{"a", "d"}},
		{"subject end past total", F{Subject: "alice", Start: 1, End: 10}, 3, []string{"a", "d"}},
		{"subject start past total", F{Subject: "alice", Start: 5}, 3, nil},
		{"client", F{ClientID: "c1"}, 4, []string{"f", "a", "d", "c"}},
		{"tenant and user", F{Tenant: "T1", UserID: "u1"}, 3, []string{"b", "a", "e"}},
		{"tenant", F{Tenant: "T1"}, 4, []string{"b", "a", "c", "e"}},
		{"tenant window", F{Tenant: "T1", Start: 2, End: 3}, 4, []string{"c"}},
		{"user", F{UserID: "u1"}, 5, []string{"b", "a", "d", "e", "g"}},
		{"kind", F{Kind: tokencore.GrantKindOAuth}, 2, []string{"b", "c"}},
		{"active", F{ActiveOnly: true, Now: now}, 5, []string{"f", "a", "d", "e", "g"}},
		{"active before anything expired", F{ActiveOnly: true, Now: t0()}, 6, []string{"f", "a", "d", "c", "e", "g"}},
		{"subject active", F{Subject: "alice", ActiveOnly: true, Now: now}, 2, []string{"a", "d"}},
		{"subject and client", F{Subject: "alice", ClientID: "c2"}, 1, []string{"b"}},
		{"tenant user kind", F{Tenant: "T1", UserID: "u1", Kind: tokencore.GrantKindFolio}, 2, []string{"a", "e"}},
		{"client active window", F{ClientID: "c1", ActiveOnly: true, Now: now, Start: 1}, 3, []string{"a", "d"}},
		{"tenant and subject", F{Tenant: "T1", Subject: "bob"}, 1, []string{"c"}},
		{"no match", F{Subject: "nobody"}, 0, nil},
		{"no match in tenant", F{Tenant: "T1", UserID: "nobody"}, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list(t, s, tc.f, tc.total, tc.want...)
		})
	}
}

// testListOrderAcrossEpochs orders creation times a store could encode
// badly: the zero time, before 1970 (negative Unix time), the epoch itself,
// and after 2262 (beyond int64 Unix nanoseconds); and IDs where one is a
// prefix of the other.
func testListOrderAcrossEpochs(t *testing.T, s tokencore.Store) {
	times := map[string]time.Time{
		"zero":  {},
		"1960":  time.Date(1960, 1, 1, 0, 0, 0, 1, time.UTC),
		"epoch": time.Unix(0, 0).UTC(),
		"t0":    t0(),
		"t0x":   t0(),
		"2300":  time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, id := range []string{"t0x", "2300", "epoch", "zero", "t0", "1960"} {
		create(t, s, &tokencore.Grant{ID: id, Subject: "s", ClientID: "c", Tenant: "T", UserID: "u", CreatedAt: times[id]})
	}
	want := []string{"zero", "1960", "epoch", "t0", "t0x", "2300"}
	for _, f := range []tokencore.GrantFilter{{}, {Subject: "s"}, {ClientID: "c"}, {Tenant: "T"}, {Tenant: "T", UserID: "u"}, {UserID: "u"}} {
		list(t, s, f, len(want), want...)
	}
}

func testListFollowsUpdates(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	x := &tokencore.Grant{ID: "x", Subject: "alice", ClientID: "c1", Tenant: "T1", UserID: "u1", CreatedAt: t0()}
	y := &tokencore.Grant{ID: "y", Subject: "alice", ClientID: "c1", Tenant: "T1", UserID: "u1", CreatedAt: t0().Add(time.Minute)}
	create(t, s, x, y)
	list(t, s, tokencore.GrantFilter{Subject: "alice"}, 2, "x", "y")

	// x moves to other index keys, and after y in creation order.
	if _, err := s.UpdateGrant(ctx, "x", func(g *tokencore.Grant) error {
		g.Subject, g.ClientID, g.UserID, g.CreatedAt = "bob", "c2", "u2", t0().Add(time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	list(t, s, tokencore.GrantFilter{Subject: "alice"}, 1, "y")
	list(t, s, tokencore.GrantFilter{Subject: "bob"}, 1, "x")
	list(t, s, tokencore.GrantFilter{ClientID: "c1"}, 1, "y")
	list(t, s, tokencore.GrantFilter{ClientID: "c2"}, 1, "x")
	list(t, s, tokencore.GrantFilter{Tenant: "T1", UserID: "u1"}, 1, "y")
	list(t, s, tokencore.GrantFilter{Tenant: "T1", UserID: "u2"}, 1, "x")
	list(t, s, tokencore.GrantFilter{Tenant: "T1"}, 2, "y", "x")
	list(t, s, tokencore.GrantFilter{}, 2, "y", "x")
}

// sortRevs orders revocations for comparison: stores return them in no
// particular order.
func sortRevs(rs []tokencore.Revocation) {
	slices.SortFunc(rs, func(a, b tokencore.Revocation) int {
		return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.Key, b.Key))
	})
}

// sameRevs fails t unless got and want hold the same revocations, times
// compared as instants.
func sameRevs(t *testing.T, got, want []tokencore.Revocation) {
	t.Helper()
	sortRevs(got)
	sortRevs(want)
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		g, w := got[i], want[i]
		ok = g.Kind == w.Kind && g.Key == w.Key && g.NotBefore.Equal(w.NotBefore) && g.ExpiresAt.Equal(w.ExpiresAt)
	}
	if !ok {
		t.Errorf("revocations\n got: %+v\nwant: %+v", got, want)
	}
}

func revocations(t *testing.T, s tokencore.Store, now time.Time) []tokencore.Revocation {
	t.Helper()
	rs, err := s.Revocations(t.Context(), now)
	if err != nil {
		t.Fatalf("Revocations: %v", err)
	}
	return rs
}

func put(t *testing.T, s tokencore.Store, rs ...tokencore.Revocation) {
	t.Helper()
	for _, r := range rs {
		if _, err := s.PutRevocation(t.Context(), r); err != nil {
			t.Fatalf("PutRevocation(%s %q): %v", r.Kind, r.Key, err)
		}
	}
}

func testRevocations(t *testing.T, s tokencore.Store) {
	R := func(kind tokencore.RevocationKind, key string, expires time.Duration) tokencore.Revocation {
		r := tokencore.Revocation{Kind: kind, Key: key, NotBefore: t0()}
		if expires != 0 {
			r.ExpiresAt = t0().Add(expires)
		}
		return r
	}
	grant := R(tokencore.RevocationOfGrant, "g1", time.Hour)
	token := R(tokencore.RevocationOfToken, "j1", 10*time.Minute)
	user := R(tokencore.RevocationOfUser, tokencore.UserKey("T1", "u1"), 2*time.Hour)
	subject := R(tokencore.RevocationOfSubject, "alice", 0)    // never expires
	sameKey := R(tokencore.RevocationOfToken, "g1", time.Hour) // same key, other kind: distinct
	put(t, s, grant, token, user, subject, sameKey)

	sameRevs(t, revocations(t, s, t0()), []tokencore.Revocation{grant, token, user, subject, sameKey})
	sameRevs(t, revocations(t, s, t0().Add(30*time.Minute)), []tokencore.Revocation{grant, user, subject, sameKey})
	sameRevs(t, revocations(t, s, t0().Add(3*time.Hour)), []tokencore.Revocation{subject})
}

func testRevocationMerge(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	key := tokencore.UserKey("T1", "u1")
	at := func(d time.Duration) time.Time { return t0().Add(d) }
	user := func(nb, exp time.Duration) tokencore.Revocation {
		return tokencore.Revocation{Kind: tokencore.RevocationOfUser, Key: key, NotBefore: at(nb), ExpiresAt: at(exp)}
	}
	tests := []struct {
		name string
		put  tokencore.Revocation
		want tokencore.Revocation
	}{
		{"first", user(time.Minute, time.Hour), user(time.Minute, time.Hour)},
		{"earlier not-before, later expiry", user(0, 2*time.Hour), user(time.Minute, 2*time.Hour)},
		{"later not-before, earlier expiry", user(5*time.Minute, 30*time.Minute), user(5*time.Minute, 2*time.Hour)},
		{"both earlier", user(0, 0), user(5*time.Minute, 2*time.Hour)},
	}
	for _, tc := range tests {
		put(t, s, tc.put)
		sameRevs(t, revocations(t, s, t0()), []tokencore.Revocation{tc.want})
		if t.Failed() {
			t.Fatalf("after %s", tc.name)
		}
	}
	// Sweep follows the merged expiry, not the first one stored.
	if n, err := s.Sweep(ctx, at(90*time.Minute)); err != nil || n != 0 {
		t.Errorf("Sweep before the merged expiry = %d, %v; want 0", n, err)
	}
	sameRevs(t, revocations(t, s, t0()), []tokencore.Revocation{user(5*time.Minute, 2*time.Hour)})
	if n, err := s.Sweep(ctx, at(3*time.Hour)); err != nil || n != 1 {
		t.Errorf("Sweep after the merged expiry = %d, %v; want 1", n, err)
	}
	sameRevs(t, revocations(t, s, t0()), nil)
}

func testSweep(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	now := t0().Add(time.Hour)
	grant := func(id string, expires time.Time, status tokencore.GrantStatus) *tokencore.Grant {
		g := sample(id, t0())
		g.ExpiresAt, g.Status = expires, status
		g.AccessExpiresAt, g.RefreshExpiresAt = t0(), t0() // long past; only ExpiresAt counts
		return g
	}
	old := grant("old", t0().Add(30*time.Minute), tokencore.GrantActive)
	ancient := grant("ancient", time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), tokencore.GrantActive) // before the Unix epoch
	edge := grant("edge", now, tokencore.GrantActive)                                               // inactive from ExpiresAt on
	live := grant("live", now.Add(time.Nanosecond), tokencore.GrantActive)
	forever := grant("forever", time.Time{}, tokencore.GrantActive)
	tombstone := grant("tombstone", time.Time{}, tokencore.GrantRevoked)
	create(t, s, old, ancient, edge, live, forever, tombstone)

	rev := func(key string, expires time.Time) tokencore.Revocation {
		return tokencore.Revocation{Kind: tokencore.RevocationOfToken, Key: key, NotBefore: t0(), ExpiresAt: expires}
	}
	expired := rev("expired", now.Add(-time.Nanosecond))
	// Kept through its ExpiresAt instant, like RevocationView.Prune does: a
	// token expiring at that instant may still be presented.
	edgeRev := rev("edge", now)
	kept := rev("kept", now.Add(time.Minute))
	keptForever := rev("forever", time.Time{})
	put(t, s, expired, edgeRev, kept, keptForever)

	n, err := s.Sweep(ctx, now)
	if err != nil || n != 4 {
		t.Fatalf("Sweep = %d, %v; want 4 (3 grants, 1 revocation)", n, err)
	}
	for _, g := range []*tokencore.Grant{old, ancient, edge} {
		if _, err := s.GetGrant(ctx, g.ID); !errors.Is(err, tokencore.ErrNotFound) {
			t.Errorf("swept grant %q: %v, want ErrNotFound", g.ID, err)
		}
		byHash(t, s, g.AccessHash, "")
		byHash(t, s, g.RefreshHash, "")
	}
	for _, g := range []*tokencore.Grant{live, forever, tombstone} {
		sameGrant(t, get(t, s, g.ID), g)
		byHash(t, s, g.RefreshHash, g.ID)
	}
	list(t, s, tokencore.GrantFilter{Subject: "alice"}, 3, "forever", "live", "tombstone")
	list(t, s, tokencore.GrantFilter{Tenant: "diku", UserID: "u-1"}, 3, "forever", "live", "tombstone")
	// Asked as of t0 the expired revocation would still be returned: it
	// must be gone, not merely filtered.
	sameRevs(t, revocations(t, s, t0()), []tokencore.Revocation{edgeRev, kept, keptForever})
	sameRevs(t, revocations(t, s, now), []tokencore.Revocation{edgeRev, kept, keptForever})

	if n, err := s.Sweep(ctx, now); err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want 0", n, err)
	}
	if n, err := s.Sweep(ctx, now.Add(100*365*24*time.Hour)); err != nil || n != 3 {
		t.Errorf("Sweep in a century = %d, %v; want 3 (live grant, 2 revocations)", n, err)
	}
	list(t, s, tokencore.GrantFilter{}, 2, "forever", "tombstone")
}

func testSweepFollowsUpdates(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	setExpiry := func(id string, exp time.Time) {
		t.Helper()
		if _, err := s.UpdateGrant(ctx, id, func(g *tokencore.Grant) error { g.ExpiresAt = exp; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	soon, late := t0().Add(10*time.Minute), t0().Add(5*time.Hour)
	extended, shortened, persistent := sample("extended", t0()), sample("shortened", t0()), sample("persistent", t0())
	extended.ExpiresAt, shortened.ExpiresAt, persistent.ExpiresAt = soon, time.Time{}, soon
	create(t, s, extended, shortened, persistent)
	setExpiry("extended", late)
	setExpiry("shortened", soon)
	setExpiry("persistent", time.Time{})

	if n, err := s.Sweep(ctx, t0().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	list(t, s, tokencore.GrantFilter{}, 2, "extended", "persistent")
}

// testSweepKeepsRevokedTokens: a grant whose first access token outlives
// its current one (1 h, then 3 s), revoked, stored through UpdateGrant as
// the engine does. Sweeping after the 3 s token expired keeps both the
// grant (the tombstone that recognises a replay) and its revocation, with
// MaxAccessExpiresAt intact; sweeping after the 1 h token and the margin
// removes both.
func testSweepKeepsRevokedTokens(t *testing.T, s tokencore.Store) {
	ctx := t.Context()
	g := &tokencore.Grant{ID: "long-then-short", Kind: tokencore.GrantKindManage, Subject: "alice", ClientID: "web",
		Status: tokencore.GrantActive, CreatedAt: t0()}
	issue := func(g *tokencore.Grant, at time.Time, access time.Duration, n int) {
		(&tokencore.IssuedTokens{
			AccessToken: fmt.Sprint("access-", n), AccessID: fmt.Sprint("a", n), AccessExpiresAt: at.Add(access),
			RefreshToken: fmt.Sprint("refresh-", n), RefreshID: fmt.Sprint("r", n), RefreshExpiresAt: at.Add(5 * time.Second),
		}).Apply(g, at, false)
	}
	issue(g, t0(), time.Hour, 1)
	create(t, s, g)
	revoked, err := s.UpdateGrant(ctx, g.ID, func(g *tokencore.Grant) error {
		issue(g, t0().Add(time.Second), 3*time.Second, 2)
		g.Status, g.RevokedAt = tokencore.GrantRevoked, t0().Add(2*time.Second)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := tokencore.Revocation{Kind: tokencore.RevocationOfGrant, Key: g.ID, NotBefore: revoked.RevokedAt, ExpiresAt: revoked.RevocationExpiry()}
	put(t, s, r)

	if _, err := s.Sweep(ctx, t0().Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	got := get(t, s, g.ID)
	if !got.MaxAccessExpiresAt.Equal(t0().Add(time.Hour)) || !got.RevocationExpiry().Equal(r.ExpiresAt) {
		t.Errorf("stored grant: max access expiry %v, revocation expiry %v; want %v, %v",
			got.MaxAccessExpiresAt, got.RevocationExpiry(), t0().Add(time.Hour), r.ExpiresAt)
	}
	sameRevs(t, revocations(t, s, t0().Add(10*time.Second)), []tokencore.Revocation{r})

	end := t0().Add(time.Hour + tokencore.RevocationMargin + time.Nanosecond)
	if n, err := s.Sweep(ctx, end); err != nil || n != 2 {
		t.Fatalf("Sweep after every token expired = %d, %v; want 2 (grant, revocation)", n, err)
	}
	sameRevs(t, revocations(t, s, t0()), nil)
}

func testCancelled(t *testing.T, s tokencore.Store) {
	g := sample("g", t0())
	g.ExpiresAt = t0()
	create(t, s, g)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", op, err)
		}
	}
	check("CreateGrant", s.CreateGrant(ctx, sample("new", t0())))
	_, err := s.GetGrant(ctx, "g")
	check("GetGrant", err)
	_, err = s.GrantByTokenHash(ctx, g.AccessHash)
	check("GrantByTokenHash", err)
	called := false
	_, err = s.UpdateGrant(ctx, "g", func(g *tokencore.Grant) error { called = true; g.Subject = "x"; return nil })
	check("UpdateGrant", err)
	check("DeleteGrant", s.DeleteGrant(ctx, "g"))
	_, _, err = s.ListGrants(ctx, tokencore.GrantFilter{})
	check("ListGrants", err)
	_, err = s.PutRevocation(ctx, tokencore.Revocation{Kind: tokencore.RevocationOfGrant, Key: "g", ExpiresAt: t0()})
	check("PutRevocation", err)
	_, err = s.Revocations(ctx, t0())
	check("Revocations", err)
	_, err = s.RevocationSeq(ctx)
	check("RevocationSeq", err)
	_, err = s.Sweep(ctx, t0().Add(time.Hour))
	check("Sweep", err)

	// Nothing was done.
	if called {
		t.Error("UpdateGrant called fn with a cancelled context")
	}
	sameGrant(t, get(t, s, "g"), g)
	list(t, s, tokencore.GrantFilter{}, 1, "g")
	sameRevs(t, revocations(t, s, t0()), nil)
}

// testConcurrent mixes writers and readers, for the race detector and for
// lost updates.
func testConcurrent(t *testing.T, s tokencore.Store) {
	const workers, each = 8, 10
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*4)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				g := sample(id, t0().Add(time.Duration(i)*time.Second))
				g.Subject = "shared"
				if err := s.CreateGrant(ctx, g); err != nil {
					errs <- err
					continue
				}
				if _, err := s.UpdateGrant(ctx, id, func(g *tokencore.Grant) error { g.ACR = "done"; return nil }); err != nil {
					errs <- err
				}
				if _, _, err := s.ListGrants(ctx, tokencore.GrantFilter{Subject: "shared"}); err != nil {
					errs <- err
				}
				if _, err := s.GrantByTokenHash(ctx, g.RefreshHash); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	gs, total, err := s.ListGrants(ctx, tokencore.GrantFilter{Subject: "shared"})
	if err != nil || total != workers*each || len(gs) != workers*each {
		t.Fatalf("ListGrants = %d of %d, %v; want %d", len(gs), total, err, workers*each)
	}
	for _, g := range gs {
		if g.ACR != "done" {
			t.Errorf("grant %q lost its update", g.ID)
		}
	}
	if !slices.IsSortedFunc(gs, func(a, b *tokencore.Grant) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	}) {
		t.Errorf("ListGrants not ordered by CreatedAt then ID: %q", ids(gs))
	}
}

func testClose(t *testing.T, s tokencore.Store) {
	g := sample("g", t0())
	create(t, s, g)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := t.Context()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, tokencore.ErrStoreClosed) || !errors.Is(err, tokencore.ErrStoreUnavailable) {
			t.Errorf("%s after Close: %v, want ErrStoreClosed (an ErrStoreUnavailable)", op, err)
		}
	}
	check("CreateGrant", s.CreateGrant(ctx, sample("new", t0())))
	_, err := s.GetGrant(ctx, "g")
	check("GetGrant", err)
	_, err = s.GrantByTokenHash(ctx, g.AccessHash)
	check("GrantByTokenHash", err)
	_, err = s.UpdateGrant(ctx, "g", func(*tokencore.Grant) error { return nil })
	check("UpdateGrant", err)
	check("DeleteGrant", s.DeleteGrant(ctx, "g"))
	_, _, err = s.ListGrants(ctx, tokencore.GrantFilter{})
	check("ListGrants", err)
	_, err = s.PutRevocation(ctx, tokencore.Revocation{Kind: tokencore.RevocationOfGrant, Key: "g"})
	check("PutRevocation", err)
	_, err = s.Revocations(ctx, t0())
	check("Revocations", err)
	_, err = s.RevocationSeq(ctx)
	check("RevocationSeq", err)
	_, err = s.Sweep(ctx, t0())
	check("Sweep", err)
	check("second Close", s.Close())
}
