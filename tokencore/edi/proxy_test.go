package edi

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestExtractTokens(t *testing.T) {
	type hdr = map[string][]string
	for _, tc := range []struct {
		name string
		h    hdr
		want RequestTokens
		err  error
	}{
		{"nothing", hdr{}, RequestTokens{}, ErrNoCredentials},
		{"other cookies only", hdr{"Cookie": {"a=b; c=d"}}, RequestTokens{}, ErrNoCredentials},
		{"edi cookie", hdr{"Cookie": {"a=b; edi-token=E"}}, RequestTokens{EDIToken: "E"}, nil},
		{"both cookies, quoted auth-token", hdr{"Cookie": {`auth-token="P==-S=="; edi-token=E`}}, RequestTokens{EDIToken: "E", PastaToken: "P==-S=="}, nil},
		{"cookies over two lines", hdr{"Cookie": {"auth-token=P", "edi-token=E"}}, RequestTokens{EDIToken: "E", PastaToken: "P"}, nil},
		{"same cookie twice", hdr{"Cookie": {"edi-token=E; edi-token=E"}}, RequestTokens{EDIToken: "E"}, nil},
		{"conflicting edi cookies", hdr{"Cookie": {"edi-token=E; edi-token=F"}}, RequestTokens{}, ErrCredentials},
		{"conflicting auth cookies", hdr{"Cookie": {"edi-token=E; auth-token=P", "auth-token=Q"}}, RequestTokens{}, ErrCredentials},
		{"emptied cookie", hdr{"Cookie": {"auth-token=; edi-token=E"}}, RequestTokens{EDIToken: "E"}, nil},
		{"cookie names are exact", hdr{"Cookie": {"EDI-TOKEN=E"}}, RequestTokens{}, ErrNoCredentials},
		{"bearer", hdr{"Authorization": {"Bearer E"}}, RequestTokens{EDIToken: "E", Bearer: true}, nil},
		{"bearer, any case", hdr{"Authorization": {"bearer  E "}}, RequestTokens{EDIToken: "E", Bearer: true}, nil},
		{"bearer and same cookie", hdr{"Authorization": {"Bearer E"}, "Cookie": {"edi-token=E; auth-token=P"}}, RequestTokens{EDIToken: "E", PastaToken: "P", Bearer: true}, nil},
		{"bearer and other cookie", hdr{"Authorization": {"Bearer E"}, "Cookie": {"edi-token=F"}}, RequestTokens{}, ErrCredentials},
		{"empty bearer", hdr{"Authorization": {"Bearer "}}, RequestTokens{}, ErrCredentials},
		{"basic", hdr{"Authorization": {"Basic dTpw"}, "Cookie": {"edi-token=E"}}, RequestTokens{}, ErrCredentials},
		{"two authorization headers", hdr{"Authorization": {"Bearer E", "Bearer E"}}, RequestTokens{}, ErrCredentials},
		{"auth-token alone", hdr{"Cookie": {"auth-token=P"}}, RequestTokens{}, ErrCredentials},
		{"huge cookie header", hdr{"Cookie": {string(make([]byte, 70_000))}}, RequestTokens{}, ErrCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExtractTokens(http.Header(tc.h))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestRebuildCookies(t *testing.T) {
	for _, tc := range []struct {
		name          string
		lines         []string
		edi, internal string
		want          string
	}{
		{"replace both", []string{`a=1; auth-token="spoof"; edi-token=old; b=2`}, "E", "P==", "a=1; b=2; edi-token=E; auth-token=P=="},
		{"no pasta", []string{"auth-token=unsigned"}, "E", "", "edi-token=E"},
		{"any case and spacing", []string{" Auth-Token = x ;EDI-TOKEN=y;c=3 ", "AUTH-TOKEN=z"}, "E", "P", "c=3; edi-token=E; auth-token=P"},
		{"several lines joined", []string{"a=1", "b=2;;"}, "E", "P", "a=1; b=2; edi-token=E; auth-token=P"},
		{"nothing", nil, "", "", ""},
		{"name-only pairs kept", []string{"flag; auth-token"}, "E", "", "flag; edi-token=E"},
		{"lookalike names kept", []string{"auth-tokens=1; xedi-token=2"}, "E", "", "auth-tokens=1; xedi-token=2; edi-token=E"},
	} {
		if got := RebuildCookies(tc.lines, tc.edi, tc.internal); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestVerifyProxied covers spec §8.2 through the cache: every check but the
// signature runs on every request.
func TestVerifyProxied(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	ediTok := f.signEDI(aliceClaims(testNow.Add(-time.Hour)))
	pastaTok := f.signPasta(aliceUID, testNow.Add(time.Hour), "vetted", "authenticated")

	id, err := f.s.VerifyProxied(RequestTokens{EDIToken: ediTok, PastaToken: pastaTok})
	if err != nil {
		t.Fatal(err)
	}
	wantInternal, _ := NewPastaToken(aliceUID, testNow.Add(time.Hour), "vetted", "authenticated").Internal()
	if id.Claims.Subject != aliceID || id.Pasta == nil || id.Pasta.UID != aliceUID || id.PastaInternal != wantInternal {
		t.Fatalf("identity %+v", id)
	}
	f.e.Cache.Wait()
	hits0, _ := f.e.Cache.Stats()
	if _, err := f.s.VerifyProxied(RequestTokens{EDIToken: ediTok, PastaToken: pastaTok}); err != nil {
		t.Fatal(err)
	}
	if hits, _ := f.e.Cache.Stats(); hits != hits0+2 {
		t.Fatalf("cache hits %d -> %d, want both tokens from the cache", hits0, hits)
	}
	// EDI token alone is enough.
	if id, err := f.s.VerifyProxied(RequestTokens{EDIToken: ediTok}); err != nil || id.Pasta != nil || id.PastaInternal != "" {
		t.Fatalf("EDI only: %+v %v", id, err)
	}

	check := func(name string, rt RequestTokens, want error) {
		t.Helper()
		if _, err := f.s.VerifyProxied(rt); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	internal, _ := NewPastaToken(aliceUID, testNow.Add(time.Hour), "vetted").Internal()
	check("unsigned internal PASTA form", RequestTokens{EDIToken: ediTok, PastaToken: internal}, ErrMalformed)
	check("expired PASTA", RequestTokens{EDIToken: ediTok, PastaToken: f.signPasta(aliceUID, testNow)}, ErrPastaExpired)
	check("unbound PASTA", RequestTokens{EDIToken: ediTok, PastaToken: f.signPasta(bobUID, testNow.Add(time.Hour))}, ErrUnbound)
	check("forged EDI", RequestTokens{EDIToken: ediTok[:len(ediTok)-2] + "AA"}, ErrSignature)
	check("expired EDI", RequestTokens{EDIToken: f.signEDI(aliceClaims(testNow.Add(-9 * time.Hour)))}, ErrExpired)

	// Time moves on: the cached verdict does not outlive the tokens.
	f.setNow(testNow.Add(90 * time.Minute))
	check("PASTA expired since it was cached", RequestTokens{EDIToken: ediTok, PastaToken: pastaTok}, ErrPastaExpired)
	f.setNow(testNow.Add(7 * time.Hour))
	check("EDI expired since it was cached", RequestTokens{EDIToken: ediTok}, ErrExpired)
	f.setNow(testNow)

	// A revocation refuses the cached token on the next request.
	if _, err := f.m.RevokeSubject(ctx, aliceID); err != nil {
		t.Fatal(err)
	}
	check("revoked after caching", RequestTokens{EDIToken: ediTok, PastaToken: pastaTok}, ErrRevoked)

	// Binding off accepts another subject's PASTA token.
	off := newFixture(t, func(c *Config) { c.Binding = BindingOff })
	if _, err := off.s.VerifyProxied(RequestTokens{EDIToken: ediTok, PastaToken: f.signPasta(bobUID, testNow.Add(time.Hour))}); err != nil {
		t.Fatalf("binding off: %v", err)
	}
}

func TestPublicPasta(t *testing.T) {
	f := newFixture(t)
	got, err := f.s.PublicPasta()
	want, _ := NewPastaToken("public", testNow.Add(8*time.Hour)).Internal()
	if err != nil || got != want {
		t.Fatalf("PublicPasta = %q, %v", got, err)
	}
}

func TestDescribe(t *testing.T) {
	for err, want := range map[error]string{
		ErrNoCredentials:            "an edi-token is required",
		errors.Join(ErrCredentials): "edi: unusable credentials",
		ErrRevoked:                  "token is revoked",
		ErrPastaExpired:             "token is expired",
		ErrUnbound:                  "pasta-token does not belong to the edi-token's subject",
	} {
		if got := Describe(err); got != want {
			t.Errorf("Describe(%v) = %q, want %q", err, got, want)
		}
	}
	if got := Describe(wrapCred("conflicting edi-token cookie values")); got != "conflicting edi-token cookie values" {
		t.Errorf("Describe(credentials) = %q", got)
	}
}

func wrapCred(msg string) error { return fmt.Errorf("%w: %s", ErrCredentials, msg) }
