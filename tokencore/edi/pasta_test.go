package edi

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func specVerifier(t *testing.T) *PastaVerifier {
	t.Helper()
	pub, err := ParsePastaPublicKeyPEM([]byte(specPastaPublicKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return mustPastaVerifier(t, pub)
}

// TestSpecVectorKey makes sure the embedded key is the spec's, byte for byte.
func TestSpecVectorKey(t *testing.T) {
	pub, err := ParsePastaPublicKeyPEM([]byte(specPastaPublicKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	if got := hex.EncodeToString(sum[:]); got != specPastaSPKISHA256 {
		t.Fatalf("SPKI SHA-256 = %s, want %s", got, specPastaSPKISHA256)
	}
	if pub.N.BitLen() != 2048 {
		t.Fatalf("key has %d bits, want 2048", pub.N.BitLen())
	}
}

func TestSpecVectorVerifies(t *testing.T) {
	tok, err := specVerifier(t).Verify(specPastaToken)
	if err != nil {
		t.Fatalf("spec token does not verify: %v", err)
	}
	want := PastaToken{
		UID:        "uid=EDI,o=EDI,dc=edirepository,dc=org",
		AuthSystem: PastaAuthSystem,
		Expiry:     specPastaExpiry,
		Groups:     []string{"authenticated"},
	}
	if tok.UID != want.UID || tok.AuthSystem != want.AuthSystem || !slices.Equal(tok.Groups, want.Groups) {
		t.Fatalf("token = %+v, want %+v", tok, want)
	}
	if !tok.Expiry.Equal(want.Expiry) || tok.Expiry.UTC().Format(time.RFC3339Nano) != "2019-05-17T10:58:23.946Z" {
		t.Fatalf("expiry = %s, want 2019-05-17T10:58:23.946Z", tok.Expiry)
	}
	b, _, _ := strings.Cut(specPastaToken, "-")
	if internal, err := tok.Internal(); err != nil || internal != b {
		t.Fatalf("Internal() = %q, %v; want B of the spec token", internal, err)
	}
	if p, err := tok.plaintext(); err != nil || p != specPastaPlaintext {
		t.Fatalf("plaintext = %q, %v; want %q", p, err, specPastaPlaintext)
	}
}

// TestSpecVectorSignatureIsOverB: S covers the ASCII of B, not the plaintext.
func TestSpecVectorSignatureIsOverB(t *testing.T) {
	v := specVerifier(t)
	b, s, _ := strings.Cut(specPastaToken, "-")
	sig, err := decodeStdBase64(s)
	if err != nil {
		t.Fatal(err)
	}
	if !v.verifySignature([]byte(b), sig) {
		t.Fatal("signature does not verify over B")
	}
	if v.verifySignature([]byte(specPastaPlaintext), sig) {
		t.Fatal("signature verifies over the plaintext; it must only verify over B")
	}
	// The same through Verify: base64 of the plaintext with the spec's S
	// is B itself, so only a token whose first part is the raw plaintext
	// can express "over the plaintext"; it has '*' and fails too.
	if _, err := v.Verify(specPastaPlaintext + "-" + s); err == nil {
		t.Fatal("raw plaintext with the spec signature verified")
	}
}

func TestSpecVectorPaddingLoss(t *testing.T) {
	b, s, _ := strings.Cut(specPastaToken, "-")
	if !strings.HasSuffix(b, "==") {
		t.Fatal("spec B is expected to end in ==")
	}
	for _, stripped := range []string{strings.TrimSuffix(b, "="), strings.TrimSuffix(b, "==")} {
		_, err := specVerifier(t).Verify(stripped + "-" + s)
		checkErr(t, err, ErrSignature)
	}
}

// TestSpecVectorEveryByteChange replaces each byte of B and S with several
// others: a neighbour in the base64 alphabet, a one-bit flip, a padding
// character and characters outside the alphabet. Every variant must fail.
// The neighbour of the last data character of S changes only padding bits,
// which strict decoding catches.
func TestSpecVectorEveryByteChange(t *testing.T) {
	v := specVerifier(t)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(specPastaToken); i++ {
		orig := specPastaToken[i]
		cands := []byte{orig ^ 1, '=', '_', '\n', ' ', '-', 0x80}
		if j := strings.IndexByte(alphabet, orig); j >= 0 {
			cands = append(cands, alphabet[(j+1)%len(alphabet)], alphabet[(j+63)%len(alphabet)])
		} else {
			cands = append(cands, 'A', '/')
		}
		for _, c := range cands {
			if c == orig {
				continue
			}
			mutated := []byte(specPastaToken)
			mutated[i] = c
			if tok, err := v.Verify(string(mutated)); err == nil {
				t.Fatalf("byte %d changed %q→%q still verifies: %+v", i, orig, c, tok)
			}
		}
	}
}

func TestSpecVectorExpired(t *testing.T) {
	tok, err := specVerifier(t).Verify(specPastaToken)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Expired(time.Now()) {
		t.Fatal("spec token is not expired now")
	}
}

func TestPastaExpired(t *testing.T) {
	expiry := time.UnixMilli(1_700_000_000_123)
	tok := NewPastaToken("public", expiry)
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"one ms before", expiry.Add(-time.Millisecond), false},
		{"long before", expiry.Add(-8 * time.Hour), false},
		{"exactly at expiry", expiry, true},
		{"within the expiry ms", expiry.Add(999 * time.Microsecond), true},
		{"one ms after", expiry.Add(time.Millisecond), true},
		{"just before, sub-ms", expiry.Add(-time.Microsecond), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tok.Expired(tt.now); got != tt.want {
				t.Fatalf("Expired(%s) = %v, want %v", tt.now.Format(time.RFC3339Nano), got, tt.want)
			}
		})
	}
}

func TestPastaVerifyShape(t *testing.T) {
	key := testPastaKey()
	v := mustPastaVerifier(t, &key.PublicKey)
	good, err := mustPastaSigner(t, key).Sign(NewPastaToken("uid=alice,o=EDI,dc=edirepository,dc=org", time.UnixMilli(1_700_000_000_000), "vetted", "authenticated"))
	if err != nil {
		t.Fatal(err)
	}
	b, s, _ := strings.Cut(good, "-")
	if !strings.HasSuffix(s, "==") {
		t.Fatalf("a 256-byte signature encodes with ==, got %q", s)
	}
	other, err := mustPastaSigner(t, testPastaKey2()).Sign(NewPastaToken("public", time.UnixMilli(1)))
	if err != nil {
		t.Fatal(err)
	}
	_, otherS, _ := strings.Cut(other, "-")
	sig, _ := decodeStdBase64(s)
	// A B-S pair whose total length is exactly MaxTokenLength: not refused
	// for its size, so it gets as far as the signature check.
	atLimit := strings.Repeat("A", MaxTokenLength-1-len(s)) + "-" + s

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"valid", good, nil},
		{"valid, S unpadded", b + "-" + strings.TrimRight(s, "="), nil},
		{"S unpadded, padding bits set", b + "-" + setPaddingBits(t, strings.TrimRight(s, "=")), ErrMalformed},
		{"S padded, padding bits set", b + "-" + setPaddingBits(t, strings.TrimRight(s, "=")) + "==", ErrMalformed},
		{"empty", "", ErrMalformed},
		{"no dash", b + s, ErrMalformed},
		{"internal form B only", b, ErrMalformed},
		{"empty B", "-" + s, ErrMalformed},
		{"empty S", b + "-", ErrMalformed},
		{"lone dash", "-", ErrMalformed},
		{"three parts", good + "-" + s, ErrMalformed},
		{"double dash", b + "--" + s, ErrMalformed},
		{"trailing dash", good + "-", ErrMalformed},
		{"newline in S", b + "-" + s[:10] + "\n" + s[10:], ErrMalformed},
		{"CRLF after S", good + "\r\n", ErrMalformed},
		{"space in S", b + "-" + s[:10] + " " + s[10:], ErrMalformed},
		{"url-safe char in S", b + "-" + s[:10] + "_" + s[11:], ErrMalformed},
		{"dot in S", b + "-" + s[:10] + "." + s[11:], ErrMalformed},
		{"non-ASCII in S", b + "-" + s[:10] + "é" + s[12:], ErrMalformed},
		{"one of two = padding", b + "-" + strings.TrimSuffix(s, "="), ErrMalformed},
		{"three = padding", good + "=", ErrMalformed},
		{"padding in the middle", b + "-" + s[:4] + "==" + s[4:], ErrMalformed},
		{"quoted", `"` + good + `"`, ErrMalformed},
		{"signature of another key", b + "-" + otherS, ErrSignature},
		{"signature truncated", b + "-" + base64.StdEncoding.EncodeToString(sig[:255]), ErrSignature},
		{"signature extended", b + "-" + base64.StdEncoding.EncodeToString(append(sig[:256:256], 0)), ErrSignature},
		{"signature zero", b + "-" + base64.StdEncoding.EncodeToString(make([]byte, 256)), ErrSignature},
		{"exactly MaxTokenLength, bad signature", atLimit, ErrSignature},
		{"over MaxTokenLength", strings.Repeat("A", MaxTokenLength) + "-" + s, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.token)
			checkErr(t, err, tt.want)
		})
	}
	if len(atLimit) != MaxTokenLength {
		t.Fatalf("boundary token has %d bytes, want %d", len(atLimit), MaxTokenLength)
	}
	if _, err := v.Verify(strings.Repeat("A", MaxTokenLength) + "-" + s); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized token: %v, want ErrTooLarge", err)
	}
}

// setPaddingBits changes the last character of an unpadded base64 text
// whose length is 2 mod 4 (4 unused bits) so that only unused bits change.
func setPaddingBits(t *testing.T, s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := strings.IndexByte(alphabet, s[len(s)-1])
	if len(s)%4 != 2 || i%16 != 0 {
		t.Fatalf("%q does not end in a canonical 2-mod-4 group", s)
	}
	out := s[:len(s)-1] + string(alphabet[i+1])
	a, _ := base64.RawStdEncoding.DecodeString(s)
	if b, err := base64.RawStdEncoding.DecodeString(out); err != nil || string(a) != string(b) {
		t.Fatal("lenient decoding should not see the change")
	}
	return out
}

// TestPastaVerifySignedBodies: bodies behind a valid signature that must
// still be refused (spec §3.4 step 4) or accepted.
func TestPastaVerifySignedBodies(t *testing.T) {
	key := testPastaKey()
	v := mustPastaVerifier(t, &key.PublicKey)
	const as = PastaAuthSystem
	tests := []struct {
		name  string
		plain string
		want  error
		check func(*testing.T, PastaToken)
	}{
		{name: "three fields", plain: "uid=x*" + as + "*1558090703946", check: func(t *testing.T, p PastaToken) {
			if p.UID != "uid=x" || p.Groups != nil || p.Expiry.UnixMilli() != 1558090703946 {
				t.Fatalf("got %+v", p)
			}
		}},
		{name: "public", plain: "public*" + as + "*1"},
		{name: "groups kept in order", plain: "u*" + as + "*1*vetted*authenticated*zeta*alpha", check: func(t *testing.T, p PastaToken) {
			if !slices.Equal(p.Groups, []string{"vetted", "authenticated", "zeta", "alpha"}) {
				t.Fatalf("groups = %q", p.Groups)
			}
		}},
		{name: "leading zeros in expiry", plain: "u*" + as + "*0001", check: func(t *testing.T, p PastaToken) {
			if p.Expiry.UnixMilli() != 1 {
				t.Fatalf("expiry = %d", p.Expiry.UnixMilli())
			}
		}},
		{name: "latest expiry", plain: "u*" + as + "*253402300799999"},
		{name: "legacy authSystem kept verbatim", plain: "u* LDAP.ecoinformatics.org:389 *1", check: func(t *testing.T, p PastaToken) {
			if p.AuthSystem != " LDAP.ecoinformatics.org:389 " {
				t.Fatalf("authSystem = %q", p.AuthSystem)
			}
		}},
		{name: "UTF-8 uid", plain: "Zoë Müller*" + as + "*1"},
		{name: "one field", plain: "public", want: ErrMalformed},
		{name: "two fields", plain: "public*" + as, want: ErrMalformed},
		{name: "empty plaintext", plain: "", want: ErrMalformed},
		{name: "empty uid", plain: "*" + as + "*1", want: ErrMalformed},
		{name: "empty authSystem", plain: "u**1", want: ErrMalformed},
		{name: "empty expiry", plain: "u*" + as + "*", want: ErrMalformed},
		{name: "empty group", plain: "u*" + as + "*1**g", want: ErrMalformed},
		{name: "trailing separator", plain: "u*" + as + "*1*", want: ErrMalformed},
		{name: "expiry not a number", plain: "u*" + as + "*soon", want: ErrMalformed},
		{name: "expiry decimal", plain: "u*" + as + "*1.5", want: ErrMalformed},
		{name: "expiry exponent", plain: "u*" + as + "*1e3", want: ErrMalformed},
		{name: "expiry plus sign", plain: "u*" + as + "*+1", want: ErrMalformed},
		{name: "expiry negative", plain: "u*" + as + "*-1", want: ErrMalformed},
		{name: "expiry with space", plain: "u*" + as + "* 1", want: ErrMalformed},
		{name: "expiry past year 9999", plain: "u*" + as + "*253402300800000", want: ErrMalformed},
		{name: "expiry overflows int64", plain: "u*" + as + "*99999999999999999999", want: ErrMalformed},
		{name: "unknown authSystem", plain: "u*https://evil.example/authentication*1", want: ErrMalformed},
		{name: "authSystem with trailing slash", plain: "u*" + as + "/*1", want: ErrMalformed},
		{name: "invalid UTF-8", plain: "u\xff*" + as + "*1", want: ErrMalformed},
		{name: "NUL is fine", plain: "u\x00v*" + as + "*1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := v.Verify(signPlaintext(t, key, tt.plain))
			checkErr(t, err, tt.want)
			if err == nil && tt.check != nil {
				tt.check(t, tok)
			}
		})
	}
}

// TestPastaVerifySignedBadBase64: a B outside standard base64 fails after
// its signature verified, as malformed.
func TestPastaVerifySignedBadBase64(t *testing.T) {
	key := testPastaKey()
	v := mustPastaVerifier(t, &key.PublicKey)
	valid := base64.StdEncoding.EncodeToString([]byte("u*" + PastaAuthSystem + "*1*g"))
	tests := []struct {
		name string
		b    string
		want error
	}{
		{"padded", valid, nil},
		{"unpadded", strings.TrimRight(valid, "="), nil},
		{"url-safe alphabet", "dWlk_A", ErrMalformed},
		{"space", "dWlk dWlk", ErrMalformed},
		{"newline", "dWlk\ndWlk", ErrMalformed},
		{"one = of two", strings.TrimSuffix(valid, "="), ErrMalformed},
		{"impossible length", "dWlkd", ErrMalformed},
		{"non-zero padding bits", "dWm=", ErrMalformed},
	}
	if !strings.HasSuffix(valid, "==") {
		t.Fatalf("test needs a B ending in ==, got %q", valid)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(signRawB(t, key, tt.b))
			checkErr(t, err, tt.want)
		})
	}
}

func TestAcceptedAuthSystem(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{PastaAuthSystem, true},
		{"HTTPS://PASTA.EDIREPOSITORY.ORG/AUTHENTICATION", true},
		{" \t" + PastaAuthSystem + "\r\n", true},
		{"\x01" + PastaAuthSystem, true}, // Java's trim removes every char ≤ U+0020
		{"ldap.ecoinformatics.org", true},
		{"ldap://ldap.ecoinformatics.org", true},
		{"ldap.ecoinformatics.org:389", true},
		{"ldap://ldap.ecoinformatics.org:389", true},
		{"ldap.ecoinformatics.org:389/dc=ecoinformatics,dc=org", true},
		{"ldap://ldap.ecoinformatics.org:389/dc=ecoinformatics,dc=org", true},
		{"LDAP://LDAP.EcoInformatics.ORG:389/DC=ECOINFORMATICS,DC=ORG", true},
		{"", false},
		{"   ", false},
		{PastaAuthSystem + "/", false},
		{"http://pasta.edirepository.org/authentication", false},
		{"https://pasta.edirepository.org", false},
		{"ldaps://ldap.ecoinformatics.org", false},
		{"ldap.ecoinformatics.org:388", false},
		{"ldap.ecoinformatics.org/dc=ecoinformatics,dc=org", false},
		{"ldap://ldap.ecoinformatics.org:389/dc=ecoinformatics", false},
		{"ldap.ecoinformatics.org.evil.example", false},
		{"\u00a0" + PastaAuthSystem, false},                            // NBSP is not trimmed by Java
		{"https://pasta.edirepo\u017fitory.org/authentication", false}, // long s folds to s
	}
	for _, tt := range tests {
		if got := acceptedAuthSystem(tt.in); got != tt.want {
			t.Errorf("acceptedAuthSystem(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPastaRoundTrip(t *testing.T) {
	key := testPastaKey()
	s := mustPastaSigner(t, key)
	v := mustPastaVerifier(t, &key.PublicKey)
	exp := time.UnixMilli(1_700_000_000_123).UTC()
	tests := []PastaToken{
		NewPastaToken("public", exp),
		NewPastaToken("uid=alice,o=EDI,dc=edirepository,dc=org", exp, "vetted", "authenticated"),
		NewPastaToken("https://orcid.org/0000-0002-1825-0097", exp, "authenticated"),
		NewPastaToken("Zoë@example.org", exp, "zeta", "alpha", "authenticated"),
		{UID: "uid=old,o=LTER", AuthSystem: "  ldap://ldap.ecoinformatics.org:389/dc=ecoinformatics,dc=org", Expiry: exp, Groups: []string{"g"}},
	}
	for _, want := range tests {
		t.Run(want.UID, func(t *testing.T) {
			ext, err := s.Sign(want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(ext)
			if err != nil {
				t.Fatal(err)
			}
			if got.UID != want.UID || got.AuthSystem != want.AuthSystem || !got.Expiry.Equal(want.Expiry) || !slices.Equal(got.Groups, want.Groups) {
				t.Fatalf("round trip: got %+v, want %+v", got, want)
			}
			internal, err := got.Internal()
			if err != nil {
				t.Fatal(err)
			}
			if b, _, _ := strings.Cut(ext, "-"); internal != b {
				t.Fatalf("Internal() = %q, want B %q", internal, b)
			}
			if _, err := v.Verify(internal); !errors.Is(err, ErrMalformed) {
				t.Fatalf("internal form accepted by Verify: %v", err)
			}
		})
	}
}

func TestPastaSignTruncatesToMillis(t *testing.T) {
	key := testPastaKey()
	exp := time.Unix(1_700_000_000, 123_456_789)
	ext, err := mustPastaSigner(t, key).Sign(NewPastaToken("public", exp))
	if err != nil {
		t.Fatal(err)
	}
	got, err := mustPastaVerifier(t, &key.PublicKey).Verify(ext)
	if err != nil {
		t.Fatal(err)
	}
	if got.Expiry.UnixMilli() != 1_700_000_000_123 || got.Expiry.Nanosecond() != 123_000_000 {
		t.Fatalf("expiry = %s", got.Expiry.Format(time.RFC3339Nano))
	}
}

// TestPastaWithExpiry: refreshing the spec's own token changes only the
// expiry field of the plaintext.
func TestPastaWithExpiry(t *testing.T) {
	orig, err := specVerifier(t).Verify(specPastaToken)
	if err != nil {
		t.Fatal(err)
	}
	orig.Groups = append(orig.Groups, "vetted") // unusual order on purpose
	newExp := time.UnixMilli(1_800_000_000_000)
	refreshed := orig.WithExpiry(newExp)
	orig.Groups[0] = "mutated" // the copy must not share the slice

	key := testPastaKey()
	ext, err := mustPastaSigner(t, key).Sign(refreshed)
	if err != nil {
		t.Fatal(err)
	}
	got, err := mustPastaVerifier(t, &key.PublicKey).Verify(ext)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := strings.Cut(ext, "-")
	plain, err := base64.StdEncoding.DecodeString(b)
	if err != nil {
		t.Fatal(err)
	}
	newFields := strings.Split(string(plain), "*")
	oldFields := strings.Split(specPastaPlaintext+"*vetted", "*")
	if len(newFields) != len(oldFields) {
		t.Fatalf("fields %q, want the shape of %q", newFields, oldFields)
	}
	for i := range oldFields {
		if i == 2 {
			if newFields[i] != "1800000000000" {
				t.Fatalf("expiry field = %q", newFields[i])
			}
			continue
		}
		if newFields[i] != oldFields[i] {
			t.Fatalf("field %d = %q, want %q unchanged", i, newFields[i], oldFields[i])
		}
	}
	if !slices.Equal(got.Groups, []string{"authenticated", "vetted"}) || !got.Expiry.Equal(newExp) {
		t.Fatalf("refreshed token = %+v", got)
	}
}

func TestPastaSignRejects(t *testing.T) {
	s := mustPastaSigner(t, testPastaKey())
	exp := time.UnixMilli(1_700_000_000_000)
	tests := []struct {
		name string
		tok  PastaToken
	}{
		{"empty uid", NewPastaToken("", exp)},
		{"star in uid", NewPastaToken("a*b", exp)},
		{"invalid UTF-8 uid", NewPastaToken("a\xffb", exp)},
		{"empty authSystem", PastaToken{UID: "u", Expiry: exp}},
		{"unknown authSystem", PastaToken{UID: "u", AuthSystem: "https://evil.example", Expiry: exp}},
		{"empty group", NewPastaToken("u", exp, "authenticated", "")},
		{"star in group", NewPastaToken("u", exp, "a*b")},
		{"zero expiry", NewPastaToken("u", time.Time{})},
		{"expiry before 1970", NewPastaToken("u", time.UnixMilli(-1))},
		{"expiry after 9999", NewPastaToken("u", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))},
		{"too long", NewPastaToken(strings.Repeat("u", MaxTokenLength*3/4), exp)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ext, err := s.Sign(tt.tok)
			if !errors.Is(err, ErrUnencodable) || ext != "" {
				t.Fatalf("Sign = %q, %v; want ErrUnencodable", ext, err)
			}
			if internal, err := tt.tok.Internal(); !errors.Is(err, ErrUnencodable) || internal != "" {
				t.Fatalf("Internal = %q, %v; want ErrUnencodable", internal, err)
			}
		})
	}
	if _, err := s.Sign(NewPastaToken(strings.Repeat("u", MaxTokenLength*3/4), exp)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized token: %v, want ErrTooLarge", err)
	}
}

func TestPastaRotation(t *testing.T) {
	k1, k2 := testPastaKey(), testPastaKey2()
	v := mustPastaVerifier(t, &k1.PublicKey, &k2.PublicKey)
	only1 := mustPastaVerifier(t, &k1.PublicKey)
	tok := NewPastaToken("public", time.UnixMilli(1))
	for i, k := range []*PastaSigner{mustPastaSigner(t, k1), mustPastaSigner(t, k2)} {
		ext, err := k.Sign(tok)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ext); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
		_, err = only1.Verify(ext)
		if want := i == 0; (err == nil) != want {
			t.Fatalf("key %d against key 1 only: %v", i, err)
		}
	}
}

func TestNewPastaSignerVerifierRejects(t *testing.T) {
	small := mustRSA(1024)
	if _, err := NewPastaSigner(nil); !errors.Is(err, ErrKey) {
		t.Errorf("nil signer key: %v", err)
	}
	if _, err := NewPastaSigner(small); !errors.Is(err, ErrKey) {
		t.Errorf("1024-bit signer key: %v", err)
	}
	if _, err := NewPastaVerifier(); !errors.Is(err, ErrKey) {
		t.Errorf("no verifier keys: %v", err)
	}
	if _, err := NewPastaVerifier(&testPastaKey().PublicKey, nil); !errors.Is(err, ErrKey) {
		t.Errorf("nil verifier key: %v", err)
	}
	if _, err := NewPastaVerifier(&testPastaKey().PublicKey, &small.PublicKey); !errors.Is(err, ErrKey) {
		t.Errorf("1024-bit verifier key: %v", err)
	}
}

func TestDecodeStdBase64(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"QUJD", "ABC", true},
		{"QUI=", "AB", true},
		{"QUI", "AB", true},
		{"QQ==", "A", true},
		{"QQ", "A", true},
		{"+/+/", "\xfb\xff\xbf", true},
		{"", "", true},
		{"QQ=", "", false},
		{"QQ===", "", false},
		{"Q", "", false},
		{"QR==", "", false}, // non-zero padding bits
		{"QR", "", false},   // the same, unpadded
		{"QUJ", "", false},  // "QUI" is the canonical spelling
		{"-_-_", "", false},
		{"QU\nJD", "", false},
		{"QU\rJD", "", false},
		{"QUJD ", "", false},
		{"=QUJ", "", false},
		{"QU=JD", "", false},
	}
	for _, tt := range tests {
		got, err := decodeStdBase64(tt.in)
		if (err == nil) != tt.ok || (tt.ok && string(got) != tt.want) {
			t.Errorf("decodeStdBase64(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
