package issuer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// introspector checks opaque tokens at the issuer's RFC 7662 endpoint.
type introspector struct {
	iss *Issuer
	f   *fetcher
	// sem bounds concurrent calls: a flood of made-up tokens queues here.
	sem chan struct{}
}

// inactive is the cached verdict of a token the issuer said is not active.
type inactive struct{}

func (in *introspector) endpoint(ctx context.Context) (string, error) {
	if e := in.iss.cfg.Introspection.Endpoint; e != "" {
		return e, nil
	}
	m, err := in.iss.disc.get(ctx)
	if err != nil {
		return "", err
	}
	if m.IntrospectionEndpoint == "" {
		return "", fmt.Errorf("discovery names no introspection_endpoint")
	}
	return m.IntrospectionEndpoint, nil
}

// check returns the claims of an active token. Answers are cached under a
// key made of the issuer, the endpoint and the client (Oathkeeper's
// GHSA-qvp4-rpmr-xwrr: a key without them let one endpoint's verdict
// answer for another): active ones for at most CacheTTL and never past
// the token's exp, inactive ones for InactiveTTL.
func (in *introspector) check(ctx context.Context, token string) (*tokencore.Claims, error) {
	cfg := in.iss.cfg.Introspection
	endpoint, err := in.endpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", tokencore.ErrIssuerUnavailable, err)
	}
	cache := in.iss.deps.Cache
	var key tokencore.CacheKey
	if cache != nil {
		key = cache.Key(in.iss.scope+"|introspect|"+endpoint+"|"+cfg.ClientID, token)
		if v, ok := cache.Get(key); ok {
			switch v := v.(type) {
			case *tokencore.Claims:
				return v, nil
			case inactive:
				return nil, tokencore.ErrTokenInactive
			}
		}
	}
	m, err := in.call(ctx, endpoint, token)
	if err != nil {
		return nil, err
	}
	now := in.iss.deps.Now()
	if active, _ := m["active"].(bool); !active {
		if cache != nil {
			cache.Put(key, inactive{}, cfg.InactiveTTL)
		}
		return nil, tokencore.ErrTokenInactive
	}
	if tt, ok := m["token_type"].(string); ok && !strings.EqualFold(tt, "bearer") && !strings.EqualFold(tt, "access_token") {
		return nil, fmt.Errorf("%w: token_type %q", tokencore.ErrTokenWrongType, tt)
	}
	if _, ok := m["iss"]; !ok {
		m["iss"] = in.iss.cfg.Issuer // optional in RFC 7662; the endpoint is the issuer's
	}
	c, err := in.iss.claims(m)
	if err != nil {
		return nil, err
	}
	if cache != nil {
		ttl := cfg.CacheTTL
		if c.ExpiresAt != 0 {
			ttl = min(ttl, time.Unix(c.ExpiresAt, 0).Sub(now))
		}
		cache.Put(key, c, ttl)
	}
	return c, nil
}

// call posts the token to the endpoint with client_secret_basic (RFC 6749
// §2.3.1: id and secret form-encoded before Basic).
func (in *introspector) call(ctx context.Context, endpoint, token string) (map[string]any, error) {
	select {
	case in.sem <- struct{}{}:
		defer func() { <-in.sem }()
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", tokencore.ErrIssuerUnavailable, ctx.Err())
	}
	cfg := in.iss.cfg.Introspection
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", tokencore.ErrIssuerUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret))
	body, resp, err := in.f.do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: introspection: %w", tokencore.ErrIssuerUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		// 401 means tokengate's client credentials are wrong: an
		// operator's problem, not the token's.
		return nil, fmt.Errorf("%w: introspection: status %d", tokencore.ErrIssuerUnavailable, resp.StatusCode)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: introspection answer: %w", tokencore.ErrIssuerUnavailable, err)
	}
	if _, ok := m["active"].(bool); !ok {
		return nil, fmt.Errorf("%w: introspection answer without active", tokencore.ErrIssuerUnavailable)
	}
	return m, nil
}
