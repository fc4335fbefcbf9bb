package tokencore_test

import (
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// TestRevocationViewApplyFeed: the view applies a feed in order, ignores
// repeats (at-least-once), and reports a gap or another epoch instead of
// applying past it.
func TestRevocationViewApplyFeed(t *testing.T) {
	now := time.Now()
	entry := func(seq uint64, epoch, sub string) tokencore.NumberedRevocation {
		return tokencore.NumberedRevocation{Seq: seq, Epoch: epoch, Revocation: subjectRevocation(sub, now)}
	}
	revoked := func(v *tokencore.RevocationView, sub string) bool { return v.Revoked(subjectClaims(sub, now)) }
	tests := []struct {
		name     string
		start    tokencore.FeedPosition
		feed     []tokencore.NumberedRevocation
		complete bool
		want     tokencore.FeedPosition
		applied  []string
		missing  []string
	}{
		{"in order, epoch adopted", tokencore.FeedPosition{}, []tokencore.NumberedRevocation{entry(1, "E", "a"), entry(2, "E", "b")},
			true, tokencore.FeedPosition{Seq: 2, Epoch: "E"}, []string{"a", "b"}, nil},
		{"repeats are no-ops", tokencore.FeedPosition{Seq: 2, Epoch: "E"}, []tokencore.NumberedRevocation{entry(1, "E", "x"), entry(2, "E", "y"), entry(3, "E", "c")},
			true, tokencore.FeedPosition{Seq: 3, Epoch: "E"}, []string{"c"}, []string{"x", "y"}},
		{"a gap stops", tokencore.FeedPosition{Seq: 2, Epoch: "E"}, []tokencore.NumberedRevocation{entry(3, "E", "c"), entry(5, "E", "e")},
			false, tokencore.FeedPosition{Seq: 3, Epoch: "E"}, []string{"c"}, []string{"e"}},
		{"another epoch stops", tokencore.FeedPosition{Seq: 2, Epoch: "E"}, []tokencore.NumberedRevocation{entry(3, "F", "c")},
			false, tokencore.FeedPosition{Seq: 2, Epoch: "E"}, nil, []string{"c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := tokencore.NewRevocationView()
			v.LoadAt(nil, tc.start)
			if got := v.ApplyFeed(tc.feed); got != tc.complete {
				t.Errorf("ApplyFeed = %v, want %v", got, tc.complete)
			}
			if got := v.Position(); got != tc.want {
				t.Errorf("position %+v, want %+v", got, tc.want)
			}
			for _, s := range tc.applied {
				if !revoked(v, s) {
					t.Errorf("%s not applied", s)
				}
			}
			for _, s := range tc.missing {
				if revoked(v, s) {
					t.Errorf("%s applied", s)
				}
			}
		})
	}
	// LoadAt after a lost history sets a lower position and keeps entries.
	v := tokencore.NewRevocationView()
	v.ApplyFeed([]tokencore.NumberedRevocation{entry(1, "E", "old")})
	v.LoadAt([]tokencore.Revocation{subjectRevocation("new", now)}, tokencore.FeedPosition{Seq: 0, Epoch: "F"})
	if p := v.Position(); p.Seq != 0 || p.Epoch != "F" || !revoked(v, "old") || !revoked(v, "new") {
		t.Errorf("after LoadAt: position %+v, old %v, new %v", p, revoked(v, "old"), revoked(v, "new"))
	}
	// Without a follower the view is always trusted.
	if err := v.Check(); err != nil {
		t.Errorf("Check without a follower: %v", err)
	}
}
