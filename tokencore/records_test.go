package tokencore

import (
	"errors"
	"strings"
	"testing"
)

// TestUpdateRecord: the update step every backend shares edits a copy,
// returns fn's own error unwrapped, refuses a change of identity or a
// record past the limits, and never touches the stored record it read.
func TestUpdateRecord(t *testing.T) {
	errMine := errors.New("caller's own refusal")
	grant := func() *Grant { return &Grant{ID: "g1", Subject: "alice", Scopes: []string{"a"}} }
	key := func() *EDIAPIKey {
		return &EDIAPIKey{ID: "k1", Owner: "EDI-o", Name: "n", SecretHash: APIKeyHash("s")}
	}
	for _, tc := range []struct {
		name    string
		grantFn func(*Grant) error
		keyFn   func(*EDIAPIKey) error
		want    error // nil: the update is accepted
	}{
		{"accepted", func(g *Grant) error { g.Scopes[0] = "b"; return nil }, func(k *EDIAPIKey) error { k.Name = "m"; return nil }, nil},
		{"fn refuses", func(*Grant) error { return errMine }, func(*EDIAPIKey) error { return errMine }, errMine},
		{"identity changed", func(g *Grant) error { g.ID = "g2"; return nil }, func(k *EDIAPIKey) error { k.Owner = "EDI-x"; return nil }, ErrInvalidRecord},
		{"ID emptied, secret hash changed", func(g *Grant) error { g.ID = ""; return nil }, func(k *EDIAPIKey) error { k.SecretHash = APIKeyHash("t"); return nil }, ErrInvalidRecord},
		{"too large", func(g *Grant) error { g.Subject = strings.Repeat("x", MaxKeyFieldLen+1); return nil },
			func(k *EDIAPIKey) error { k.Name = strings.Repeat("x", MaxEDIRecordSize); return nil }, ErrInvalidRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oldG := grant()
			g, b, err := UpdateRecord(oldG, tc.grantFn)
			expectUpdate(t, "grant", err, tc.want, g != nil, b)
			if oldG.Scopes[0] != "a" || oldG.ID != "g1" || oldG.Subject != "alice" {
				t.Errorf("the stored grant was edited: %+v", oldG)
			}
			oldK := key()
			k, b, err := UpdateRecord(oldK, tc.keyFn)
			expectUpdate(t, "API key", err, tc.want, k != nil, b)
			if oldK.Name != "n" || oldK.Owner != "EDI-o" || string(oldK.SecretHash) != string(APIKeyHash("s")) {
				t.Errorf("the stored API key was edited: %+v", oldK)
			}
		})
	}
}

func expectUpdate(t *testing.T, what string, err, want error, got bool, b []byte) {
	t.Helper()
	switch {
	case want == nil && (err != nil || !got || len(b) == 0):
		t.Errorf("%s: %v, record %v, %d bytes; want accepted", what, err, got, len(b))
	case want != nil && (!errors.Is(err, want) || got || b != nil):
		t.Errorf("%s: %v, record %v; want %v and nothing to write", what, err, got, want)
	case want != nil && want != ErrInvalidRecord && err != want:
		t.Errorf("%s: %v is wrapped; fn's own error must come back as it is", what, err)
	}
}
