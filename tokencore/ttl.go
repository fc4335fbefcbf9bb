package tokencore

import "time"

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
