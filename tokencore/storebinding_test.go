package tokencore

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestCheckStoreBinding is the decision table of BindStore.
func TestCheckStoreBinding(t *testing.T) {
	created := time.Unix(1_800_000_000, 0).UTC()
	bound := StoreIdentity{ID: "s1", CreatedAt: created, Generation: 7}
	b := &StoreBinding{Store: bound, StoreName: "/var/lib/tg.db", Keys: []string{"jwk:A", "refresh:R"}}
	keys := []string{"jwk:A", "refresh:R"}
	newStore := StoreIdentity{ID: "s2", CreatedAt: created.Add(time.Hour)}
	tests := []struct {
		name    string
		binding *StoreBinding
		store   StoreIdentity
		keys    []string
		accept  string
		want    BindOutcome
		wantErr string // fragment of the refusal
	}{
		{"nothing recorded", nil, newStore, keys, "", BindNew, ""},
		{"same store, same generation", b, bound, keys, "", BindSame, ""},
		{"same store, later generation (crash after advancing)", b, StoreIdentity{ID: "s1", Generation: 8}, keys, "", BindSame, ""},
		{"keys rotated but one still verifies", b, StoreIdentity{ID: "s1", Generation: 7}, []string{"jwk:B", "jwk:A", "refresh:R2"}, "", BindSame, ""},
		{"new empty store", b, newStore, keys, "", "", "is a new, empty store"},
		{"another store", b, StoreIdentity{ID: "s3", Generation: 40}, keys, "", "", "is another store"},
		{"older backup", b, StoreIdentity{ID: "s1", Generation: 6}, keys, "", "", "restored from a backup"},
		{"only the refresh key is the same", b, newStore, []string{"jwk:B", "refresh:R"}, "", "", "new, empty store"},
		{"every key replaced", b, newStore, []string{"jwk:B", "refresh:R2"}, "", BindKeysReplaced, ""},
		{"accepted", b, newStore, keys, "s2@0", BindAccepted, ""},
		{"accepted backup", b, StoreIdentity{ID: "s1", Generation: 6}, keys, "s1@6", BindAccepted, ""},
		{"acceptance of another state is inert", b, StoreIdentity{ID: "s1", Generation: 5}, keys, "s1@6", "", "restored from a backup"},
		{"acceptance of another store is inert", b, newStore, keys, "s9@0", "", "new, empty store"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkStoreBinding(tc.binding, tc.store, "/var/lib/tg.db", tc.keys, tc.accept)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrStoreNotBound) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want ErrStoreNotBound saying %q", err, tc.wantErr)
				}
				for _, must := range []string{"/var/lib/tg.db", "accept_store " + tc.store.acceptToken(), "revoked tokens would be accepted again", "docs/operations.md"} {
					if !strings.Contains(err.Error(), must) {
						t.Errorf("the refusal does not say %q: %v", must, err)
					}
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
