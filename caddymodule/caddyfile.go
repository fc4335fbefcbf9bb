package caddymodule

import (
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/tokengate/tokengate/tokencore/policy"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("tokengate", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("tokengate_folio", parseFolio)
	httpcaddyfile.RegisterHandlerDirective("tokengate_jwks", parseJWKS)
	httpcaddyfile.RegisterHandlerDirective("tokengate_protect", parseProtect)
	httpcaddyfile.RegisterHandlerDirective("tokengate_echo", parseEcho)
	httpcaddyfile.RegisterHandlerDirective("tokengate_require", parseRequire)

	// The token endpoints answer their own paths and pass the rest on, so
	// they go first; the protection comes after every endpoint (each
	// registration lands just before basic_auth, after the previous ones).
	httpcaddyfile.RegisterDirectiveOrder("tokengate_jwks", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("tokengate_folio", httpcaddyfile.Before, "basic_auth")
	// tokengate_edi_admin serves <prefix>/edi/* below the management
	// prefix it shares with tokengate_manage, so it goes first.
	httpcaddyfile.RegisterDirectiveOrder("tokengate_edi", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("tokengate_edi_admin", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("tokengate_oauth", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("tokengate_manage", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("tokengate_issuer_admin", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("tokengate_edi_protect", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("tokengate_protect", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("tokengate_require", httpcaddyfile.Before, "basic_auth")
	// The demo login page answers /login and /callback before the echo.
	httpcaddyfile.RegisterDirectiveOrder("tokengate_demo_login", httpcaddyfile.Before, "respond")
	httpcaddyfile.RegisterDirectiveOrder("tokengate_echo", httpcaddyfile.Before, "respond")
}

// parseGlobalOption sets up the tokengate app. Syntax:
//
//	tokengate {
//	    key auto [es256|rs256] [sign]
//	    key file <pem_path> [kid <kid>] [sign]
//	    key folio_secret <placeholder> [sign]   ({env.X} or {file.X}; never the secret)
//	    store bolt [<path>]
//	    store memory
//	    store redis [<host:port>] [{
//	        username <name>
//	        password <placeholder>   ({env.REDIS_PASSWORD}; never the password)
//	        db <n>
//	        prefix <key_prefix>
//	        min_replicas_acked <n>|auto   (default auto; 0: never wait)
//	        replica_ack_timeout <duration> (default 100ms)
//	        revocation_wait <duration>     (default 250ms)
//	        max_staleness <duration>       (default 250ms)
//	        on_stale refuse|serve          (default refuse)
//	        instance_id <id>
//	    }]
//	    accept_store <store_id>@<generation>   (one start; see docs/operations.md)
//	    cache_size <entries>
//	    cache_ttl <duration>
//	    access_ttl <duration>
//	    refresh_ttl <duration>
//	    tenant_ttl <tenant> <access_ttl> <refresh_ttl>
//	    default_tenant <tenant>
//	    issuer <url>
//	    operator_key_hash <sha256:hex|bcrypt>
//	    oauth { ... }   (see oauth_caddyfile.go)
//	    edi { ... }     (see edi_caddyfile.go)
//	    trusted_issuer <name> { ... }  (see issuers_caddyfile.go)
//	    sweep_interval <duration>
//	    revocation_sync <duration>
//	}
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	d.Next() // option name
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "key":
			var kc KeyConfig
			if !d.NextArg() {
				return nil, d.ArgErr()
			}
			kc.Source = d.Val()
			switch kc.Source {
			case "auto":
			case "file":
				if !d.NextArg() {
					return nil, d.ArgErr()
				}
				kc.Path = d.Val()
			case "folio_secret":
				if !d.NextArg() {
					return nil, d.ArgErr()
				}
				kc.Secret = d.Val()
				if err := checkSecret("key folio_secret", kc.Secret); err != nil {
					return nil, d.Err(err.Error())
				}
			default:
				return nil, d.Errf("unknown key source %q (want auto, file or folio_secret)", kc.Source)
			}
			for d.NextArg() {
				switch d.Val() {
				case "sign":
					kc.Sign = true
				case "es256", "rs256":
					if kc.Source != "auto" || kc.Alg != "" {
						return nil, d.Errf("key option %q: only one algorithm, for an auto key", d.Val())
					}
					kc.Alg = strings.ToUpper(d.Val())
				case "kid":
					if !d.NextArg() {
						return nil, d.ArgErr()
					}
					kc.KID = d.Val()
				default:
					return nil, d.Errf("unknown key option %q", d.Val())
				}
			}
			app.Keys = append(app.Keys, kc)
		case "store":
			sc := &StoreConfig{}
			if !d.NextArg() {
				return nil, d.ArgErr()
			}
			sc.Type = d.Val()
			if sc.Type == "redis" {
				if err := parseRedisStore(d, sc); err != nil {
					return nil, err
				}
				app.Store = sc
				break
			}
			if d.NextArg() {
				sc.Path = d.Val()
			}
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			app.Store = sc
		case "cache_size":
			n, err := intArg(d)
			if err != nil {
				return nil, err
			}
			if app.Cache == nil {
				app.Cache = &CacheConfig{}
			}
			app.Cache.MaxEntries = n
		case "cache_ttl":
			dur, err := durationArg(d)
			if err != nil {
				return nil, err
			}
			if app.Cache == nil {
				app.Cache = &CacheConfig{}
			}
			app.Cache.MaxTTL = dur
		case "access_ttl", "refresh_ttl", "sweep_interval", "revocation_sync":
			name := d.Val()
			dur, err := durationArg(d)
			if err != nil {
				return nil, err
			}
			switch name {
			case "access_ttl":
				app.AccessTTL = dur
			case "refresh_ttl":
				app.RefreshTTL = dur
			case "sweep_interval":
				app.SweepInterval = dur
			case "revocation_sync":
				app.RevocationSync = dur
			}
		case "tenant_ttl":
			var tenant, a, r string
			if !d.Args(&tenant, &a, &r) {
				return nil, d.ArgErr()
			}
			ad, err := parseDuration(d, "tenant_ttl "+tenant+" <access_ttl>", a)
			if err != nil {
				return nil, err
			}
			rd, err := parseDuration(d, "tenant_ttl "+tenant+" <refresh_ttl>", r)
			if err != nil {
				return nil, err
			}
			if app.TenantTTLs == nil {
				app.TenantTTLs = map[string]TenantTTL{}
			}
			app.TenantTTLs[tenant] = TenantTTL{ad, rd}
		case "default_tenant":
			if !d.Args(&app.DefaultTenant) {
				return nil, d.ArgErr()
			}
		case "accept_store":
			if !d.Args(&app.AcceptStore) || d.NextArg() {
				return nil, d.ArgErr()
			}
		case "issuer":
			if !d.Args(&app.Issuer) {
				return nil, d.ArgErr()
			}
		case "operator_key_hash":
			var h string
			if !d.Args(&h) {
				return nil, d.ArgErr()
			}
			app.OperatorKeyHashes = append(app.OperatorKeyHashes, h)
		case "oauth":
			if err := parseOAuthGlobal(d, app); err != nil {
				return nil, err
			}
		case "edi":
			if err := parseEDIGlobal(d, app); err != nil {
				return nil, err
			}
		case "trusted_issuer":
			if err := parseTrustedIssuer(d, app); err != nil {
				return nil, err
			}
		default:
			return nil, d.Errf("unknown tokengate option %q", d.Val())
		}
	}
	return httpcaddyfile.App{Name: "tokengate", Value: caddyconfig.JSON(app, nil)}, nil
}

// parseFolio sets up the FOLIO token API. Syntax:
//
//	tokengate_folio [<matcher>] {
//	    prefix <path_prefix>
//	    trusted_signers <cidr...>
//	    signer_secret_hash <sha256:hex|bcrypt>
//	    signer_header <header>
//	    legacy_tenants <tenant...|*>
//	    refresh_grace <duration>
//	    token_expiration <mod-authtoken expiration spec>
//	    max_body <bytes>
//	}
func parseFolio(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	f := new(FolioAPI)
	err := parseEndpointBlock(h, &f.Prefix, &f.MaxBodyBytes, func(opt string) (bool, error) {
		switch opt {
		case "trusted_signers", "legacy_tenants":
			args := h.RemainingArgs()
			if len(args) == 0 {
				return true, h.ArgErr()
			}
			if opt == "trusted_signers" {
				f.TrustedSigners = append(f.TrustedSigners, args...)
			} else {
				f.LegacyTenants = append(f.LegacyTenants, args...)
			}
		case "signer_secret_hash":
			if !h.Args(&f.SignerSecretHash) {
				return true, h.ArgErr()
			}
		case "signer_header":
			if !h.Args(&f.SignerHeader) {
				return true, h.ArgErr()
			}
		case "refresh_grace":
			d, err := durationArg(h.Dispenser)
			if err != nil {
				return true, err
			}
			f.RefreshGrace = d
		case "token_expiration":
			if !h.Args(&f.TokenExpiration) {
				return true, h.ArgErr()
			}
		default:
			return false, nil
		}
		return true, nil
	})
	return f, err
}

// parseProtect sets up bearer validation. Syntax:
//
//	tokengate_protect [<matcher>] {
//	    cookie <name>
//	    disable_okapi_header
//	    leeway <duration>
//	    accept_legacy
//	    claim_header <claim> <header>
//	    public <path_patterns...>
//	    allow_preflight
//	    realm <realm>
//	    issuers <self|trusted_issuer name...>
//	    require <rule>                   (repeatable; a rule of tokengate_require)
//	}
func parseProtect(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	p := new(Protect)
	h.Next()
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	for h.NextBlock(0) {
		switch h.Val() {
		case "cookie":
			if !h.Args(&p.Cookie) {
				return nil, h.ArgErr()
			}
		case "disable_okapi_header":
			p.DisableOkapiHeader = true
		case "leeway":
			d, err := durationArg(h.Dispenser)
			if err != nil {
				return nil, err
			}
			p.Leeway = d
		case "accept_legacy":
			p.AcceptLegacy = true
		case "claim_header":
			var claim, header string
			if !h.Args(&claim, &header) {
				return nil, h.ArgErr()
			}
			if p.ClaimHeaders == nil {
				p.ClaimHeaders = map[string]string{}
			}
			p.ClaimHeaders[claim] = header
		case "public":
			args := h.RemainingArgs()
			if len(args) == 0 {
				return nil, h.ArgErr()
			}
			p.PublicPaths = append(p.PublicPaths, args...)
		case "allow_preflight":
			p.AllowPreflight = true
		case "realm":
			if !h.Args(&p.Realm) {
				return nil, h.ArgErr()
			}
		case "issuers":
			args := h.RemainingArgs()
			if len(args) == 0 {
				return nil, h.ArgErr()
			}
			p.Issuers = append(p.Issuers, args...)
		case "require":
			if !h.NextArg() {
				return nil, h.ArgErr()
			}
			if p.Require == nil {
				p.Require = new(policy.Rules)
			}
			if err := parseRule(h.Dispenser, p.Require); err != nil {
				return nil, err
			}
		default:
			return nil, h.Errf("unknown tokengate_protect option %q", h.Val())
		}
	}
	return p, nil
}

// parseJWKS sets up the JWK Set document. Syntax:
//
//	tokengate_jwks [<path>]
func parseJWKS(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	j := new(JWKS)
	h.Next()
	h.Args(&j.Path)
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	return j, nil
}

// parseEcho sets up the demo upstream. Syntax:
//
//	tokengate_echo
func parseEcho(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next()
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	return Echo{}, nil
}

// parseEndpointBlock parses the block shared by the endpoint handlers:
//
//	<directive> [<matcher>] {
//	    prefix <path_prefix>
//	    max_body <bytes>
//	    <the handler's own options, passed to extra>
//	}
//
// extra reports whether it knew the option; an option nobody knows is an
// error that names the directive.
func parseEndpointBlock(h httpcaddyfile.Helper, prefix *string, maxBody *int64, extra func(opt string) (bool, error)) error {
	directive := h.Val()
	h.Next()
	if directive == "" {
		directive = h.Val()
	}
	if h.NextArg() {
		return h.ArgErr()
	}
	for h.NextBlock(0) {
		switch opt := h.Val(); opt {
		case "prefix":
			if !h.Args(prefix) || h.NextArg() {
				return h.ArgErr()
			}
		case "max_body":
			n, err := intArg(h.Dispenser)
			if err != nil {
				return err
			}
			*maxBody = n
		default:
			known := false
			if extra != nil {
				var err error
				if known, err = extra(opt); err != nil {
					return err
				}
			}
			if !known {
				return h.Errf("unknown %s option %q", directive, opt)
			}
		}
	}
	return nil
}

// durationArg reads the one duration argument of the option the dispenser
// is on. Errors name the option and carry the Caddyfile line.
func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	option := d.Val()
	if !d.NextArg() {
		return 0, d.ArgErr()
	}
	dur, err := parseDuration(d, option, d.Val())
	if err != nil {
		return 0, err
	}
	if d.NextArg() {
		return 0, d.ArgErr()
	}
	return dur, nil
}

// parseDuration parses the value of option. No tokengate duration (a
// lifetime, a leeway, an interval) can be negative, so a negative one is
// refused here, where the error can still point at the Caddyfile line.
func parseDuration(d *caddyfile.Dispenser, option, value string) (caddy.Duration, error) {
	dur, err := caddy.ParseDuration(value)
	if err != nil {
		return 0, d.Errf("%s: invalid duration %q: %v", option, value, err)
	}
	if dur < 0 {
		return 0, d.Errf("%s: duration %s must not be negative", option, value)
	}
	return caddy.Duration(dur), nil
}

// parseRedisStore reads the rest of `store redis [<addr>] [{ ... }]`.
func parseRedisStore(d *caddyfile.Dispenser, sc *StoreConfig) error {
	if d.NextArg() {
		sc.Address = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch opt {
		case "username", "password", "prefix", "on_stale", "instance_id":
			if !d.NextArg() {
				return d.ArgErr()
			}
			v := d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
			switch opt {
			case "username":
				sc.Username = v
			case "password":
				if err := checkSecret("redis password", v); err != nil {
					return d.Err(err.Error())
				}
				sc.Password = v
			case "prefix":
				sc.Prefix = v
			case "on_stale":
				if v != "refuse" && v != "serve" {
					return d.Errf("on_stale %q: want refuse or serve", v)
				}
				sc.OnStale = v
			case "instance_id":
				sc.InstanceID = v
			}
		case "min_replicas_acked":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if d.Val() == "auto" {
				if d.NextArg() {
					return d.ArgErr()
				}
				sc.MinReplicasAcked = nil
				break
			}
			d.Prev()
			n, err := intArg(d)
			if err != nil {
				return err
			}
			if n > 64 {
				return d.Errf("min_replicas_acked %d: more replicas than a primary would have", n)
			}
			v := int(n)
			sc.MinReplicasAcked = &v
		case "replica_ack_timeout", "revocation_wait", "max_staleness":
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			if dur <= 0 || time.Duration(dur) > time.Minute {
				return d.Errf("%s %v: want a duration above 0 and at most 1m", opt, time.Duration(dur))
			}
			switch opt {
			case "replica_ack_timeout":
				sc.ReplicaAckTimeout = dur
			case "revocation_wait":
				sc.RevocationWait = dur
			case "max_staleness":
				sc.MaxStaleness = dur
			}
		case "db":
			n, err := intArg(d)
			if err != nil {
				return err
			}
			if n > 1<<20 {
				return d.Errf("invalid redis db %d", n)
			}
			sc.DB = int(n)
		default:
			return d.Errf("unknown redis store option %q", opt)
		}
	}
	return nil
}

func intArg(d *caddyfile.Dispenser) (int64, error) {
	if !d.NextArg() {
		return 0, d.ArgErr()
	}
	n, err := strconv.ParseInt(d.Val(), 10, 64)
	if err != nil || n < 0 {
		return 0, d.Errf("invalid number %q", d.Val())
	}
	if d.NextArg() {
		return 0, d.ArgErr()
	}
	return n, nil
}
