package tokencore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func newOpenTestKeys(t testing.TB) *KeySet {
	t.Helper()
	k, _, err := GenerateES256Key()
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ks, err := NewKeySet(k, nil, key)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// sameOpening: Open gives the payload go-jose gives, or an error of the
// same class (malformed or not authentic).
func sameOpening(t *testing.T, ks *KeySet, token string) {
	t.Helper()
	got, err := ks.Open(token)
	want, werr := ks.openGoJose(token)
	if (err == nil) != (werr == nil) || string(got) != string(want) ||
		err != nil && (errors.Is(err, ErrTokenMalformed) != errors.Is(werr, ErrTokenMalformed) ||
			errors.Is(err, ErrTokenSignature) != errors.Is(werr, ErrTokenSignature)) {
		t.Errorf("Open(%q) = %q, %v; go-jose: %q, %v", token, got, err, want, werr)
	}
}

// otherHeaderToken seals payload as another producer might: dir/A256GCM
// with the header members in another order (not the sealer's header).
func otherHeaderToken(t testing.TB, key, payload []byte) string {
	header := rawURL.EncodeToString([]byte(`{"enc":"A256GCM","alg":"dir"}`))
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	iv := make([]byte, 12)
	sealed := aead.Seal(nil, iv, payload, []byte(header))
	n := len(payload)
	return header + ".." + rawURL.EncodeToString(iv) + "." + rawURL.EncodeToString(sealed[:n]) + "." + rawURL.EncodeToString(sealed[n:])
}

func openCases(t testing.TB, ks *KeySet) []string {
	tok, err := ks.Seal([]byte(`{"type":"refresh","sub":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	empty, _ := ks.Seal(nil)
	enc, _ := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.DIRECT, Key: ks.refreshKey}, nil)
	obj, _ := enc.Encrypt([]byte(`{"by":"go-jose"}`))
	byJose, _ := obj.CompactSerialize()
	parts := strings.Split(tok, ".")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, ".")
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	return []string{
		tok, empty, byJose, otherHeaderToken(t, ks.refreshKey, []byte(`{"x":1}`)), otherHeaderToken(t, make([]byte, 32), nil),
		with(1, "AAAA"), with(2, parts[2][:10]), with(2, parts[2]+"AA"), with(4, parts[4][:20]), with(4, parts[4]+"AA"),
		with(3, ""), with(3, flip(parts[3], 0)), with(2, flip(parts[2], 3)), with(4, flip(parts[4], 5)),
		with(2, parts[2][:15]+"B"), with(4, parts[4][:21]+"B"), // stray bits: not strict base64url
		with(3, parts[3]+"="), with(3, "!!!!"), tok + ".x", tok + "AA", parts[0] + ".." + parts[2] + "." + parts[3],
		with(0, flip(parts[0], 2)), "", ".", "....", strings.Repeat("A", 100),
	}
}

// TestOpenIsGoJose: the tokens this gateway seals open without go-jose,
// to the same payload; every altered or foreign token gets go-jose's
// answer (opened, malformed or not authentic).
func TestOpenIsGoJose(t *testing.T) {
	ks := newOpenTestKeys(t)
	for _, tok := range openCases(t, ks) {
		sameOpening(t, ks, tok)
	}
	tok, _ := ks.Seal([]byte(`{}`))
	if _, handled, err := ks.sealer.open(tok); !handled || err != nil {
		t.Errorf("a sealed token is not opened in place: handled %v, %v", handled, err)
	}
	if err := CheckCompactHeader(tok, JWE); err != nil {
		t.Errorf("the sealer's header fails the header check the in-place opener skips: %v", err)
	}
}

// FuzzOpen: on any string Open agrees with go-jose and never panics.
func FuzzOpen(f *testing.F) {
	ks := newOpenTestKeys(f)
	for _, tok := range openCases(f, ks) {
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, token string) { sameOpening(t, ks, token) })
}
