//lint:file-ignore ST1005 the error texts are mod-authtoken's own, capitals included.

package tokencore

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Default token lifetimes, mod-authtoken's.
const (
	DefaultAccessTTL  = 600 * time.Second
	DefaultRefreshTTL = 604800 * time.Second
)

// TokenTTL is the lifetime of an access token and a refresh token.
type TokenTTL struct {
	Access  time.Duration
	Refresh time.Duration
}

// TTLPolicy gives lifetimes per tenant, with a default.
type TTLPolicy struct {
	Default TokenTTL
	Tenants map[string]TokenTTL
}

// For returns the lifetimes of tenant; unset values fall back to the
// policy default, then to mod-authtoken's defaults.
func (p TTLPolicy) For(tenant string) TokenTTL {
	t := p.Tenants[tenant]
	if t.Access <= 0 {
		t.Access = p.Default.Access
	}
	if t.Refresh <= 0 {
		t.Refresh = p.Default.Refresh
	}
	if t.Access <= 0 {
		t.Access = DefaultAccessTTL
	}
	if t.Refresh <= 0 {
		t.Refresh = DefaultRefreshTTL
	}
	return t
}

// MaxAccess is the longest access-token lifetime of any tenant: how long a
// user revocation must be remembered.
func (p TTLPolicy) MaxAccess() time.Duration {
	m := p.For("").Access
	for tenant := range p.Tenants {
		if a := p.For(tenant).Access; a > m {
			m = a
		}
	}
	return m
}

// maxTTLSeconds is the longest lifetime a time.Duration holds (292 years).
const maxTTLSeconds = math.MaxInt64 / int64(time.Second)

// ParseFolioExpiration parses mod-authtoken's TOKEN_EXPIRATION_SECONDS
// grammar, e.g. "tenantId:diku,accessToken:300,refreshToken:86400;accessToken:900":
// entries separated by ';', each a ','-separated list of key:value pairs;
// an entry without tenantId sets the default; spaces are ignored; a missing
// or non-positive value falls back to the default. The error messages are
// mod-authtoken's.
func ParseFolioExpiration(s string) (TTLPolicy, error) {
	p := TTLPolicy{Tenants: map[string]TokenTTL{}}
	s = strings.ReplaceAll(s, " ", "")
	for _, entry := range strings.Split(s, ";") {
		if entry == "" {
			continue
		}
		var tenant string
		var ttl TokenTTL
		for _, pair := range strings.Split(entry, ",") {
			if pair == "" {
				return p, fmt.Errorf("Token expiration configuration has an empty key value pair")
			}
			kv := strings.Split(pair, ":")
			if len(kv) != 2 {
				return p, fmt.Errorf("Expected a key value pair with a single colon but found %s", pair)
			}
			switch kv[0] {
			case "tenantId":
				tenant = kv[1]
			case "accessToken", "refreshToken":
				n, err := strconv.ParseInt(kv[1], 10, 64)
				if err != nil {
					return p, fmt.Errorf("Token expiration value %q of %s is not an integer", kv[1], kv[0])
				}
				if n > maxTTLSeconds {
					// It would wrap around to a negative time.Duration.
					return p, fmt.Errorf("Token expiration value %q of %s is larger than %d seconds", kv[1], kv[0], maxTTLSeconds)
				}
				d := time.Duration(max(n, 0)) * time.Second
				if kv[0] == "accessToken" {
					ttl.Access = d
				} else {
					ttl.Refresh = d
				}
			default:
				return p, fmt.Errorf("Token expiration configuration has an unknown key of %s", kv[0])
			}
		}
		if tenant == "" {
			p.Default = ttl
		} else {
			p.Tenants[tenant] = ttl
		}
	}
	return p, nil
}
