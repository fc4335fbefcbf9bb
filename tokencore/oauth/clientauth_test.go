package oauth

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// testClients is the registry of the client-authentication tests: one
// client per method, one whose ID and secret need percent-encoding in a
// Basic header, and one with a bcrypt hash.
func testClients(tb testing.TB) *Clients {
	tb.Helper()
	bc, err := bcrypt.GenerateFromPassword([]byte("human pass"), bcrypt.MinCost)
	if err != nil {
		tb.Fatal(err)
	}
	cs, err := NewClients([]Client{
		{ID: "basic-client", AuthMethod: AuthClientSecretBasic, SecretHash: HashSecret("basic-secret")},
		{ID: "post-client", AuthMethod: AuthClientSecretPost, SecretHash: HashSecret("post-secret")},
		{ID: "DIRAC_CLI", AuthMethod: AuthNone},
		{ID: "odd:%client", AuthMethod: AuthClientSecretBasic, SecretHash: HashSecret("p:ss%word")},
		{ID: "bcrypt-client", AuthMethod: AuthClientSecretBasic, SecretHash: string(bc)},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return cs
}

func TestAuthenticate(t *testing.T) {
	cs := testClients(t)
	const (
		cannot  = descCannotAuthenticate
		unknown = descUnknownClient
		twoWays = descTwoMethods
		differs = descClientIDMismatch
		badHdr  = "The 'Authorization' header is malformed."
	)
	tests := []struct {
		name      string
		auth      string
		body      string
		wantID    string // authenticated client; "" = failure expected
		code      ErrorCode
		status    int
		desc      string
		challenge bool // WWW-Authenticate: Basic expected
	}{
		// client_secret_basic
		{name: "basic ok", auth: basic("basic-client:basic-secret"), wantID: "basic-client"},
		{name: "basic ok with matching client_id", auth: basic("basic-client:basic-secret"), body: "client_id=basic-client", wantID: "basic-client"},
		{name: "basic percent-encoded id and secret", auth: basic(url.QueryEscape("odd:%client") + ":" + url.QueryEscape("p:ss%word")), wantID: "odd:%client"},
		{name: "basic unencoded id with colon and percent", auth: basic("odd:%client:p:ss%word"),
			code: ErrInvalidClient, status: 401, desc: badHdr, challenge: true},
		{name: "basic bcrypt ok", auth: basic("bcrypt-client:human%20pass"), wantID: "bcrypt-client"},
		{name: "basic bcrypt wrong", auth: basic("bcrypt-client:human%20Pass"), code: ErrInvalidClient, status: 401, desc: cannot, challenge: true},
		{name: "basic malformed base64", auth: "Basic %%%", code: ErrInvalidClient, status: 401, desc: badHdr, challenge: true},
		{name: "basic malformed, body would authenticate", auth: "Basic %%%", body: "client_id=DIRAC_CLI",
			code: ErrInvalidClient, status: 401, desc: badHdr, challenge: true},
		{name: "basic without colon", auth: basic("basic-client"), code: ErrInvalidClient, status: 401, desc: badHdr, challenge: true},
		{name: "basic unknown client", auth: basic("nobody:basic-secret"), code: ErrInvalidClient, status: 401, desc: unknown, challenge: true},
		{name: "basic wrong secret", auth: basic("basic-client:wrong"), code: ErrInvalidClient, status: 401, desc: cannot, challenge: true},
		{name: "basic secret case matters", auth: basic("basic-client:Basic-secret"), code: ErrInvalidClient, status: 401, desc: cannot, challenge: true},
		{name: "basic for post client", auth: basic("post-client:post-secret"), code: ErrInvalidClient, status: 401, desc: cannot, challenge: true},
		{name: "basic for public client", auth: basic("DIRAC_CLI:anything"), code: ErrInvalidClient, status: 401, desc: cannot, challenge: true},
		{name: "basic empty secret", auth: basic("basic-client:"), code: ErrInvalidClient, status: 401, desc: cannot, challenge: true},
		{name: "basic empty secret public client", auth: basic("DIRAC_CLI:"), body: "client_id=DIRAC_CLI",
			code: ErrInvalidClient, status: 401, desc: cannot, challenge: true},
		{name: "basic empty id", auth: basic(":basic-secret"), code: ErrInvalidClient, status: 401, desc: cannot, challenge: true},
		{name: "basic and client_secret in body", auth: basic("basic-client:basic-secret"), body: "client_id=basic-client&client_secret=basic-secret",
			code: ErrInvalidRequest, status: 400, desc: twoWays},
		{name: "basic and only client_secret in body", auth: basic("basic-client:basic-secret"), body: "client_secret=x",
			code: ErrInvalidRequest, status: 400, desc: twoWays},
		{name: "basic and other client_id", auth: basic("basic-client:basic-secret"), body: "client_id=post-client",
			code: ErrInvalidRequest, status: 400, desc: differs},

		// client_secret_post
		{name: "post ok", body: "client_id=post-client&client_secret=post-secret", wantID: "post-client"},
		{name: "post ok, bearer header ignored", auth: "Bearer abc", body: "client_id=post-client&client_secret=post-secret", wantID: "post-client"},
		{name: "post form-encoded secret", body: "client_id=odd%3A%25client&client_secret=p%3Ass%25word",
			code: ErrInvalidClient, status: 401, desc: cannot, challenge: true}, // registered for basic
		{name: "post unknown client", body: "client_id=nobody&client_secret=post-secret", code: ErrInvalidClient, status: 400, desc: unknown},
		{name: "post wrong secret", body: "client_id=post-client&client_secret=wrong", code: ErrInvalidClient, status: 401, desc: cannot, challenge: true},
		{name: "post for basic client", body: "client_id=basic-client&client_secret=basic-secret", code: ErrInvalidClient, status: 401, desc: cannot, challenge: true},
		{name: "post public client sends secret", body: "client_id=DIRAC_CLI&client_secret=x", code: ErrInvalidClient, status: 401, desc: cannot, challenge: true},
		{name: "post secret without client_id", body: "client_secret=post-secret", code: ErrInvalidClient, status: 401, desc: cannot, challenge: true},
		{name: "post duplicate client_id", body: "client_id=post-client&client_id=post-client&client_secret=post-secret",
			code: ErrInvalidRequest, status: 400, desc: "Duplicate 'client_id' parameter."},

		// none
		{name: "none ok", body: "client_id=DIRAC_CLI", wantID: "DIRAC_CLI"},
		{name: "none ok, empty secret is absent", body: "client_id=DIRAC_CLI&client_secret=", wantID: "DIRAC_CLI"},
		{name: "none unknown client", body: "client_id=nobody", code: ErrInvalidClient, status: 400, desc: unknown},
		{name: "none for confidential client", body: "client_id=post-client", code: ErrInvalidClient, status: 401, desc: cannot, challenge: true},
		{name: "none for basic client", body: "client_id=basic-client", code: ErrInvalidClient, status: 401, desc: cannot, challenge: true},
		{name: "none with oversize id", body: "client_id=" + strings.Repeat("a", MaxClientIDLength+1), code: ErrInvalidClient, status: 400, desc: unknown},

		// nothing
		{name: "no credentials", code: ErrInvalidClient, status: 401, desc: cannot, challenge: true},
		{name: "only empty parameters", body: "client_id=&client_secret=", code: ErrInvalidClient, status: 401, desc: cannot, challenge: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			form, ferr := ParseForm([]byte(tc.body), 0)
			var (
				c   *Client
				err *Error
			)
			if ferr != nil {
				err = ferr
			} else {
				c, err = cs.Authenticate(tc.auth, form)
			}
			if tc.wantID != "" {
				if err != nil || c == nil || c.ID != tc.wantID {
					t.Fatalf("Authenticate() = %+v, %+v; want client %q", c, err, tc.wantID)
				}
				return
			}
			if c != nil || err == nil {
				t.Fatalf("Authenticate() = %+v, %+v; want an error", c, err)
			}
			if err.Code != string(tc.code) || err.HTTPStatus() != tc.status || err.Description != tc.desc {
				t.Errorf("Authenticate() error = %s %d %q; want %s %d %q", err.Code, err.HTTPStatus(), err.Description, tc.code, tc.status, tc.desc)
			}
			challenge := err.WWWAuthenticate()
			if tc.challenge {
				want := `Basic error="invalid_client", error_description="` + strings.ReplaceAll(tc.desc, `"`, "|") + `"`
				if challenge != want {
					t.Errorf("WWW-Authenticate = %q, want %q", challenge, want)
				}
			} else if challenge != "" {
				t.Errorf("unexpected WWW-Authenticate %q", challenge)
			}
			if strings.Contains(string(err.Body()), "secret\"") || strings.Contains(err.Description, "basic-secret") {
				t.Errorf("error leaks a secret: %s", err.Body())
			}
		})
	}
}

func TestAuthenticateReturnsCopy(t *testing.T) {
	cs, err := NewClients([]Client{{ID: "pub", AuthMethod: AuthNone, Scopes: []string{"openid"}}})
	if err != nil {
		t.Fatal(err)
	}
	form, _ := ParseForm([]byte("client_id=pub"), 0)
	c, aerr := cs.Authenticate("", form)
	if aerr != nil {
		t.Fatal(aerr)
	}
	c.Scopes[0] = "admin"
	c.AuthMethod = AuthClientSecretBasic
	again, _ := cs.Lookup("pub")
	if again.Scopes[0] != "openid" || again.AuthMethod != AuthNone {
		t.Errorf("Authenticate returned the registry's own record: %+v", again)
	}
}

func TestAuthenticateNilRegistry(t *testing.T) {
	var cs *Clients
	tests := []struct {
		auth, body string
		status     int
	}{
		{basic("a:b"), "", 401},
		{"", "client_id=a&client_secret=b", 400},
		{"", "client_id=a", 400},
		{"", "", 401},
	}
	for _, tc := range tests {
		form, _ := ParseForm([]byte(tc.body), 0)
		c, err := cs.Authenticate(tc.auth, form)
		if c != nil || err == nil || err.Code != string(ErrInvalidClient) || err.HTTPStatus() != tc.status {
			t.Errorf("nil registry Authenticate(%q, %q) = %+v, %+v", tc.auth, tc.body, c, err)
		}
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	cs := testClients(b)
	cases := []struct {
		name, auth, body string
		ok               bool
	}{
		{"basic", "Basic " + base64.StdEncoding.EncodeToString([]byte("basic-client:basic-secret")), "grant_type=refresh_token", true},
		{"post", "", "client_id=post-client&client_secret=post-secret", true},
		{"none", "", "client_id=DIRAC_CLI", true},
		{"basic-wrong-secret", "Basic " + base64.StdEncoding.EncodeToString([]byte("basic-client:nope")), "", false},
		{"basic-unknown-client", "Basic " + base64.StdEncoding.EncodeToString([]byte("nobody:basic-secret")), "", false},
	}
	for _, bc := range cases {
		form, ferr := ParseForm([]byte(bc.body), 0)
		if ferr != nil {
			b.Fatal(ferr)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cs.Authenticate(bc.auth, form); (err == nil) != bc.ok {
					b.Fatalf("Authenticate: %v", err)
				}
			}
		})
	}
}
