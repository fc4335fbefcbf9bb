package tokencore

import "unicode/utf8"

// AppendJSONString appends s as a JSON string, byte for byte as
// encoding/json.Marshal writes it (HTML-safe: <, > and & escaped; invalid
// UTF-8 as \ufffd; U+2028 and U+2029 escaped). Response and claim encoders
// on hot paths append their fixed shapes with it instead of reflecting
// over a struct, and stay byte-compatible with what they replaced.
func AppendJSONString(dst []byte, s string) []byte { return appendJSONString(dst, s, true) }

// AppendJSONStringNoHTML appends s as a JSON string as a json.Encoder with
// SetEscapeHTML(false) writes it: AppendJSONString with <, > and & left as
// they are (OAuth responses, whose scope tokens may contain them).
func AppendJSONStringNoHTML(dst []byte, s string) []byte { return appendJSONString(dst, s, false) }

func appendJSONString(dst []byte, s string, escapeHTML bool) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && (!escapeHTML || b != '<' && b != '>' && b != '&') {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
