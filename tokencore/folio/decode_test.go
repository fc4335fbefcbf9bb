package folio

import (
	"reflect"
	"strings"
	"testing"
)

// decodeCases are request bodies for every rule of the three decoders:
// accepted shapes, and one refusal per rule (syntax, trailing data,
// strictness, unexpected and missing properties, types, sizes).
var decodeCases = []string{
	// accepted
	`{"payload":{"sub":"alice","user_id":"u1"}}`,
	` {"payload" : {"sub" : "alice" , "user_id" : "u1"} } `,
	`{"payload":{"sub":"alice","dummy":true,"extra_permissions":["a","b"],"other":{"x":[1,"]}"]}}}`,
	`{"payload":{"sub":"alice","dummy":false,"extra_permissions":[]}}`,
	`{"payload":{"sub":"alice","dummy":null,"extra_permissions":null,"user_id":null}}`,
	`{"payload":{"sub":"a","extra_permissions":[null,"x"]}}`,
	`{"payload":{"sub":"a\u00e9\n\"<>","user_id":"\ud800"}}`,
	`{"p\u0061yload":{"s\u0075b":"alice"}}`,
	`{"payload":{"sub":"alice","Sub":"x"}}`,
	`{"payload":{"Sub":"alice"}}`,
	`{"refreshToken":"a.b.c.d.e"}`, `{"refreshToken":"a\/b"}`,
	`{"userId":"u1","sub":"alice"}`, `{"sub":"alice","userId":"u1"}`,
	// syntax and shape of the body
	``, ` `, `null`, `[]`, `"x"`, `5`, `{`, `{"payload":}`, `{"payload":{"sub":"a"}`, `{"a" 1}`,
	`{"payload":{"sub":"a"}} x`, `{"payload":{"sub":"a"}} {}`, `{"payload":{"sub":"a"}} }`, `{"payload":{"sub":"a"}} ]`,
	`{"payload":{"sub":"a"}}` + "\n",
	// strictness
	`{"payload":{"sub":"alice","sub":"admin"}}`, `{"payload":{"sub":"alice"},"payload":{"sub":"admin"}}`,
	`{"payload":{"sub":"alice","SUB":"admin"}}`, `{"payload":{"sub":"a","x":{"y":1,"Y":2}}}`,
	"{\"payload\":{\"sub\":\"\xff\"}}", "{\"payload\":{\"sub\":\"a\"}} \xff",
	`{"payload":{"sub":"a","x":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}}`,
	`{"refreshToken":"x","refreshToken":"y"}`, `{"userId":"u1","sub":"alice","userId":"u2"}`,
	// properties
	`{}`, `{"payload":{"sub":"a"},"other":1}`, `{"Payload":{"sub":"a"}}`, `{"other":1,"payload":5}`,
	`{"payload":[]}`, `{"payload":null}`, `{"payload":"x"}`, `{"payload":{}}`,
	`{"payload":{"sub":""}}`, `{"payload":{"sub":null}}`, `{"payload":{"sub":5}}`, `{"payload":{"sub":["a"]}}`,
	`{"payload":{"sub":{}}}`, `{"payload":{"sub":true}}`,
	`{"payload":{"sub":"` + strings.Repeat("s", 256) + `"}}`, `{"payload":{"sub":"` + strings.Repeat("s", 257) + `"}}`,
	`{"payload":{"sub":"a","user_id":""}}`, `{"payload":{"sub":"a","user_id":5}}`,
	`{"payload":{"sub":"a","user_id":"` + strings.Repeat("u", 257) + `"}}`,
	`{"payload":{"sub":"a","dummy":"yes"}}`, `{"payload":{"sub":"a","dummy":1}}`, `{"payload":{"sub":"a","dummy":{}}}`,
	`{"payload":{"sub":"a","extra_permissions":"a"}}`, `{"payload":{"sub":"a","extra_permissions":[1]}}`,
	`{"payload":{"sub":"a","extra_permissions":["a",{}]}}`, `{"payload":{"sub":"a","extra_permissions":{}}}`,
	`{"payload":{"sub":"a","extra_permissions":[` + strings.Repeat(`"p",`, 999) + `"p"]}}`,
	`{"payload":{"sub":"a","extra_permissions":[` + strings.Repeat(`"p",`, 1000) + `"p"]}}`,
	`{"refreshToken":""}`, `{"refreshToken":null}`, `{"refreshToken":1}`, `{"refreshToken":"x","other":1}`,
	`{"refreshToken":"` + strings.Repeat("t", 8193) + `"}`,
	`{"userId":"u1"}`, `{"sub":"a"}`, `{"userId":"","sub":"a"}`, `{"userId":"u1","sub":"a","x":1}`,
}

// sameDecoding checks the new decoders against the map-based ones they
// replaced: the same values, or the same refusal (status and message).
func sameDecoding(t *testing.T, body []byte) {
	t.Helper()
	// Of several unexpected properties the map-based decoder named a
	// random one: any named one agrees.
	same := func(got, want *Error) bool {
		if got == nil || want == nil {
			return got == want
		}
		if strings.HasPrefix(want.Message, "Bad Request: unexpected property ") {
			return strings.HasPrefix(got.Message, "Bad Request: unexpected property ") && got.Status == want.Status
		}
		return got.Status == want.Status && got.Message == want.Message
	}
	p, ferr := DecodeSignRequest(body)
	rp, rerr := refDecodeSignRequest(body)
	if !same(ferr, rerr) || (ferr == nil && !reflect.DeepEqual(p, rp)) {
		t.Errorf("DecodeSignRequest(%q) = %#v, %v; the map-based decoder: %#v, %v", body, p, ferr, rp, rerr)
	}
	tok, ferr := DecodeRefreshRequest(body)
	rtok, rerr := refDecodeRefreshRequest(body)
	if !same(ferr, rerr) || tok != rtok {
		t.Errorf("DecodeRefreshRequest(%q) = %q, %v; the map-based decoder: %q, %v", body, tok, ferr, rtok, rerr)
	}
	u, s, ferr := DecodeLegacyRefreshRequest(body)
	ru, rs, rerr := refDecodeLegacyRefreshRequest(body)
	if !same(ferr, rerr) || u != ru || s != rs {
		t.Errorf("DecodeLegacyRefreshRequest(%q) = %q, %q, %v; the map-based decoder: %q, %q, %v", body, u, s, ferr, ru, rs, rerr)
	}
}

// TestDecodersMatchMapBased: every case decodes, or is refused, exactly
// as by the map-based decoders.
func TestDecodersMatchMapBased(t *testing.T) {
	for _, c := range decodeCases {
		sameDecoding(t, []byte(c))
	}
}

// TestDecodeSignRequestRefusals pins the message of each rule, so that a
// change of both decoders at once is seen too.
func TestDecodeSignRequestRefusals(t *testing.T) {
	tests := []struct{ body, msg string }{
		{`[]`, "Bad Request: body must be a JSON object"},
		{`{"payload":{"sub":"a"}} x`, "Bad Request: unexpected data after the JSON object"},
		{`{"payload":{"sub":"a","sub":"b"}}`, `Bad Request: not strict JSON: duplicate member "sub"`},
		{`{"payload":{"sub":"a"},"x":1}`, `Bad Request: unexpected property "x"`},
		{`{}`, "Bad Request: missing property payload"},
		{`{"payload":[]}`, "Bad Request: payload: body must be a JSON object"},
		{`{"payload":{"sub":5}}`, "Bad Request: sub must be a string"},
		{`{"payload":{"sub":""}}`, "Bad Request: sub must not be empty"},
		{`{"payload":{"sub":"` + strings.Repeat("s", 257) + `"}}`, "Bad Request: sub is longer than 256 bytes"},
		{`{"payload":{"sub":"a","dummy":1}}`, "Bad Request: payload.dummy must be a boolean"},
		{`{"payload":{"sub":"a","extra_permissions":[1]}}`, "Bad Request: payload.extra_permissions must be an array of at most 1000 strings"},
	}
	for _, tt := range tests {
		_, ferr := DecodeSignRequest([]byte(tt.body))
		if ferr == nil || ferr.Status != 400 || ferr.Message != tt.msg {
			t.Errorf("DecodeSignRequest(%q) = %v, want 400 %q", tt.body, ferr, tt.msg)
		}
	}
}

// FuzzDecodersMatchMapBased: on any body the new decoders agree with the
// map-based ones, and never panic.
func FuzzDecodersMatchMapBased(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) { sameDecoding(t, body) })
}
