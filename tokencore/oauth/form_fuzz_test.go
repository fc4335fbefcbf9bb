package oauth

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzParseForm: the token-endpoint form parser never panics; it refuses
// with a 400 invalid_request whose JSON body is valid and carries no byte
// outside RFC 6749's error_description alphabet; it never returns an empty
// value or an empty name; and what it accepts, encoded again, parses to the
// same parameters. A body that repeats a parameter with two values is
// always refused. Run with `go test -run '^$' -fuzz FuzzParseForm ./tokencore/oauth/`.
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{
		"grant_type=refresh_token&refresh_token=a.b.c.d.e&client_id=web",
		"grant_type=client_credentials&scope=a%20b", "scope=&scope=x", "a=1&a=2", "a=1&A=2", "=x&b=",
		"a=%zz", "a;b=c", "a=1&&&b=2", "%00=%00", "client_id=%E2%82%AC&x=%ff", "",
		strings.Repeat("a", 70) + "=1&" + strings.Repeat("a", 70) + "=2",
	} {
		f.Add([]byte(s), 0)
	}
	f.Add([]byte("grant_type=x"), 5)
	f.Fuzz(func(t *testing.T, body []byte, limit int) {
		form, oerr := ParseForm(body, limit)
		if oerr != nil {
			if oerr.Code != string(ErrInvalidRequest) || oerr.Status != http.StatusBadRequest || oerr.Description == "" {
				t.Fatalf("refusal %+v is not a 400 invalid_request with a description", oerr)
			}
			b := oerr.Body()
			var m map[string]string
			if err := json.Unmarshal(b, &m); err != nil || m["error"] != string(ErrInvalidRequest) {
				t.Fatalf("error body %s", b)
			}
			for _, c := range []byte(m["error_description"]) {
				// RFC 6749 §5.2: %x20-21 / %x23-5B / %x5D-7E.
				if c < 0x20 || c == '"' || c == '\\' || c > 0x7e {
					t.Fatalf("error_description %q has the byte %#x", m["error_description"], c)
				}
			}
			return
		}
		max := limit
		if max <= 0 {
			max = DefaultMaxFormBytes
		}
		if len(body) > max {
			t.Fatalf("accepted %d bytes over the limit %d", len(body), max)
		}
		raw, err := url.ParseQuery(string(body))
		if err != nil {
			t.Fatalf("accepted a body url.ParseQuery refuses: %v", err)
		}
		again := url.Values{}
		for name, vs := range raw {
			nonEmpty := 0
			for _, v := range vs {
				if v != "" {
					nonEmpty++
				}
			}
			if name != "" && nonEmpty > 1 {
				t.Fatalf("accepted %q with %d values", name, nonEmpty)
			}
			got := form.Get(name)
			if name == "" || nonEmpty == 0 {
				if got != "" || form.Has(name) {
					t.Fatalf("empty parameter %q has value %q", name, got)
				}
				continue
			}
			if !form.Has(name) || got == "" {
				t.Fatalf("parameter %q lost", name)
			}
			again.Set(name, got)
		}
		back, oerr := ParseForm([]byte(again.Encode()), 0)
		if oerr != nil {
			t.Fatalf("re-encoded form refused: %v", oerr)
		}
		for name := range again {
			if back.Get(name) != form.Get(name) {
				t.Fatalf("re-encoded %q = %q, want %q", name, back.Get(name), form.Get(name))
			}
		}
	})
}
