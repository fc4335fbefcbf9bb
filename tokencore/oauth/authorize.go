package oauth

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tokengate/tokengate/tokencore"
)

// Error codes of the authorization endpoint (RFC 6749 §4.1.2.1, OpenID
// Connect Core §3.1.2.6) that the token endpoint does not use.
const (
	ErrUnsupportedResponseType  ErrorCode = "unsupported_response_type"
	ErrAccessDenied             ErrorCode = "access_denied"
	ErrLoginRequired            ErrorCode = "login_required"
	ErrConsentRequired          ErrorCode = "consent_required"
	ErrInteractionRequired      ErrorCode = "interaction_required"
	ErrAccountSelectionRequired ErrorCode = "account_selection_required"
	ErrRequestNotSupported      ErrorCode = "request_not_supported"
	ErrRequestURINotSupported   ErrorCode = "request_uri_not_supported"
	ErrInvalidTarget            ErrorCode = "invalid_target"
)

// Limits of authorization request parameters. state and nonce are opaque
// to the server but travel in URLs and in the ticket, so they are bounded.
const (
	MaxStateLength       = 1024
	MaxNonceLength       = 512
	MaxRedirectURILength = 2048
)

// Response type, mode and PKCE method: the only ones supported.
const (
	ResponseTypeCode    = "code"
	ResponseModeQuery   = "query"
	CodeChallengeMethod = "S256"
)

// AuthorizeRequest is what the authorization endpoint needs of an HTTP
// request: GET parameters come from the query, POST parameters from a
// form body (OpenID Connect Core §3.1.2.1 requires both).
type AuthorizeRequest struct {
	Method      string
	RawQuery    string
	ContentType string
	Body        []byte
}

// AuthorizeResponse is the endpoint's answer: a redirect (302 and
// Location), to the app's login page or, with an error, to the client;
// or a plain-text error page when the client or its redirect_uri cannot
// be trusted with a redirect (RFC 6749 §4.1.2.1: the server MUST NOT
// redirect then).
type AuthorizeResponse struct {
	Status int
	Header http.Header
	Body   []byte
	// Cause is an internal failure to log; never shown.
	Cause error
}

// Location returns the redirect target ("" for an error page).
func (r AuthorizeResponse) Location() string { return r.Header.Get("Location") }

func redirectTo(location string) AuthorizeResponse {
	h := http.Header{"Cache-Control": {"no-store"}, "Pragma": {"no-cache"}}
	h.Set("Location", location)
	return AuthorizeResponse{Status: http.StatusFound, Header: h}
}

// errorPage is the answer when no redirect is safe: the description is
// reduced to the RFC 6749 description set, so it cannot carry markup.
func errorPage(status int, desc string) AuthorizeResponse {
	h := http.Header{
		"Content-Type":           {"text/plain; charset=utf-8"},
		"Cache-Control":          {"no-store"},
		"X-Content-Type-Options": {"nosniff"},
	}
	return AuthorizeResponse{Status: status, Header: h,
		Body: []byte("The authorization request cannot be processed: " + sanitizeDescription(desc, '\'') + "\n")}
}

// AuthorizationEnabled reports whether the authorization endpoint is on:
// it needs the app's login page (Config.LoginURL).
func (s *Service) AuthorizationEnabled() bool { return s.cfg.LoginURL != "" }

// Authorize is the authorization endpoint, GET or POST
// <prefix>/authorize (RFC 6749 §4.1.1 with PKCE). It validates the request
// and sends the browser to the app's login page with a ticket; nothing is
// stored. In order:
//
//  1. GET (query) or POST (form body); parameters may not repeat;
//  2. client_id names a registered client, and redirect_uri is one of its
//     registered redirect URIs byte for byte, or is omitted and the client
//     has exactly one. Any failure up to here is a 400 error page;
//  3. from here errors are redirected to the client with error,
//     error_description, state and iss (RFC 9207): request objects are
//     not supported; response_mode, when given, is query; response_type
//     is code (unsupported_response_type) and the client is registered
//     for authorization_code (unauthorized_client); the scope is within
//     the client's (invalid_scope; none asked means none granted); state
//     and nonce are bounded; prompt is known and "none" stands alone;
//  4. PKCE (RFC 7636, RFC 9700 §2.1.1): code_challenge with
//     code_challenge_method=S256 (plain, or a missing method, which
//     means plain, is refused); required unless the client is a
//     confidential one registered with PKCEOptional.
//
// The login URL receives ticket, client_id, scope and prompt (when
// given): only the ticket is trusted, the others are for the page.
func (s *Service) Authorize(req AuthorizeRequest) AuthorizeResponse {
	if !s.AuthorizationEnabled() {
		return errorPage(http.StatusNotFound, "the authorization endpoint is not enabled.")
	}
	var raw []byte
	switch req.Method {
	case http.MethodGet:
		raw = []byte(req.RawQuery)
	case http.MethodPost:
		if req.ContentType != "" {
			if mt, _, err := mime.ParseMediaType(req.ContentType); err != nil || mt != "application/x-www-form-urlencoded" {
				return errorPage(http.StatusBadRequest, "the request body must be application/x-www-form-urlencoded.")
			}
		}
		raw = req.Body
	default:
		r := errorPage(http.StatusMethodNotAllowed, "the endpoint accepts only GET and POST.")
		r.Header.Set("Allow", "GET, POST")
		return r
	}
	form, ferr := ParseForm(raw, s.cfg.MaxFormBytes)
	if ferr != nil {
		return errorPage(http.StatusBadRequest, ferr.Description)
	}
	client := s.clients.lookup(form.Get("client_id"))
	if client == nil {
		return errorPage(http.StatusBadRequest, "unknown or missing client_id.")
	}
	redirect, omitted, desc := client.redirectURI(form.Get("redirect_uri"))
	if desc != "" {
		return errorPage(http.StatusBadRequest, desc)
	}
	state := form.Get("state")
	fail := func(code ErrorCode, desc string) AuthorizeResponse {
		return redirectTo(s.errorLocation(redirect, code, desc, state))
	}
	if len(state) > MaxStateLength {
		state = ""
		return fail(ErrInvalidRequest, "state is too long.")
	}
	switch {
	case form.Has("request"):
		return fail(ErrRequestNotSupported, "Request objects are not supported.")
	case form.Has("request_uri"):
		return fail(ErrRequestURINotSupported, "request_uri is not supported.")
	case form.Has("response_mode") && form.Get("response_mode") != ResponseModeQuery:
		return fail(ErrInvalidRequest, "Only response_mode=query is supported.")
	}
	switch rt := form.Get("response_type"); rt {
	case ResponseTypeCode:
	case "":
		return fail(ErrInvalidRequest, "Missing 'response_type' parameter.")
	default:
		return fail(ErrUnsupportedResponseType, "Only response_type=code is supported.")
	}
	if !client.AllowsGrant(GrantTypeAuthorizationCode) {
		return fail(ErrUnauthorizedClient, "The client is not registered for the authorization code grant.")
	}
	scopes, oerr := ParseScope(form.Get("scope"))
	if oerr != nil || !client.AllowsScopes(scopes) {
		return fail(ErrInvalidScope, descInvalidScope)
	}
	nonce := form.Get("nonce")
	if len(nonce) > MaxNonceLength || !isVSChars(nonce) {
		return fail(ErrInvalidRequest, "nonce is too long or not printable ASCII.")
	}
	prompt, ok := parsePrompt(form.Get("prompt"))
	if !ok {
		return fail(ErrInvalidRequest, "prompt holds an unknown value, or none with another value.")
	}
	challenge, desc := client.pkceChallenge(form.Get("code_challenge"), form.Get("code_challenge_method"), form.Has("code_challenge_method"))
	if desc != "" {
		return fail(ErrInvalidRequest, desc)
	}
	now := s.now()
	t := &ticket{
		ID: tokencore.NewGrantID(), ClientID: client.ID, RedirectURI: redirect, RedirectOmitted: omitted,
		Scopes: scopes, State: state, Nonce: nonce, Challenge: challenge,
		IssuedAt: now.Unix(), Expiry: now.Add(TicketTTL).Unix(),
	}
	sealed, err := s.sealTicket(t)
	if err != nil {
		r := fail(ErrServerError, "The server failed to process the request.")
		r.Cause = err
		return r
	}
	q := url.Values{"ticket": {sealed}, "client_id": {client.ID}, "scope": {JoinScope(scopes)}}
	if prompt != "" {
		q.Set("prompt", prompt)
	}
	return redirectTo(appendQuery(s.cfg.LoginURL, q))
}

// redirectURI returns the redirect URI of an authorization request: the
// one given, when it is registered for the client byte for byte, or the
// client's only one when none is given (omitted is then true). desc says
// why neither works.
func (c *Client) redirectURI(given string) (uri string, omitted bool, desc string) {
	switch {
	case len(c.RedirectURIs) == 0:
		return "", false, "the client has no registered redirect_uri."
	case given == "" && len(c.RedirectURIs) == 1:
		return c.RedirectURIs[0], true, ""
	case given == "":
		return "", false, "redirect_uri is required: the client has several."
	case !slices.Contains(c.RedirectURIs, given):
		return "", false, "redirect_uri is not registered for the client."
	}
	return given, false, ""
}

// pkceChallenge applies the PKCE rules to an authorization request and
// returns the S256 challenge to bind the code to ("" when the client may
// do without and did), or the description of the refusal.
func (c *Client) pkceChallenge(challenge, method string, methodGiven bool) (string, string) {
	if challenge == "" {
		switch {
		case methodGiven:
			return "", "code_challenge_method without code_challenge."
		case c.AuthMethod == AuthNone || !c.PKCEOptional:
			return "", "PKCE is required: send code_challenge with code_challenge_method=S256."
		}
		return "", ""
	}
	if method != CodeChallengeMethod {
		return "", "Only code_challenge_method=S256 is supported (plain is not)."
	}
	// base64url of a SHA-256 digest, without padding: 43 characters.
	if len(challenge) != 43 || strings.IndexFunc(challenge, func(r rune) bool { return !isBase64URL(r) }) >= 0 {
		return "", "code_challenge must be 43 base64url characters (S256)."
	}
	return challenge, ""
}

func isBase64URL(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// parsePrompt checks the OpenID prompt parameter: known values, each
// once, and none alone (OpenID Connect Core §3.1.2.1).
func parsePrompt(p string) (string, bool) {
	vals := strings.Fields(p)
	for i, v := range vals {
		switch v {
		case "none", "login", "consent", "select_account":
		default:
			return "", false
		}
		if slices.Contains(vals[:i], v) {
			return "", false
		}
	}
	if len(vals) > 1 && slices.Contains(vals, "none") {
		return "", false
	}
	return strings.Join(vals, " "), true
}

// errorLocation is the redirect of an error to the client (RFC 6749
// §4.1.2.1, RFC 9207's iss).
func (s *Service) errorLocation(redirect string, code ErrorCode, desc, state string) string {
	q := url.Values{"error": {string(code)}, "iss": {s.cfg.Issuer}}
	if desc != "" {
		q.Set("error_description", sanitizeDescription(desc, '\''))
	}
	if state != "" {
		q.Set("state", state)
	}
	return appendQuery(redirect, q)
}

// appendQuery adds q to a URL, keeping its own query as it is (RFC 6749
// §3.1.2: the query component of a redirect URI MUST be retained).
func appendQuery(base string, q url.Values) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
		if strings.HasSuffix(base, "?") || strings.HasSuffix(base, "&") {
			sep = ""
		}
	}
	return base + sep + q.Encode()
}

// validateRedirectURI checks a registered redirect URI: absolute, without
// fragment (RFC 6749 §3.1.2), bounded; http only on a loopback host (RFC
// 8252 §7.3, RFC 9700 §2.6); other schemes (native apps' private-use
// schemes, RFC 8252 §7.1) are accepted.
func validateRedirectURI(raw string) error {
	if len(raw) > MaxRedirectURILength || !isVSChars(raw) || strings.Contains(raw, " ") {
		return errors.New("must be printable ASCII without spaces, at most 2048 bytes")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme == "" || u.Opaque == "" && u.Host == "" && u.Path == "":
		return errors.New("must be an absolute URI")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not have a fragment")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return errors.New("http is allowed only on a loopback host")
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host == "":
		return errors.New("an http(s) URI needs a host")
	}
	return nil
}

// validateLoginURL checks the app's login URL: a path on this server, or
// an https URL (http on a loopback host), without fragment.
func validateLoginURL(raw string) error {
	if strings.HasPrefix(raw, "/") && !strings.HasPrefix(raw, "//") {
		if strings.Contains(raw, "#") {
			return errors.New("login URL must not have a fragment")
		}
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Fragment != "" || strings.Contains(raw, "#") ||
		!(u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())) {
		return errors.New("login URL must be a path starting with / or an https URL without fragment")
	}
	return nil
}
