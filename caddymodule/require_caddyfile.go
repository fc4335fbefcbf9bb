package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/tokengate/tokengate/tokencore/policy"
)

// parseRequire sets up a policy handler. Syntax:
//
//	tokengate_require [<matcher>] [<rule>] {
//	    scope <scope...>                 # every scope
//	    any_scope <scope...>             # at least one of them (each line is a group)
//	    claim <name> equals <value>
//	    claim <name> one_of <value...>
//	    claim <name> contains <value...>       # an array claim holding every value
//	    claim <name> contains_any <value...>   # an array claim holding one of them
//	    issuer <iss...>                  # one of
//	    client <client_id...>            # one of
//	    realm <realm>
//	}
//
// A rule may also stand on the directive's line (tokengate_require scope
// api.read). Every rule must hold; issuer and client lines add to one list.
func parseRequire(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	q := new(Require)
	h.Next()
	if h.NextArg() {
		if err := parseRule(h.Dispenser, &q.Rules); err != nil {
			return nil, err
		}
	}
	for h.NextBlock(0) {
		if h.Val() == "realm" {
			if !h.Args(&q.Realm) || h.NextArg() {
				return nil, h.ArgErr()
			}
			continue
		}
		if err := parseRule(h.Dispenser, &q.Rules); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// parseRule adds the rule at the dispenser's current token (scope,
// any_scope, claim, issuer or client, with its arguments) to rules. It is
// the one reading of a rule, for tokengate_require and for
// tokengate_protect's `require` lines.
func parseRule(d *caddyfile.Dispenser, rules *policy.Rules) error {
	kind := d.Val()
	args := d.RemainingArgs()
	switch kind {
	case "scope", "any_scope", "issuer", "client":
		if len(args) == 0 {
			return d.ArgErr()
		}
	}
	switch kind {
	case "scope":
		rules.Scopes = append(rules.Scopes, args...)
	case "any_scope":
		rules.AnyScopes = append(rules.AnyScopes, args)
	case "issuer":
		rules.Issuers = append(rules.Issuers, args...)
	case "client":
		rules.Clients = append(rules.Clients, args...)
	case "claim":
		if len(args) < 3 {
			return d.Errf("claim needs <name> <equals|one_of|contains|contains_any> <value...>")
		}
		rules.Claims = append(rules.Claims, policy.ClaimRule{Claim: args[0], Op: policy.Op(args[1]), Values: args[2:]})
	default:
		return d.Errf("unknown rule %q (want scope, any_scope, claim, issuer or client)", kind)
	}
	// Rules are checked here too, so the error carries the line.
	if _, err := policy.New(*rules); err != nil {
		return d.Err(err.Error())
	}
	return nil
}
