package edi

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tokengate/tokengate/tokencore"
)

// Request and response rules shared by POST /auth/v1/token/refresh and
// POST /auth/v1/key (spec §2).

// Limits of spec §2.1 and §6.3.
const (
	// DefaultMaxBodyBytes bounds request bodies; larger bodies get 413.
	DefaultMaxBodyBytes = 64 << 10
	// MaxKeyLength bounds a presented API key; a longer one is unknown.
	MaxKeyLength = 256
)

// API operation names: the "method" member of every answer (spec §1).
const (
	MethodRefresh = "refreshToken"
	MethodKey     = "getTokenByKey"
)

// Body field names.
const (
	FieldPastaToken = "pasta-token"
	FieldEDIToken   = "edi-token"
	FieldKey        = "key"
)

// Messages of spec §1, §5.4 and §6.4. Checkers match the prefixes; the text
// after a colon is diagnostic.
const (
	msgRefreshed    = "PASTA and EDI tokens refreshed successfully"
	msgKeyExchanged = "Token created successfully"
	msgInvalidJSON  = "Bad request: Invalid JSON in request body"
	msgMissingField = "Bad request: Missing field in JSON in request body: '%s'"
	msgNotString    = "Bad request: Field '%s' in JSON in request body must be a string"
	msgInvalidEDI   = "Attempted to refresh invalid edi-token"
	msgInvalidPasta = "Attempted to refresh invalid pasta-token"
	msgInvalidKey   = "Invalid API key"
	msgTooLarge     = "Request body too large: the limit is %d bytes"
	msgNotAllowed   = "Method not allowed: use POST"
	msgInternal     = "Internal server error"
	msgUnavailable  = "Service unavailable: the token store cannot be reached; retry later"
)

// Response is the answer of both endpoints, success or failure: a status
// and the flat object {msg, pasta-token, edi-token, method}, the tokens only
// on success. Err is the cause of a failure, for the gateway's logs; it is
// never sent.
type Response struct {
	Status     int
	Msg        string
	PastaToken string
	EDIToken   string
	Method     string
	Err        error
	// RetryAfter, when positive, is sent as Retry-After (a 503 while the
	// store is unavailable).
	RetryAfter time.Duration
}

// Error lets a failed Response travel as an error.
func (r *Response) Error() string {
	if r.Err != nil {
		return fmt.Sprintf("%d %s: %v", r.Status, r.Msg, r.Err)
	}
	return fmt.Sprintf("%d %s", r.Status, r.Msg)
}

// Unwrap returns the cause.
func (r *Response) Unwrap() error { return r.Err }

// OK reports a success.
func (r *Response) OK() bool { return r.Status == http.StatusOK }

// MarshalJSON writes msg, then the tokens (on success), then method: EDI's
// key order (spec §2.2).
func (r *Response) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"msg":`)
	writeJSONString(&b, r.Msg)
	if r.OK() {
		b.WriteString(`,"pasta-token":`)
		writeJSONString(&b, r.PastaToken)
		b.WriteString(`,"edi-token":`)
		writeJSONString(&b, r.EDIToken)
	}
	b.WriteString(`,"method":`)
	writeJSONString(&b, r.Method)
	b.WriteByte('}')
	return b.Bytes(), nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always encodes
	b.Write(enc)
}

// XML returns the answer as an XML document: a declaration, the root
// <result> and one element per field, in the JSON order.
func (r *Response) XML() []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<result>")
	el := func(name, v string) {
		b.WriteString("<" + name + ">")
		_ = xml.EscapeText(&b, []byte(v))
		b.WriteString("</" + name + ">")
	}
	el("msg", r.Msg)
	if r.OK() {
		el("pasta-token", r.PastaToken)
		el("edi-token", r.EDIToken)
	}
	el("method", r.Method)
	b.WriteString("</result>\n")
	return b.Bytes()
}

// Encode returns the content type and body of r for a request whose Accept
// header is accept.
func (r *Response) Encode(accept string) (contentType string, body []byte) {
	if WantsXML(accept) {
		return "application/xml; charset=utf-8", r.XML()
	}
	body, _ = r.MarshalJSON()
	return "application/json", body
}

// WantsXML reports whether an Accept header asks for XML (spec §2.2): one
// of its media ranges is application/xml or text/xml with a non-zero q.
// Anything else, */* included, gets JSON.
func WantsXML(accept string) bool {
	if accept == "" {
		return false
	}
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt != "application/xml" && mt != "text/xml" {
			continue
		}
		if q, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(q, 64); err != nil || v <= 0 {
				continue
			}
		}
		return true
	}
	return false
}

// Failure constructors.

func badRequest(method, msg string, cause error) *Response {
	return &Response{Status: http.StatusBadRequest, Msg: msg, Method: method, Err: cause}
}

func unauthorized(method, msg string, cause error) *Response {
	return &Response{Status: http.StatusUnauthorized, Msg: msg, Method: method, Err: cause}
}

// internalError is the answer to an internal failure; a store that is
// unavailable (an outage, a revocation view that cannot be confirmed) is a
// 503 with Retry-After instead, after which the request can be retried.
func internalError(method string, cause error) *Response {
	if errors.Is(cause, tokencore.ErrStoreUnavailable) {
		return &Response{Status: http.StatusServiceUnavailable, Msg: msgUnavailable, Method: method, Err: cause, RetryAfter: tokencore.StoreRetryAfter}
	}
	return &Response{Status: http.StatusInternalServerError, Msg: msgInternal, Method: method, Err: cause}
}

// TooLarge is the 413 answer for a body over limit bytes.
func TooLarge(method string, limit int64) *Response {
	return &Response{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf(msgTooLarge, limit), Method: method}
}

// MethodNotAllowed is the 405 answer for anything but POST; the caller
// adds Allow: POST.
func MethodNotAllowed(method string) *Response {
	return &Response{Status: http.StatusMethodNotAllowed, Msg: msgNotAllowed, Method: method}
}

// ReadError is the 400 answer for a body that could not be read (the
// client went away or sent a broken chunked encoding).
func ReadError(method string, cause error) *Response {
	return badRequest(method, msgInvalidJSON+": the body could not be read", cause)
}

// utf8BOM may start a body (spec §2.1) and is skipped.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// decodeObject parses a request body by the rules of spec §2.1: JSON
// whatever the Content-Type, strict (no trailing commas, no comments, no
// data after the value), UTF-8 (a byte-order mark is skipped), an object.
// Duplicate members are allowed and the last one wins, as in EDI; unknown
// members are ignored. A failure is the 400 answer.
func decodeObject(method string, body []byte) (map[string]json.RawMessage, *Response) {
	body = bytes.TrimPrefix(body, utf8BOM)
	// encoding/json would replace invalid UTF-8 inside strings with U+FFFD
	// and accept the body; EDI refuses it.
	if !utf8.Valid(body) {
		return nil, badRequest(method, msgInvalidJSON+": the body is not UTF-8", nil)
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, badRequest(method, msgInvalidJSON+": the body is empty", nil)
	}
	if !json.Valid(body) {
		return nil, badRequest(method, msgInvalidJSON, nil)
	}
	if trimmed[0] != '{' {
		// An array, string, number, true/false or null: EDI fails with a 500.
		return nil, badRequest(method, msgInvalidJSON+": the body must be a JSON object", nil)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, badRequest(method, msgInvalidJSON, err)
	}
	return m, nil
}

// stringField reads a required string member: 400 with the missing-field
// message when absent, 400 when present but not a string (null included).
func stringField(method string, m map[string]json.RawMessage, name string) (string, *Response) {
	raw, ok := m[name]
	if !ok {
		return "", badRequest(method, fmt.Sprintf(msgMissingField, name), nil)
	}
	s, err := decodeString(raw)
	if err != nil {
		return "", badRequest(method, fmt.Sprintf(msgNotString, name), nil)
	}
	return s, nil
}

// RefreshRequest is the body of POST /auth/v1/token/refresh.
type RefreshRequest struct {
	PastaToken string
	EDIToken   string
}

// DecodeRefreshRequest reads {"pasta-token": ..., "edi-token": ...}, with
// the error precedence of spec §5.2 steps 1 and 2: the body, then
// pasta-token, then edi-token. Token contents are not looked at here.
func DecodeRefreshRequest(body []byte) (RefreshRequest, *Response) {
	m, fail := decodeObject(MethodRefresh, body)
	if fail != nil {
		return RefreshRequest{}, fail
	}
	var req RefreshRequest
	if req.PastaToken, fail = stringField(MethodRefresh, m, FieldPastaToken); fail != nil {
		return RefreshRequest{}, fail
	}
	if req.EDIToken, fail = stringField(MethodRefresh, m, FieldEDIToken); fail != nil {
		return RefreshRequest{}, fail
	}
	return req, nil
}

// DecodeKeyRequest reads {"key": ...} (spec §6.2 steps 1 and 2). A key
// under any other name (api_key, token) is a missing key.
func DecodeKeyRequest(body []byte) (string, *Response) {
	m, fail := decodeObject(MethodKey, body)
	if fail != nil {
		return "", fail
	}
	return stringField(MethodKey, m, FieldKey)
}
