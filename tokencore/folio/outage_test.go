package folio

import (
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

// folioOutage is a FOLIO service over a real bbolt file behind a wrapper
// that can fail like an outage.
type folioOutage struct {
	e     *tokencore.Engine
	f     *Service
	flaky *storetest.Flaky
	v     *tokencore.Verifier
}

func newFolioOutage(t *testing.T) *folioOutage {
	t.Helper()
	secret := "a-folio-secret-for-the-outage-tests"
	k := tokencore.NewFolioKey(secret)
	ks, err := tokencore.NewKeySet(k, nil, tokencore.DeriveFolioSecret(secret))
	if err != nil {
		t.Fatal(err)
	}
	flaky := storetest.NewFlaky(openBolt(t, filepath.Join(t.TempDir(), "tg.db")))
	t.Cleanup(func() { flaky.Close() })
	e := &tokencore.Engine{Keys: ks, Store: flaky, View: tokencore.NewRevocationView()}
	return &folioOutage{e: e, f: New(e, Config{}), flaky: flaky, v: e.Verifier(tokencore.VerifierOptions{})}
}

func (o *folioOutage) sign(t *testing.T) Tokens {
	t.Helper()
	v, ferr := o.f.Sign(t.Context(), "diku", SignPayload{Subject: "alice", UserID: uid})
	if ferr != nil {
		t.Fatal(ferr)
	}
	return v.(Tokens)
}

// want503 checks the FOLIO answer to a store outage: 503, Retry-After, a
// message saying what happened, the cause kept for the log.
func want503(t *testing.T, op string, ferr *Error) {
	t.Helper()
	if ferr == nil || ferr.Status != http.StatusServiceUnavailable || ferr.RetryAfter <= 0 ||
		!errors.Is(ferr, tokencore.ErrStoreUnavailable) {
		t.Fatalf("%s during a store outage: %v, want 503 with Retry-After", op, ferr)
	}
}

// TestFolioStoreOutage: every FOLIO endpoint that reads or writes the store
// answers 503 with Retry-After during an outage (it answered 500
// "Unexpected exception during token validation"), nothing is changed
// anywhere, and the same request succeeds after recovery.
func TestFolioStoreOutage(t *testing.T) {
	ctx := t.Context()
	t.Run("sign", func(t *testing.T) {
		o := newFolioOutage(t)
		o.flaky.FailAll()
		_, ferr := o.f.Sign(ctx, "diku", SignPayload{Subject: "alice", UserID: uid})
		want503(t, "sign", ferr)
		o.flaky.Recover()
		o.sign(t)
	})
	t.Run("refresh", func(t *testing.T) {
		o := newFolioOutage(t)
		p := o.sign(t)
		o.flaky.FailAll()
		_, ferr := o.f.Refresh(ctx, "diku", "", p.RefreshToken)
		want503(t, "refresh", ferr)
		o.flaky.Recover()
		if _, ferr := o.f.Refresh(ctx, "diku", "", p.RefreshToken); ferr != nil {
			t.Fatalf("the refresh retried after recovery: %v (the outage must not consume the token)", ferr)
		}
	})
	t.Run("invalidate", func(t *testing.T) {
		o := newFolioOutage(t)
		p := o.sign(t)
		o.flaky.FailNext("PutRevocation", 1)
		want503(t, "invalidate", o.f.Invalidate(ctx, "diku", p.RefreshToken))
		if _, err := o.v.Verify(p.AccessToken, "diku"); err != nil {
			t.Fatalf("a failed invalidate changed something: the access token is refused (%v)", err)
		}
		if ferr := o.f.Invalidate(ctx, "diku", p.RefreshToken); ferr != nil {
			t.Fatal(ferr)
		}
		if _, err := o.v.Verify(p.AccessToken, "diku"); !errors.Is(err, tokencore.ErrTokenRevoked) {
			t.Fatalf("after the retried invalidate: %v, want revoked", err)
		}
	})
	t.Run("invalidate-all", func(t *testing.T) {
		o := newFolioOutage(t)
		p := o.sign(t)
		o.flaky.FailNext("PutRevocation", 1)
		want503(t, "invalidate-all", o.f.InvalidateAll(ctx, "diku", p.AccessToken))
		o.flaky.FailAll()
		want503(t, "invalidate-all", o.f.InvalidateAll(ctx, "diku", p.AccessToken))
		o.flaky.Recover()
		if ferr := o.f.InvalidateAll(ctx, "diku", p.AccessToken); ferr != nil {
			t.Fatal(ferr)
		}
		if _, err := o.v.Verify(p.AccessToken, "diku"); !errors.Is(err, tokencore.ErrTokenRevoked) {
			t.Fatalf("after the retried invalidate-all: %v, want revoked", err)
		}
	})
	t.Run("replay", func(t *testing.T) {
		o := newFolioOutage(t)
		p := o.sign(t)
		p2, ferr := o.f.Refresh(ctx, "diku", "", p.RefreshToken)
		if ferr != nil {
			t.Fatal(ferr)
		}
		// The replay's mass revocation cannot be stored: 503, and the
		// current pair still works (nothing changed anywhere).
		o.flaky.FailNext("PutRevocation", 1)
		_, ferr = o.f.Refresh(ctx, "diku", "", p.RefreshToken)
		want503(t, "replay", ferr)
		if _, err := o.v.Verify(p2.AccessToken, "diku"); err != nil {
			t.Fatalf("a replay whose revocation failed changed something: %v", err)
		}
		// Retried after recovery, the replay revokes the user's grants.
		if _, ferr = o.f.Refresh(ctx, "diku", "", p.RefreshToken); ferr == nil || ferr.Status != http.StatusUnauthorized {
			t.Fatalf("retried replay: %v, want 401", ferr)
		}
		if _, err := o.v.Verify(p2.AccessToken, "diku"); !errors.Is(err, tokencore.ErrTokenRevoked) {
			t.Fatalf("after the retried replay the current access token: %v, want revoked", err)
		}
	})
}
