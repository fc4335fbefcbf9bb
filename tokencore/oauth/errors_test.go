package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestNewErrorStatus(t *testing.T) {
	tests := []struct {
		code   ErrorCode
		status int
	}{
		{ErrInvalidRequest, 400},
		{ErrInvalidClient, 400},
		{ErrInvalidGrant, 400},
		{ErrUnauthorizedClient, 400},
		{ErrUnsupportedGrantType, 400},
		{ErrInvalidScope, 400},
		{ErrUnsupportedTokenType, 400},
		{ErrServerError, 500},
	}
	for _, tc := range tests {
		t.Run(string(tc.code), func(t *testing.T) {
			e := NewError(tc.code, "d")
			if e.Code != string(tc.code) || e.Status != tc.status || e.HTTPStatus() != tc.status {
				t.Errorf("NewError(%s) = %+v, want status %d", tc.code, e, tc.status)
			}
			if e.AuthScheme != "" || e.WWWAuthenticate() != "" {
				t.Errorf("NewError(%s) has a challenge: %+v", tc.code, e)
			}
			want := `{"error":"` + string(tc.code) + `","error_description":"d"}`
			if got := string(e.Body()); got != want {
				t.Errorf("Body() = %s, want %s", got, want)
			}
		})
	}
}

func TestErrorBody(t *testing.T) {
	long := strings.Repeat("x", maxDescriptionLen+50)
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"no description", &Error{Code: "invalid_grant"}, `{"error":"invalid_grant"}`},
		{"description", NewError(ErrInvalidRequest, "Missing 'refresh_token' in request."),
			`{"error":"invalid_request","error_description":"Missing 'refresh_token' in request."}`},
		{"double quote", NewError(ErrInvalidRequest, `Missing "x"`),
			`{"error":"invalid_request","error_description":"Missing 'x'"}`},
		{"backslash", NewError(ErrInvalidRequest, `a\b`),
			`{"error":"invalid_request","error_description":"a/b"}`},
		{"control and non-ASCII", NewError(ErrInvalidRequest, "a\nb\x00cé"),
			`{"error":"invalid_request","error_description":"a?b?c??"}`},
		{"html kept", NewError(ErrInvalidScope, "<a&b>"),
			`{"error":"invalid_scope","error_description":"<a&b>"}`},
		{"truncated", NewError(ErrInvalidRequest, long),
			`{"error":"invalid_request","error_description":"` + long[:maxDescriptionLen] + `"}`},
		{"empty code", &Error{}, `{"error":"server_error"}`},
		{"code sanitized", &Error{Code: `bad"code`}, `{"error":"bad'code"}`},
		{"nil", nil, `{"error":"server_error"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.err.Body()
			if string(body) != tc.want {
				t.Errorf("Body() = %s\nwant     %s", body, tc.want)
			}
			var m map[string]string
			if err := json.Unmarshal(body, &m); err != nil {
				t.Errorf("Body() is not JSON: %v", err)
			}
		})
	}
}

func TestErrorWWWAuthenticate(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"basic 401", &Error{Code: "invalid_client", Description: "The client does not exist on this server.", Status: 401, AuthScheme: "Basic"},
			`Basic error="invalid_client", error_description="The client does not exist on this server."`},
		{"quote becomes bar", &Error{Code: "invalid_client", Description: `say "hi"`, Status: 401, AuthScheme: "Basic"},
			`Basic error="invalid_client", error_description="say |hi|"`},
		{"empty description kept", &Error{Code: "invalid_client", Status: 401, AuthScheme: "Basic"},
			`Basic error="invalid_client", error_description=""`},
		{"control chars", &Error{Code: "invalid_client", Description: "a\r\nb", Status: 401, AuthScheme: "Basic"},
			`Basic error="invalid_client", error_description="a??b"`},
		{"scheme injection", &Error{Code: "invalid_client", Status: 401, AuthScheme: "Basic\r\nX: y"},
			`BasicXy error="invalid_client", error_description=""`},
		{"400 has no challenge", &Error{Code: "invalid_client", Status: 400, AuthScheme: "Basic"}, ""},
		{"401 without scheme", &Error{Code: "invalid_client", Status: 401}, ""},
		{"scheme of nothing", &Error{Code: "invalid_client", Status: 401, AuthScheme: "\r\n"}, ""},
		{"nil", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.WWWAuthenticate(); got != tc.want {
				t.Errorf("WWWAuthenticate() = %q, want %q", got, tc.want)
			}
			if got := tc.err.Headers().Get("WWW-Authenticate"); got != tc.want {
				t.Errorf("Headers() WWW-Authenticate = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestErrorHeaders(t *testing.T) {
	e := &Error{Code: "invalid_client", Status: 401, AuthScheme: "Basic"}
	h := e.Headers()
	for k, v := range map[string]string{
		"Content-Type":  "application/json",
		"Cache-Control": "no-store",
		"Pragma":        "no-cache",
	} {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if len(h) != 4 {
		t.Errorf("Headers() = %v, want 4 headers", h)
	}
	if h2 := NewError(ErrInvalidGrant, "").Headers(); len(h2) != 3 || h2.Get("WWW-Authenticate") != "" {
		t.Errorf("400 Headers() = %v", h2)
	}
}

func TestErrorIs(t *testing.T) {
	e := NewError(ErrInvalidGrant, "x")
	wrapped := fmt.Errorf("refreshing: %w", e)
	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"same code", e, ErrInvalidGrant, true},
		{"other code", e, ErrInvalidRequest, false},
		{"wrapped", wrapped, ErrInvalidGrant, true},
		{"wrapped other", wrapped, ErrInvalidScope, false},
		{"unrelated target", e, errors.New("invalid_grant"), false},
		{"nil Error", (*Error)(nil), ErrInvalidGrant, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errors.Is(tc.err, tc.target); got != tc.want {
				t.Errorf("errors.Is = %v, want %v", got, tc.want)
			}
		})
	}
	var oe *Error
	if !errors.As(wrapped, &oe) || oe != e {
		t.Errorf("errors.As did not find the *Error")
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{NewError(ErrInvalidGrant, ""), "invalid_grant"},
		{NewError(ErrInvalidScope, "d"), "invalid_scope: d"},
		{nil, "server_error"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestErrorHTTPStatus(t *testing.T) {
	tests := []struct {
		status, want int
	}{
		{0, 400}, {200, 400}, {302, 400}, {400, 400}, {401, 401}, {503, 503}, {600, 400}, {-1, 400},
	}
	for _, tc := range tests {
		if got := (&Error{Code: "x", Status: tc.status}).HTTPStatus(); got != tc.want {
			t.Errorf("HTTPStatus(%d) = %d, want %d", tc.status, got, tc.want)
		}
	}
	if got := (*Error)(nil).HTTPStatus(); got != http.StatusInternalServerError {
		t.Errorf("nil HTTPStatus = %d", got)
	}
}
