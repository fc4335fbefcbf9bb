package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/tokengate/tokengate/tokencore"
)

// tokengateApp returns the tokengate app of this config, provisioning it
// with its defaults if the config has no `tokengate` global block.
func tokengateApp(ctx caddy.Context) (*App, error) {
	v, err := ctx.App("tokengate")
	if err != nil {
		return nil, fmt.Errorf("loading tokengate app: %w", err)
	}
	return v.(*App), nil
}

// writeJSON writes v as the JSON body of a response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// setRetryAfter sets Retry-After in whole seconds (rounded up) when d is
// positive: the 503 of a store outage tells the client when to retry.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	if d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
	}
}

// writeStoreUnavailable answers a protected request that cannot be decided
// because the store is unavailable (the revocation view cannot be
// confirmed): 503 with Retry-After and a JSON body, no WWW-Authenticate,
// since the credentials were not found wrong.
func writeStoreUnavailable(w http.ResponseWriter) {
	setRetryAfter(w, tokencore.StoreRetryAfter)
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{
		"error":             "temporarily_unavailable",
		"error_description": "the token store cannot be reached to confirm revocations; retry later",
	})
}

// writeNoStore marks a response that carries tokens as not cacheable
// (RFC 6749 §5.1).
func writeNoStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// errBodyTooLarge reports a body over the configured limit.
var errBodyTooLarge = errors.New("request body too large")

// readBody reads at most limit bytes of the request body. A larger body is
// errBodyTooLarge and the rest is not read.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, errBodyTooLarge
	}
	return body, err
}

// defaultMaxBody bounds request bodies of the token endpoints.
const defaultMaxBody = 64 << 10

// writeAnswer writes a status, headers and body a service built: every
// protocol package answers in these three parts, and the handlers copy
// them as they are.
func writeAnswer(w http.ResponseWriter, status int, header http.Header, body []byte) {
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeDocument serves a public document rendered at provisioning (the
// JWK Set, the discovery documents): GET and HEAD only, cacheable for
// five minutes, which bounds how long a client keeps a rotated key set.
func writeDocument(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed"})
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(body)
}
