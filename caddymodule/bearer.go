package caddymodule

import (
	"errors"
	"net/http"

	"github.com/tokengate/tokengate/tokencore"
)

// requestToken is the one place a handler finds a caller's access token:
// Authorization: Bearer (tokencore.BearerToken), X-Okapi-Token when
// okapiHeader is set, and the cookie named cookie when not empty. Several
// sources carrying different tokens are a client error (Okapi answers 400
// too), never a choice the gateway makes. "" with no error: no token.
func requestToken(r *http.Request, okapiHeader bool, cookie string) (string, error) {
	token, err := tokencore.BearerToken(r.Header.Values("Authorization"))
	if err != nil {
		return "", err
	}
	take := func(v string) error {
		if v == "" {
			return nil
		}
		if token != "" && token != v {
			return errors.New("conflicting tokens in Authorization, X-Okapi-Token and cookie")
		}
		token = v
		return nil
	}
	if okapiHeader {
		if err := take(r.Header.Get(HeaderToken)); err != nil {
			return "", err
		}
	}
	if cookie != "" {
		for _, c := range r.CookiesNamed(cookie) {
			if err := take(c.Value); err != nil {
				return "", err
			}
		}
	}
	return token, nil
}
