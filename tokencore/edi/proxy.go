package edi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tokengate/tokengate/tokencore"
)

// Tokens on proxied traffic (spec §8).

// Cookie and header names of spec §8.1.
const (
	CookieEDI       = "edi-token"
	CookiePasta     = "auth-token"
	HeaderNewAuth   = "X-New-Auth-Token"
	maxCookieHeader = 64 << 10
)

// RequestTokens are the tokens a proxied request presents.
type RequestTokens struct {
	// EDIToken from the edi-token cookie or Authorization: Bearer.
	EDIToken string
	// PastaToken is the external (signed) form from the auth-token cookie,
	// with one pair of surrounding quotes removed (EDI sets it unescaped).
	PastaToken string
	// Bearer reports that the EDI token came in Authorization, which the
	// gateway then removes.
	Bearer bool
}

// ExtractTokens finds the tokens of a proxied request (spec §8.1):
//
//   - edi-token from the edi-token cookie or Authorization: Bearer; both
//     may be present only if they carry the same token;
//   - auth-token from its cookie;
//   - several cookies of one name must carry the same value; empty values
//     (a cookie cleared at logout) count as absent;
//   - any Authorization scheme but Bearer (Basic is a legacy LDAP login),
//     or more than one Authorization header, is refused;
//   - an auth-token without an edi-token is refused: the EDI token is the
//     authority the PASTA token is checked against.
//
// Cookie names are matched exactly, as PASTA services match them; cookies
// whose names differ only in case are not read, and RebuildCookies removes
// them. Errors wrap ErrNoCredentials or ErrCredentials.
func ExtractTokens(h http.Header) (RequestTokens, error) {
	var t RequestTokens
	take := func(dst *string, v, what string) error {
		if v == "" {
			return fmt.Errorf("%w: empty %s", ErrCredentials, what)
		}
		if *dst != "" && *dst != v {
			return fmt.Errorf("%w: conflicting %s values", ErrCredentials, what)
		}
		*dst = v
		return nil
	}
	size := 0
	for _, line := range h.Values("Cookie") {
		size += len(line)
		if size > maxCookieHeader {
			return RequestTokens{}, fmt.Errorf("%w: Cookie headers larger than %d bytes", ErrCredentials, maxCookieHeader)
		}
		for p := range CookiePairs([]string{line}) {
			name, value := p.Name, unquote(p.Value)
			if value == "" {
				continue // an emptied cookie (a logout) is no token
			}
			var err error
			switch name {
			case CookieEDI:
				err = take(&t.EDIToken, value, "edi-token cookie")
			case CookiePasta:
				err = take(&t.PastaToken, value, "auth-token cookie")
			}
			if err != nil {
				return RequestTokens{}, err
			}
		}
	}
	if auths := h.Values("Authorization"); len(auths) > 0 {
		bearer, err := tokencore.BearerToken(auths)
		if err != nil {
			return RequestTokens{}, fmt.Errorf("%w: %w", ErrCredentials, err)
		}
		if err := take(&t.EDIToken, bearer, "edi-token (Authorization and cookie)"); err != nil {
			return RequestTokens{}, err
		}
		t.Bearer = true
	}
	if t.EDIToken == "" {
		if t.PastaToken != "" {
			return RequestTokens{}, fmt.Errorf("%w: an auth-token without an edi-token", ErrCredentials)
		}
		return RequestTokens{}, ErrNoCredentials
	}
	return t, nil
}

// unquote removes one pair of surrounding double quotes.
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// RebuildCookies returns the Cookie header for the upstream (spec §8.3):
// every client cookie except auth-token and edi-token (in any case, since
// some servers fold cookie names), in the client's order and spelling, then
// edi-token=<the verified EDI token> and, when pastaInternal is not empty,
// auth-token=<the internal PASTA form>. Several Cookie lines are joined
// into one, as HTTP/1.1 upstreams require. An empty result means no Cookie
// header.
func RebuildCookies(lines []string, ediToken, pastaInternal string) string {
	var parts []string
	for p := range CookiePairs(lines) {
		if strings.EqualFold(p.Name, CookieEDI) || strings.EqualFold(p.Name, CookiePasta) {
			continue
		}
		parts = append(parts, p.Raw)
	}
	if ediToken != "" {
		parts = append(parts, CookieEDI+"="+ediToken)
	}
	if pastaInternal != "" {
		parts = append(parts, CookiePasta+"="+pastaInternal)
	}
	return strings.Join(parts, "; ")
}

// Identity is what the gateway learned from a proxied request's tokens.
type Identity struct {
	// Claims of the verified EDI token. Shared with the verification cache:
	// read them, never modify them.
	Claims *Claims
	// Pasta is the verified, unexpired, bound PASTA token, or nil when the
	// request had none. Shared with the cache like Claims.
	Pasta *PastaToken
	// PastaInternal is the internal (unsigned) form of Pasta for the
	// upstream's auth-token cookie, or "".
	PastaInternal string
}

// VerifyProxied checks the tokens of a proxied request (spec §8.2): the
// EDI token by §4.3 and the revocation view, the PASTA token (if any) by
// §3.4 including its expiry and by the binding rule when binding is strict.
//
// Signature and structure verdicts are cached in the engine's cache, keyed
// by SHA-256 of the verifier's keys, issuer and hosted domain and of the
// token, until the token expires. Expiry, not-before, revocation and
// binding are checked on every request, so a cached verdict can never let
// a revoked or expired token through.
func (s *Service) VerifyProxied(t RequestTokens) (*Identity, error) {
	claims, err := s.verifyEDICached(t.EDIToken)
	if err != nil {
		return nil, err
	}
	if err := s.e.View.Check(); err != nil {
		return nil, err // stale and the store unreachable: wraps ErrStoreUnavailable
	}
	if s.e.View.SubjectRevoked(claims.Subject, claims.IssuedAt.Unix()) {
		return nil, ErrRevoked
	}
	id := &Identity{Claims: claims}
	if t.PastaToken == "" {
		return id, nil
	}
	pe, err := s.verifyPastaCached(t.PastaToken)
	if err != nil {
		return nil, err
	}
	if pe.token.Expired(s.cfg.Now()) {
		return nil, ErrPastaExpired
	}
	if s.cfg.Binding == BindingStrict && !Bound(pe.token, *claims, s.cfg.PublicUID) {
		return nil, ErrUnbound
	}
	id.Pasta, id.PastaInternal = &pe.token, pe.internal
	return id, nil
}

// pastaEntry is a verified PASTA token with its internal form, as cached.
type pastaEntry struct {
	token    PastaToken
	internal string
}

// PublicPasta returns the internal form of a PASTA token for the public
// user, for anonymous requests when the gateway serves them.
func (s *Service) PublicPasta() (string, error) {
	return NewPastaToken(s.cfg.PublicUID, s.cfg.Now().Add(s.cfg.PastaTTL)).Internal()
}

// verifyEDICached verifies an EDI token through the cache.
func (s *Service) verifyEDICached(token string) (*Claims, error) {
	cache := s.e.Cache
	var key tokencore.CacheKey
	keyed := false
	if cache != nil && len(token) <= MaxTokenLength {
		keyed = true
		key = cache.Key(s.ediScope, token)
		if v, ok := cache.Get(key); ok {
			if c, ok := v.(*Claims); ok {
				if err := s.ediVerifier.CheckTime(*c); err != nil {
					return nil, err
				}
				return c, nil
			}
		}
	}
	c, err := s.ediVerifier.Verify(token)
	if err != nil {
		return nil, err
	}
	if keyed {
		cache.Put(key, &c, c.ExpiresAt.Add(s.cfg.Leeway).Sub(s.cfg.Now()))
	}
	return &c, nil
}

// verifyPastaCached verifies a PASTA token's signature and form through the
// cache, with its internal form; its expiry is the caller's.
func (s *Service) verifyPastaCached(token string) (*pastaEntry, error) {
	cache := s.e.Cache
	var key tokencore.CacheKey
	keyed := false
	if cache != nil && len(token) <= MaxTokenLength {
		keyed = true
		key = cache.Key(s.pastaScope, token)
		if v, ok := cache.Get(key); ok {
			if p, ok := v.(*pastaEntry); ok {
				return p, nil
			}
		}
	}
	p, err := s.pastaVerifier.Verify(token)
	if err != nil {
		return nil, err
	}
	internal, err := p.Internal()
	if err != nil {
		return nil, err
	}
	pe := &pastaEntry{token: p, internal: internal}
	if keyed {
		// An expired token is refused on every request anyway; caching it
		// until its expiry (a non-positive TTL) means not caching it.
		cache.Put(key, pe, p.Expiry.Sub(s.cfg.Now()))
	}
	return pe, nil
}

// Describe returns a short reason for a proxied-traffic failure, safe to
// show the client (no token material).
func Describe(err error) string {
	switch {
	case errors.Is(err, ErrNoCredentials):
		return "an edi-token is required"
	case errors.Is(err, ErrCredentials):
		return strings.TrimPrefix(err.Error(), ErrCredentials.Error()+": ")
	}
	return describe(err)
}
