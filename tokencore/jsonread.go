package tokencore

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Readers for the fixed-shape JSON of the issuing path (FOLIO request
// bodies, refresh-token claims, stored grants). Decoding them with
// encoding/json costs a map or reflection and a dozen allocations per
// request; these walk bytes that json.Valid (or CheckStrictJSON) already
// accepted, in place. They never report syntax errors: the callers check
// validity first and keep encoding/json's answer for anything invalid or
// unusual, so what they accept and refuse does not change.

// JSONObject walks the members of one JSON object in order. The input
// must be a syntactically valid object (json.Valid); on anything else the
// walk stops early (Next reports false and Err is set), it never panics.
type JSONObject struct {
	data []byte
	i    int
	bad  bool
}

// NewJSONObject starts a walk of obj, a valid JSON object with optional
// surrounding white space.
func NewJSONObject(obj []byte) JSONObject {
	o := JSONObject{data: obj}
	o.space()
	if o.i >= len(o.data) || o.data[o.i] != '{' {
		o.bad = true
		return o
	}
	o.i++
	return o
}

// Next returns the next member: its name, decoded (the bytes between the
// quotes when it has no escape, else encoding/json's reading of them, in
// a new slice), and its value's bytes, without surrounding white space. ok is false after the last member or on
// input that is not a valid object (Err).
func (o *JSONObject) Next() (name, value []byte, ok bool) {
	if o.bad {
		return nil, nil, false
	}
	o.space()
	if o.i < len(o.data) && o.data[o.i] == ',' {
		o.i++
		o.space()
	}
	if o.i >= len(o.data) || o.data[o.i] != '"' {
		if o.i >= len(o.data) || o.data[o.i] != '}' {
			o.bad = true
		}
		o.i = len(o.data)
		return nil, nil, false
	}
	start := o.i
	if !o.skipString() {
		return nil, nil, false
	}
	name = o.data[start+1 : o.i-1]
	if bytes.IndexByte(name, '\\') >= 0 {
		s, ok := JSONString(o.data[start:o.i])
		if !ok {
			o.bad = true
			return nil, nil, false
		}
		name = []byte(s)
	}
	o.space()
	if o.i >= len(o.data) || o.data[o.i] != ':' {
		o.bad = true
		return nil, nil, false
	}
	o.i++
	o.space()
	start = o.i
	if !o.skipValue() {
		return nil, nil, false
	}
	return name, o.data[start:o.i], true
}

// Err reports whether the walk met something that is not a valid object.
func (o *JSONObject) Err() bool { return o.bad }

func (o *JSONObject) space() {
	for o.i < len(o.data) {
		switch o.data[o.i] {
		case ' ', '\t', '\n', '\r':
			o.i++
		default:
			return
		}
	}
}

// skipString moves past the string whose opening quote is at o.i.
func (o *JSONObject) skipString() bool {
	for o.i++; o.i < len(o.data); o.i++ {
		switch o.data[o.i] {
		case '\\':
			o.i++
		case '"':
			o.i++
			return true
		}
	}
	o.bad = true
	return false
}

// skipValue moves past one value starting at o.i: a string, a literal or
// number, or a whole array or object (strings inside are skipped as
// strings, so their brackets do not count).
func (o *JSONObject) skipValue() bool {
	if o.i >= len(o.data) {
		o.bad = true
		return false
	}
	switch o.data[o.i] {
	case '"':
		return o.skipString()
	case '{', '[':
		depth := 0
		for o.i < len(o.data) {
			switch o.data[o.i] {
			case '"':
				if !o.skipString() {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					o.i++
					return true
				}
			}
			o.i++
		}
		o.bad = true
		return false
	}
	start := o.i
	for o.i < len(o.data) {
		switch o.data[o.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return o.i > start
		}
		o.i++
	}
	o.bad = true // a literal cannot end an object
	return false
}

// JSONArray walks the elements of one valid JSON array, like JSONObject.
type JSONArray struct{ o JSONObject }

// NewJSONArray starts a walk of arr, a valid JSON array.
func NewJSONArray(arr []byte) JSONArray {
	a := JSONArray{o: JSONObject{data: arr}}
	a.o.space()
	if a.o.i >= len(arr) || arr[a.o.i] != '[' {
		a.o.bad = true
		return a
	}
	a.o.i++
	return a
}

// Next returns the next element's bytes; ok is false after the last one
// or on input that is not a valid array (Err).
func (a *JSONArray) Next() (value []byte, ok bool) {
	o := &a.o
	if o.bad {
		return nil, false
	}
	o.space()
	if o.i < len(o.data) && o.data[o.i] == ',' {
		o.i++
		o.space()
	}
	if o.i >= len(o.data) || o.data[o.i] == ']' {
		if o.i >= len(o.data) {
			o.bad = true
		}
		o.i = len(o.data)
		return nil, false
	}
	start := o.i
	if !o.skipValue() {
		return nil, false
	}
	return o.data[start:o.i], true
}

// Err reports whether the walk met something that is not a valid array.
func (a *JSONArray) Err() bool { return a.o.bad }

// JSONString decodes the string value raw (quotes included, valid JSON)
// as encoding/json does: the bytes themselves when there is no escape and
// they are valid UTF-8 (one allocation, for the string), encoding/json's
// own decoding otherwise, so escapes, surrogates and invalid UTF-8 read as
// they always did. ok is false when raw is not a string.
func JSONString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && bytes.IndexByte(inner, '"') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	return jsonStringSlow(raw)
}

// jsonStringSlow is JSONString's reading by encoding/json, in its own
// function: the variable it decodes into escapes to the heap, and would
// cost JSONString's fast path an allocation too.
func jsonStringSlow(raw []byte) (string, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}
