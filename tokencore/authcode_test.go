package tokencore

import (
	"encoding/json"
	"testing"
	"time"
)

func TestGrantAuthorizationCode(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	g := &Grant{ID: "g", Kind: GrantKindOAuth, Status: GrantActive,
		Code:   &AuthorizationCode{Hash: "h", ExpiresAt: now.Add(time.Minute), TicketExpiresAt: now.Add(10 * time.Minute), Nonce: "n"},
		Claims: json.RawMessage(`{"name":"A"}`)}
	g.RecomputeExpiry()
	if !g.ExpiresAt.Equal(now.Add(10*time.Minute)) || !g.CodePending() {
		t.Fatalf("pending grant expires %v (pending %v), want with its ticket", g.ExpiresAt, g.CodePending())
	}
	c := g.Clone()
	c.Code.RedeemedAt = now
	c.Claims[2] = 'X'
	if !g.Code.RedeemedAt.IsZero() || string(g.Claims) != `{"name":"A"}` {
		t.Fatal("Clone shares the code or the claims with the original")
	}
	if c.CodePending() {
		t.Fatal("a redeemed code is pending")
	}
	// Tokens issued from the code outlive it: the record follows them.
	c.AccessExpiresAt, c.RefreshExpiresAt = now.Add(time.Hour), now.Add(24*time.Hour)
	c.RecomputeExpiry()
	if !c.ExpiresAt.Equal(now.Add(24 * time.Hour)) {
		t.Fatalf("redeemed grant expires %v", c.ExpiresAt)
	}
	// Every store encodes grants as JSON: the code survives the trip.
	b, _ := json.Marshal(c)
	var back Grant
	if err := json.Unmarshal(b, &back); err != nil || back.Code == nil || back.Code.Nonce != "n" || !back.Code.RedeemedAt.Equal(now) || string(back.Claims) != `{"Xame":"A"}` {
		t.Fatalf("round trip: %+v %v", back.Code, err)
	}
}
