package folio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// Fuzz targets of FOLIO's parsers, moved from the engine's root with the
// code. `go test` runs every seed; run one with
// `go test -run '^$' -fuzz FuzzX ./tokencore/folio/`.

// FuzzDecodeFolioRequests: the /token/sign, /token/refresh and legacy
// /refresh body decoders never panic, refuse with a 400 Error whose
// message says what is wrong, accept only strict JSON, and what they
// accept encodes back to a body that decodes to the same values.
func FuzzDecodeFolioRequests(f *testing.F) {
	for _, s := range []string{
		`{"payload":{"sub":"alice","user_id":"u1"}}`,
		`{"payload":{"sub":"alice","dummy":true,"extra_permissions":["a","b"],"other":{"x":1}}}`,
		`{"payload":{"sub":"alice","sub":"admin"}}`, `{"payload":{"sub":"alice"},"payload":{"sub":"admin"}}`,
		`{"payload":{"sub":"alice","SUB":"admin"}}`, `{"payload":{"sub":""}}`, `{"payload":{"sub":null}}`,
		`{"payload":{"sub":5}}`, `{"payload":[]}`, `{"payload":null}`, `{}`, `[]`, `null`, ``, `{"payload":{"sub":"a"}} x`,
		`{"payload":{"sub":"a","extra_permissions":[null]}}`, `{"payload":{"sub":"a","dummy":"yes"}}`,
		`{"refreshToken":"a.b.c.d.e"}`, `{"refreshToken":"x","refreshToken":"y"}`, `{"refreshToken":""}`,
		`{"userId":"u1","sub":"alice"}`, `{"userId":"u1","sub":"alice","userId":"u2"}`, `{"userId":"u1"}`,
		"{\"payload\":{\"sub\":\"\xff\"}}",
	} {
		f.Add([]byte(s))
	}
	isBadRequest := func(t *testing.T, ferr *Error) {
		t.Helper()
		if ferr.Status != http.StatusBadRequest || !strings.HasPrefix(ferr.Message, "Bad Request: ") || len(ferr.Message) <= len("Bad Request: ") {
			t.Fatalf("refusal %+v is not a 400 with a reason", ferr)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		strict := tokencore.CheckStrictJSON(body) == nil
		if p, ferr := DecodeSignRequest(body); ferr != nil {
			isBadRequest(t, ferr)
		} else {
			if !strict || p.Subject == "" || len(p.Subject) > maxIdentifierLen || len(p.UserID) > maxIdentifierLen || len(p.ExtraPermissions) > 1000 {
				t.Fatalf("accepted %q as %+v", body, p)
			}
			enc, _ := json.Marshal(map[string]any{"payload": map[string]any{
				"sub": p.Subject, "user_id": p.UserID, "dummy": p.Dummy, "extra_permissions": p.ExtraPermissions,
			}})
			if p.UserID == "" {
				enc = bytes.Replace(enc, []byte(`"user_id":"",`), nil, 1)
			}
			back, ferr := DecodeSignRequest(enc)
			if ferr != nil || !reflect.DeepEqual(back, p) {
				t.Fatalf("re-encoded %s: %+v, %v; want %+v", enc, back, ferr, p)
			}
		}
		if tok, ferr := DecodeRefreshRequest(body); ferr != nil {
			isBadRequest(t, ferr)
		} else {
			if !strict || tok == "" || len(tok) > tokencore.MaxTokenBytes {
				t.Fatalf("accepted %q as %q", body, tok)
			}
			enc, _ := json.Marshal(map[string]string{"refreshToken": tok})
			if back, ferr := DecodeRefreshRequest(enc); ferr != nil || back != tok {
				t.Fatalf("re-encoded: %q, %v; want %q", back, ferr, tok)
			}
		}
		if user, sub, ferr := DecodeLegacyRefreshRequest(body); ferr != nil {
			isBadRequest(t, ferr)
		} else {
			if !strict || user == "" || sub == "" {
				t.Fatalf("accepted %q as %q %q", body, user, sub)
			}
			enc, _ := json.Marshal(map[string]string{"userId": user, "sub": sub})
			if u2, s2, ferr := DecodeLegacyRefreshRequest(enc); ferr != nil || u2 != user || s2 != sub {
				t.Fatalf("re-encoded: %q %q, %v", u2, s2, ferr)
			}
		}
	})
}

// formatFolioExpiration writes a policy in the grammar
// ParseExpiration reads, tenants sorted.
func formatFolioExpiration(p tokencore.TTLPolicy) string {
	entry := func(tenant string, t tokencore.TokenTTL) string {
		s := fmt.Sprintf("accessToken:%d,refreshToken:%d", int64(t.Access/time.Second), int64(t.Refresh/time.Second))
		if tenant != "" {
			s = "tenantId:" + tenant + "," + s
		}
		return s
	}
	out := []string{entry("", p.Default)}
	tenants := make([]string, 0, len(p.Tenants))
	for tenant := range p.Tenants {
		tenants = append(tenants, tenant)
	}
	sort.Strings(tenants)
	for _, tenant := range tenants {
		out = append(out, entry(tenant, p.Tenants[tenant]))
	}
	return strings.Join(out, ";")
}

// FuzzParseFolioExpiration: mod-authtoken's TOKEN_EXPIRATION_SECONDS
// grammar never panics, never yields a negative lifetime (a value too
// large for a time.Duration is an error, not a wrap-around), keeps whole
// seconds, and what it accepts formats back to the same policy.
func FuzzParseExpiration(f *testing.F) {
	for _, s := range []string{
		"tenantId:diku,accessToken:300,refreshToken:86400;accessToken:900",
		"accessToken:600", " tenantId : a , accessToken : 1 ", "tenantId:a;tenantId:a,accessToken:5",
		"accessToken:-5", "accessToken:0", "accessToken:x", "accessToken:1:2", "refreshToken:", ",", ";;",
		"foo:1", "tenantId:a,,accessToken:1", "accessToken:9223372036854775807", "refreshToken:9223372037",
		"accessToken:99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseExpiration(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		all := []tokencore.TokenTTL{p.Default}
		for tenant, ttl := range p.Tenants {
			if tenant == "" || strings.ContainsAny(tenant, ",;: ") {
				t.Fatalf("tenant %q cannot come from the grammar", tenant)
			}
			all = append(all, ttl)
		}
		for _, ttl := range all {
			if ttl.Access < 0 || ttl.Refresh < 0 || ttl.Access%time.Second != 0 || ttl.Refresh%time.Second != 0 {
				t.Fatalf("%q gave lifetimes %v", s, ttl)
			}
		}
		back, err := ParseExpiration(formatFolioExpiration(p))
		if err != nil || !reflect.DeepEqual(back, p) {
			t.Fatalf("%q formatted as %q: %+v, %v; want %+v", s, formatFolioExpiration(p), back, err, p)
		}
		for tenant := range p.Tenants {
			if got := p.For(tenant); got.Access <= 0 || got.Refresh <= 0 {
				t.Fatalf("For(%q) = %v", tenant, got)
			}
		}
	})
}
