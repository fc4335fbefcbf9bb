package oauth

import (
	"maps"
	"strings"
	"testing"
)

func TestParseForm(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		max      int
		want     map[string]string
		wantDesc string // non-empty: an invalid_request with this description
	}{
		{name: "refresh request", body: "grant_type=refresh_token&refresh_token=abc&scope=a+b",
			want: map[string]string{"grant_type": "refresh_token", "refresh_token": "abc", "scope": "a b"}},
		{name: "empty body", body: "", want: map[string]string{}},
		{name: "empty value is absent", body: "scope=&grant_type=refresh_token",
			want: map[string]string{"grant_type": "refresh_token"}},
		{name: "empty then value is one value", body: "a=&a=x", want: map[string]string{"a": "x"}},
		{name: "value then empty is one value", body: "a=x&a=", want: map[string]string{"a": "x"}},
		{name: "name without =", body: "a&b=1", want: map[string]string{"b": "1"}},
		{name: "empty name ignored", body: "=x&b=1", want: map[string]string{"b": "1"}},
		{name: "percent and plus decoding", body: "client_secret=a%2Bb+c%25", want: map[string]string{"client_secret": "a+b c%"}},
		{name: "unknown parameters kept harmlessly", body: "foo=bar&grant_type=x", want: map[string]string{"foo": "bar", "grant_type": "x"}},
		{name: "duplicate", body: "scope=a&grant_type=x&scope=b", wantDesc: "Duplicate 'scope' parameter."},
		{name: "duplicate same value", body: "a=x&a=x", wantDesc: "Duplicate 'a' parameter."},
		{name: "duplicate long name truncated", body: strings.Repeat("n", 100) + "=1&" + strings.Repeat("n", 100) + "=2",
			wantDesc: "Duplicate '" + strings.Repeat("n", 64) + "...' parameter."},
		{name: "bad escape", body: "a=%zz", wantDesc: "The request body is not valid form encoding."},
		{name: "semicolon", body: "a=1;b=2", wantDesc: "The request body is not valid form encoding."},
		{name: "at limit", body: "a=12345678", max: 10, want: map[string]string{"a": "12345678"}},
		{name: "over limit", body: "a=123456789", max: 10, wantDesc: "The request body is too large."},
		{name: "default limit ok", body: "a=" + strings.Repeat("x", DefaultMaxFormBytes-2),
			want: map[string]string{"a": strings.Repeat("x", DefaultMaxFormBytes-2)}},
		{name: "default limit exceeded", body: "a=" + strings.Repeat("x", DefaultMaxFormBytes-1), max: -1,
			wantDesc: "The request body is too large."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseForm([]byte(tc.body), tc.max)
			if tc.wantDesc != "" {
				if err == nil || err.Code != string(ErrInvalidRequest) || err.Description != tc.wantDesc || err.HTTPStatus() != 400 {
					t.Fatalf("ParseForm() error = %+v, want invalid_request %q", err, tc.wantDesc)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseForm() error = %v", err)
			}
			if !maps.Equal(f.values, tc.want) {
				t.Errorf("ParseForm() = %v, want %v", f.values, tc.want)
			}
			for k, v := range tc.want {
				if f.Get(k) != v || !f.Has(k) {
					t.Errorf("Get/Has(%q) = %q/%v, want %q", k, f.Get(k), f.Has(k), v)
				}
			}
		})
	}
}

func TestFormAbsent(t *testing.T) {
	f, err := ParseForm([]byte("scope="), 0)
	if err != nil {
		t.Fatal(err)
	}
	var zero Form
	for _, form := range []Form{f, zero} {
		if form.Get("scope") != "" || form.Has("scope") || form.Has("nothing") {
			t.Errorf("absent parameter reported present in %v", form.values)
		}
	}
}
