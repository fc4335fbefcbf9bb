package issuer

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tokengate/tokengate/tokencore"
)

// Set is the gateway's trusted issuers, by name.
type Set struct {
	byName map[string]*Issuer
}

// NewSet builds the issuers of cfgs. Names and iss values must be unique.
func NewSet(cfgs []Config, deps Deps) (*Set, error) {
	s := &Set{byName: map[string]*Issuer{}}
	seen := map[string]string{}
	for _, c := range cfgs {
		iss, err := New(c, deps)
		if err != nil {
			return nil, err
		}
		if _, dup := s.byName[c.Name]; dup {
			return nil, fmt.Errorf("trusted issuer %q is configured twice", c.Name)
		}
		if other, dup := seen[c.Issuer]; dup {
			return nil, fmt.Errorf("trusted issuers %q and %q have the same iss %q", other, c.Name, c.Issuer)
		}
		s.byName[c.Name], seen[c.Issuer] = iss, c.Name
	}
	return s, nil
}

// Start begins the background key fetches of every issuer, until ctx ends.
func (s *Set) Start(ctx context.Context) {
	for _, iss := range s.byName {
		iss.Start(ctx)
	}
}

// Get returns the issuer called name.
func (s *Set) Get(name string) (*Issuer, bool) {
	iss, ok := s.byName[name]
	return iss, ok
}

// Route is the issuers one protected route trusts, besides (or instead
// of) tokengate itself.
type Route struct {
	self   bool
	byIss  map[string]*Issuer
	opaque *Issuer
}

// Route returns the selection of the named issuers; self says whether
// tokengate's own tokens are accepted too. At most one of them may
// introspect: an opaque token carries no issuer, and sending it to every
// introspection endpoint would hand it to issuers it does not belong to.
func (s *Set) Route(names []string, self bool) (*Route, error) {
	r := &Route{self: self, byIss: map[string]*Issuer{}}
	for _, n := range names {
		iss, ok := s.byName[n]
		if !ok {
			return nil, fmt.Errorf("no trusted issuer named %q", n)
		}
		r.byIss[iss.cfg.Issuer] = iss
		if iss.intro != nil {
			if r.opaque != nil && r.opaque != iss {
				return nil, fmt.Errorf("trusted issuers %q and %q both introspect: a route may use one", r.opaque.cfg.Name, n)
			}
			r.opaque = iss
		}
	}
	return r, nil
}

// Select returns the issuer that must verify token, or nil when it is
// tokengate's own to verify. A JWT goes to the issuer its (unverified) iss
// names, which then checks everything, iss included; an opaque token to
// the route's introspecting issuer. A token of no trusted issuer is
// refused (ErrTokenIssuer) when the route does not accept tokengate's own.
//
// A compact JWE (four dots) goes to tokengate when the route accepts its
// tokens: tokengate's refresh tokens are JWEs, and one presented as a
// bearer token by mistake must be refused here, never sent to another
// issuer's introspection endpoint.
func (r *Route) Select(token string) (*Issuer, error) {
	switch dots := strings.Count(token, "."); {
	case dots == 2:
		if iss := r.issuerOf(token); iss != nil {
			return iss, nil
		}
	case dots == 4 && r.self:
	case r.opaque != nil:
		return r.opaque, nil
	}
	if r.self {
		return nil, nil
	}
	return nil, tokencore.ErrTokenIssuer
}

// issuerOf returns the route's issuer that the (unverified) iss of a JWT
// names, or nil. It only picks the verifier, which then checks iss
// exactly, so a wrong pick can only refuse a token. It runs on every
// request of a route with trusted issuers, so the common payload (under
// 2 KiB, one "iss" member whose value has no escapes) is read in place on
// the stack without allocating; any other payload is decoded in full.
func (r *Route) issuerOf(token string) *Issuer {
	_, rest, _ := strings.Cut(token, ".")
	p, _, _ := strings.Cut(rest, ".")
	if base64.RawURLEncoding.DecodedLen(len(p)) <= 2048 {
		var buf [2048]byte
		n, err := base64.RawURLEncoding.Decode(buf[:], []byte(p))
		if err != nil {
			return nil
		}
		if iss, ok := scanIssuer(buf[:n]); ok {
			return r.byIss[string(iss)]
		}
	}
	return r.byIss[peekIssuer(p)]
}

// peekIssuer decodes a JWT payload segment p and returns its iss.
func peekIssuer(p string) string {
	if len(p) > base64.RawURLEncoding.EncodedLen(tokencore.MaxTokenBytes) {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	return c.Iss
}

// scanIssuer finds the value of "iss" in payload when the name occurs
// exactly once and its value is a plain string; ok is false otherwise.
func scanIssuer(payload []byte) ([]byte, bool) {
	name := []byte(`"iss"`)
	i := bytes.Index(payload, name)
	if i < 0 || bytes.Contains(payload[i+len(name):], name) {
		return nil, false
	}
	rest := bytes.TrimLeft(payload[i+len(name):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return nil, false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' {
		return nil, false
	}
	end := bytes.IndexByte(rest[1:], '"')
	if end < 0 || bytes.IndexByte(rest[1:1+end], '\\') >= 0 {
		return nil, false
	}
	return rest[1 : 1+end], true
}
