package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"reflect"
	"strconv"
	"strings"

	"github.com/tokengate/tokengate/tokencore"
)

// Decoding of management API request bodies. Authlete's POST endpoints
// accept application/json and application/x-www-form-urlencoded; in form
// encoding lists are space-delimited and properties cannot be given.
//
// Unknown members are refused rather than ignored: a caller relying on a
// feature tokengate does not have (a DPoP binding, a caller-chosen token
// value) must learn it at once, not from a token that behaves differently.

// errManageBody is wrapped by every decoding failure; its text is safe to
// return to the operator (it never quotes values).
var errManageBody = errors.New("invalid request body")

// flexString is a client ID: Authlete's clientId is a number, tokengate's
// client IDs are strings; both JSON forms are accepted.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		return errors.New("must be a string or a number")
	}
	*f = flexString(n.String())
	return nil
}

// decodeManageBody decodes a JSON or form body into dst, a pointer to a
// request struct whose fields carry json tags.
func decodeManageBody(contentType string, body []byte, dst any) error {
	mt := "application/json"
	if contentType != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(contentType); err != nil {
			return fmt.Errorf("%w: unreadable Content-Type", errManageBody)
		}
	}
	switch mt {
	case "application/json":
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(dst); err != nil {
			return fmt.Errorf("%w: %s", errManageBody, describeJSONError(err))
		}
		if dec.More() {
			return fmt.Errorf("%w: unexpected data after the JSON object", errManageBody)
		}
		return nil
	case "application/x-www-form-urlencoded":
		form, oerr := ParseForm(body, len(body)+1)
		if oerr != nil {
			return fmt.Errorf("%w: %s", errManageBody, oerr.Description)
		}
		return formInto(form, dst)
	}
	return fmt.Errorf("%w: Content-Type must be application/json or application/x-www-form-urlencoded", errManageBody)
}

// describeJSONError words a JSON decoding error without quoting input.
func describeJSONError(err error) string {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		return fmt.Sprintf("member %s has the wrong type", shorten(ute.Field))
	case errors.As(err, &se):
		return "malformed JSON"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unsupported member " + shorten(strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return "the body must be one JSON object"
}

// formInto sets the fields of dst from form parameters named after their
// json tags. Unknown parameters are refused, like unknown JSON members.
func formInto(form Form, dst any) error {
	v := reflect.ValueOf(dst).Elem()
	t := v.Type()
	known := make(map[string]bool, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		known[name] = true
		raw, ok := form.values[name]
		if !ok {
			continue
		}
		bad := func(what string) error {
			return fmt.Errorf("%w: parameter %s must be %s", errManageBody, name, what)
		}
		switch p := v.Field(i).Addr().Interface().(type) {
		case *string:
			*p = raw
		case *flexString:
			*p = flexString(raw)
		case *int64:
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				return bad("an integer")
			}
			*p = n
		case *bool:
			b, err := strconv.ParseBool(raw)
			if err != nil {
				return bad("true or false")
			}
			*p = b
		case **bool:
			b, err := strconv.ParseBool(raw)
			if err != nil {
				return bad("true or false")
			}
			*p = &b
		case *[]string:
			*p = strings.Fields(raw)
		case **[]string:
			l := strings.Fields(raw)
			*p = &l
		case *json.RawMessage:
			*p, _ = json.Marshal(raw)
		case *[]tokencore.Property, **[]tokencore.Property:
			return fmt.Errorf("%w: properties are accepted only in a JSON body", errManageBody)
		default:
			return fmt.Errorf("%w: parameter %s cannot be given in a form", errManageBody, name)
		}
	}
	for name := range form.values {
		if !known[name] {
			return fmt.Errorf("%w: unsupported parameter %s", errManageBody, shorten(name))
		}
	}
	return nil
}
