package tokencore

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestStoreHandle: calls made before the store is attached wait for it and
// then reach it; calls on an abandoned handle fail at once with
// ErrStoreNotOpen; a cancelled context ends the wait.
func TestStoreHandle(t *testing.T) {
	st := OpenTestStore(t)
	g := &Grant{ID: NewGrantID(), Kind: GrantKindFolio, Subject: "alice", Status: GrantActive, CreatedAt: time.Now()}
	if err := st.CreateGrant(t.Context(), g); err != nil {
		t.Fatal(err)
	}

	h := NewStoreHandle()
	got := make(chan error, 1)
	go func() {
		_, err := h.GetGrant(t.Context(), g.ID)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("answered before the store was attached: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := h.Attach(st); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiting call: %v", err)
	}
	if err := h.Attach(st); err == nil {
		t.Fatal("attached twice")
	}
	if err := h.Close(); err != nil || h.Backend() != st {
		t.Fatalf("close: %v", err)
	}

	abandoned := NewStoreHandle()
	ctx, cancel := context.WithCancel(t.Context())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := abandoned.GetGrant(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	go func() { time.Sleep(20 * time.Millisecond); abandoned.Abandon() }()
	start := time.Now()
	if _, err := abandoned.GetGrant(t.Context(), "x"); !errors.Is(err, ErrStoreNotOpen) || time.Since(start) > ViewLoadWait/2 {
		t.Fatalf("abandoned handle: %v after %v", err, time.Since(start))
	}
	if err := abandoned.Attach(st); err == nil {
		t.Fatal("attached after abandon")
	}
}

// TestPendingViewFailsClosed: a verdict asked of a view that was not loaded
// waits for the load, then answers from it; if the load is abandoned, the
// token is refused.
func TestPendingViewFailsClosed(t *testing.T) {
	ks, tok, now := aliceAccessToken(t)

	view := NewPendingRevocationView()
	v := NewVerifier(ks, nil, view, VerifierOptions{}, nil)
	got := make(chan error, 1)
	go func() {
		_, err := v.Verify(tok, "")
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	view.Load([]Revocation{{Kind: RevocationOfGrant, Key: "other", ExpiresAt: now.Add(time.Hour)}})
	if err := <-got; err != nil {
		t.Fatalf("after the load: %v", err)
	}

	abandoned := NewPendingRevocationView()
	go func() { time.Sleep(20 * time.Millisecond); abandoned.Abandon() }()
	if _, err := NewVerifier(ks, nil, abandoned, VerifierOptions{}, nil).Verify(tok, ""); !errors.Is(err, ErrStoreNotOpen) {
		t.Fatalf("unloaded view: %v", err)
	}
	if !abandoned.Revoked(&Claims{Subject: "alice", GrantID: "g1"}) || !abandoned.SubjectRevoked("alice", now.Unix()) {
		t.Fatal("an unloaded view accepts tokens")
	}
}

// TestPendingViewLoadedBySync: Start loads a bbolt or memory store's
// revocations with Engine.SyncRevocations (LoadAt, with the store's
// number); that first load must settle the pending view, or every
// protected request waits for a load that already happened and fails.
func TestPendingViewLoadedBySync(t *testing.T) {
	ks, tok, _ := aliceAccessToken(t)
	view := NewPendingRevocationView()
	e := &Engine{Keys: ks, Store: OpenTestStore(t), View: view}
	if err := e.SyncRevocations(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !view.Loaded() {
		t.Fatal("the view is still pending after SyncRevocations")
	}
	if _, err := e.Verifier(VerifierOptions{}).Verify(tok, ""); err != nil {
		t.Fatalf("after the first sync: %v", err)
	}
}

// aliceAccessToken returns a key set and an hour-long access token of
// alice (grant g1) it signed, and the time it was issued.
func aliceAccessToken(t *testing.T) (*KeySet, string, time.Time) {
	t.Helper()
	ks, _ := testKeys(t)
	now := time.Now()
	tok, err := ks.Sign(AccessClaims{Type: TypeAccess, Subject: "alice", Expiry: now.Add(time.Hour).Unix(), IssuedAt: now.Unix(), ID: "j1", GrantID: "g1"})
	if err != nil {
		t.Fatal(err)
	}
	return ks, tok, now
}
