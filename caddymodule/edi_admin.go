package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/edi"
)

func init() {
	caddy.RegisterModule(EDIAdmin{})
	httpcaddyfile.RegisterHandlerDirective("tokengate_edi_admin", parseEDIAdmin)
}

// EDIAdmin is the operator API of EDI subject and API-key records, below
// Prefix (the management prefix, e.g. /api/demo):
//
//	GET    <prefix>/edi/subjects                  list subject records
//	PUT    <prefix>/edi/subjects/{ediId}          create or replace a profile or group
//	GET    <prefix>/edi/subjects/{ediId}          read it
//	POST   <prefix>/edi/subjects/{ediId}/revoke   refuse every EDI token of the subject issued until now
//	POST   <prefix>/edi/keys                      create a key: 201 with the record and the secret (shown once)
//	GET    <prefix>/edi/keys?owner=<ediId>        list keys (preview, never the secret); &revoked=true adds revoked ones
//	GET    <prefix>/edi/keys/{id}                 read a key
//	PATCH  <prefix>/edi/keys/{id}                 change name, group, validity
//	DELETE <prefix>/edi/keys/{id}                 revoke the key at once
//
// Every request needs Authorization: Bearer <operator key> (the app's
// operator_key_hash); with none configured, every request is refused.
// Bodies are JSON (unknown fields are errors); errors are
// {"error": code, "error_description": text} with 400, 401, 404, 405, 409
// or 413. Other paths go to the next handler.
type EDIAdmin struct {
	// Prefix the API is mounted under (default none).
	Prefix string `json:"prefix,omitempty"`
	// MaxBodyBytes bounds request bodies (default 64 KiB).
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`

	app    *App
	mgr    *edi.Manager
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (EDIAdmin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.tokengate_edi_admin", New: func() caddy.Module { return new(EDIAdmin) }}
}

// Provision joins the tokengate app's EDI service.
func (a *EDIAdmin) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	app, err := tokengateApp(ctx)
	if err != nil {
		return err
	}
	svc, err := app.ediService(ctx)
	if err != nil {
		return err
	}
	a.app, a.mgr = app, svc.Manager()
	if a.MaxBodyBytes <= 0 {
		a.MaxBodyBytes = defaultMaxBody
	}
	return nil
}

// Validate checks the configuration.
func (a *EDIAdmin) Validate() error {
	if a.Prefix != "" && (!strings.HasPrefix(a.Prefix, "/") || strings.HasSuffix(a.Prefix, "/")) {
		return errors.New("prefix must start with / and not end with /")
	}
	return nil
}

// adminError is an answer of the operator API other than success.
type adminError struct {
	status int
	code   string
	desc   string
}

func (e *adminError) Error() string { return e.desc }

func adminErr(status int, code, format string, args ...any) *adminError {
	return &adminError{status, code, fmt.Sprintf(format, args...)}
}

// ServeHTTP routes the operator API and passes other paths on.
func (a *EDIAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !a.app.credentials().admit(w, r) {
		return nil
	}
	rest, ok := strings.CutPrefix(r.URL.Path, a.Prefix+"/edi/")
	if !ok {
		return next.ServeHTTP(w, r)
	}
	if !a.operator(r) {
		logOperatorKeyFailure(a.logger, r, "edi_operator")
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokengate-operator"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized", "error_description": "an operator bearer key is required"})
		return nil
	}
	status, result, err := a.route(r, w, strings.Split(rest, "/"))
	if err != nil {
		var ae *adminError
		if !errors.As(err, &ae) {
			ae = classifyAdminError(err)
		}
		if ae.status >= 500 {
			a.logger.Error("EDI operator API failed", zap.String("path", r.URL.Path), zap.Error(err))
		}
		if ae.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", ae.code)
			ae.code = "method_not_allowed"
		}
		if ae.status == http.StatusServiceUnavailable {
			setRetryAfter(w, tokencore.StoreRetryAfter)
		}
		writeJSON(w, ae.status, map[string]string{"error": ae.code, "error_description": ae.desc})
		return nil
	}
	writeNoStore(w)
	writeJSON(w, status, result)
	return nil
}

// operator reports whether the request carries an operator bearer key.
func (a *EDIAdmin) operator(r *http.Request) bool {
	auths := r.Header.Values("Authorization")
	if len(auths) != 1 {
		return false
	}
	scheme, key, _ := strings.Cut(auths[0], " ")
	return strings.EqualFold(scheme, "Bearer") && a.app.IsOperator(strings.TrimSpace(key))
}

// classifyAdminError maps the manager's and the store's errors.
func classifyAdminError(err error) *adminError {
	switch {
	case errors.Is(err, edi.ErrInvalid), errors.Is(err, tokencore.ErrInvalidRecord):
		return adminErr(http.StatusBadRequest, "invalid_request", "%s", strings.TrimPrefix(err.Error(), edi.ErrInvalid.Error()+": "))
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

func methodNotAllowed(allow string) *adminError {
	return &adminError{http.StatusMethodNotAllowed, allow, "method not allowed; allowed: " + allow}
}

// route dispatches on the path below <prefix>/edi/.
func (a *EDIAdmin) route(r *http.Request, w http.ResponseWriter, parts []string) (int, any, error) {
	ctx := r.Context()
	notFound := adminErr(http.StatusNotFound, "not_found", "no such endpoint")
	switch {
	case len(parts) == 1 && parts[0] == "subjects":
		if r.Method != http.MethodGet {
			return 0, nil, methodNotAllowed("GET")
		}
		subs, err := a.mgr.ListSubjects(ctx)
		if err != nil {
			return 0, nil, err
		}
		docs := make([]edi.SubjectDoc, 0, len(subs))
		for _, s := range subs {
			docs = append(docs, edi.DocFromSubject(s))
		}
		return http.StatusOK, map[string]any{"subjects": docs}, nil

	case len(parts) == 2 && parts[0] == "subjects":
		id := parts[1]
		switch r.Method {
		case http.MethodGet:
			s, err := a.mgr.GetSubject(ctx, id)
			if err != nil {
				return 0, nil, err
			}
			return http.StatusOK, edi.DocFromSubject(s), nil
		case http.MethodPut:
			var doc edi.SubjectDoc
			if err := a.decode(w, r, &doc); err != nil {
				return 0, nil, err
			}
			s, created, err := a.mgr.PutSubject(ctx, id, doc)
			if err != nil {
				return 0, nil, err
			}
			status := http.StatusOK
			if created {
				status = http.StatusCreated
			}
			return status, edi.DocFromSubject(s), nil
		}
		return 0, nil, methodNotAllowed("GET, PUT")

	case len(parts) == 3 && parts[0] == "subjects" && parts[2] == "revoke":
		if r.Method != http.MethodPost {
			return 0, nil, methodNotAllowed("POST")
		}
		rev, err := a.mgr.RevokeSubject(ctx, parts[1])
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{
			"ediId": rev.Key, "revokedBefore": rev.NotBefore.UTC().Format(time.RFC3339Nano), "until": rev.ExpiresAt.UTC().Format(time.RFC3339),
		}, nil

	case len(parts) == 1 && parts[0] == "keys":
		switch r.Method {
		case http.MethodGet:
			q := r.URL.Query()
			withRevoked, _ := strconv.ParseBool(q.Get("revoked"))
			ks, err := a.mgr.ListKeys(ctx, q.Get("owner"), withRevoked)
			if err != nil {
				return 0, nil, err
			}
			docs := make([]edi.KeyDoc, 0, len(ks))
			for _, k := range ks {
				docs = append(docs, edi.DocFromKey(k))
			}
			return http.StatusOK, map[string]any{"keys": docs}, nil
		case http.MethodPost:
			var req edi.KeyRequest
			if err := a.decode(w, r, &req); err != nil {
				return 0, nil, err
			}
			k, secret, err := a.mgr.CreateKey(ctx, req)
			if err != nil {
				return 0, nil, err
			}
			doc := edi.DocFromKey(k)
			doc.Secret = secret
			return http.StatusCreated, doc, nil
		}
		return 0, nil, methodNotAllowed("GET, POST")

	case len(parts) == 2 && parts[0] == "keys":
		id := parts[1]
		var (
			k   *tokencore.EDIAPIKey
			err error
		)
		switch r.Method {
		case http.MethodGet:
			k, err = a.mgr.GetKey(ctx, id)
		case http.MethodPatch:
			var p edi.KeyPatch
			if err := a.decode(w, r, &p); err != nil {
				return 0, nil, err
			}
			k, err = a.mgr.UpdateKey(ctx, id, p)
		case http.MethodDelete:
			k, err = a.mgr.RevokeKey(ctx, id)
		default:
			return 0, nil, methodNotAllowed("GET, PATCH, DELETE")
		}
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, edi.DocFromKey(k), nil
	}
	return 0, nil, notFound
}

// decode reads a bounded JSON body into v: one value, no unknown fields.
func (a *EDIAdmin) decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r, a.MaxBodyBytes)
	if errors.Is(err, errBodyTooLarge) {
		return adminErr(http.StatusRequestEntityTooLarge, "invalid_request", "the body is larger than %d bytes", a.MaxBodyBytes)
	} else if err != nil {
		return adminErr(http.StatusBadRequest, "invalid_request", "the body could not be read")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
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

// parseEDIAdmin sets up the EDI operator API. Syntax:
//
//	tokengate_edi_admin [<matcher>] {
//	    prefix <path_prefix>   # e.g. /api/demo; default none
//	    max_body <bytes>       # default 65536
//	}
func parseEDIAdmin(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(EDIAdmin)
	err := parseEndpointBlock(h, &a.Prefix, &a.MaxBodyBytes, nil)
	return a, err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*EDIAdmin)(nil)
	_ caddy.Validator             = (*EDIAdmin)(nil)
	_ caddyhttp.MiddlewareHandler = (*EDIAdmin)(nil)
)
