package caddymodule

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestWriteDocument: the JWK Set and the discovery documents answer GET
// and HEAD with the document, cacheable, and every other method with 405
// and Allow (RFC 9110 §15.5.6).
func TestWriteDocument(t *testing.T) {
	doc := []byte(`{"keys":[]}`)
	tests := []struct {
		method, allow, cache, body string
		status                     int
	}{
		{http.MethodGet, "", "public, max-age=300", string(doc), http.StatusOK},
		{http.MethodHead, "", "public, max-age=300", "", http.StatusOK},
		{http.MethodPost, "GET, HEAD", "", `{"error":"method_not_allowed"}`, http.StatusMethodNotAllowed},
		{http.MethodDelete, "GET, HEAD", "", `{"error":"method_not_allowed"}`, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeDocument(w, r, "application/jwk-set+json", doc)
			}))
			defer srv.Close()
			req, _ := http.NewRequest(tt.method, srv.URL, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || resp.Header.Get("Allow") != tt.allow ||
				resp.Header.Get("Cache-Control") != tt.cache || string(body) != tt.body {
				t.Fatalf("%s: %d Allow %q Cache-Control %q body %q", tt.method, resp.StatusCode,
					resp.Header.Get("Allow"), resp.Header.Get("Cache-Control"), body)
			}
			if tt.status == http.StatusOK && resp.Header.Get("Content-Type") != "application/jwk-set+json" {
				t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
		})
	}
}
