package edi

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// PastaAuthSystem is the authSystem field of every PASTA token EDI mints.
const PastaAuthSystem = "https://pasta.edirepository.org/authentication"

// maxPastaExpiryMillis is 9999-12-31T23:59:59.999Z. No real token expires
// later; the bound keeps every accepted expiry representable as a time.Time
// and as a Java long, and keeps arithmetic on it far from overflow.
const maxPastaExpiryMillis = 253402300799999

// PastaToken is the content of a PASTA token (spec §3.1): who the subject
// is at their identity provider, which authentication system vouches for
// it, when the token expires and which PASTA groups the subject is in.
type PastaToken struct {
	// UID is the subject's identifier at their identity provider: an LDAP
	// DN, an e-mail address, a GitHub or ORCID URL, or "public".
	UID string
	// AuthSystem is PastaAuthSystem for every token EDI mints today. Tokens
	// from older systems carry one of the LDAP aliases PASTA still accepts;
	// it is kept byte-for-byte when such a token is refreshed.
	AuthSystem string
	// Expiry is the absolute expiry time. The wire format has millisecond
	// precision; finer parts are truncated when minting.
	Expiry time.Time
	// Groups are the PASTA groups ("vetted", "authenticated"), in token
	// order. PASTA treats them as a set, but refresh keeps the order so that
	// only the expiry field of a refreshed token differs.
	Groups []string
}

// NewPastaToken returns a token for uid with the canonical authSystem.
func NewPastaToken(uid string, expiry time.Time, groups ...string) PastaToken {
	return PastaToken{UID: uid, AuthSystem: PastaAuthSystem, Expiry: expiry, Groups: slices.Clone(groups)}
}

// Expired reports whether the token has expired at now, using PASTA's rule
// expiry − now_ms < 1 at millisecond precision (spec §3.4 step 5). It is
// written as expiry ≤ now, which is the same for integers and cannot
// overflow. The refresh endpoint deliberately does not call it.
func (t PastaToken) Expired(now time.Time) bool {
	return t.Expiry.UnixMilli() <= now.UnixMilli()
}

// WithExpiry returns a copy of t with a new expiry and every other field
// unchanged, byte-for-byte and in order, as refresh requires (spec §3.5).
func (t PastaToken) WithExpiry(expiry time.Time) PastaToken {
	t.Groups = slices.Clone(t.Groups)
	t.Expiry = expiry
	return t
}

// Internal returns the unsigned internal form B, the base64 of the
// plaintext, which the gateway forwards to PASTA services in the auth-token
// cookie (spec §3.3). Upstreams trust B without any check, so B must only
// ever be built from a token the gateway verified or minted; this package
// deliberately has no function that reads B back.
//
// Internal fails, rather than returning an empty or partial value, when t
// holds a field that cannot be encoded.
func (t PastaToken) Internal() (string, error) {
	p, err := t.plaintext()
	if err != nil {
		return "", err
	}
	b := base64.StdEncoding.EncodeToString([]byte(p))
	if len(b) > MaxTokenLength {
		return "", fmt.Errorf("%w: %w: internal form of %d bytes", ErrUnencodable, ErrTooLarge, len(b))
	}
	return b, nil
}

// plaintext builds uid*authSystem*expiry_ms[*group...], refusing anything
// parsePastaPlaintext would reject, so that every token we mint verifies.
func (t PastaToken) plaintext() (string, error) {
	if err := checkPastaField("uid", t.UID); err != nil {
		return "", err
	}
	if err := checkPastaField("authSystem", t.AuthSystem); err != nil {
		return "", err
	}
	if !acceptedAuthSystem(t.AuthSystem) {
		return "", fmt.Errorf("%w: authSystem is not one PASTA accepts", ErrUnencodable)
	}
	for _, g := range t.Groups {
		if err := checkPastaField("group", g); err != nil {
			return "", err
		}
	}
	ms := t.Expiry.UnixMilli()
	if ms < 0 || ms > maxPastaExpiryMillis {
		return "", fmt.Errorf("%w: expiry %s is out of range", ErrUnencodable, t.Expiry.UTC().Format(time.RFC3339))
	}
	var sb strings.Builder
	sb.WriteString(t.UID)
	sb.WriteByte('*')
	sb.WriteString(t.AuthSystem)
	sb.WriteByte('*')
	sb.WriteString(strconv.FormatInt(ms, 10))
	for _, g := range t.Groups {
		sb.WriteByte('*')
		sb.WriteString(g)
	}
	return sb.String(), nil
}

// checkPastaField enforces the minting rules of spec §3.1: no field may be
// empty or contain the separator. Invalid UTF-8 is refused too, because
// PASTA decodes the plaintext as UTF-8 and would see a different value.
func checkPastaField(name, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: empty %s", ErrUnencodable, name)
	case strings.Contains(v, "*"):
		return fmt.Errorf("%w: %s contains '*'", ErrUnencodable, name)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrUnencodable, name)
	}
	return nil
}

// parsePastaPlaintext reads a decoded, signature-checked plaintext (spec
// §3.1, §3.4 step 4). It is unexported on purpose: parsing is only ever
// reached through PastaVerifier.Verify, after the signature check.
//
// Rules: at least three fields; none empty (PASTA's split would otherwise
// invent or drop groups); an authSystem PASTA accepts; an expiry of decimal
// digits only, in range. Everything after the third field is a group.
func parsePastaPlaintext(s string) (PastaToken, error) {
	if len(s) > MaxTokenLength {
		return PastaToken{}, fmt.Errorf("%w: %w: plaintext of %d bytes", ErrMalformed, ErrTooLarge, len(s))
	}
	if !utf8.ValidString(s) {
		return PastaToken{}, fmt.Errorf("%w: plaintext is not valid UTF-8", ErrMalformed)
	}
	fields := strings.Split(s, "*")
	if len(fields) < 3 {
		return PastaToken{}, fmt.Errorf("%w: plaintext has %d fields, want at least 3", ErrMalformed, len(fields))
	}
	for i, f := range fields {
		if f == "" {
			return PastaToken{}, fmt.Errorf("%w: plaintext field %d is empty", ErrMalformed, i+1)
		}
	}
	if !acceptedAuthSystem(fields[1]) {
		return PastaToken{}, fmt.Errorf("%w: authSystem is not one PASTA accepts", ErrMalformed)
	}
	ms, err := parseExpiryMillis(fields[2])
	if err != nil {
		return PastaToken{}, err
	}
	t := PastaToken{UID: fields[0], AuthSystem: fields[1], Expiry: time.UnixMilli(ms).UTC()}
	if len(fields) > 3 {
		t.Groups = slices.Clone(fields[3:])
	}
	return t, nil
}

// parseExpiryMillis accepts decimal digits only. Java's Long.parseLong would
// also take a sign, but EDI never writes one and a negative expiry has no
// meaning, so we fail closed. Leading zeros are harmless and accepted.
func parseExpiryMillis(s string) (int64, error) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: expiry is not a decimal integer", ErrMalformed)
		}
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms > maxPastaExpiryMillis {
		return 0, fmt.Errorf("%w: expiry is out of range", ErrMalformed)
	}
	return ms, nil
}

// acceptedAuthSystem implements PASTA's check of the second field: the
// canonical URL or one of the legacy LDAP aliases, compared ignoring case
// and surrounding whitespace. Trimming follows Java's String.trim (every
// character up to U+0020) and case folding is ASCII-only: all accepted
// values are ASCII, and Unicode folding would admit look-alikes such as the
// Kelvin sign that PASTA's Java side might treat differently.
func acceptedAuthSystem(s string) bool {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	switch strings.ToLower(s) {
	case PastaAuthSystem,
		"ldap.ecoinformatics.org",
		"ldap://ldap.ecoinformatics.org",
		"ldap.ecoinformatics.org:389",
		"ldap://ldap.ecoinformatics.org:389",
		"ldap.ecoinformatics.org:389/dc=ecoinformatics,dc=org",
		"ldap://ldap.ecoinformatics.org:389/dc=ecoinformatics,dc=org":
		return true
	}
	return false
}
