package tokencore_test

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// TestEDIAPIKeyUsable is the validity rule of spec §7.2: not revoked and
// ValidFrom ≤ now < ValidTo.
func TestEDIAPIKeyUsable(t *testing.T) {
	from := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	for _, tc := range []struct {
		name    string
		now     time.Time
		revoked time.Time
		want    bool
	}{
		{"before valid_from", from.Add(-time.Nanosecond), time.Time{}, false},
		{"at valid_from", from, time.Time{}, true},
		{"inside", from.Add(time.Hour), time.Time{}, true},
		{"just before valid_to", to.Add(-time.Nanosecond), time.Time{}, true},
		{"at valid_to", to, time.Time{}, false},
		{"after valid_to", to.Add(time.Hour), time.Time{}, false},
		{"revoked later", from.Add(time.Hour), from.Add(2 * time.Hour), false},
		{"revoked earlier", from.Add(time.Hour), from, false},
	} {
		k := &tokencore.EDIAPIKey{ValidFrom: from, ValidTo: to, RevokedAt: tc.revoked}
		if got := k.Usable(tc.now); got != tc.want {
			t.Errorf("%s: Usable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAPIKeyHash(t *testing.T) {
	// sha256("R9arQwYMFqdgVVYt7jqcsxfyPyU"), the secret of EDI's document.
	got := tokencore.HashSecret("R9arQwYMFqdgVVYt7jqcsxfyPyU")
	if h := tokencore.APIKeyHash("R9arQwYMFqdgVVYt7jqcsxfyPyU"); len(h) != 32 || got != "sha256:"+hex.EncodeToString(h) {
		t.Fatalf("APIKeyHash = %x, HashSecret = %s", h, got)
	}
}
