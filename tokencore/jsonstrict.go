package tokencore

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Token parsing rules shared by every parser of tokengate: the access-token
// verifier, refresh-token decryption, and the EDI verifier all run these
// checks before (or, for encrypted payloads, right after) their JOSE
// library sees the token, so no parser can be more lenient than another.
//
// Why refuse duplicate members: RFC 7515 §5.2 and RFC 7519 §4 let a parser
// either reject duplicate names or keep the last one, and real parsers
// differ (encoding/json keeps the last, some keep the first, Go's struct
// decoding also matches names case-insensitively while Jackson does not).
// A token whose "sub" or "tenant" appears twice can then mean one user to
// the gateway and another to a FOLIO module that parses it again. Refusing
// them, and names that differ only in case, leaves one reading.

// ErrStrictJSON is wrapped by CheckStrictJSON's errors.
var ErrStrictJSON = errors.New("not strict JSON")

// ErrJOSEHeader is wrapped by CheckJOSEHeader's errors.
var ErrJOSEHeader = errors.New("unacceptable JOSE header")

// MaxJSONDepth bounds the nesting of a token's header or claims. Tokens
// tokengate mints are flat (one level, arrays of strings); the bound keeps a
// hostile token from costing a deep recursion anywhere downstream.
const MaxJSONDepth = 16

// CheckStrictJSON checks that data is exactly one JSON object (nothing but
// white space after it) of valid UTF-8, nested at most MaxJSONDepth deep,
// in which no object has two members with the same name or names that
// differ only in case. Errors wrap ErrStrictJSON.
//
// It runs on every verification-cache miss, so it is built for that: the
// syntax is checked by json.Valid (no allocation), then one scan over the
// bytes compares member names in place. A json.Decoder token walk does
// the same job with about 185 allocations for a typical access token;
// this scan allocates only for names that are escaped, upper-case or not
// ASCII, and for objects of more than 16 members.
func CheckStrictJSON(data []byte) error {
	if !utf8.Valid(data) {
		// encoding/json would replace the bad bytes, Java parsers refuse
		// them: another way for two parsers to read different claims.
		return fmt.Errorf("%w: not valid UTF-8", ErrStrictJSON)
	}
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v) // for its message; invalid input only
		return fmt.Errorf("%w: %w", ErrStrictJSON, err)
	}
	sc := jsonScanner{data: data}
	sc.space()
	if sc.i >= len(data) || data[sc.i] != '{' {
		return fmt.Errorf("%w: not a JSON object", ErrStrictJSON)
	}
	sc.i++
	if err := sc.object(1); err != nil {
		return fmt.Errorf("%w: %w", ErrStrictJSON, err)
	}
	return nil
}

// jsonScanner walks JSON that json.Valid accepted, so it only needs to
// find the structure, never to report a syntax error.
type jsonScanner struct {
	data []byte
	i    int
}

func (sc *jsonScanner) space() {
	for sc.i < len(sc.data) {
		switch sc.data[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// str skips the string whose opening quote is at sc.i and returns its
// contents (escapes undecoded) and whether it has escapes.
func (sc *jsonScanner) str() (raw []byte, escaped bool) {
	start := sc.i + 1
	for sc.i = start; sc.data[sc.i] != '"'; sc.i++ {
		if sc.data[sc.i] == '\\' {
			escaped = true
			sc.i++ // the escaped character; \uXXXX continues as plain text
		}
	}
	sc.i++
	return sc.data[start : sc.i-1], escaped
}

// object reads the members of an object whose '{' was just read, up to and
// including its '}'. depth is the object's own level (the top is 1).
func (sc *jsonScanner) object(depth int) error {
	// Names are compared linearly while there are few (every token
	// tokengate mints), in a list on the stack; past memberNamesLinear
	// they move to a map, so a hostile token cannot make the check
	// quadratic.
	var (
		inline [memberNamesLinear][]byte
		list   = inline[:0]
		set    map[string]struct{}
	)
	for {
		sc.space()
		switch sc.data[sc.i] {
		case '}':
			sc.i++
			return nil
		case ',':
			sc.i++
			sc.space()
		}
		raw, escaped := sc.str()
		name, err := memberName(raw, escaped)
		if err != nil {
			return err
		}
		dup := false
		if set == nil {
			for _, have := range list {
				dup = dup || bytes.Equal(have, name)
			}
			if len(list) < len(inline) {
				list = append(list, name)
			} else {
				set = make(map[string]struct{}, 4*len(inline))
				for _, k := range list {
					set[string(k)] = struct{}{}
				}
			}
		}
		if set != nil {
			_, dup = set[string(name)]
			set[string(name)] = struct{}{}
		}
		if dup {
			return fmt.Errorf("duplicate member %q", shortName(string(name)))
		}
		sc.space()
		sc.i++ // ':'
		if err := sc.value(depth); err != nil {
			return err
		}
	}
}

// value skips one value inside a container of level depth.
func (sc *jsonScanner) value(depth int) error {
	sc.space()
	switch sc.data[sc.i] {
	case '"':
		sc.str()
		return nil
	case '{', '[':
		if depth >= MaxJSONDepth {
			return fmt.Errorf("nested deeper than %d levels", MaxJSONDepth)
		}
		open := sc.data[sc.i]
		sc.i++
		if open == '{' {
			return sc.object(depth + 1)
		}
		return sc.array(depth + 1)
	}
	for sc.i < len(sc.data) { // number, true, false, null
		switch sc.data[sc.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return nil
		}
		sc.i++
	}
	return nil
}

// array reads the elements of an array whose '[' was just read, up to and
// including its ']'.
func (sc *jsonScanner) array(depth int) error {
	for {
		sc.space()
		switch sc.data[sc.i] {
		case ']':
			sc.i++
			return nil
		case ',':
			sc.i++
		}
		if err := sc.value(depth); err != nil {
			return err
		}
	}
}

// memberName returns the key under which a member name is compared: the
// raw bytes when they are plain lower-case ASCII (no allocation), else the
// decoded name folded so that names Go's case-insensitive field matching
// would confuse collide: lower case for ASCII, upper-then-lower case
// otherwise, which also folds the Kelvin sign onto k and the long s onto s.
func memberName(raw []byte, escaped bool) ([]byte, error) {
	plain := !escaped
	for _, c := range raw {
		if c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			plain = false
			break
		}
	}
	if plain {
		return raw, nil
	}
	name := string(raw)
	if escaped {
		quoted := make([]byte, 0, len(raw)+2)
		quoted = append(append(append(quoted, '"'), raw...), '"')
		if err := json.Unmarshal(quoted, &name); err != nil {
			return nil, fmt.Errorf("member name: %w", err)
		}
	}
	return []byte(strings.ToLower(strings.ToUpper(name))), nil
}

// memberNamesLinear is how many names of one object are compared
// linearly before they move to a map.
const memberNamesLinear = 16

// shortName bounds an attacker-chosen name quoted in an error.
func shortName(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// JOSEKind says which JOSE serialization a header belongs to: the header
// parameters each defines differ (RFC 7515 §4.1, RFC 7516 §4.1).
type JOSEKind int

const (
	// JWS is a signed token (access tokens, EDI tokens).
	JWS JOSEKind = iota
	// JWE is an encrypted token (refresh tokens).
	JWE
)

// registeredHeaderParameter reports the header parameters defined by JWS,
// JWE and JWA (RFC 7515 §4.1, RFC 7516 §4.1, RFC 7518 §4.6–4.8). RFC 7515
// §4.1.11 forbids listing them in crit: they are understood by definition,
// and a crit naming one is the mark of a confused or hostile producer.
func registeredHeaderParameter(name string) bool {
	switch name {
	case "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit",
		"enc", "zip", "epk", "apu", "apv", "iv", "tag", "p2s", "p2c":
		return true
	}
	return false
}

// CheckJOSEHeader applies tokengate's rules to the decoded JSON of a
// protected header. It is the one header check of every token parser:
//
//   - the header is strict JSON (CheckStrictJSON: one object, no duplicate
//     member, bounded depth);
//   - crit (RFC 7515 §4.1.11, RFC 7516 §4.1.13), when present, is a
//     non-empty array of distinct strings, each the name of a parameter
//     present in the header and not one defined by JWS, JWE or JWA; and
//     since tokengate implements no extension, every such name is one it
//     does not understand, so a well-formed crit refuses the token too. The
//     checks are ordered so the error names the first rule broken;
//   - b64 (RFC 7797, unencoded payload) is refused in a JWS, with or
//     without crit: tokengate verifies the base64url payload only, and a
//     verifier honouring b64 would check different bytes;
//   - zip is refused in a JWE: tokengate never compresses, and inflating an
//     attacker's payload only costs memory.
//
// Errors wrap ErrJOSEHeader (and ErrStrictJSON for the JSON rules).
func CheckJOSEHeader(header []byte, kind JOSEKind) error {
	if err := CheckStrictJSON(header); err != nil {
		return fmt.Errorf("%w: %w", ErrJOSEHeader, err)
	}
	if !mayNameExtension(header) {
		return nil // the common case: no crit, b64 or zip, however spelt
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(header, &h); err != nil {
		return fmt.Errorf("%w: %w", ErrJOSEHeader, err)
	}
	if raw, ok := h["crit"]; ok {
		if err := checkCrit(raw, h); err != nil {
			return fmt.Errorf("%w: %w", ErrJOSEHeader, err)
		}
	}
	if _, ok := h["b64"]; ok && kind == JWS {
		return fmt.Errorf("%w: b64 (RFC 7797 unencoded payload) is not supported", ErrJOSEHeader)
	}
	if _, ok := h["zip"]; ok && kind == JWE {
		return fmt.Errorf("%w: zip (compressed payload) is not supported", ErrJOSEHeader)
	}
	return nil
}

// mayNameExtension reports whether a header may have a crit, b64 or zip
// member. A member name written with escapes ("\u0063rit") does not show
// its letters, so any backslash counts as a maybe.
func mayNameExtension(header []byte) bool {
	return bytes.IndexByte(header, '\\') >= 0 || bytes.Contains(header, []byte(`"crit"`)) ||
		bytes.Contains(header, []byte(`"b64"`)) || bytes.Contains(header, []byte(`"zip"`))
}

// checkCrit applies RFC 7515 §4.1.11 to the crit value raw of header h.
func checkCrit(raw json.RawMessage, h map[string]json.RawMessage) error {
	var names []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &names) != nil {
		return errors.New("crit is not an array")
	}
	if len(names) == 0 {
		return errors.New("crit is an empty array")
	}
	seen := make(map[string]bool, len(names))
	list := make([]string, len(names))
	for i, r := range names {
		if len(r) == 0 || r[0] != '"' || json.Unmarshal(r, &list[i]) != nil {
			return errors.New("crit holds a value that is not a string")
		}
		if seen[list[i]] {
			return fmt.Errorf("crit lists %q twice", shortName(list[i]))
		}
		seen[list[i]] = true
	}
	for _, name := range list {
		if registeredHeaderParameter(name) {
			return fmt.Errorf("crit lists %q, a parameter of the JOSE specifications, which must not be listed", name)
		}
		if _, present := h[name]; !present {
			return fmt.Errorf("crit lists %q, which the header does not contain", shortName(name))
		}
	}
	return fmt.Errorf("crit lists %q, an extension tokengate does not implement", shortName(list[0]))
}

// segment decodes one base64url segment of a compact serialization, as
// RFC 7515 §2 defines it: no padding, no stray bits.
func segment(s string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

// CheckCompactJWS applies CheckJOSEHeader to the header of a compact JWS
// and CheckStrictJSON to its payload. The access-token verifier runs it
// before handing the token to golang-jwt, which would accept duplicate
// members (the last wins) and ignores crit. Errors wrap ErrJOSEHeader or
// ErrStrictJSON, or report a bad segment; callers wrap their own
// "malformed" sentinel.
func CheckCompactJWS(token string) error {
	if err := CheckCompactHeader(token, JWS); err != nil {
		return err
	}
	_, rest, _ := strings.Cut(token, ".")
	p, _, ok := strings.Cut(rest, ".")
	if !ok {
		return errors.New("not a compact JWS")
	}
	payload, err := segment(p)
	if err != nil {
		return fmt.Errorf("payload is not base64url: %w", err)
	}
	if err := CheckStrictJSON(payload); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	return nil
}

// CheckCompactHeader applies CheckJOSEHeader to the protected header (the
// first segment) of a compact JWS or JWE. Parsers whose claims reader is
// strict already (EDI's) or whose payload is encrypted (refresh tokens)
// call it directly; the payload is then the claims reader's to check.
func CheckCompactHeader(token string, kind JOSEKind) error {
	h, _, ok := strings.Cut(token, ".")
	if !ok {
		return errors.New("not a compact serialization")
	}
	header, err := segment(h)
	if err != nil {
		return fmt.Errorf("header is not base64url: %w", err)
	}
	return CheckJOSEHeader(header, kind)
}
