package tokencore

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestGrantKeepsTheLatestAccessExpiry: a refresh with a shorter lifetime
// never lowers MaxAccessExpiresAt, the record outlives every token, and
// the grant's revocation expires only after the longest-lived token plus
// the leeway margin.
func TestGrantKeepsTheLatestAccessExpiry(t *testing.T) {
	t0 := time.Unix(1_900_000_000, 0)
	g := &Grant{ID: "g"}
	issue := func(at time.Time, access, refresh time.Duration) {
		(&IssuedTokens{AccessToken: "a", AccessExpiresAt: at.Add(access), RefreshToken: "r", RefreshExpiresAt: at.Add(refresh)}).Apply(g, at, false)
	}
	issue(t0, time.Hour, 10*time.Second) // management create: 1 h access token
	issue(t0.Add(time.Second), 3*time.Second, 10*time.Second)
	if want := t0.Add(time.Hour); !g.MaxAccessExpiresAt.Equal(want) {
		t.Fatalf("MaxAccessExpiresAt %v, want %v", g.MaxAccessExpiresAt, want)
	}
	if !g.AccessExpiresAt.Equal(t0.Add(4*time.Second)) || !g.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("access expiry %v, record expiry %v", g.AccessExpiresAt, g.ExpiresAt)
	}
	g.Status, g.RevokedAt = GrantRevoked, t0.Add(2*time.Second)
	if want := t0.Add(time.Hour + RevocationMargin); !g.RevocationExpiry().Equal(want) {
		t.Fatalf("RevocationExpiry %v, want %v", g.RevocationExpiry(), want)
	}

	// A persistent token: the revocation is kept for a century.
	p := &Grant{ID: "p"}
	(&IssuedTokens{AccessToken: "a"}).Apply(p, t0, true)
	if p.ExpiresAt.IsZero() != true || p.MaxAccessExpiresAt.Before(t0.Add(99*365*24*time.Hour)) {
		t.Fatalf("persistent grant: expires %v, max access %v", p.ExpiresAt, p.MaxAccessExpiresAt)
	}
	p.RevokedAt = t0
	if p.RevocationExpiry().Before(t0.Add(99 * 365 * 24 * time.Hour)) {
		t.Fatalf("persistent revocation expires %v", p.RevocationExpiry())
	}
	// A record written before MaxAccessExpiresAt was kept: the latest expiry
	// it knows of, refresh included.
	old := &Grant{AccessExpiresAt: t0.Add(3 * time.Second), RefreshExpiresAt: t0.Add(7 * 24 * time.Hour), RevokedAt: t0}
	if want := t0.Add(7*24*time.Hour + RevocationMargin); !old.RevocationExpiry().Equal(want) {
		t.Fatalf("legacy record: %v, want %v", old.RevocationExpiry(), want)
	}
}

// TestRevokeGrantCoversEveryToken reproduces issue 8 §2 on the engine, with
// the sweep and the view's pruning as the gateway runs them: a 1 h token,
// a 3 s token after it, then the revocation. After the 3 s token expired
// and the store was swept and synced, the 1 h token is still refused, the
// grant record is still there, and an instance loading the store afresh
// refuses it too.
func TestRevokeGrantCoversEveryToken(t *testing.T) {
	clk := &clock{t: time.Unix(1_900_000_000, 0)}
	e := newTestEngine(t, clk)
	ctx := context.Background()
	now := clk.t
	g := &Grant{ID: NewGrantID(), Kind: GrantKindManage, Subject: "alice", ClientID: "web", Status: GrantActive, CreatedAt: now}
	first, _ := e.MintTokens(g, MintSpec{AccessTTL: time.Hour, RefreshTTL: 24 * time.Hour, WithRefresh: true}, now)
	first.Apply(g, now, false)
	if err := e.Store.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	second, _ := e.MintTokens(g, MintSpec{AccessTTL: 3 * time.Second, RefreshTTL: 24 * time.Hour, WithRefresh: true}, now)
	if _, err := e.Store.UpdateGrant(ctx, g.ID, func(g *Grant) error { second.Apply(g, now, false); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.RevokeGrant(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	v := e.Verifier(VerifierOptions{Leeway: time.Hour}) // cut to MaxLeeway
	clk.t = now.Add(10 * time.Minute)
	if _, err := e.Store.Sweep(ctx, clk.t); err != nil {
		t.Fatal(err)
	}
	if err := e.SyncRevocations(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(first.AccessToken, ""); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("the 1 h token after the 3 s one expired and was swept: %v, want revoked", err)
	}
	if _, err := e.Store.GetGrant(ctx, g.ID); err != nil {
		t.Fatalf("the revoked grant was swept while its 1 h token lives: %v", err)
	}
	fresh := NewVerifier(e.Keys, nil, NewRevocationView(), VerifierOptions{}, clk.now)
	rs, _ := e.Store.Revocations(ctx, clk.t)
	fresh.view.Load(rs)
	if _, err := fresh.Verify(first.AccessToken, ""); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("a fresh instance: %v, want revoked", err)
	}
	// Within the leeway after the 1 h token's expiry it is still refused,
	// never accepted again; after the margin the entry is gone.
	clk.t = now.Add(time.Hour + MaxLeeway - time.Second)
	e.Store.Sweep(ctx, clk.t)
	e.SyncRevocations(ctx)
	if _, err := v.Verify(first.AccessToken, ""); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("within the leeway: %v, want revoked", err)
	}
	clk.t = now.Add(time.Hour + MaxLeeway + time.Second)
	e.Store.Sweep(ctx, clk.t)
	e.SyncRevocations(ctx)
	if _, err := v.Verify(first.AccessToken, ""); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("after the leeway: %v, want expired", err)
	}
	if e.View.Len() != 0 {
		t.Fatalf("the view still holds %d entries", e.View.Len())
	}
}

// TestPrincipalRevocationsOutliveEveryPath: user and subject revocations
// last the longest access lifetime any service declared, plus the margin;
// with none declared they fail closed.
func TestPrincipalRevocationsOutliveEveryPath(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	e := &Engine{}
	if got := e.PrincipalRevocationExpiry(now); got.Before(now.Add(99 * 365 * 24 * time.Hour)) {
		t.Fatalf("nothing declared: %v, want a century", got)
	}
	e.DeclareAccessLifetime(10 * time.Minute)
	e.DeclareAccessLifetime(time.Hour)
	e.DeclareAccessLifetime(time.Second) // never lowers
	if got, want := e.PrincipalRevocationExpiry(now), now.Add(time.Hour+RevocationMargin); !got.Equal(want) {
		t.Fatalf("PrincipalRevocationExpiry %v, want %v", got, want)
	}
}

func TestVerifierLeewayIsBounded(t *testing.T) {
	ks, _ := testKeys(t)
	clk := &clock{t: time.Unix(1_900_000_000, 0)}
	tok, _ := ks.Sign(AccessClaims{Type: TypeAccess, Subject: "a", IssuedAt: clk.t.Unix(), Expiry: clk.t.Unix()})
	v := NewVerifier(ks, nil, NewRevocationView(), VerifierOptions{Leeway: time.Hour}, clk.now)
	clk.t = clk.t.Add(MaxLeeway - time.Second)
	if _, err := v.Verify(tok, ""); err != nil {
		t.Fatalf("within MaxLeeway: %v", err)
	}
	clk.t = clk.t.Add(2 * time.Second)
	if _, err := v.Verify(tok, ""); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("beyond MaxLeeway with a 1 h leeway asked: %v, want expired", err)
	}
}
