package tokencore

import (
	"encoding/json"
	"testing"
)

func TestClaimsLookup(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal([]byte(`{"sub":"a","a.b":"top","a":{"b":"nested","c":{"d":[1,2]}},"s":"x",
		"deep":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":"deep"}}}}}}}}}`), &m); err != nil {
		t.Fatal(err)
	}
	c := &Claims{Raw: m}
	tests := []struct {
		name  string
		want  any
		found bool
	}{
		{"sub", "a", true},
		{"a.b", "top", true}, // the exact member wins over the path
		{"a.c.d", []any{float64(1), float64(2)}, true},
		{"a.x", nil, false},
		{"s.x", nil, false}, // through a non-object
		{"missing", nil, false},
		{"deep.b.c.d.e.f.g.h", map[string]any{"i": "deep"}, true}, // 8 steps
		{"deep.b.c.d.e.f.g.h.i", nil, false},                      // 9 steps: bounded
	}
	for _, tc := range tests {
		got, found := c.Lookup(tc.name)
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(tc.want)
		if found != tc.found || string(gb) != string(wb) {
			t.Errorf("Lookup(%q) = %s, %v; want %s, %v", tc.name, gb, found, wb, tc.found)
		}
	}
}
