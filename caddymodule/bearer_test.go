package caddymodule

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/tokengate/tokengate/tokencore"
)

// TestRequestToken: the sources every handler reads, and their conflicts.
func TestRequestToken(t *testing.T) {
	tests := []struct {
		name    string
		headers []string // name, value pairs
		okapi   bool
		cookie  string
		want    string
		wantErr string
	}{
		{"nothing", nil, true, "", "", ""},
		{"bearer", []string{"Authorization", "Bearer a"}, true, "", "a", ""},
		{"okapi header", []string{"X-Okapi-Token", "a"}, true, "", "a", ""},
		{"okapi header off", []string{"X-Okapi-Token", "a"}, false, "", "", ""},
		{"same token twice", []string{"Authorization", "Bearer a", "X-Okapi-Token", "a"}, true, "", "a", ""},
		{"conflicting", []string{"Authorization", "Bearer a", "X-Okapi-Token", "b"}, true, "", "", "conflicting tokens in Authorization, X-Okapi-Token and cookie"},
		{"cookie", []string{"Cookie", "tg=a"}, true, "tg", "a", ""},
		{"cookie conflicts", []string{"Cookie", "tg=a", "X-Okapi-Token", "b"}, true, "tg", "", "conflicting tokens in Authorization, X-Okapi-Token and cookie"},
		{"basic", []string{"Authorization", "Basic eDp5", "X-Okapi-Token", "a"}, true, "", "", tokencore.ErrNotBearer.Error()},
		{"two authorization", []string{"Authorization", "Bearer a", "Authorization", "Bearer a"}, true, "", "", tokencore.ErrSeveralAuthorization.Error()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for i := 0; i < len(tc.headers); i += 2 {
				r.Header.Add(tc.headers[i], tc.headers[i+1])
			}
			got, err := requestToken(r, tc.okapi, tc.cookie)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("%q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := requestToken(httptest.NewRequest("GET", "/", nil), true, ""); errors.Is(err, tokencore.ErrNotBearer) {
		t.Fatal("no header is not a scheme error")
	}
}
