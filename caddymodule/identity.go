package caddymodule

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/tokengate/tokengate/tokencore/edi"
)

// The gateway's credentials: ONE list of every header and cookie through
// which an upstream learns who is calling, and of every credential a
// tokengate handler reads from the client. It is kept by the app and shared
// by every tokengate handler of the config, because a header asserted by
// one handler (a claim_header of a tokengate_protect) must be stripped by
// all the others too: a request that reaches its upstream through another
// route, or through a path a matcher missed, must never carry a client-made
// copy. Handlers register what their configuration adds (claim headers,
// signer headers) while they are provisioned; Caddy provisions every module
// of a config before it starts serving, so the list is complete before the
// first request and is only read afterwards.
//
// Header names are compared in every spelling that can reach an upstream:
// case-insensitively, with '_' and '.' treated as '-' (CGI, nginx with
// underscores_in_headers, and many frameworks fold X_Okapi_User_Id and
// X.Okapi.User.Id onto X-Okapi-User-Id).

// headerRole says what a client-sent copy of a listed header is.
type headerRole uint8

const (
	// roleAsserted headers are identity the gateway asserts to the upstream
	// after verification. A client-sent copy, in any spelling, is removed
	// from every request any tokengate handler sees, public paths included.
	roleAsserted headerRole = iota + 1
	// roleCredential headers carry something a tokengate handler reads from
	// the client under its canonical name (a token, the tenant a token is
	// checked against, a signer secret). Every other spelling is removed at
	// once (no handler reads it; an upstream that folds spellings would);
	// the canonical copy is left for the handler that reads it, and a
	// verifying handler (tokengate_protect, tokengate_edi_protect) forwards
	// only the credentials it verified.
	roleCredential
)

// gatewayHeader is one entry of the list.
type gatewayHeader struct {
	name string // canonical spelling
	role headerRole
}

// builtinHeaders are the headers of the list that no configuration adds:
// FOLIO's (X-Okapi-*), OAuth's (X-Tokengate-Subject, -Client-Id, -Scope)
// and EDI/PASTA's (X-Tokengate-Principals, -Pasta-Uid, -Pasta-Groups,
// X-New-Auth-Token). X-Okapi-Tenant is client input until tokengate_protect
// asserts the token's tenant in it; X-Okapi-Token is the client's token.
var builtinHeaders = []gatewayHeader{
	{HeaderUserID, roleAsserted},
	{"X-Okapi-Permissions", roleAsserted},
	{"X-Okapi-Module-Tokens", roleAsserted},
	{HeaderSubject, roleAsserted},
	{HeaderClientID, roleAsserted},
	{HeaderScope, roleAsserted},
	{HeaderPrincipals, roleAsserted},
	{HeaderPastaUID, roleAsserted},
	{HeaderPastaGroups, roleAsserted},
	{edi.HeaderNewAuth, roleAsserted},
	{HeaderTenant, roleCredential},
	{HeaderToken, roleCredential},
}

// credentialCookies are the cookies of the list: EDI's tokens. Their
// trusted forms (the internal, unsigned PASTA token in auth-token, and a
// verified EDI token in edi-token) are only ever produced by
// tokengate_edi_protect after verification; see stripUnsignedPasta and
// stripEDICookies.
var credentialCookies = []string{edi.CookiePasta, edi.CookieEDI}

// defaultSignerHeader carries the FOLIO signer secret unless a
// tokengate_folio names another signer_header.
const defaultSignerHeader = "X-Tokengate-Signer"

// reservedHeaders can never be a claim_header or a signer_header: the
// gateway reads them itself or HTTP gives them a meaning.
var reservedHeaders = []string{"Authorization", "Cookie", "Host", "Proxy-Authorization", "Content-Length", "Transfer-Encoding", "Connection"}

// gatewayCredentials is the app's list (see above).
type gatewayCredentials struct {
	headers []gatewayHeader
	roles   map[string]headerRole // normalized name -> role
	names   map[string]string     // normalized name -> canonical spelling
	signers []string              // canonical signer headers (roleCredential, never forwarded)
}

// newGatewayCredentials returns the list with the builtin entries.
func newGatewayCredentials() *gatewayCredentials {
	c := &gatewayCredentials{roles: map[string]headerRole{}, names: map[string]string{}}
	for _, h := range builtinHeaders {
		if err := c.register(h.name, h.role); err != nil {
			panic(err) // the builtin list is consistent; a test checks it
		}
	}
	// The default signer header is tokengate's secret whether or not this
	// config mounts a FOLIO API: no upstream ever receives it.
	if err := c.registerSigner(defaultSignerHeader); err != nil {
		panic(err)
	}
	return c
}

// register adds a header to the list. A name registered twice with the
// same role is fine (two handlers may map the same claim header); with
// different roles, or colliding with a header the gateway must read itself,
// it is a configuration error.
func (c *gatewayCredentials) register(name string, role headerRole) error {
	canonical := http.CanonicalHeaderKey(name)
	n := normalizeHeaderName(name)
	if n == "" || len(n) > maxListedHeader || strings.ContainsAny(name, " :;,\"\r\n\t") {
		return fmt.Errorf("invalid header name %q", name)
	}
	for _, r := range reservedHeaders {
		if n == normalizeHeaderName(r) {
			return fmt.Errorf("header %s is reserved: the gateway reads it or HTTP gives it a meaning", name)
		}
	}
	if have, ok := c.roles[n]; ok {
		if have != role || (role == roleCredential && c.names[n] != canonical) {
			return fmt.Errorf("header %s is already used by tokengate as %s", name, c.names[n])
		}
		return nil
	}
	c.roles[n], c.names[n] = role, canonical
	c.headers = append(c.headers, gatewayHeader{canonical, role})
	return nil
}

// registerClaimHeader adds a claim_header of a tokengate_protect.
func (c *gatewayCredentials) registerClaimHeader(name string) error {
	if err := c.register(name, roleAsserted); err != nil {
		return fmt.Errorf("claim_header: %w", err)
	}
	return nil
}

// registerSigner adds the signer_header of a tokengate_folio: a secret the
// FOLIO API reads and no upstream may ever receive.
func (c *gatewayCredentials) registerSigner(name string) error {
	if err := c.register(name, roleCredential); err != nil {
		return fmt.Errorf("signer_header: %w", err)
	}
	canonical := http.CanonicalHeaderKey(name)
	for _, s := range c.signers {
		if s == canonical {
			return nil
		}
	}
	c.signers = append(c.signers, canonical)
	return nil
}

// stripHeaders removes from h every client-sent header of the list that no
// tokengate handler reads: asserted headers in every spelling, and the
// non-canonical spellings of credential headers. Every tokengate handler
// calls it on every request, before anything else (see admit).
func (c *gatewayCredentials) stripHeaders(h http.Header) {
	var buf [maxListedHeader]byte
	for key := range h {
		n, ok := appendNormalized(buf[:0], key)
		if !ok {
			continue // longer than any listed name
		}
		role := c.roles[string(n)]
		switch {
		case role == roleAsserted:
			delete(h, key)
		case role == roleCredential && key != c.names[string(n)]:
			delete(h, key)
		}
	}
}

// admit is the first step of every tokengate handler on every request,
// answered or passed on: a path an upstream may read differently is
// refused (400), then the listed headers are stripped (stripHeaders) and
// so are the EDI cookies no handler reads: other spellings of their names,
// and an auth-token in the internal form only the gateway may produce. It
// reports whether the request may go on. Credentials a handler verifies
// (tokens, the signed PASTA token, the canonical credential headers) are
// left for it.
func (c *gatewayCredentials) admit(w http.ResponseWriter, r *http.Request) bool {
	if refuseAmbiguousPath(w, r) {
		return false
	}
	c.scrub(r)
	return true
}

// scrub is admit without the path check (for the authentication
// provider, which cannot answer 400 and refuses such a path itself): the
// listed headers, the other spellings of the EDI cookies, and an
// unsigned auth-token are removed.
//
// A route usually holds several tokengate handlers (the token APIs, then
// tokengate_protect), and each admits every request that passes through
// it: the request remembers that this list has scrubbed its headers
// (scrubbedVar), so the walk over them happens once per request, not once
// per handler. Nothing between two tokengate handlers adds client headers
// (the client's are all read before the first handler runs); the marker
// names this list, so another app's list (another config) walks again.
func (c *gatewayCredentials) scrub(r *http.Request) {
	if done, _ := caddyhttp.GetVar(r.Context(), scrubbedVar).(*gatewayCredentials); done == c {
		return
	}
	c.scrubHeaders(r.Header)
	caddyhttp.SetVar(r.Context(), scrubbedVar, c)
}

// scrubbedVar is the Caddy request variable naming the credential list
// that scrubbed the request's headers.
const scrubbedVar = "tokengate.scrubbed"

// scrubHeaders removes the listed headers, the other spellings of the EDI
// cookies, and an unsigned auth-token from h.
func (c *gatewayCredentials) scrubHeaders(h http.Header) {
	c.stripHeaders(h)
	stripCookieSpellings(h)
	stripUnsignedPasta(h)
}

// dropUnverified removes the canonical credential headers a verifying
// handler did not verify, so that they never reach its upstream: the signer
// secrets always, and the names given (X-Okapi-Token on EDI routes, for
// example).
func (c *gatewayCredentials) dropUnverified(h http.Header, names ...string) {
	for _, s := range c.signers {
		delete(h, s)
	}
	for _, n := range names {
		delete(h, n)
	}
}

// normalizeHeaderName folds a header name to the form under which the
// list compares it: lower case, '_' and '.' as '-'.
func normalizeHeaderName(s string) string {
	b, _ := appendNormalized(make([]byte, 0, len(s)), s)
	return string(b)
}

// appendNormalized appends the normalized s to dst; it reports false when
// s does not fit in dst's capacity (callers pass a buffer longer than any
// listed name, so such a header is not listed).
func appendNormalized(dst []byte, s string) ([]byte, bool) {
	if len(s) > cap(dst)-len(dst) {
		return dst, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c == '.':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst, true
}

// maxListedHeader bounds the names the list accepts, so strip can
// normalize into a fixed buffer.
const maxListedHeader = 64

// cookieNameIs reports whether a cookie name is name in any spelling a
// server may fold (case, '_' and '.' as '-').
func cookieNameIs(got, name string) bool {
	if len(got) != len(name) {
		return false
	}
	var buf [32]byte
	n, ok := appendNormalized(buf[:0], got)
	return ok && string(n) == name
}

// rewriteCookies rebuilds the Cookie header keeping the pairs keep accepts,
// in the client's order, on one line. It leaves h alone when nothing is
// dropped.
func rewriteCookies(h http.Header, keep func(name, value string) bool) {
	lines := h.Values("Cookie")
	if len(lines) == 0 || !cookiesDrop(lines, keep) {
		return
	}
	var parts []string
	dropped := false
	for p := range edi.CookiePairs(lines) {
		if !keep(p.Name, p.Value) {
			dropped = true
			continue
		}
		parts = append(parts, p.Raw)
	}
	if !dropped {
		return
	}
	if len(parts) == 0 {
		h.Del("Cookie")
		return
	}
	h.Set("Cookie", strings.Join(parts, "; "))
}

// cookiesDrop reports, without allocating, whether keep refuses a pair
// of lines: most requests carry nothing to drop.
func cookiesDrop(lines []string, keep func(name, value string) bool) bool {
	for p := range edi.CookiePairs(lines) {
		if p.Name != "" && !keep(p.Name, p.Value) {
			return true
		}
	}
	return false
}

// stripUnsignedPasta removes every auth-token cookie (in any spelling) in
// the internal, unsigned PASTA form B. Clients hold the signed form B-S;
// PASTA services trust B unchecked, so a client-sent B is always a forgery.
// The signed form is left for tokengate_edi_protect, which verifies it.
func stripUnsignedPasta(h http.Header) {
	if !cookieHeaderMentions(h, edi.CookiePasta) {
		return
	}
	rewriteCookies(h, func(name, value string) bool {
		if !cookieNameIs(name, edi.CookiePasta) {
			return true
		}
		b, s, signed := strings.Cut(strings.Trim(value, `"`), "-")
		return value == "" || (signed && b != "" && s != "")
	})
}

// stripCookieSpellings removes the EDI cookies sent under another
// spelling of their names ('_' or '.' for '-'): no handler reads them, and
// a server that folds cookie names would take them for the real ones.
// (Names differing only in case are dropped by edi.RebuildCookies and
// stripEDICookies.)
func stripCookieSpellings(h http.Header) {
	if !cookieHeaderMentions(h, edi.CookiePasta) {
		return
	}
	rewriteCookies(h, func(name, _ string) bool {
		for _, c := range credentialCookies {
			if cookieNameIs(name, c) && !strings.EqualFold(name, c) {
				return false
			}
		}
		return true
	})
}

// stripEDICookies removes the EDI credentials (auth-token and edi-token, in
// any spelling and form) from a request a non-EDI handler passes on: they
// are tokengate_edi_protect's to verify, and an upstream reached through
// tokengate_protect must never receive one.
func stripEDICookies(h http.Header) {
	if !cookieHeaderMentions(h, edi.CookiePasta) && !cookieHeaderMentions(h, edi.CookieEDI) {
		return
	}
	rewriteCookies(h, func(name, _ string) bool {
		for _, c := range credentialCookies {
			if cookieNameIs(name, c) {
				return false
			}
		}
		return true
	})
}

// cookieHeaderMentions is a cheap pre-check: could a Cookie line of h
// carry the cookie name in some spelling? Every spelling shares the
// letters after the separator ("token"), in some case.
func cookieHeaderMentions(h http.Header, name string) bool {
	_, stem, _ := strings.Cut(name, "-")
	// h["Cookie"], not h.Values: the key is canonical already (net/http
	// canonicalizes what it parses), and this runs several times on every
	// request.
	for _, line := range h["Cookie"] {
		for i := 0; i+len(stem) <= len(line); i++ {
			if strings.EqualFold(line[i:i+len(stem)], stem) {
				return true
			}
		}
	}
	return false
}

// credentials returns the app's list, creating it with the builtin entries
// on first use (handlers are provisioned after the app, one at a time).
func (a *App) credentials() *gatewayCredentials {
	if a.identity == nil {
		a.identity = newGatewayCredentials()
	}
	return a.identity
}

// ambiguousPath reports why a request path may be read differently by an
// upstream than by Caddy's matchers, or "" when it is unambiguous. Tomcat
// (which PASTA runs on) drops path parameters, so /package;x/eml is
// /package/eml to it while Caddy's `path /package/*` does not match it;
// Windows servers read '\' as '/'. Every tokengate handler refuses such a
// request, so no matcher of a tokengate config can be bypassed by them
// (see docs/security.md).
func ambiguousPath(r *http.Request) string {
	for _, c := range []byte(r.URL.Path) {
		switch {
		case c == ';':
			return "path parameters (;) are not accepted"
		case c == '\\':
			return "a backslash in the path is not accepted"
		case c < 0x20 || c == 0x7f:
			return "control characters in the path are not accepted"
		}
	}
	return ""
}

// refuseAmbiguousPath answers 400 when the request path is ambiguous and
// reports whether it did.
func refuseAmbiguousPath(w http.ResponseWriter, r *http.Request) bool {
	why := ambiguousPath(r)
	if why == "" {
		return false
	}
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "the request path is ambiguous: " + why})
	return true
}
