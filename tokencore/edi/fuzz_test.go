package edi

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/base64"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// oneSentinel fails unless err wraps exactly one verification sentinel.
func oneSentinel(t *testing.T, err error) {
	t.Helper()
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %q wraps %d sentinels, want 1", err, n)
	}
}

func samePasta(a, b PastaToken) bool {
	return a.UID == b.UID && a.AuthSystem == b.AuthSystem && a.Expiry.Equal(b.Expiry) &&
		a.Expiry.UnixMilli() == b.Expiry.UnixMilli() && slices.Equal(a.Groups, b.Groups)
}

// FuzzPastaVerify: Verify never panics, every failure carries exactly one
// sentinel, and an accepted token is consistent: it re-verifies to the same
// content, its internal form decodes to that content, and re-signing it
// yields a token that verifies to the same content again.
func FuzzPastaVerify(f *testing.F) {
	key := testPastaKey()
	signer := mustPastaSigner(f, key)
	specPub, err := ParsePastaPublicKeyPEM([]byte(specPastaPublicKeyPEM))
	if err != nil {
		f.Fatal(err)
	}
	v := mustPastaVerifier(f, specPub, &key.PublicKey)

	f.Add(specPastaToken)
	for _, tok := range []PastaToken{
		NewPastaToken("public", specPastaExpiry),
		NewPastaToken("uid=alice,o=EDI,dc=edirepository,dc=org", specPastaExpiry, "vetted", "authenticated"),
		{UID: "u", AuthSystem: " ldap.ecoinformatics.org:389 ", Expiry: specPastaExpiry, Groups: []string{"g"}},
	} {
		ext, err := signer.Sign(tok)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ext)
		f.Add(strings.TrimRight(ext, "="))
	}
	f.Add(signPlaintext(f, key, "u*"+PastaAuthSystem+"*0001*g"))
	f.Add(signPlaintext(f, key, "u*"+PastaAuthSystem))
	f.Add(signRawB(f, key, "dWlk"))
	for _, s := range []string{"", "-", "a-b", "a-b-c", "QQ==-QQ==", "dWlk\n-QQ==", specPastaPlaintext} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, s string) {
		tok, err := v.Verify(s)
		if err != nil {
			oneSentinel(t, err)
			if !reflect.DeepEqual(tok, PastaToken{}) {
				t.Fatalf("failed Verify returned %+v", tok)
			}
			return
		}
		if len(s) > MaxTokenLength || strings.Count(s, "-") != 1 {
			t.Fatalf("accepted a token of %d bytes with %d dashes", len(s), strings.Count(s, "-"))
		}
		again, err := v.Verify(s)
		if err != nil || !samePasta(tok, again) {
			t.Fatalf("second Verify: %+v, %v; first %+v", again, err, tok)
		}
		b, err := tok.Internal()
		if err != nil {
			t.Fatalf("accepted token has no internal form: %v", err)
		}
		plain, err := base64.StdEncoding.DecodeString(b)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := parsePastaPlaintext(string(plain)); err != nil || !samePasta(back, tok) {
			t.Fatalf("internal form parses to %+v, %v; want %+v", back, err, tok)
		}
		ext, err := signer.Sign(tok)
		if errors.Is(err, ErrTooLarge) {
			return // the canonical spelling may be a few bytes longer
		}
		if err != nil {
			t.Fatalf("accepted token cannot be re-signed: %v", err)
		}
		if back, err := v.Verify(ext); err != nil || !samePasta(back, tok) {
			t.Fatalf("re-signed token verifies to %+v, %v; want %+v", back, err, tok)
		}
	})
}

// FuzzPastaParsePlaintext: parsing never panics, and an accepted plaintext
// re-encodes to itself, except that leading zeros of the expiry go.
func FuzzPastaParsePlaintext(f *testing.F) {
	for _, s := range []string{
		specPastaPlaintext,
		"public*" + PastaAuthSystem + "*1",
		"u*LDAP.ecoinformatics.org*0000123*a*b*a",
		"u*" + PastaAuthSystem + "*253402300799999",
		"u*" + PastaAuthSystem + "*1*",
		"u**1", "**", "*", "", "u*x*1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := parsePastaPlaintext(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		p, err := tok.plaintext()
		if err != nil {
			t.Fatalf("accepted plaintext %q cannot be encoded: %v", s, err)
		}
		fields := strings.Split(s, "*")
		if fields[2] = strings.TrimLeft(fields[2], "0"); fields[2] == "" {
			fields[2] = "0"
		}
		if want := strings.Join(fields, "*"); p != want {
			t.Fatalf("re-encoded %q as %q, want %q", s, p, want)
		}
		if len(tok.Groups) != len(fields)-3 {
			t.Fatalf("%d groups from %d fields", len(tok.Groups), len(fields))
		}
		back, err := parsePastaPlaintext(p)
		if err != nil || !samePasta(back, tok) {
			t.Fatalf("re-parse: %+v, %v; want %+v", back, err, tok)
		}
	})
}

// FuzzEDIVerify: Verify never panics, every failure carries exactly one
// sentinel and no claims, and accepted claims survive re-signing unchanged.
// golang-jwt decodes the payload before it checks the signature, so
// mutated payloads exercise the strict claim reader too.
func FuzzEDIVerify(f *testing.F) {
	key, key2 := testEDIKey(), testEDIKey2()
	signer, err := NewSigner(key, "")
	if err != nil {
		f.Fatal(err)
	}
	v := mustEDIVerifier(f, []*ecdsa.PublicKey{&key.PublicKey}, WithKeyID("k2", &key2.PublicKey), fixedClock(testNow))
	for _, c := range []Claims{fullClaims(), groupClaims()} {
		tok, err := signer.Sign(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	sign := func(in string) []byte {
		sig, err := jwt.SigningMethodES256.Sign(in, key)
		if err != nil {
			f.Fatal(err)
		}
		return sig
	}
	sign2 := func(in string) []byte {
		sig, err := jwt.SigningMethodES256.Sign(in, key2)
		if err != nil {
			f.Fatal(err)
		}
		return sig
	}
	f.Add(craft(`{"alg":"ES256","kid":"k2","typ":"JWT"}`, fullClaimsJSON, sign2))
	f.Add(craft(`{"alg":"none","typ":"JWT"}`, fullClaimsJSON, noSig))
	f.Add(craft(`{"alg":"HS256","typ":"JWT"}`, fullClaimsJSON, sign))
	f.Add(craft(es256Header, `{"sub":"x","sub":"y"}`, sign))
	for _, cc := range claimCases(f)[:12] {
		f.Add(craft(es256Header, cc.json, sign))
	}
	f.Add("")
	f.Add("a.b.c")

	f.Fuzz(func(t *testing.T, s string) {
		c, err := v.Verify(s)
		if err != nil {
			oneSentinel(t, err)
			if !reflect.DeepEqual(c, Claims{}) {
				t.Fatalf("failed Verify returned %+v", c)
			}
			return
		}
		again, err := v.Verify(s)
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("second Verify: %+v, %v", again, err)
		}
		tok, err := signer.Sign(c)
		if errors.Is(err, ErrTooLarge) {
			return // our JSON escaping may be longer than the input's
		}
		if err != nil {
			t.Fatalf("accepted claims cannot be re-signed: %v", err)
		}
		back, err := v.Verify(tok)
		if err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("re-signed claims: %+v, %v; want %+v", back, err, c)
		}
	})
}

// FuzzEDIClaimsJSON: the strict claim reader never panics, fails only with
// ErrClaims, and whatever it accepts is written back in a canonical form
// that reads back to the same claims.
func FuzzEDIClaimsJSON(f *testing.F) {
	f.Add([]byte(fullClaimsJSON))
	f.Add([]byte(groupClaimsJSON))
	for _, cc := range claimCases(f) {
		f.Add([]byte(cc.json))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Claims
		if err := c.UnmarshalJSON(data); err != nil {
			if !errors.Is(err, ErrClaims) {
				t.Fatalf("error %v is not ErrClaims", err)
			}
			return
		}
		out, err := c.MarshalJSON()
		if err != nil {
			t.Fatalf("accepted claims cannot be written: %v", err)
		}
		var back Claims
		if err := back.UnmarshalJSON(out); err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("read back %+v, %v; want %+v", back, err, c)
		}
		if out2, _ := back.MarshalJSON(); !bytes.Equal(out, out2) {
			t.Fatalf("not canonical:\n%s\n%s", out, out2)
		}
	})
}
