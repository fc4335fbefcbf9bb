package folio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tokengate/tokengate/tokencore"
)

// The request bodies of the FOLIO token API have fixed shapes, and every
// sign and refresh decodes one, so they are read in place
// (tokencore.JSONObject) rather than through map[string]json.RawMessage:
// one allocation per string kept instead of some thirty. The rules and
// messages are those of the JSON schemas of mod-authtoken that the
// decoders always applied; decode_ref_test.go keeps the map-based
// decoders they replaced, and the tests and fuzz target hold these to
// them refusal for refusal.

// SignPayload is the "payload" of a /token/sign or /token request.
type SignPayload struct {
	Subject          string
	UserID           string
	Dummy            bool
	ExtraPermissions []string
}

// maxIdentifierLen bounds sub and user_id.
const maxIdentifierLen = 256

// maxExtraPermissions bounds payload.extra_permissions.
const maxExtraPermissions = 1000

// DecodeSignRequest reads {"payload":{"sub":..., ...}} with the schema
// rules of signTokenPayload.json: only "payload" at the top level, payload
// an object with a string sub; other payload properties are allowed and
// ignored, except the ones the handler reads, which must have their types.
func DecodeSignRequest(body []byte) (SignPayload, *Error) {
	if err := checkObject(body); err != nil {
		return SignPayload{}, badRequest(err.Error())
	}
	var payload []byte
	top := tokencore.NewJSONObject(body)
	for name, value, ok := top.Next(); ok; name, value, ok = top.Next() {
		if string(name) != "payload" {
			return SignPayload{}, unexpectedProperty(name)
		}
		payload = value // once: checkObject refused duplicates
	}
	if payload == nil {
		return SignPayload{}, badRequest("missing property payload")
	}
	if payload[0] != '{' {
		return SignPayload{}, badRequest("payload: body must be a JSON object")
	}
	var sub, userID, dummy, extra []byte
	p := tokencore.NewJSONObject(payload)
	for name, value, ok := p.Next(); ok; name, value, ok = p.Next() {
		switch string(name) {
		case "sub":
			sub = value
		case "user_id":
			userID = value
		case "dummy":
			dummy = value
		case "extra_permissions":
			extra = value
		}
	}
	var out SignPayload
	var ferr *Error
	if out.Subject, ferr = stringField("sub", sub, true); ferr != nil {
		return out, ferr
	}
	if out.UserID, ferr = stringField("user_id", userID, false); ferr != nil {
		return out, ferr
	}
	switch string(dummy) {
	case "", "null", "false":
	case "true":
		out.Dummy = true
	default:
		return out, badRequest("payload.dummy must be a boolean")
	}
	if extra != nil && string(extra) != "null" {
		var ok bool
		if out.ExtraPermissions, ok = stringArray(extra, maxExtraPermissions); !ok {
			return out, badRequest("payload.extra_permissions must be an array of at most 1000 strings")
		}
	}
	return out, nil
}

// DecodeRefreshRequest reads {"refreshToken":"..."} (refreshToken.json:
// required, no other property).
func DecodeRefreshRequest(body []byte) (string, *Error) {
	if err := checkObject(body); err != nil {
		return "", badRequest(err.Error())
	}
	var token []byte
	top := tokencore.NewJSONObject(body)
	for name, value, ok := top.Next(); ok; name, value, ok = top.Next() {
		if string(name) != "refreshToken" {
			return "", unexpectedProperty(name)
		}
		token = value
	}
	return stringField("refreshToken", token, true)
}

// DecodeLegacyRefreshRequest reads {"userId":"...","sub":"..."}
// (signRefreshToken.json: both required, no other property).
func DecodeLegacyRefreshRequest(body []byte) (userID, sub string, ferr *Error) {
	if err := checkObject(body); err != nil {
		return "", "", badRequest(err.Error())
	}
	var rawUser, rawSub []byte
	top := tokencore.NewJSONObject(body)
	for name, value, ok := top.Next(); ok; name, value, ok = top.Next() {
		switch string(name) {
		case "userId":
			rawUser = value
		case "sub":
			rawSub = value
		default:
			return "", "", unexpectedProperty(name)
		}
	}
	if userID, ferr = stringField("userId", rawUser, true); ferr != nil {
		return "", "", ferr
	}
	sub, ferr = stringField("sub", rawSub, true)
	return userID, sub, ferr
}

// checkObject accepts exactly one strict JSON object (no trailing data,
// tokencore.CheckStrictJSON): the sign request's payload becomes the
// claims of a token, and claims with a duplicate member are refused. On
// refusal it names the first rule broken in the order the decoders always
// checked them: a body that does not begin with one JSON object, data
// after it, then the strictness rule.
func checkObject(body []byte) error {
	strictErr := tokencore.CheckStrictJSON(body)
	if strictErr == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var first json.RawMessage
	if err := dec.Decode(&first); err != nil {
		return errors.New("body must be a JSON object")
	}
	if first = bytes.TrimLeft(first, " \t\r\n"); len(first) == 0 || first[0] != '{' {
		return errors.New("body must be a JSON object")
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON object")
	}
	return strictErr
}

// unexpectedProperty refuses a member the schema does not allow. When
// there are several, the first is named (the map-based decoder named any).
func unexpectedProperty(name []byte) *Error {
	return badRequest(fmt.Sprintf("unexpected property %q", name))
}

// stringField reads a string property from its raw value (nil when
// absent), non-empty and bounded when present.
func stringField(name string, raw []byte, required bool) (string, *Error) {
	limit := maxIdentifierLen
	if name == "refreshToken" {
		limit = tokencore.MaxTokenBytes
	}
	if raw == nil || string(raw) == "null" {
		if required {
			return "", badRequest("missing property " + name)
		}
		return "", nil
	}
	s, ok := tokencore.JSONString(raw)
	if !ok {
		return "", badRequest(name + " must be a string")
	}
	if required && s == "" {
		return "", badRequest(name + " must not be empty")
	}
	if len(s) > limit {
		return "", badRequest(fmt.Sprintf("%s is longer than %d bytes", name, limit))
	}
	return s, nil
}

// stringArray reads an array of at most limit strings as encoding/json
// reads it into a []string: a null element is the empty string, an empty
// array an empty (non-nil) slice.
func stringArray(raw []byte, limit int) ([]string, bool) {
	if raw[0] != '[' {
		return nil, false
	}
	out := []string{}
	arr := tokencore.NewJSONArray(raw)
	for v, ok := arr.Next(); ok; v, ok = arr.Next() {
		if len(out) == limit {
			return nil, false
		}
		s := ""
		if string(v) != "null" {
			if s, ok = tokencore.JSONString(v); !ok {
				return nil, false
			}
		}
		out = append(out, s)
	}
	return out, !arr.Err()
}
