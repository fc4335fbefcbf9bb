package oauth

import (
	"encoding/base64"
	"strings"
	"testing"
)

func basic(userpass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userpass))
}

func TestParseBasicAuth(t *testing.T) {
	tests := []struct {
		name       string
		header     string
		id, secret string
		ok         bool
		malformed  bool
	}{
		{name: "plain", header: basic("client:secret"), id: "client", secret: "secret", ok: true},
		{name: "lowercase scheme", header: "basic " + base64.StdEncoding.EncodeToString([]byte("c:s")), id: "c", secret: "s", ok: true},
		{name: "uppercase scheme, extra spaces", header: "  BASIC   " + base64.StdEncoding.EncodeToString([]byte("c:s")) + " ", id: "c", secret: "s", ok: true},
		{name: "tab separator", header: "Basic\t" + base64.StdEncoding.EncodeToString([]byte("c:s")), id: "c", secret: "s", ok: true},
		{name: "percent-encoded colon and percent", header: basic("my%3Aclient%25:p%3Ass%25word"), id: "my:client%", secret: "p:ss%word", ok: true},
		{name: "split at first colon", header: basic("id:sec:ret"), id: "id", secret: "sec:ret", ok: true},
		{name: "plus stays plus", header: basic("id:a+b/c="), id: "id", secret: "a+b/c=", ok: true},
		{name: "empty id decodes", header: basic(":secret"), id: "", secret: "secret", ok: true},
		{name: "empty secret decodes", header: basic("id:"), id: "id", secret: "", ok: true},
		{name: "no header", header: ""},
		{name: "bearer is not basic", header: "Bearer abc.def"},
		{name: "scheme prefix only", header: "Basicx " + base64.StdEncoding.EncodeToString([]byte("c:s"))},
		{name: "scheme alone", header: "Basic", malformed: true},
		{name: "scheme and spaces", header: "Basic   ", malformed: true},
		{name: "bad base64", header: "Basic !!!not-base64", malformed: true},
		{name: "unpadded base64", header: "Basic " + base64.RawStdEncoding.EncodeToString([]byte("c:s1")), malformed: true},
		{name: "no colon", header: basic("justanid"), malformed: true},
		{name: "bad escape in id", header: basic("a%zz:s"), malformed: true},
		{name: "bad escape in secret", header: basic("a:50%"), malformed: true},
		{name: "oversize", header: basic("id:" + strings.Repeat("s", MaxAuthorizationLength)), malformed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, secret, ok, err := ParseBasicAuth(tc.header)
			if tc.malformed {
				if err == nil || err.Code != "invalid_client" || err.Status != 401 || err.AuthScheme != "Basic" || ok {
					t.Fatalf("ParseBasicAuth() = %q, %q, %v, %+v; want malformed invalid_client 401", id, secret, ok, err)
				}
				if !strings.HasPrefix(err.WWWAuthenticate(), `Basic error="invalid_client"`) {
					t.Errorf("challenge = %q", err.WWWAuthenticate())
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseBasicAuth() error = %v", err)
			}
			if id != tc.id || secret != tc.secret || ok != tc.ok {
				t.Errorf("ParseBasicAuth() = %q, %q, %v; want %q, %q, %v", id, secret, ok, tc.id, tc.secret, tc.ok)
			}
		})
	}
}
