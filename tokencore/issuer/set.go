package issuer

import (
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
func (r *Route) Select(token string) (*Issuer, error) {
	if strings.Count(token, ".") == 2 {
		if iss, ok := r.byIss[peekIssuer(token)]; ok {
			return iss, nil
		}
	} else if r.opaque != nil {
		return r.opaque, nil
	}
	if r.self {
		return nil, nil
	}
	return nil, tokencore.ErrTokenIssuer
}

// peekIssuer reads iss from a JWT's payload without verifying anything;
// only used to pick the verifier.
func peekIssuer(token string) string {
	_, rest, _ := strings.Cut(token, ".")
	p, _, _ := strings.Cut(rest, ".")
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
