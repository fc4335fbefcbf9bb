package oauth

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func manyScopes(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("s%d", i)
	}
	return strings.Join(s, " ")
}

func TestParseScope(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		invalid bool
	}{
		{"empty", "", nil, false},
		{"spaces only", "   ", nil, false},
		{"one", "openid", []string{"openid"}, false},
		{"order kept", "proxy g:dirac_user lifetime:3600", []string{"proxy", "g:dirac_user", "lifetime:3600"}, false},
		{"duplicates dropped", "b a b a", []string{"b", "a"}, false},
		{"extra spaces", "  a   b ", []string{"a", "b"}, false},
		{"case kept", "A a", []string{"A", "a"}, false},
		{"all allowed punctuation", "!#$%&'()*+,-./:;<=>?@[]^_`{|}~", []string{"!#$%&'()*+,-./:;<=>?@[]^_`{|}~"}, false},
		{"tab", "a\tb", nil, true},
		{"newline", "a\nb", nil, true},
		{"double quote", `a"b`, nil, true},
		{"backslash", `a\b`, nil, true},
		{"non-ASCII", "scopé", nil, true},
		{"DEL", "a\x7f", nil, true},
		{"at max count", manyScopes(MaxScopes), strings.Fields(manyScopes(MaxScopes)), false},
		{"over max count", manyScopes(MaxScopes + 1), nil, true},
		{"duplicates do not count", manyScopes(MaxScopes) + " s0 s1", strings.Fields(manyScopes(MaxScopes)), false},
		{"at max length", strings.Repeat("a", MaxScopeLength), []string{strings.Repeat("a", MaxScopeLength)}, false},
		{"over max length", strings.Repeat("a", MaxScopeLength+1), nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseScope(tc.in)
			if tc.invalid {
				if err == nil || err.Code != string(ErrInvalidScope) || err.Description != descInvalidScope || got != nil {
					t.Fatalf("ParseScope(%q) = %q, %+v; want invalid_scope", tc.in, got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("ParseScope(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestNarrow(t *testing.T) {
	granted := []string{"openid", "proxy", "g:user"}
	tests := []struct {
		name      string
		granted   []string
		requested string
		want      []string
		invalid   bool
	}{
		{"absent keeps granted", granted, "", granted, false},
		{"spaces keep granted", granted, "  ", granted, false},
		{"same", granted, "openid proxy g:user", granted, false},
		{"narrow", granted, "proxy", []string{"proxy"}, false},
		{"request order", granted, "g:user openid", []string{"g:user", "openid"}, false},
		{"duplicates", granted, "proxy proxy", []string{"proxy"}, false},
		{"widen", granted, "proxy admin", nil, true},
		{"case-sensitive", granted, "OPENID", nil, true},
		{"prefix is not a scope", granted, "g:", nil, true},
		{"empty granted, scope requested", nil, "openid", nil, true},
		{"empty granted, nothing requested", nil, "", nil, false},
		{"malformed", granted, "openid\tproxy", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Narrow(tc.granted, tc.requested)
			if tc.invalid {
				if err == nil || err.Code != string(ErrInvalidScope) || err.HTTPStatus() != 400 ||
					err.Description != "The requested scope is invalid, unknown, or malformed." || got != nil {
					t.Fatalf("Narrow(%q, %q) = %q, %+v; want invalid_scope", tc.granted, tc.requested, got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Narrow(%q, %q) = %q, %v; want %q", tc.granted, tc.requested, got, err, tc.want)
			}
		})
	}
	got, _ := Narrow(granted, "")
	got[0] = "changed"
	if granted[0] != "openid" {
		t.Errorf("Narrow returned the granted slice itself")
	}
}

func TestJoinAndContainsScope(t *testing.T) {
	tests := []struct {
		scopes []string
		joined string
	}{
		{nil, ""},
		{[]string{"a"}, "a"},
		{[]string{"a", "g:x", "b"}, "a g:x b"},
	}
	for _, tc := range tests {
		if got := JoinScope(tc.scopes); got != tc.joined {
			t.Errorf("JoinScope(%q) = %q, want %q", tc.scopes, got, tc.joined)
		}
		if back, _ := ParseScope(tc.joined); !slices.Equal(back, tc.scopes) {
			t.Errorf("ParseScope(JoinScope(%q)) = %q", tc.scopes, back)
		}
	}
	contains := []struct {
		scope string
		want  bool
	}{
		{"openid", true}, {"proxy", true}, {"Openid", false}, {"open", false}, {"", false},
	}
	for _, tc := range contains {
		if got := ContainsScope([]string{"openid", "proxy"}, tc.scope); got != tc.want {
			t.Errorf("ContainsScope(%q) = %v, want %v", tc.scope, got, tc.want)
		}
	}
}
