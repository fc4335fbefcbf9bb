package oauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tokengate/tokengate/tokencore"
)

// TokenTypeBearer is the token_type of every access token tokengate issues
// (RFC 6750). Clients compare it case-insensitively.
const TokenTypeBearer = "Bearer"

// Headers returns the headers of every token, revocation and introspection
// response, success or error alike: JSON, and never cached (RFC 6749 §5.1
// requires no-store and no-cache on anything carrying tokens; authlib sends
// them on errors too, and so do we, so one code path writes both). A new
// map is returned on every call, so callers may add to it.
func Headers() http.Header {
	return http.Header{
		"Content-Type":  {"application/json"},
		"Cache-Control": {"no-store"},
		"Pragma":        {"no-cache"},
	}
}

// TokenResponse is a successful token response (RFC 6749 §5.1, OIDC Core
// §3.1.3.3). Optional members are omitted when empty: scope (RFC 6749 says
// it may be left out only when identical to the requested scope, so grants
// set it whenever they have one), refresh_token (no new refresh token) and
// id_token (OIDC Core §12.2: a refresh may omit it). expires_in is omitted
// when zero, which is how a token that never expires is answered.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// Body returns the JSON body.
func (r *TokenResponse) Body() ([]byte, error) {
	return r.AppendJSON(make([]byte, 0, tokenResponseSize(r))), nil
}

// AppendJSON appends the body without reflection (every token request
// answers one): the bytes marshalJSON writes for the struct, no HTML
// escaping, members in field order, empty optional members left out.
func (r *TokenResponse) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"access_token":`...)
	dst = tokencore.AppendJSONStringNoHTML(dst, r.AccessToken)
	dst = append(dst, `,"token_type":`...)
	dst = tokencore.AppendJSONStringNoHTML(dst, r.TokenType)
	if r.ExpiresIn != 0 {
		dst = strconv.AppendInt(append(dst, `,"expires_in":`...), r.ExpiresIn, 10)
	}
	for _, m := range [...]struct{ member, v string }{
		{`,"refresh_token":`, r.RefreshToken}, {`,"scope":`, r.Scope}, {`,"id_token":`, r.IDToken},
	} {
		if m.v != "" {
			dst = tokencore.AppendJSONStringNoHTML(append(dst, m.member...), m.v)
		}
	}
	return append(dst, '}')
}

// tokenResponseSize is room for r's body when nothing needs escaping.
func tokenResponseSize(r *TokenResponse) int {
	return 128 + len(r.AccessToken) + len(r.TokenType) + len(r.RefreshToken) + len(r.Scope) + len(r.IDToken)
}

// IntrospectionResponse is an RFC 7662 §2.2 answer. An inactive response
// always encodes as exactly {"active":false}, whatever else is set: an
// unknown, expired, revoked or foreign token must not leak any detail
// (RFC 7662 §2.2 "SHOULD NOT include any additional information"), and
// building that guarantee into the type means no handler can get it wrong.
type IntrospectionResponse struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Username  string   `json:"username,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Nbf       int64    `json:"nbf,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Jti       string   `json:"jti,omitempty"`
}

// inactiveBody is the only body an inactive token gets.
const inactiveBody = `{"active":false}`

// MarshalJSON encodes the response; see the type's doc for inactive ones.
func (r IntrospectionResponse) MarshalJSON() ([]byte, error) {
	if !r.Active {
		return []byte(inactiveBody), nil
	}
	type plain IntrospectionResponse // no methods: avoids recursion
	return marshalJSON(plain(r))
}

// Body returns the JSON body.
func (r *IntrospectionResponse) Body() ([]byte, error) {
	if r == nil || !r.Active {
		return []byte(inactiveBody), nil
	}
	return marshalJSON(r)
}

// marshalJSON encodes v without HTML escaping (scope tokens may contain
// '<', '>' and '&', and authlib sends them as they are) and without the
// encoder's trailing newline.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("oauth: encoding response: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
