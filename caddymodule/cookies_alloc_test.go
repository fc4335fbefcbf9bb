package caddymodule

import "testing"

// TestCookiesDropAllocs: the check every handler runs on every request
// (cookiesDrop, over edi.CookiePairs) allocates nothing when nothing is
// dropped, as its comment promises.
func TestCookiesDropAllocs(t *testing.T) {
	lines := []string{"theme=dark; edi-token=abc; other=1"}
	keep := func(name, value string) bool { return true }
	if n := testing.AllocsPerRun(100, func() { cookiesDrop(lines, keep) }); n != 0 {
		t.Fatalf("cookiesDrop allocates %v times", n)
	}
}
