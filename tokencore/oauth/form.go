package oauth

import (
	"net/url"
)

// DefaultMaxFormBytes is the body limit ParseForm applies when it is given
// no positive limit. Token, revocation and introspection requests are a few
// hundred bytes; 64 KiB leaves room for long JWT refresh tokens while
// keeping a request's memory cost small.
const DefaultMaxFormBytes = 64 << 10

// maxParamNameInDescription bounds how much of a client-chosen parameter
// name an error description repeats.
const maxParamNameInDescription = 64

// Form is a parsed application/x-www-form-urlencoded request body holding
// at most one non-empty value per parameter. The zero Form is empty.
type Form struct {
	values map[string]string
}

// ParseForm parses a token, revocation or introspection request body with
// the rules of RFC 6749 §3.2:
//
//   - a parameter sent without a value is treated as omitted, so "scope="
//     is the same as no scope, and "a=&a=x" is a single a=x;
//   - a parameter with a value sent more than once is an invalid_request
//     naming it (authlib would silently take one of them; the RFC says
//     parameters MUST NOT repeat, and guessing which one the client meant
//     is how parameter-pollution attacks work);
//   - unknown parameters are ignored (kept, but nobody asks for them);
//   - a body longer than maxBytes, or one that is not valid form encoding,
//     is an invalid_request.
//
// maxBytes <= 0 means DefaultMaxFormBytes. The caller should still read the
// body through a limit (http.MaxBytesReader with maxBytes+1) so an oversize
// body is never buffered in full.
func ParseForm(body []byte, maxBytes int) (Form, *Error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxFormBytes
	}
	if len(body) > maxBytes {
		return Form{}, NewError(ErrInvalidRequest, "The request body is too large.")
	}
	raw, err := url.ParseQuery(string(body))
	if err != nil {
		// err quotes the offending input, which may hold a secret; it is
		// deliberately not passed on.
		return Form{}, NewError(ErrInvalidRequest, "The request body is not valid form encoding.")
	}
	values := make(map[string]string, len(raw))
	for name, vs := range raw {
		if name == "" {
			continue
		}
		for _, v := range vs {
			if v == "" {
				continue
			}
			if _, dup := values[name]; dup {
				return Form{}, NewError(ErrInvalidRequest, "Duplicate '"+shorten(name)+"' parameter.")
			}
			values[name] = v
		}
	}
	return Form{values: values}, nil
}

// Get returns the value of a parameter, or "" when it is absent or was
// sent empty (the two are the same thing, RFC 6749 §3.2).
func (f Form) Get(name string) string {
	return f.values[name]
}

// Has reports whether the parameter was sent with a non-empty value.
func (f Form) Has(name string) bool {
	_, ok := f.values[name]
	return ok
}

// shorten truncates a client-chosen string before it is quoted in an error
// description.
func shorten(s string) string {
	if len(s) > maxParamNameInDescription {
		return s[:maxParamNameInDescription] + "..."
	}
	return s
}
