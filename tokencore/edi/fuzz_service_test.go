package edi

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzRefreshBody: any body gets a 200, 400 or 401 with the refresh
// method and a message of spec §5.4, never a panic; a 200 carries tokens
// that verify.
func FuzzRefreshBody(f *testing.F) {
	fx := newFixture(f)
	good := refreshBody(fx.signPasta(aliceUID, testNow.Add(time.Hour), "vetted"), fx.signEDI(aliceClaims(testNow.Add(-time.Hour))))
	for _, s := range []string{
		good, "", "{}", "[]", "null", `{"pasta-token":1}`, `{"pasta-token":"a","edi-token":"b",}`,
		"\ufeff" + good, `{"pasta-token":"a","edi-token":"b"}`, strings.Replace(good, `"edi-token"`, `"edi-token":1,"edi-token"`, 1),
		"{\"pasta-token\":\"\xff\"}", `{"pasta-token":"a-b","edi-token":"a.b.c"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := fx.s.Refresh(body)
		if r.Method != MethodRefresh {
			t.Fatalf("method %q", r.Method)
		}
		switch r.Status {
		case 200:
			if _, err := fx.s.ediVerifier.Verify(r.EDIToken); err != nil {
				t.Fatalf("refreshed EDI token does not verify: %v", err)
			}
			if _, err := fx.s.pastaVerifier.Verify(r.PastaToken); err != nil {
				t.Fatalf("refreshed PASTA token does not verify: %v", err)
			}
		case 400:
			if !strings.HasPrefix(r.Msg, "Bad request: ") {
				t.Fatalf("400 %q", r.Msg)
			}
		case 401:
			if !strings.HasPrefix(r.Msg, msgInvalidEDI) && !strings.HasPrefix(r.Msg, msgInvalidPasta) {
				t.Fatalf("401 %q", r.Msg)
			}
		default:
			t.Fatalf("status %d %q", r.Status, r.Msg)
		}
		if _, b := r.Encode("application/xml"); len(b) == 0 {
			t.Fatal("empty XML")
		}
	})
}

// FuzzKeyBody: any body gets 200, 400 or the one 401 body.
func FuzzKeyBody(f *testing.F) {
	fx := newFixture(f)
	fx.seed()
	for _, s := range []string{keyBody(aliceSecret), keyBody(groupSecret), keyBody(""), `{"api_key":"x"}`, `{"key":null}`, `{"key":"x",}`, "", "[]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := fx.s.ExchangeKey(t.Context(), body)
		_, enc := r.Encode("")
		switch {
		case r.Status == 200:
		case r.Status == 400 && strings.HasPrefix(r.Msg, "Bad request: "):
		case r.Status == 401 && string(enc) == `{"msg":"Invalid API key","method":"getTokenByKey"}`:
		default:
			t.Fatalf("%d %s", r.Status, enc)
		}
	})
}

// FuzzProxyCookies: extraction never panics, and the rebuilt Cookie header
// never carries a client's auth-token or edi-token.
func FuzzProxyCookies(f *testing.F) {
	for _, s := range []string{"edi-token=E; auth-token=P", `auth-token="x"`, "a=b;;c", "Auth-Token = spoof ; edi-token=E", ";=;", "edi-token"} {
		f.Add(s, "Bearer E")
	}
	f.Fuzz(func(t *testing.T, cookie, authz string) {
		h := http.Header{"Cookie": {cookie}}
		if authz != "" {
			h.Set("Authorization", authz)
		}
		rt, err := ExtractTokens(h)
		if err == nil && rt.EDIToken == "" {
			t.Fatal("no error and no EDI token")
		}
		out := RebuildCookies([]string{cookie}, "OURS", "PASTA")
		for pair := range strings.SplitSeq(out, ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(pair), "=")
			name = strings.ToLower(strings.TrimSpace(name))
			if (name == "edi-token" && value != "OURS") || (name == "auth-token" && value != "PASTA") {
				t.Fatalf("client cookie survived: %q in %q", pair, out)
			}
		}
	})
}
