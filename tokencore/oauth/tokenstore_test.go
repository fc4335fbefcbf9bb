package oauth

import (
	"errors"
	"testing"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/store/memory"
)

// tokenStoreOnly is a real store seen only through tokencore.TokenStore:
// a backend that serves FOLIO and OAuth without the EDI methods.
type tokenStoreOnly struct{ tokencore.TokenStore }

// TestServiceOnTokenStoreOnly: the OAuth service runs on a store that holds
// grants and revocations and no EDI records: a created grant refreshes,
// and the replay of its used refresh token revokes it everywhere.
func TestServiceOnTokenStoreOnly(t *testing.T) {
	mem := memory.New()
	t.Cleanup(func() { mem.Close() })
	st := tokenStoreOnly{mem}
	if _, ok := any(st).(tokencore.EDIStore); ok {
		t.Fatal("the narrowed store still has the EDI methods")
	}
	f := newFixtureOn(t, newTestKeys(t), st, nil)
	c := f.createFor(t, "web", "alice", "api.read")
	next := mustRefresh(t, f, c.RefreshToken, "", webAuth)
	if err := f.proxyAccepts(next.AccessToken); err != nil {
		t.Fatalf("the refreshed access token: %v", err)
	}
	_, oerr := f.refresh(c.RefreshToken, "", webAuth)
	wantError(t, oerr, ErrInvalidGrant, 400)
	if err := f.proxyAccepts(next.AccessToken); !errors.Is(err, tokencore.ErrTokenRevoked) {
		t.Fatalf("after the replay: %v, want revoked", err)
	}
}
