package edi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// The operator API of EDI subject and API-key records, below
// <prefix>/edi/ (the handler mounts it, e.g. under /api/demo):
//
//	GET    subjects                  list subject records
//	PUT    subjects/{ediId}          create or replace a profile or group
//	GET    subjects/{ediId}          read it
//	POST   subjects/{ediId}/revoke   refuse every EDI token of the subject issued until now
//	POST   keys                      create a key: 201 with the record and the secret (shown once)
//	GET    keys?owner=<ediId>        list keys (preview, never the secret); &revoked=true adds revoked ones
//	GET    keys/{id}                 read a key
//	PATCH  keys/{id}                 change name, group, validity
//	DELETE keys/{id}                 revoke the key at once
//
// Like the OAuth management API it is one call, Admin.Handle: a request in,
// a status, headers and a body out, so every routing rule, status and error
// text lives here and the Caddy handler only decodes and writes. Bodies
// are JSON (unknown fields are errors); errors are
// {"error": code, "error_description": text} with 400, 401, 404, 405, 409,
// 413 or 503 (with Retry-After), 500 for anything else.

// DefaultAdminMaxBody bounds request bodies when NewAdmin is given none.
const DefaultAdminMaxBody = 64 << 10

// Admin serves the operator API with a Manager.
type Admin struct {
	m       *Manager
	maxBody int64
}

// NewAdmin returns the operator API of m; maxBodyBytes bounds request
// bodies (<= 0: DefaultAdminMaxBody).
func NewAdmin(m *Manager, maxBodyBytes int64) *Admin {
	if maxBodyBytes <= 0 {
		maxBodyBytes = DefaultAdminMaxBody
	}
	return &Admin{m: m, maxBody: maxBodyBytes}
}

// AdminRequest is what the operator API needs of an HTTP request.
type AdminRequest struct {
	Method string
	// Path below <prefix>/edi/, e.g. "subjects/EDI-..." or "keys".
	Path  string
	Query url.Values
	// Body is read, at most the configured bound, only by the endpoints
	// that take one; the others leave it unread, as they always did.
	Body io.Reader
}

// AdminResponse is an operator API answer: status, headers and JSON body.
type AdminResponse struct {
	Status int
	Header http.Header
	Body   []byte
	// Err, for a 5xx answer, is the failure behind it. It is never sent;
	// the handler logs it.
	Err error
}

// AdminAuthenticate checks the operator's bearer key: exactly one
// Authorization header, scheme Bearer (any case), a key isOperator
// accepts (it compares hashes in constant time). It returns nil for an
// operator, else the 401 answer with its Bearer challenge.
func AdminAuthenticate(authorization []string, isOperator func(key string) bool) *AdminResponse {
	if len(authorization) == 1 {
		scheme, key, _ := strings.Cut(authorization[0], " ")
		if strings.EqualFold(scheme, "Bearer") && isOperator(strings.TrimSpace(key)) {
			return nil
		}
	}
	r := adminJSON(http.StatusUnauthorized, map[string]string{"error": "unauthorized", "error_description": "an operator bearer key is required"})
	r.Header.Set("WWW-Authenticate", `Bearer realm="tokengate-operator"`)
	return &r
}

// Handle serves one operator request (the caller authenticated it with
// AdminAuthenticate first). Successes carry Cache-Control: no-store, as
// a key's creation answer holds its secret.
func (a *Admin) Handle(ctx context.Context, req AdminRequest) AdminResponse {
	status, result, err := a.route(ctx, req, strings.Split(req.Path, "/"))
	if err != nil {
		return adminFailure(err)
	}
	r := adminJSON(status, result)
	r.Header.Set("Cache-Control", "no-store")
	r.Header.Set("Pragma", "no-cache")
	return r
}

// adminJSON renders v as a JSON answer.
func adminJSON(status int, v any) AdminResponse {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	return AdminResponse{Status: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: body, Err: err}
}

// adminError is an answer of the operator API other than success.
type adminError struct {
	status int
	code   string
	desc   string
	// allow is the Allow header of a 405.
	allow string
}

func (e *adminError) Error() string { return e.desc }

func adminErr(status int, code, format string, args ...any) *adminError {
	return &adminError{status: status, code: code, desc: fmt.Sprintf(format, args...)}
}

func methodNotAllowed(allow string) *adminError {
	return &adminError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", desc: "method not allowed; allowed: " + allow, allow: allow}
}

// adminFailure renders an error of the route: its own answer, or the
// manager's and the store's errors classified.
func adminFailure(err error) AdminResponse {
	var ae *adminError
	if !errors.As(err, &ae) {
		ae = classifyAdminError(err)
	}
	r := adminJSON(ae.status, map[string]string{"error": ae.code, "error_description": ae.desc})
	if ae.allow != "" {
		r.Header.Set("Allow", ae.allow)
	}
	if ae.status == http.StatusServiceUnavailable {
		r.Header.Set("Retry-After", strconv.Itoa(int((tokencore.StoreRetryAfter+time.Second-1)/time.Second)))
	}
	if ae.status >= 500 {
		r.Err = err
	}
	return r
}

// classifyAdminError maps the manager's and the store's errors.
func classifyAdminError(err error) *adminError {
	switch {
	case errors.Is(err, ErrInvalid), errors.Is(err, tokencore.ErrInvalidRecord):
		return adminErr(http.StatusBadRequest, "invalid_request", "%s", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	case errors.Is(err, tokencore.ErrNotFound):
		return adminErr(http.StatusNotFound, "not_found", "no such record")
	case errors.Is(err, tokencore.ErrConflict):
		return adminErr(http.StatusConflict, "conflict", "%s", strings.TrimPrefix(err.Error(), tokencore.ErrConflict.Error()+": "))
	case errors.Is(err, tokencore.ErrStoreUnavailable):
		// Nothing was changed (a revocation is stored before it is
		// applied anywhere): the same request can be retried.
		return adminErr(http.StatusServiceUnavailable, "temporarily_unavailable", "the store cannot be reached; nothing was changed, retry later")
	}
	return adminErr(http.StatusInternalServerError, "server_error", "the operation failed")
}

// route dispatches on the path segments below <prefix>/edi/.
func (a *Admin) route(ctx context.Context, req AdminRequest, parts []string) (int, any, error) {
	switch {
	case len(parts) == 1 && parts[0] == "subjects":
		return a.subjects(ctx, req)
	case len(parts) == 2 && parts[0] == "subjects":
		return a.subject(ctx, req, parts[1])
	case len(parts) == 3 && parts[0] == "subjects" && parts[2] == "revoke":
		return a.revokeSubject(ctx, req, parts[1])
	case len(parts) == 1 && parts[0] == "keys":
		return a.keys(ctx, req)
	case len(parts) == 2 && parts[0] == "keys":
		return a.key(ctx, req, parts[1])
	}
	return 0, nil, adminErr(http.StatusNotFound, "not_found", "no such endpoint")
}

// subjects is GET subjects.
func (a *Admin) subjects(ctx context.Context, req AdminRequest) (int, any, error) {
	if req.Method != http.MethodGet {
		return 0, nil, methodNotAllowed("GET")
	}
	subs, err := a.m.ListSubjects(ctx)
	if err != nil {
		return 0, nil, err
	}
	docs := make([]SubjectDoc, 0, len(subs))
	for _, s := range subs {
		docs = append(docs, DocFromSubject(s))
	}
	return http.StatusOK, map[string]any{"subjects": docs}, nil
}

// subject is GET and PUT subjects/{ediId}; PUT answers 201 when it created
// the record.
func (a *Admin) subject(ctx context.Context, req AdminRequest, id string) (int, any, error) {
	switch req.Method {
	case http.MethodGet:
		s, err := a.m.GetSubject(ctx, id)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, DocFromSubject(s), nil
	case http.MethodPut:
		var doc SubjectDoc
		if err := a.decode(req.Body, &doc); err != nil {
			return 0, nil, err
		}
		s, created, err := a.m.PutSubject(ctx, id, doc)
		if err != nil {
			return 0, nil, err
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		return status, DocFromSubject(s), nil
	}
	return 0, nil, methodNotAllowed("GET, PUT")
}

// revokeSubject is POST subjects/{ediId}/revoke.
func (a *Admin) revokeSubject(ctx context.Context, req AdminRequest, id string) (int, any, error) {
	if req.Method != http.MethodPost {
		return 0, nil, methodNotAllowed("POST")
	}
	rev, err := a.m.RevokeSubject(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{
		"ediId": rev.Key, "revokedBefore": rev.NotBefore.UTC().Format(time.RFC3339Nano), "until": rev.ExpiresAt.UTC().Format(time.RFC3339),
	}, nil
}

// keys is GET keys (listing) and POST keys (creation: 201 with the secret).
func (a *Admin) keys(ctx context.Context, req AdminRequest) (int, any, error) {
	switch req.Method {
	case http.MethodGet:
		withRevoked, _ := strconv.ParseBool(req.Query.Get("revoked"))
		ks, err := a.m.ListKeys(ctx, req.Query.Get("owner"), withRevoked)
		if err != nil {
			return 0, nil, err
		}
		docs := make([]KeyDoc, 0, len(ks))
		for _, k := range ks {
			docs = append(docs, DocFromKey(k))
		}
		return http.StatusOK, map[string]any{"keys": docs}, nil
	case http.MethodPost:
		var kr KeyRequest
		if err := a.decode(req.Body, &kr); err != nil {
			return 0, nil, err
		}
		k, secret, err := a.m.CreateKey(ctx, kr)
		if err != nil {
			return 0, nil, err
		}
		doc := DocFromKey(k)
		doc.Secret = secret
		return http.StatusCreated, doc, nil
	}
	return 0, nil, methodNotAllowed("GET, POST")
}

// key is GET, PATCH and DELETE (revocation) of keys/{id}.
func (a *Admin) key(ctx context.Context, req AdminRequest, id string) (int, any, error) {
	var (
		k   *tokencore.EDIAPIKey
		err error
	)
	switch req.Method {
	case http.MethodGet:
		k, err = a.m.GetKey(ctx, id)
	case http.MethodPatch:
		var p KeyPatch
		if err := a.decode(req.Body, &p); err != nil {
			return 0, nil, err
		}
		k, err = a.m.UpdateKey(ctx, id, p)
	case http.MethodDelete:
		k, err = a.m.RevokeKey(ctx, id)
	default:
		return 0, nil, methodNotAllowed("GET, PATCH, DELETE")
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, DocFromKey(k), nil
}

// decode reads a bounded JSON body into v: one value, no unknown fields.
func (a *Admin) decode(body io.Reader, v any) error {
	if body == nil {
		body = http.NoBody
	}
	b, err := io.ReadAll(io.LimitReader(body, a.maxBody+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return adminErr(http.StatusRequestEntityTooLarge, "invalid_request", "the body is larger than %d bytes", a.maxBody)
		}
		return adminErr(http.StatusBadRequest, "invalid_request", "the body could not be read")
	}
	if int64(len(b)) > a.maxBody {
		return adminErr(http.StatusRequestEntityTooLarge, "invalid_request", "the body is larger than %d bytes", a.maxBody)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return adminErr(http.StatusBadRequest, "invalid_request", "the body is not the expected JSON object: %s", jsonProblem(err))
	}
	if dec.More() {
		return adminErr(http.StatusBadRequest, "invalid_request", "data after the JSON object")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the body.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be %s", te.Field, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "malformed JSON"
}
