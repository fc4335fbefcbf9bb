package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseTrustedIssuer reads one `trusted_issuer` of the tokengate global
// option. Syntax:
//
//	trusted_issuer <name> {
//	    discovery <issuer_url>          (or: issuer <url> + jwks_url/key_file)
//	    issuer <url>
//	    jwks_url <url>
//	    key_file <path>
//	    audience <aud...>
//	    algorithms <alg...>
//	    typ <at+jwt|any>
//	    leeway <duration>
//	    user_id_claim <claim>
//	    tenant_claim <claim>
//	    claim_header <claim> <header>
//	    keys_refresh <min> <max>
//	    stale_window <duration>
//	    unknown_kid_interval <duration>
//	    fetch_timeout <duration>
//	    allow_http_loopback
//	    introspection [<endpoint>] {
//	        client <id> <secret_placeholder>
//	        cache_ttl <duration>
//	        inactive_ttl <duration>
//	    }
//	}
func parseTrustedIssuer(d *caddyfile.Dispenser, app *App) error {
	var tc TrustedIssuerConfig
	if !d.Args(&tc.Name) {
		return d.ArgErr()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch opt {
		case "discovery":
			tc.Discovery = true
			if d.NextArg() {
				tc.Issuer = d.Val()
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "issuer", "jwks_url", "key_file", "typ", "user_id_claim", "tenant_claim":
			var v string
			if !d.Args(&v) {
				return d.ArgErr()
			}
			switch opt {
			case "issuer":
				tc.Issuer = v
			case "jwks_url":
				tc.JWKSURL = v
			case "key_file":
				tc.KeyFile = v
			case "typ":
				if v != "any" {
					tc.Typ = v
				}
			case "user_id_claim":
				tc.UserIDClaim = v
			case "tenant_claim":
				tc.TenantClaim = v
			}
		case "audience", "algorithms":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			if opt == "audience" {
				tc.Audiences = append(tc.Audiences, args...)
			} else {
				tc.Algorithms = append(tc.Algorithms, args...)
			}
		case "leeway", "stale_window", "unknown_kid_interval", "fetch_timeout":
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			switch opt {
			case "leeway":
				tc.Leeway = dur
			case "stale_window":
				tc.StaleWindow = dur
			case "unknown_kid_interval":
				tc.UnknownKIDInterval = dur
			case "fetch_timeout":
				tc.FetchTimeout = dur
			}
		case "keys_refresh":
			var lo, hi string
			if !d.Args(&lo, &hi) {
				return d.ArgErr()
			}
			var err error
			if tc.KeysMinRefresh, err = parseDuration(d, opt, lo); err != nil {
				return err
			}
			if tc.KeysMaxRefresh, err = parseDuration(d, opt, hi); err != nil {
				return err
			}
		case "claim_header":
			var claim, header string
			if !d.Args(&claim, &header) {
				return d.ArgErr()
			}
			if tc.ClaimHeaders == nil {
				tc.ClaimHeaders = map[string]string{}
			}
			tc.ClaimHeaders[claim] = header
		case "allow_http_loopback":
			tc.AllowHTTPLoopback = true
		case "introspection":
			ic, err := parseIntrospection(d, tc.Name)
			if err != nil {
				return err
			}
			tc.Introspection = ic
		default:
			return d.Errf("unknown trusted_issuer option %q", opt)
		}
	}
	if tc.Introspection != nil && tc.Introspection.ClientSecret != "" {
		if err := checkSecret("introspection client secret", tc.Introspection.ClientSecret); err != nil {
			return d.Err(err.Error())
		}
	}
	app.TrustedIssuers = append(app.TrustedIssuers, tc)
	return nil
}

func parseIntrospection(d *caddyfile.Dispenser, name string) (*IntrospectionConfig, error) {
	ic := new(IntrospectionConfig)
	if d.NextArg() {
		ic.Endpoint = d.Val()
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "client":
			if !d.Args(&ic.ClientID, &ic.ClientSecret) {
				return nil, d.ArgErr()
			}
		case "cache_ttl", "inactive_ttl":
			dur, err := durationArg(d)
			if err != nil {
				return nil, err
			}
			if opt == "cache_ttl" {
				ic.CacheTTL = dur
			} else {
				ic.InactiveTTL = dur
			}
		default:
			return nil, d.Errf("trusted_issuer %s: unknown introspection option %q", name, opt)
		}
	}
	return ic, nil
}
