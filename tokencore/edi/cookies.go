package edi

import (
	"iter"
	"strings"
)

// CookiePair is one name=value pair of a Cookie header: Raw as the client
// wrote it (trimmed), Name and Value trimmed, Value still quoted if it was.
type CookiePair struct {
	Raw, Name, Value string
}

// CookiePairs yields the non-empty pairs of Cookie header lines in the
// client's order, without allocating. Every reader of cookies in the
// gateway (token extraction, the upstream's rebuilt header, the identity
// stripping of every handler) walks them through it, so they cannot split
// a header differently.
func CookiePairs(lines []string) iter.Seq[CookiePair] {
	return func(yield func(CookiePair) bool) {
		for _, line := range lines {
			for rest := line; rest != ""; {
				var pair string
				pair, rest, _ = strings.Cut(rest, ";")
				pair = strings.TrimSpace(pair)
				if pair == "" {
					continue
				}
				name, value, _ := strings.Cut(pair, "=")
				if !yield(CookiePair{Raw: pair, Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)}) {
					return
				}
			}
		}
	}
}
