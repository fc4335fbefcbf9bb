package folio

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/store/memory"
)

// newMemoryService is the FOLIO service over the memory store, as
// `store memory` runs it: the issuing path without the disk, so a
// benchmark of it measures tokengate's own CPU and allocations.
func newMemoryService(b *testing.B) *Service {
	b.Helper()
	ks, _ := testKeys(b)
	st := memory.New()
	b.Cleanup(func() { st.Close() })
	cache, _ := tokencore.NewVerifyCache(tokencore.CacheConfig{MaxEntries: 1000})
	b.Cleanup(cache.Close)
	e := &tokencore.Engine{Keys: ks, Store: st, View: tokencore.NewRevocationView(), Cache: cache}
	return New(e, Config{TTL: tokencore.TTLPolicy{Default: tokencore.TokenTTL{Access: 10 * time.Minute, Refresh: 24 * time.Hour}}})
}

// handle runs one request through Handle as caddymodule's FolioAPI does:
// the body from a reader, the answer's status and body bytes.
func handle(b *testing.B, f *Service, path, body string) Response {
	resp := f.Handle(context.Background(), Request{
		Method: http.MethodPost, Path: path, Tenant: "diku", TrustedSigner: true,
		Body: bytes.NewReader([]byte(body)),
	})
	if resp.Status != http.StatusCreated {
		b.Fatalf("%s: %d %s (%v)", path, resp.Status, resp.Body, resp.Err)
	}
	return resp
}

// BenchmarkSignMemory is POST /token/sign on the memory store: decoding
// the request, minting the pair (an ES256 signature and a JWE), creating
// the grant and writing the response bytes.
func BenchmarkSignMemory(b *testing.B) {
	f := newMemoryService(b)
	req := signBody("diku_admin", "9c0e5b8e-1c3a-4d7e-9a41-5d2f0c6b7a11")
	b.ReportAllocs()
	for b.Loop() {
		handle(b, f, PathSign, req)
	}
}

// BenchmarkRefreshMemory is POST /token/refresh on the memory store:
// decoding the request, opening the refresh token, reading the grant,
// minting the new pair, the rotation compare-and-swap and the response.
func BenchmarkRefreshMemory(b *testing.B) {
	f := newMemoryService(b)
	resp := handle(b, f, PathSign, signBody("diku_admin", "9c0e5b8e-1c3a-4d7e-9a41-5d2f0c6b7a11"))
	var t Tokens
	if err := json.Unmarshal(resp.Body, &t); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		resp = handle(b, f, PathRefresh, `{"refreshToken":"`+t.RefreshToken+`"}`)
		b.StopTimer()
		if err := json.Unmarshal(resp.Body, &t); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkDecodeSignRequest is the sign request's decoding alone.
func BenchmarkDecodeSignRequest(b *testing.B) {
	body := []byte(signBody("diku_admin", "9c0e5b8e-1c3a-4d7e-9a41-5d2f0c6b7a11"))
	b.ReportAllocs()
	for b.Loop() {
		if _, ferr := DecodeSignRequest(body); ferr != nil {
			b.Fatal(ferr)
		}
	}
}

// BenchmarkDecodeRefreshRequest is the refresh request's decoding alone,
// with a refresh token of the usual size.
func BenchmarkDecodeRefreshRequest(b *testing.B) {
	body := []byte(`{"refreshToken":"` + string(bytes.Repeat([]byte("a"), 400)) + `"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, ferr := DecodeRefreshRequest(body); ferr != nil {
			b.Fatal(ferr)
		}
	}
}
