package caddymodule

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/tokengate/tokengate/tokencore/oauth"
)

// authorize serves <prefix>/authorize: it hands the query (GET) or the
// form body (POST) to the service and writes its redirect or error page.
// The query is never logged: it carries state, nonce and the challenge.
func (o *OAuthEndpoints) authorize(w http.ResponseWriter, r *http.Request) error {
	req := oauth.AuthorizeRequest{Method: r.Method, RawQuery: r.URL.RawQuery, ContentType: r.Header.Get("Content-Type")}
	if r.Method == http.MethodPost {
		body, err := readBody(w, r, o.MaxBodyBytes)
		if err != nil {
			msg := "The request body cannot be read."
			if errors.Is(err, errBodyTooLarge) {
				msg = "The request body is too large."
			}
			http.Error(w, msg, http.StatusBadRequest)
			return nil
		}
		req.Body = body
	}
	resp := o.svc.Authorize(req)
	if resp.Cause != nil {
		o.logger.Error("authorization endpoint failed", zap.Error(resp.Cause))
	}
	writeAnswer(w, resp.Status, resp.Header, resp.Body)
	return nil
}

// userinfo serves <prefix>/userinfo (OpenID Connect Core §5.3).
func (o *OAuthEndpoints) userinfo(w http.ResponseWriter, r *http.Request) error {
	req := oauth.Request{Method: r.Method, ContentType: r.Header.Get("Content-Type"), Authorization: r.Header.Values("Authorization")}
	resp := o.svc.UserInfo(r.Context(), req)
	if resp.Cause != nil {
		o.logger.Error("UserInfo endpoint failed", zap.Error(resp.Cause))
	}
	writeAnswer(w, resp.Status, resp.Header, resp.Body)
	return nil
}

// writeAnswer writes a status, headers and body a service built.
func writeAnswer(w http.ResponseWriter, status int, header http.Header, body []byte) {
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
