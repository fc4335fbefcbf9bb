package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// spellings returns the ways a header name can reach an upstream that
// folds case, '_' and '.' onto '-'.
func spellings(name string) []string {
	lower := strings.ToLower(name)
	return []string{
		name, lower, strings.ToUpper(name),
		strings.ReplaceAll(name, "-", "_"), strings.ReplaceAll(lower, "-", "_"),
		strings.ReplaceAll(name, "-", "."), strings.ReplaceAll(strings.ToUpper(name), "-", "."),
		strings.Replace(strings.Replace(lower, "-", "_", 1), "-", ".", 1),
	}
}

func TestGatewayCredentialsStripHeaders(t *testing.T) {
	c := newGatewayCredentials()
	if err := c.registerClaimHeader("X-User-Name"); err != nil {
		t.Fatal(err)
	}
	if err := c.registerSigner("X-Folio-Signer"); err != nil {
		t.Fatal(err)
	}
	asserted := []string{HeaderUserID, "X-Okapi-Permissions", "X-Okapi-Module-Tokens", HeaderSubject, HeaderClientID,
		HeaderScope, HeaderPrincipals, HeaderPastaUID, HeaderPastaGroups, "X-New-Auth-Token", "X-User-Name"}
	credentials := []string{HeaderTenant, HeaderToken, "X-Tokengate-Signer", "X-Folio-Signer"}
	h := http.Header{"Accept": {"*/*"}, "X-Okapi-Request-Id": {"r1"}, "X-User-Names": {"keep"}}
	for _, name := range append(slices.Clone(asserted), credentials...) {
		for _, s := range spellings(name) {
			h[s] = append(h[s], "FORGED")
		}
	}
	for _, name := range credentials {
		h[name] = []string{"canonical"}
	}
	c.stripHeaders(h)
	want := map[string]bool{"Accept": true, "X-Okapi-Request-Id": true, "X-User-Names": true}
	for _, name := range credentials {
		want[name] = true
	}
	for key, values := range h {
		if !want[key] {
			t.Errorf("%s: %v survived", key, values)
		}
		if slices.Contains(values, "FORGED") {
			t.Errorf("%s kept a forged value", key)
		}
	}
	if len(h) != len(want) {
		t.Errorf("left %v, want the keys of %v", h, want)
	}
	// A verifying handler then drops the signer secrets (and what it names).
	c.dropUnverified(h, HeaderToken)
	for _, gone := range []string{"X-Tokengate-Signer", "X-Folio-Signer", HeaderToken} {
		if h[gone] != nil {
			t.Errorf("%s survived dropUnverified", gone)
		}
	}
	if h.Get(HeaderTenant) != "canonical" {
		t.Errorf("tenant dropped: %v", h)
	}
}

func TestGatewayCredentialsRegister(t *testing.T) {
	for _, tc := range []struct {
		name    string
		claim   []string
		signer  []string
		wantErr string
	}{
		{name: "same claim header twice", claim: []string{"X-User-Name", "x_user_name"}},
		{name: "claim header colliding with a credential", claim: []string{"x.okapi.token"}, wantErr: "already used"},
		{name: "claim header colliding with the tenant", claim: []string{"X-Okapi-Tenant"}, wantErr: "already used"},
		{name: "signer colliding with a claim header", claim: []string{"X-Secret"}, signer: []string{"X-Secret"}, wantErr: "already used"},
		{name: "claim header Authorization", claim: []string{"authorization"}, wantErr: "reserved"},
		{name: "signer Cookie", signer: []string{"Cookie"}, wantErr: "reserved"},
		{name: "claim header with a colon", claim: []string{"X-A:b"}, wantErr: "invalid"},
		{name: "overlong claim header", claim: []string{"X-" + strings.Repeat("a", 80)}, wantErr: "invalid"},
		{name: "an identity header as claim header", claim: []string{"X-Tokengate-Subject"}},
	} {
		c := newGatewayCredentials()
		var err error
		for _, h := range tc.claim {
			if err = c.registerClaimHeader(h); err != nil {
				break
			}
		}
		for _, h := range tc.signer {
			if err != nil {
				break
			}
			err = c.registerSigner(h)
		}
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestCredentialCookies(t *testing.T) {
	const signed = "dWlkPWFsaWNl-c2ln"
	for _, tc := range []struct {
		name, cookie           string
		unsignedOut, allEDIOut string // "" = no Cookie header
	}{
		{"unsigned internal form", "a=1; auth-token=dWlkPXJvb3Q=; b=2", "a=1; b=2", "a=1; b=2"},
		{"quoted, other case and spellings", `AUTH-TOKEN="dWlkPXJvb3Q="; Auth_Token=eA==; auth.token=eA==; x=1`, "x=1", "x=1"},
		{"signed form kept for edi_protect", "auth-token=" + signed + "; edi-token=e.y.z", "auth-token=" + signed + "; edi-token=e.y.z", ""},
		{"half-signed forms are unsigned", "auth-token=-c2ln; auth-token=eA==-", "", ""},
		{"unrelated cookies untouched", "theme=dark; token=x", "theme=dark; token=x", "theme=dark; token=x"},
		{"empty auth-token is no credential", "auth-token=; a=1", "auth-token=; a=1", "a=1"},
	} {
		h := http.Header{"Cookie": {tc.cookie}}
		stripUnsignedPasta(h)
		if got := h.Get("Cookie"); got != tc.unsignedOut {
			t.Errorf("%s: stripUnsignedPasta -> %q, want %q", tc.name, got, tc.unsignedOut)
		}
		h = http.Header{"Cookie": {tc.cookie}}
		stripEDICookies(h)
		if got := h.Get("Cookie"); got != tc.allEDIOut {
			t.Errorf("%s: stripEDICookies -> %q, want %q", tc.name, got, tc.allEDIOut)
		}
	}
	// Other spellings of the names are never read: every handler drops them.
	h := http.Header{"Cookie": {"auth_token=" + signed + "; Edi.Token=x; AUTH-TOKEN=" + signed + "; a=1"}}
	stripCookieSpellings(h)
	if got := h.Get("Cookie"); got != "AUTH-TOKEN="+signed+"; a=1" {
		t.Errorf("stripCookieSpellings -> %q", got)
	}
	// Several Cookie lines become one when something is dropped.
	h = http.Header{"Cookie": {"a=1", "auth-token=eA==", "b=2"}}
	stripUnsignedPasta(h)
	if got := h.Values("Cookie"); len(got) != 1 || got[0] != "a=1; b=2" {
		t.Errorf("several lines: %q", got)
	}
}

func TestAmbiguousPath(t *testing.T) {
	for target, ambiguous := range map[string]bool{
		"/package/eml/edi/1/1":     false,
		"/package;x/eml/edi/1/1":   true,
		"/package;/":               true,
		"/package%3Bx/":            true,
		"/package%3bx/":            true,
		"/package%5Ceml":           true,
		"/package%00/":             true,
		"/orders?q=a;b":            false, // the query string is not the path
		"/package/%2e%2e/orders":   false, // Caddy's matchers and upstreams both resolve dot segments
		"/package/eml%20edi/1":     false,
		"/package/..;/admin/users": true,
	} {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		if got := ambiguousPath(r) != ""; got != ambiguous {
			t.Errorf("%s: ambiguous %v, want %v", target, got, ambiguous)
		}
	}
}

func BenchmarkStripHeaders(b *testing.B) {
	c := newGatewayCredentials()
	_ = c.registerClaimHeader("X-User-Name")
	base := http.Header{"Accept": {"*/*"}, "User-Agent": {"bench"}, "Authorization": {"Bearer x"}, "X-Okapi-Tenant": {"diku"},
		"Accept-Encoding": {"gzip"}, "Cookie": {"a=1"}, "X-Okapi-User-Id": {"forged"}}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		h := base.Clone()
		b.StartTimer()
		c.stripHeaders(h)
	}
}

// TestScrubOncePerRequest: every tokengate handler of a route admits the
// request, but the headers are walked once: a header set after the first
// admit (as tokengate_protect asserts identity headers) is not stripped
// by the next handler of the same list, while another list (another
// config) and a request without Caddy's variables still scrub.
func TestScrubOncePerRequest(t *testing.T) {
	c := newGatewayCredentials()
	newRequest := func(withVars bool) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		if withVars {
			r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
		}
		r.Header.Set(HeaderUserID, "forged")
		return r
	}

	r := newRequest(true)
	if !c.admit(httptest.NewRecorder(), r) || r.Header.Get(HeaderUserID) != "" {
		t.Fatalf("first admit kept %q", r.Header.Get(HeaderUserID))
	}
	r.Header.Set(HeaderUserID, "asserted")
	if !c.admit(httptest.NewRecorder(), r) || r.Header.Get(HeaderUserID) != "asserted" {
		t.Fatalf("second admit of the same list walked the headers again: %q", r.Header.Get(HeaderUserID))
	}
	if other := newGatewayCredentials(); !other.admit(httptest.NewRecorder(), r) || r.Header.Get(HeaderUserID) != "" {
		t.Fatalf("another list did not scrub: %q", r.Header.Get(HeaderUserID))
	}

	r = newRequest(false)
	c.scrub(r)
	r.Header.Set(HeaderUserID, "forged again")
	if c.scrub(r); r.Header.Get(HeaderUserID) != "" {
		t.Fatalf("without Caddy's variables every scrub must walk: %q", r.Header.Get(HeaderUserID))
	}
}
