package tokencore

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// referenceStrictJSON is CheckStrictJSON written the obvious way, with a
// json.Decoder token walk and a map per object: slow, but easy to trust.
// FuzzCheckStrictJSON holds the fast scanner to it.
func referenceStrictJSON(data []byte) bool {
	if !utf8.Valid(data) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return false
	}
	var walk func(open json.Delim, depth int) bool
	walk = func(open json.Delim, depth int) bool {
		seen := map[string]bool{}
		for dec.More() {
			if open == '{' {
				tok, err := dec.Token()
				if err != nil {
					return false
				}
				name := strings.ToLower(strings.ToUpper(tok.(string)))
				if seen[name] {
					return false
				}
				seen[name] = true
			}
			tok, err := dec.Token()
			if err != nil {
				return false
			}
			if d, ok := tok.(json.Delim); ok {
				if depth >= MaxJSONDepth || !walk(d, depth+1) {
					return false
				}
			}
		}
		_, err := dec.Token()
		return err == nil
	}
	if !walk('{', 1) {
		return false
	}
	_, err = dec.Token()
	return err == io.EOF
}

// FuzzCheckStrictJSON: the scanner never panics, fails only with
// ErrStrictJSON, and accepts exactly what the json.Decoder reference
// accepts; what it accepts, encoding/json can decode.
func FuzzCheckStrictJSON(f *testing.F) {
	for _, s := range []string{
		`{"type":"access","sub":"alice","exp":1800000000,"extra_permissions":["a","b"]}`,
		`{"sub":"alice","sub":"admin"}`, `{"sub":"a","SUB":"b"}`, `{"\u0073ub":1,"sub":2}`,
		`{"a":{"a":{"a":[1,{"b":2,"b":3}]}}}`, `{"a":[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]}`,
		`{"k":"\"}","K":1}`, `{"a":"\\","b":"\\\""}`, `{} `, `{}{}`, `[]`, `{"a":1e+5,"b":-0.5,"c":null,"d":true}`,
		"{\"\u212aid\":1,\"kid\":2}", "{\"a\":\"\xff\"}", `{"a":1,}`, `{"a"}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := CheckStrictJSON(data)
		if err != nil && !errors.Is(err, ErrStrictJSON) {
			t.Fatalf("error %v does not wrap ErrStrictJSON", err)
		}
		if want := referenceStrictJSON(data); (err == nil) != want {
			t.Fatalf("CheckStrictJSON(%q) = %v, reference accepts: %v", data, err, want)
		}
		if err == nil {
			// Numbers as json.Number: 1e700 is valid JSON that no float64
			// holds (a seed found by fuzzing).
			var m map[string]any
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("accepted %q, which encoding/json cannot decode: %v", data, err)
			}
		}
	})
}
