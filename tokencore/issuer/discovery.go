package issuer

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
)

// discovery is an issuer's OpenID Provider metadata (OpenID Connect
// Discovery 1.0 §4), fetched until it succeeds once, then kept.
type discovery struct {
	f      *fetcher
	issuer string

	mu   sync.Mutex
	meta *metadata
}

type metadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// get returns the metadata, fetching it if it is not known yet. The
// document must name the configured issuer exactly (§4.3): a document
// that names another would hand over another issuer's keys.
func (d *discovery) get(ctx context.Context) (*metadata, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.meta != nil {
		return d.meta, nil
	}
	url := strings.TrimSuffix(d.issuer, "/") + "/.well-known/openid-configuration"
	body, _, err := d.f.get(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	var m metadata
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("discovery: %s: %w", url, err)
	}
	if m.Issuer != d.issuer {
		return nil, fmt.Errorf("discovery: %s names issuer %q, not %q", url, m.Issuer, d.issuer)
	}
	if err := d.f.cfg.checkURL(m.JWKSURI); err != nil {
		return nil, fmt.Errorf("discovery: jwks_uri: %w", err)
	}
	if m.IntrospectionEndpoint != "" {
		if err := d.f.cfg.checkURL(m.IntrospectionEndpoint); err != nil {
			return nil, fmt.Errorf("discovery: introspection_endpoint: %w", err)
		}
	}
	d.meta = &m
	return &m, nil
}
