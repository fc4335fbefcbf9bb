package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore/edi"
)

// cookiePairs splits a Cookie header into its pairs.
func cookiePairs(h []string) []string {
	var out []string
	for _, line := range h {
		for p := range strings.SplitSeq(line, ";") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// TestEDIProxyCookieRebuild: the upstream gets the client's other cookies,
// the verified edi-token and the internal (unsigned) PASTA form, the
// gateway's identity headers and none of the client's copies.
func TestEDIProxyCookieRebuild(t *testing.T) {
	g := startEDIGateway(t, "")
	pair := exchangeKey(t, g, ediAliceSecret)
	internal := strings.SplitN(pair.Pasta, "-", 2)[0]

	h := upstreamHeaders(t, g.do("GET", "/package/eml/knb-lter-and/2719/6", nil,
		// EDI sets auth-token unescaped, so it arrives quoted.
		"Cookie", `theme=dark; auth-token="`+pair.Pasta+`"; edi-token=`+pair.EDI,
		"Cookie", "JSESSIONID=abc; Auth-Token=spoofed",
		"X-Tokengate-Subject", "EDI-forged",
		"X_Tokengate_Pasta_Uid", "uid=root",
		"x-tokengate-principals", "EDI-everything",
		"X-Tokengate-Pasta-Groups", "vetted",
		"X-New-Auth-Token", "auth-token=spoofed;edi-token=spoofed",
	))
	cookies := cookiePairs(h["Cookie"])
	want := []string{"theme=dark", "JSESSIONID=abc", "edi-token=" + pair.EDI, "auth-token=" + internal}
	if strings.Join(cookies, "; ") != strings.Join(want, "; ") {
		t.Fatalf("upstream cookies\n got %q\nwant %q", cookies, want)
	}
	if strings.Contains(strings.Join(h["Cookie"], ";"), "-") && strings.Contains(strings.Join(h["Cookie"], ";"), pair.Pasta) {
		t.Fatal("the signed PASTA token reached the upstream")
	}
	for name, want := range map[string]string{
		"X-Tokengate-Subject":      ediAliceID,
		"X-Tokengate-Principals":   edi.DefaultPublicAccessID + "," + edi.DefaultAuthenticatedAccessID + "," + edi.DefaultVettedID,
		"X-Tokengate-Pasta-Uid":    ediAliceUID,
		"X-Tokengate-Pasta-Groups": "vetted,authenticated",
	} {
		if got := h[name]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %v, want %q", name, got, want)
		}
	}
	for name := range h {
		if strings.EqualFold(name, "X-New-Auth-Token") || strings.Contains(name, "_") {
			t.Errorf("client header %s reached the upstream", name)
		}
	}

	// EDI token as a bearer token: Authorization is removed, the cookie
	// added; no PASTA token was sent, so none is forwarded.
	h = upstreamHeaders(t, g.do("GET", "/package/x", nil, "Authorization", "Bearer "+pair.EDI, "Cookie", "auth-token=; a=1"))
	if h["Authorization"] != nil {
		t.Errorf("Authorization reached the upstream: %v", h["Authorization"])
	}
	if got := strings.Join(cookiePairs(h["Cookie"]), "; "); got != "a=1; edi-token="+pair.EDI {
		t.Errorf("bearer: upstream cookies %q", got)
	}
	if h["X-Tokengate-Pasta-Uid"] != nil {
		t.Errorf("PASTA uid without a PASTA token: %v", h["X-Tokengate-Pasta-Uid"])
	}
}

// TestEDIProxySpoofedPasta: a client-made unsigned PASTA token never
// reaches an upstream, whatever it is paired with: every tokengate handler
// drops it (no client holds the internal form), and a forged signature is
// refused.
func TestEDIProxySpoofedPasta(t *testing.T) {
	g := startEDIGateway(t, "")
	bob := exchangeKey(t, g, ediBobSecret)
	forged, _ := edi.NewPastaToken(ediBobUID, time.Now().Add(time.Hour), "vetted", "authenticated").Internal()
	for _, cookie := range []string{
		"edi-token=" + bob.EDI + "; auth-token=" + forged,        // internal form, next to a valid EDI token
		"edi-token=" + bob.EDI + `; auth-token="` + forged + `"`, // quoted
	} {
		h := upstreamHeaders(t, g.do("GET", "/package/x", nil, "Cookie", cookie))
		if got := strings.Join(cookiePairs(h["Cookie"]), "; "); got != "edi-token="+bob.EDI || h["X-Tokengate-Pasta-Uid"] != nil {
			t.Fatalf("%q: upstream cookies %q, PASTA uid %v", cookie, got, h["X-Tokengate-Pasta-Uid"])
		}
	}
	for _, cookie := range []string{
		"auth-token=" + forged, // alone: no credentials left
		"edi-token=" + bob.EDI + "; auth-token=" + forged + "-" + strings.Repeat("A", 344),
	} {
		r := g.do("GET", "/package/x", nil, "Cookie", cookie)
		if r.Status != 401 || strings.Contains(string(r.Body), "headers") {
			t.Fatalf("%q: %d %s", cookie, r.Status, r.Body)
		}
	}
	// A spoof in another case is removed, not forwarded: the upstream
	// only sees what the gateway put there.
	h := upstreamHeaders(t, g.do("GET", "/package/x", nil, "Cookie", "edi-token="+bob.EDI+"; AUTH-TOKEN="+forged+"; Edi-Token=x"))
	if got := strings.Join(cookiePairs(h["Cookie"]), "; "); got != "edi-token="+bob.EDI {
		t.Fatalf("upstream cookies %q", got)
	}
}

// TestEDIProxyFailures: every failure is a 401 and never reaches the
// upstream.
func TestEDIProxyFailures(t *testing.T) {
	g := startEDIGateway(t, "")
	pair := exchangeKey(t, g, ediAliceSecret)
	now := time.Now()
	otherEC, _ := edi.GenerateEDIKey()
	other, _ := edi.NewSigner(otherEC, "")
	foreign, _ := other.Sign(ediClaims(now.Add(-time.Minute)))

	r := g.do("GET", "/package/x", nil)
	if r.Status != 401 || r.Header.Get("WWW-Authenticate") != `Bearer realm="tokengate"` {
		t.Fatalf("no credentials: %d %v", r.Status, r.Header)
	}
	for name, headers := range map[string][]string{
		"expired EDI token":     {"Cookie", "edi-token=" + mintEDI(t, ediClaims(now.Add(-9*time.Hour)))},
		"foreign EDI token":     {"Cookie", "edi-token=" + foreign},
		"tampered EDI token":    {"Cookie", "edi-token=" + pair.EDI[:len(pair.EDI)-4] + "AAAA"},
		"expired PASTA token":   {"Cookie", "edi-token=" + pair.EDI + "; auth-token=" + mintPasta(t, ediAliceUID, now.Add(-time.Second), "vetted")},
		"unbound PASTA token":   {"Cookie", "edi-token=" + pair.EDI + "; auth-token=" + mintPasta(t, ediBobUID, now.Add(time.Hour))},
		"Basic authentication":  {"Authorization", "Basic YWxpY2U6c2VjcmV0", "Cookie", "edi-token=" + pair.EDI},
		"conflicting tokens":    {"Authorization", "Bearer " + mintEDI(t, ediClaims(now.Add(-time.Minute))), "Cookie", "edi-token=" + pair.EDI},
		"two edi-token cookies": {"Cookie", "edi-token=" + pair.EDI + "; edi-token=" + mintEDI(t, ediClaims(now.Add(-2*time.Minute)))},
		"PASTA token as bearer": {"Authorization", "Bearer " + pair.Pasta},
		"oversized token":       {"Cookie", "edi-token=" + strings.Repeat("a", 20<<10)},
	} {
		r := g.do("GET", "/package/x", nil, headers...)
		if r.Status != http.StatusUnauthorized || r.json(t)["error"] != "invalid_token" || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	// And the valid pair passes.
	expectStatus(t, g.do("GET", "/package/x", nil, "Cookie", "edi-token="+pair.EDI+"; auth-token="+pair.Pasta), 200)
}

// TestEDISubjectRevocation: revoking a subject refuses its tokens on the
// very next request, at refresh and on proxied traffic (cached verdicts
// included), on every handler, and across a restart; tokens minted after
// the revocation work.
func TestEDISubjectRevocation(t *testing.T) {
	g := startEDIGateway(t, "")
	alice := exchangeKey(t, g, ediAliceSecret)
	bob := exchangeKey(t, g, ediBobSecret)
	cookie := "edi-token=" + alice.EDI + "; auth-token=" + alice.Pasta
	for range 3 { // the verdict is now cached
		expectStatus(t, g.do("GET", "/package/x", nil, "Cookie", cookie), 200)
	}
	expectEDIAnswerOK(t, refreshEDI(g, alice.Pasta, alice.EDI))

	rev := ediJSON(t, ediOp(g, "POST", "/subjects/"+ediAliceID+"/revoke", nil), 200)
	if rev["ediId"] != ediAliceID {
		t.Fatalf("revoke answer %v", rev)
	}
	r := g.do("GET", "/package/x", nil, "Cookie", cookie)
	if r.Status != 401 || r.json(t)["error_description"] != "token is revoked" {
		t.Fatalf("proxied request after revocation: %d %s", r.Status, r.Body)
	}
	expectStatus(t, g.do("GET", "/package/x", nil, "Authorization", "Bearer "+alice.EDI), 401)
	expectEDIAnswer(t, refreshEDI(g, alice.Pasta, alice.EDI), 401, "refreshToken", "Attempted to refresh invalid edi-token")
	// Other subjects are unaffected.
	expectStatus(t, g.do("GET", "/package/x", nil, "Cookie", "edi-token="+bob.EDI+"; auth-token="+bob.Pasta), 200)
	// A key exchange right after the revocation gives a usable pair.
	fresh := exchangeKey(t, g, ediAliceSecret)
	expectStatus(t, g.do("GET", "/package/x", nil, "Cookie", "edi-token="+fresh.EDI+"; auth-token="+fresh.Pasta), 200)
	expectEDIAnswerOK(t, refreshEDI(g, fresh.Pasta, fresh.EDI))

	// The revocation is persisted: after a restart the old pair is still
	// refused and the new one accepted.
	g.restart()
	expectStatus(t, g.do("GET", "/package/x", nil, "Cookie", cookie), 401)
	expectEDIAnswer(t, refreshEDI(g, alice.Pasta, alice.EDI), 401, "refreshToken", "Attempted to refresh invalid edi-token")
	expectStatus(t, g.do("GET", "/package/x", nil, "Cookie", "edi-token="+fresh.EDI+"; auth-token="+fresh.Pasta), 200)
}

// TestEDIProxyAnonymous: with `anonymous`, a request without credentials
// goes on as the public user; a bad token is still a 401.
func TestEDIProxyAnonymous(t *testing.T) {
	tmpl := strings.Replace(ediCaddyfile(""), "tokengate_edi_protect @pasta", "tokengate_edi_protect @pasta {\n\t\tanonymous\n\t}", 1)
	g := startGateway(t, tmpl, "/healthz")
	h := upstreamHeaders(t, g.do("GET", "/package/x", nil, "Cookie", "a=1; auth-token=; X-Tokengate-Subject=x", "X-Tokengate-Subject", "EDI-forged"))
	cookies := cookiePairs(h["Cookie"])
	if len(cookies) != 3 || cookies[0] != "a=1" || !strings.HasPrefix(cookies[2], "auth-token=") {
		t.Fatalf("anonymous cookies %q", cookies)
	}
	b := strings.TrimPrefix(cookies[2], "auth-token=")
	if f := pastaFields(t, b+"-x"); f[0] != "public" || len(f) != 3 {
		t.Fatalf("anonymous PASTA token %v", f)
	}
	if got := h["X-Tokengate-Subject"]; len(got) != 1 || got[0] != edi.DefaultPublicAccessID {
		t.Fatalf("anonymous subject %v", got)
	}
	expectStatus(t, g.do("GET", "/package/x", nil, "Cookie", "edi-token=garbage"), 401)
}
