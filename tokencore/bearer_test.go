package tokencore

import (
	"errors"
	"testing"
)

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name   string
		lines  []string
		want   string
		wantEr error
	}{
		{"none", nil, "", nil},
		{"bearer", []string{"Bearer abc"}, "abc", nil},
		{"scheme is case-insensitive", []string{"bEaReR  abc "}, "abc", nil},
		{"empty bearer", []string{"Bearer"}, "", nil},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, "", ErrNotBearer},
		{"no scheme", []string{"abc"}, "", ErrNotBearer},
		{"two headers", []string{"Bearer a", "Bearer a"}, "", ErrSeveralAuthorization},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BearerToken(tc.lines)
			if got != tc.want || !errors.Is(err, tc.wantEr) || (tc.wantEr == nil && err != nil) {
				t.Fatalf("BearerToken(%q) = %q, %v; want %q, %v", tc.lines, got, err, tc.want, tc.wantEr)
			}
		})
	}
}
