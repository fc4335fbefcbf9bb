package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseEDIGlobal parses the `edi { ... }` block of the tokengate global
// option into app.EDI. Syntax:
//
//	edi {
//	    edi_key auto | file <pem_path> [sign]      # repeatable; default auto
//	    pasta_key auto | file <pem_path> [sign]    # repeatable; default auto
//	    issuer <url>                 # default https://auth.edirepository.org
//	    hosted_domain <domain>       # default edirepository.org
//	    edi_ttl <duration>           # default 8h
//	    pasta_ttl <duration>         # default 8h
//	    leeway <duration>            # default 0, at most 60s
//	    pair_binding strict|off      # default strict
//	    pasta_max_expired_age <duration>   # default off
//	    public_uid <uid>             # default public
//	    auth_system <url>            # default https://pasta.edirepository.org/authentication
//	    public_access_id <EDI-ID>
//	    authenticated_access_id <EDI-ID>
//	    vetted_id <EDI-ID>
//	    time_zone <IANA zone>        # of date-only key validity; default UTC
//	    subject <EDI-ID> {
//	        profile | group
//	        cn <common name>         # a group's name, for a group
//	        name <group name>
//	        owner <EDI-ID>           # a group's owning profile
//	        email <address>
//	        email_enabled
//	        idp_name <ldap|github|google|microsoft|orcid|...>
//	        idp_uid <uid>
//	        idp_cn <name>
//	        principal <EDI-ID...>    # repeatable; default: system profiles
//	        pasta_uid <uid>
//	        pasta_group <group...>   # repeatable
//	    }
//	    api_key <id> {
//	        owner <EDI-ID>
//	        group <EDI-ID>
//	        name <name>
//	        secret_sha256 <hex>      # SHA-256 of the secret; never the secret
//	        preview <first 5 characters>
//	        valid_from <YYYY-MM-DD | RFC 3339>
//	        valid_to <YYYY-MM-DD | RFC 3339>   # a date is inclusive
//	    }
//	}
func parseEDIGlobal(d *caddyfile.Dispenser, app *App) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if app.EDI == nil {
		app.EDI = &EDIConfig{}
	}
	c := app.EDI
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch opt {
		case "edi_key", "pasta_key":
			kc, err := parseEDIKey(d)
			if err != nil {
				return err
			}
			if opt == "edi_key" {
				c.EDIKeys = append(c.EDIKeys, kc)
			} else {
				c.PastaKeys = append(c.PastaKeys, kc)
			}
		case "issuer", "hosted_domain", "pair_binding", "public_uid", "auth_system",
			"public_access_id", "authenticated_access_id", "vetted_id", "time_zone":
			var v string
			if !d.Args(&v) || d.NextArg() {
				return d.ArgErr()
			}
			switch opt {
			case "issuer":
				c.Issuer = v
			case "hosted_domain":
				c.HostedDomain = v
			case "pair_binding":
				if v != "strict" && v != "off" {
					return d.Errf("pair_binding must be strict or off, not %q", v)
				}
				c.PairBinding = v
			case "public_uid":
				c.PublicUID = v
			case "auth_system":
				c.AuthSystem = v
			case "public_access_id":
				c.PublicAccessID = v
			case "authenticated_access_id":
				c.AuthenticatedAccessID = v
			case "vetted_id":
				c.VettedID = v
			case "time_zone":
				c.TimeZone = v
			}
		case "edi_ttl", "pasta_ttl", "leeway", "pasta_max_expired_age":
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			switch opt {
			case "edi_ttl":
				c.EDITTL = dur
			case "pasta_ttl":
				c.PastaTTL = dur
			case "leeway":
				c.Leeway = dur
			case "pasta_max_expired_age":
				c.PastaMaxExpiredAge = dur
			}
		case "subject":
			s, err := parseEDISubject(d)
			if err != nil {
				return err
			}
			c.Subjects = append(c.Subjects, s)
		case "api_key":
			k, err := parseEDIAPIKey(d)
			if err != nil {
				return err
			}
			c.APIKeys = append(c.APIKeys, k)
		default:
			return d.Errf("unknown edi option %q", opt)
		}
	}
	return nil
}

// parseEDIKey reads `auto` or `file <path>`, then an optional `sign`.
func parseEDIKey(d *caddyfile.Dispenser) (EDIKeyConfig, error) {
	var kc EDIKeyConfig
	if !d.NextArg() {
		return kc, d.ArgErr()
	}
	kc.Source = d.Val()
	switch kc.Source {
	case "auto":
	case "file":
		if !d.NextArg() {
			return kc, d.ArgErr()
		}
		kc.Path = d.Val()
	default:
		return kc, d.Errf("unknown key source %q (want auto or file)", kc.Source)
	}
	for d.NextArg() {
		if d.Val() != "sign" {
			return kc, d.Errf("unknown key option %q", d.Val())
		}
		kc.Sign = true
	}
	return kc, nil
}

// parseEDISubject reads a `subject <EDI-ID> { ... }` block.
func parseEDISubject(d *caddyfile.Dispenser) (EDISubjectConfig, error) {
	var s EDISubjectConfig
	if !d.Args(&s.EDIID) || d.NextArg() {
		return s, d.ArgErr()
	}
	var cn *string
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch opt {
		case "profile", "group":
			if d.NextArg() {
				return s, d.ArgErr()
			}
			if s.Type != "" && s.Type != opt {
				return s, d.Errf("subject %s is both a profile and a group", s.EDIID)
			}
			s.Type = opt
		case "email_enabled":
			if d.NextArg() {
				return s, d.ArgErr()
			}
			s.EmailEnabled = true
		case "principal", "pasta_group":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return s, d.ArgErr()
			}
			if opt == "principal" {
				s.Principals = append(s.Principals, args...)
			} else {
				s.PastaGroups = append(s.PastaGroups, args...)
			}
		case "cn", "name", "owner", "email", "idp_name", "idp_uid", "idp_cn", "pasta_uid":
			var v string
			if !d.Args(&v) || d.NextArg() {
				return s, d.ArgErr()
			}
			switch opt {
			case "cn":
				cn = &v
			case "name":
				s.Name = v
			case "owner":
				s.Owner = v
			case "email":
				s.Email = &v
			case "idp_name":
				s.IdPName = &v
			case "idp_uid":
				s.IdPUID = &v
			case "idp_cn":
				s.IdPCommonName = &v
			case "pasta_uid":
				s.PastaUID = v
			}
		default:
			return s, d.Errf("unknown subject option %q", opt)
		}
	}
	if s.Type == "" {
		return s, d.Errf("subject %s: say `profile` or `group`", s.EDIID)
	}
	// A group's cn is its name (the cn claim of its tokens).
	if s.Type == "group" && cn != nil {
		if s.Name != "" && s.Name != *cn {
			return s, d.Errf("subject %s: cn and name of a group must agree", s.EDIID)
		}
		s.Name = *cn
	} else {
		s.CommonName = cn
	}
	return s, nil
}

// parseEDIAPIKey reads an `api_key <id> { ... }` block.
func parseEDIAPIKey(d *caddyfile.Dispenser) (EDIAPIKeyConfig, error) {
	var k EDIAPIKeyConfig
	if !d.Args(&k.ID) || d.NextArg() {
		return k, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var v string
		if !d.Args(&v) || d.NextArg() {
			return k, d.ArgErr()
		}
		switch opt {
		case "owner":
			k.Owner = v
		case "group":
			k.Group = v
		case "name":
			k.Name = v
		case "secret_sha256":
			k.SecretSHA256 = v
		case "preview":
			k.Preview = v
		case "valid_from":
			k.ValidFrom = v
		case "valid_to":
			k.ValidTo = v
		case "secret":
			return k, d.Errf("api_key %s: give secret_sha256 (SHA-256 of the secret), never the secret", k.ID)
		default:
			return k, d.Errf("unknown api_key option %q", opt)
		}
	}
	if k.SecretSHA256 == "" || k.Owner == "" {
		return k, d.Errf("api_key %s needs owner and secret_sha256", k.ID)
	}
	return k, nil
}
