package tokencore

import (
	"bytes"
	"encoding/json"
	"testing"
)

// marshalNoHTML is what a json.Encoder with SetEscapeHTML(false) writes.
func marshalNoHTML(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

var appendJSONStringCases = []string{
	"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "tab\tnew\nline\rcr\bbs\fff",
	"\x00\x01\x1f\x7f", "é ü 中文 🙂", "\u2028\u2029", "bad \xff utf-8 \xc3", "eyJhbGciOiJFUzI1NiJ9.e30.sig-_",
}

// TestAppendJSONStringMatchesEncodingJSON: the appender writes exactly the
// bytes json.Marshal writes, escapes included.
func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range appendJSONStringCases {
		want, _ := json.Marshal(s)
		if got := AppendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("AppendJSONString(%q) = %s, want %s", s, got[1:], want)
		}
		if got, want := AppendJSONStringNoHTML(nil, s), marshalNoHTML(s); string(got) != want {
			t.Errorf("AppendJSONStringNoHTML(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range appendJSONStringCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("AppendJSONString(%q) = %s, want %s", s, got, want)
		}
		if got, want := AppendJSONStringNoHTML(nil, s), marshalNoHTML(s); string(got) != want {
			t.Fatalf("AppendJSONStringNoHTML(%q) = %s, want %s", s, got, want)
		}
	})
}
