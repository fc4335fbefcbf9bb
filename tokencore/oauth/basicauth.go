package oauth

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
)

// MaxAuthorizationLength bounds the Authorization header ParseBasicAuth
// accepts. A Basic credential is a client ID and a secret; 4 KiB is far more
// than either needs.
const MaxAuthorizationLength = 4096

// ParseBasicAuth extracts client credentials from an Authorization header
// (RFC 6749 §2.3.1, RFC 7617).
//
// The result is one of three:
//
//   - no Basic credentials (empty header, or another scheme such as Bearer):
//     ok is false and err is nil — the caller tries other methods;
//   - well-formed Basic credentials: ok is true and id and secret are set
//     (either may be empty; the caller decides whether that is acceptable);
//   - a Basic header that cannot be decoded: err is invalid_client with
//     status 401 and a Basic challenge, because the client attempted to
//     authenticate through the header (RFC 6749 §5.2).
//
// The scheme name is case-insensitive. The credentials are standard base64
// of "id:secret", split at the first colon, and then each half is
// percent-decoded: RFC 6749 §2.3.1 has clients form-urlencode the ID and the
// secret before Basic encoding, which is how an ID may contain a colon.
// Like authlib (urllib's unquote), "+" is kept as a plus sign rather than
// read as a space: generated secrets often contain "+", and most clients
// do not encode them. Invalid percent-escapes make the header malformed.
func ParseBasicAuth(header string) (id, secret string, ok bool, err *Error) {
	if !hasBasicScheme(header) {
		return "", "", false, nil
	}
	if len(header) > MaxAuthorizationLength {
		return "", "", false, malformedBasic()
	}
	credentials := strings.Trim(strings.TrimLeft(header, " \t")[len("Basic"):], " \t")
	decoded, decErr := base64.StdEncoding.DecodeString(credentials)
	if decErr != nil || credentials == "" {
		return "", "", false, malformedBasic()
	}
	rawID, rawSecret, found := strings.Cut(string(decoded), ":")
	if !found {
		return "", "", false, malformedBasic()
	}
	id, e1 := url.PathUnescape(rawID)
	secret, e2 := url.PathUnescape(rawSecret)
	if e1 != nil || e2 != nil {
		return "", "", false, malformedBasic()
	}
	return id, secret, true, nil
}

// hasBasicScheme reports whether header uses the Basic scheme: the word
// "Basic" in any case, alone or followed by a space or tab.
func hasBasicScheme(header string) bool {
	h := strings.TrimLeft(header, " \t")
	return len(h) >= 5 && strings.EqualFold(h[:5], "Basic") && (len(h) == 5 || h[5] == ' ' || h[5] == '\t')
}

// malformedBasic is the answer to a Basic header we cannot decode.
func malformedBasic() *Error {
	return &Error{
		Code:        string(ErrInvalidClient),
		Description: "The 'Authorization' header is malformed.",
		Status:      http.StatusUnauthorized,
		AuthScheme:  "Basic",
	}
}
