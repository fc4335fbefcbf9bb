package folio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tokengate/tokengate/tokencore"
)

// The request decoders as they were before the in-place readers of
// decode.go (two map[string]json.RawMessage decodes per sign request): the
// reference the tests and fuzz targets hold the new decoders to, refusal
// for refusal and message for message.

// DecodeSignRequest reads {"payload":{"sub":..., ...}} with the schema
// rules of signTokenPayload.json: only "payload" at the top level, payload
// an object with a string sub; other payload properties are allowed and
// ignored, except the ones the handler reads, which must have their types.
func refDecodeSignRequest(body []byte) (SignPayload, *Error) {
	var top map[string]json.RawMessage
	if err := refDecodeJSONObject(body, &top); err != nil {
		return SignPayload{}, badRequest(err.Error())
	}
	for k := range top {
		if k != "payload" {
			return SignPayload{}, badRequest(fmt.Sprintf("unexpected property %q", k))
		}
	}
	raw, ok := top["payload"]
	if !ok {
		return SignPayload{}, badRequest("missing property payload")
	}
	var p map[string]json.RawMessage
	if err := refDecodeJSONObject(raw, &p); err != nil {
		return SignPayload{}, badRequest("payload: " + err.Error())
	}
	var out SignPayload
	if err := refStringField(p, "sub", &out.Subject, true); err != nil {
		return out, err
	}
	if err := refStringField(p, "user_id", &out.UserID, false); err != nil {
		return out, err
	}
	if v, ok := p["dummy"]; ok && string(v) != "null" {
		if err := json.Unmarshal(v, &out.Dummy); err != nil {
			return out, badRequest("payload.dummy must be a boolean")
		}
	}
	if v, ok := p["extra_permissions"]; ok && string(v) != "null" {
		if err := json.Unmarshal(v, &out.ExtraPermissions); err != nil || len(out.ExtraPermissions) > 1000 {
			return out, badRequest("payload.extra_permissions must be an array of at most 1000 strings")
		}
	}
	return out, nil
}

// DecodeRefreshRequest reads {"refreshToken":"..."} (refreshToken.json:
// required, no other property).
func refDecodeRefreshRequest(body []byte) (string, *Error) {
	var top map[string]json.RawMessage
	if err := refDecodeJSONObject(body, &top); err != nil {
		return "", badRequest(err.Error())
	}
	for k := range top {
		if k != "refreshToken" {
			return "", badRequest(fmt.Sprintf("unexpected property %q", k))
		}
	}
	var token string
	if err := refStringField(top, "refreshToken", &token, true); err != nil {
		return "", err
	}
	return token, nil
}

// DecodeLegacyRefreshRequest reads {"userId":"...","sub":"..."}
// (signRefreshToken.json: both required, no other property).
func refDecodeLegacyRefreshRequest(body []byte) (userID, sub string, ferr *Error) {
	var top map[string]json.RawMessage
	if err := refDecodeJSONObject(body, &top); err != nil {
		return "", "", badRequest(err.Error())
	}
	for k := range top {
		if k != "userId" && k != "sub" {
			return "", "", badRequest(fmt.Sprintf("unexpected property %q", k))
		}
	}
	if ferr = refStringField(top, "userId", &userID, true); ferr != nil {
		return
	}
	ferr = refStringField(top, "sub", &sub, true)
	return
}

// decodeJSONObject decodes exactly one JSON object (no trailing data)
// that passes CheckStrictJSON: the sign request's payload becomes the
// claims of a token, and claims with a duplicate member are refused.
func refDecodeJSONObject(body []byte, v *map[string]json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil || *v == nil {
		return errors.New("body must be a JSON object")
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON object")
	}
	if err := tokencore.CheckStrictJSON(body); err != nil {
		return err
	}
	return nil
}

// stringField reads a string property, non-empty and bounded when present.
func refStringField(m map[string]json.RawMessage, name string, dst *string, required bool) *Error {
	limit := maxIdentifierLen
	if name == "refreshToken" {
		limit = tokencore.MaxTokenBytes
	}
	raw, ok := m[name]
	if !ok || string(raw) == "null" {
		if required {
			return badRequest("missing property " + name)
		}
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return badRequest(name + " must be a string")
	}
	if required && *dst == "" {
		return badRequest(name + " must not be empty")
	}
	if len(*dst) > limit {
		return badRequest(fmt.Sprintf("%s is longer than %d bytes", name, limit))
	}
	return nil
}
