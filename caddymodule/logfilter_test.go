package caddymodule

import (
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestCredentialsLogFilter(t *testing.T) {
	f := CredentialsLogFilter{Headers: []string{"X-Folio-Signer"}}
	orig := http.Header{
		"X-Okapi-Token": {"tok"}, "X_okapi_token": {"tok"}, "X-Okapi-Module-Tokens": {"{}"}, "X-New-Auth-Token": {"a"},
		"X-Tokengate-Signer": {"s"}, "X-Folio-Signer": {"s"}, "X-Okapi-Tenant": {"diku"}, "Accept": {"*/*"},
	}
	out := f.Filter(zap.Object("headers", caddyhttp.LoggableHTTPHeader{Header: orig}))
	got, ok := out.Interface.(caddyhttp.LoggableHTTPHeader)
	if !ok || out.Key != "headers" || out.Type != zapcore.ObjectMarshalerType {
		t.Fatalf("filtered field %+v", out)
	}
	for key, values := range got.Header {
		want := "REDACTED"
		if key == "X-Okapi-Tenant" || key == "Accept" {
			want = orig[key][0]
		}
		if len(values) != 1 || values[0] != want {
			t.Errorf("%s = %v, want %q", key, values, want)
		}
	}
	if orig.Get("X-Okapi-Token") != "tok" {
		t.Error("the filter edited the logged request's headers")
	}
	// log_credentials: the operator asked for credentials.
	in := zap.Object("headers", caddyhttp.LoggableHTTPHeader{Header: orig, ShouldLogCredentials: true})
	if out := f.Filter(in); out.Interface.(caddyhttp.LoggableHTTPHeader).Header.Get("X-Okapi-Token") != "tok" {
		t.Error("credentials redacted despite log_credentials")
	}
	// Any other field passes unchanged.
	if out := f.Filter(zap.String("headers", "x")); out.String != "x" {
		t.Errorf("string field: %+v", out)
	}
}
