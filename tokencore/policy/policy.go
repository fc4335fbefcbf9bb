package policy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tokengate/tokengate/tokencore"
)

// The two kinds of refusal. Callers branch with errors.Is.
var (
	// ErrInsufficientScope: the token is valid but lacks a scope the
	// route requires (RFC 6750 §3.1 insufficient_scope; the Refusal's
	// Scope says which scope a token needs).
	ErrInsufficientScope = errors.New("the token lacks a required scope")
	// ErrForbidden: the token is valid but its issuer, client or claims
	// are not what the route requires. Asking for more scope cannot help.
	ErrForbidden = errors.New("the token does not satisfy the route's policy")
)

// Refusal is why a Policy refused a token. Its texts are safe to send to
// the client and to put in a quoted-string of WWW-Authenticate: they name
// the configured rule (scopes and claim names, validated by New), never a
// value taken from the token.
type Refusal struct {
	// Scope, for ErrInsufficientScope, is a space-separated set of scopes
	// that satisfies every scope rule of the route: each scope of `scope`
	// rules and the first scope of each `any_scope` group.
	Scope string
	// Description says which rule failed.
	Description string
	kind        error
}

func (r *Refusal) Error() string { return r.kind.Error() + ": " + r.Description }
func (r *Refusal) Unwrap() error { return r.kind }

// Op is how a claim rule compares the claim with its values.
type Op string

// The claim operators.
const (
	// OpEquals: the claim is a scalar equal to the one value.
	OpEquals Op = "equals"
	// OpOneOf: the claim is a scalar equal to one of the values.
	OpOneOf Op = "one_of"
	// OpContains: the claim is an array holding every value (a scalar
	// claim counts as an array of one).
	OpContains Op = "contains"
	// OpContainsAny: the claim is an array holding at least one of the
	// values (a scalar claim counts as an array of one).
	OpContainsAny Op = "contains_any"
)

// ClaimRule is one requirement on a claim.
type ClaimRule struct {
	// Claim is the claim's name: a top-level member, or a dotted path
	// into nested objects (see tokencore.Claims.Lookup).
	Claim string `json:"claim"`
	// Op is equals, one_of, contains or contains_any.
	Op Op `json:"op"`
	// Values are compared with the claim's scalars as strings: numbers in
	// their shortest form (42, 1.5), booleans as true and false.
	Values []string `json:"values"`
}

// Rules is what a route requires of a verified token. Every rule must
// hold; the zero Rules admit every verified token.
type Rules struct {
	// Scopes the token must all grant.
	Scopes []string `json:"scopes,omitempty"`
	// AnyScopes are groups of scopes: the token must grant at least one
	// scope of each group.
	AnyScopes [][]string `json:"any_scopes,omitempty"`
	// Claims the token's claims must satisfy.
	Claims []ClaimRule `json:"claims,omitempty"`
	// Issuers, when not empty, lists the accepted values of iss.
	Issuers []string `json:"issuers,omitempty"`
	// Clients, when not empty, lists the accepted values of client_id.
	Clients []string `json:"clients,omitempty"`
}

// Bounds on a policy, so a configuration cannot make a check costly.
const (
	maxRules     = 64   // rules of each kind
	maxValues    = 64   // values of one rule
	maxValueLen  = 1024 // bytes of one value (an issuer URL)
	maxClaimName = 256
)

// Policy is a validated Rules. A nil *Policy admits every token.
type Policy struct {
	rules Rules
	scope string // the Refusal.Scope of a scope refusal
}

// New validates r and returns its Policy.
func New(r Rules) (*Policy, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	p := &Policy{rules: r}
	need := slices.Clone(r.Scopes)
	for _, group := range r.AnyScopes {
		if !slices.ContainsFunc(group, func(s string) bool { return slices.Contains(need, s) }) {
			need = append(need, group[0])
		}
	}
	p.scope = strings.Join(slices.Compact(need), " ")
	return p, nil
}

func (r Rules) validate() error {
	if len(r.Scopes) > maxValues || len(r.AnyScopes) > maxRules || len(r.Claims) > maxRules ||
		len(r.Issuers) > maxValues || len(r.Clients) > maxValues {
		return fmt.Errorf("policy: more than %d rules or values of one kind", maxValues)
	}
	for _, s := range r.Scopes {
		if !isScopeToken(s) {
			return fmt.Errorf("policy: invalid scope %q", s)
		}
	}
	for _, group := range r.AnyScopes {
		if len(group) == 0 || len(group) > maxValues {
			return fmt.Errorf("policy: an any_scope group needs 1 to %d scopes", maxValues)
		}
		for _, s := range group {
			if !isScopeToken(s) {
				return fmt.Errorf("policy: invalid scope %q", s)
			}
		}
	}
	for _, c := range r.Claims {
		if c.Claim == "" || len(c.Claim) > maxClaimName || !isSafeText(c.Claim) ||
			strings.HasPrefix(c.Claim, ".") || strings.HasSuffix(c.Claim, ".") || strings.Contains(c.Claim, "..") {
			return fmt.Errorf("policy: invalid claim name %q", c.Claim)
		}
		switch c.Op {
		case OpEquals:
			if len(c.Values) != 1 {
				return fmt.Errorf("policy: claim %s equals takes exactly one value", c.Claim)
			}
		case OpOneOf, OpContains, OpContainsAny:
			if len(c.Values) == 0 {
				return fmt.Errorf("policy: claim %s %s needs at least one value", c.Claim, c.Op)
			}
		default:
			return fmt.Errorf("policy: claim %s: unknown operator %q (want equals, one_of, contains or contains_any)", c.Claim, c.Op)
		}
		if err := checkValues("claim "+c.Claim, c.Values); err != nil {
			return err
		}
	}
	if err := checkValues("issuer", r.Issuers); err != nil {
		return err
	}
	return checkValues("client", r.Clients)
}

func checkValues(what string, values []string) error {
	if len(values) > maxValues {
		return fmt.Errorf("policy: %s: more than %d values", what, maxValues)
	}
	for _, v := range values {
		if v == "" || len(v) > maxValueLen {
			return fmt.Errorf("policy: %s: values must be 1 to %d bytes", what, maxValueLen)
		}
	}
	return nil
}

// Check returns nil when the verified token c satisfies every rule, and a
// *Refusal otherwise. The issuer, client and claim rules are checked
// first: when one of them fails the answer is ErrForbidden even if a scope
// is missing too, because a token with more scope would still be refused.
func (p *Policy) Check(c *tokencore.Claims) error {
	if p == nil {
		return nil
	}
	r := &p.rules
	if len(r.Issuers) > 0 && !slices.Contains(r.Issuers, c.Issuer) {
		return p.forbidden("the token's issuer is not accepted here")
	}
	if len(r.Clients) > 0 && !slices.Contains(r.Clients, c.ClientID) {
		return p.forbidden("the token's client is not accepted here")
	}
	for i := range r.Claims {
		if !claimHolds(c, &r.Claims[i]) {
			return p.forbidden("the token's claim " + r.Claims[i].Claim + " does not satisfy the route's policy")
		}
	}
	for _, s := range r.Scopes {
		if !grants(c, s) {
			return p.insufficient("the token lacks the scope " + s)
		}
	}
	for _, group := range r.AnyScopes {
		if !slices.ContainsFunc(group, func(s string) bool { return grants(c, s) }) {
			return p.insufficient("the token grants none of the scopes " + strings.Join(group, ", "))
		}
	}
	return nil
}

func (p *Policy) forbidden(desc string) *Refusal {
	return &Refusal{Description: desc, kind: ErrForbidden}
}

func (p *Policy) insufficient(desc string) *Refusal {
	return &Refusal{Scope: p.scope, Description: desc, kind: ErrInsufficientScope}
}

// grants reports whether the token grants scope: the space-separated scope
// claim (RFC 9068 §2.2.3), or, when the token has none, scp as a string or
// an array of strings (Entra ID, Okta).
func grants(c *tokencore.Claims, scope string) bool {
	if c.Scope != "" {
		for s := range strings.SplitSeq(c.Scope, " ") {
			if s == scope {
				return true
			}
		}
		return false
	}
	switch scp := c.Raw["scp"].(type) {
	case string:
		return slices.Contains(strings.Fields(scp), scope)
	case []any:
		return slices.Contains(scp, any(scope))
	}
	return false
}

// claimHolds applies one claim rule. A missing claim never holds.
func claimHolds(c *tokencore.Claims, rule *ClaimRule) bool {
	v, ok := c.Lookup(rule.Claim)
	if !ok {
		return false
	}
	switch rule.Op {
	case OpEquals, OpOneOf:
		s, ok := scalar(v)
		return ok && slices.Contains(rule.Values, s)
	case OpContains:
		for _, want := range rule.Values {
			if !holds(v, want) {
				return false
			}
		}
		return true
	case OpContainsAny:
		return slices.ContainsFunc(rule.Values, func(want string) bool { return holds(v, want) })
	}
	return false
}

// holds reports whether the claim v (an array, or a scalar as an array of
// one) has an element equal to want.
func holds(v any, want string) bool {
	if arr, ok := v.([]any); ok {
		for _, e := range arr {
			if s, ok := scalar(e); ok && s == want {
				return true
			}
		}
		return false
	}
	s, ok := scalar(v)
	return ok && s == want
}

// scalar renders a JSON scalar for comparison; objects, arrays and null
// are not scalars.
func scalar(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(t), true
	}
	return "", false
}

// isScopeToken reports whether s is a scope-token of RFC 6749 §3.3
// (%x21 / %x23-5B / %x5D-7E): no space, quote or backslash, so a scope can
// go in a quoted-string of WWW-Authenticate as it is.
func isScopeToken(s string) bool {
	if s == "" || len(s) > maxValueLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}

// isSafeText reports whether s can be quoted in a header as it is:
// printable ASCII without quote or backslash.
func isSafeText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}
