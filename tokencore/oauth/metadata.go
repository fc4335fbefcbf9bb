package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// ErrMetadata is wrapped by every metadata construction or validation error.
var ErrMetadata = errors.New("oauth: invalid server metadata")

// Well-known locations of the metadata document.
const (
	// WellKnownOAuth is inserted between host and issuer path (RFC 8414 §3).
	WellKnownOAuth = "/.well-known/oauth-authorization-server"
	// WellKnownOpenID is appended to the issuer (OIDC Discovery §4).
	WellKnownOpenID = "/.well-known/openid-configuration"
)

// Metadata is the authorization server metadata document (RFC 8414 §2),
// also served as OpenID Provider metadata (OIDC Discovery §3). Every list
// is omitempty: RFC 8414 §3.2 says members with no elements MUST be
// omitted. MarshalJSON drops "none" from the signing-algorithm lists,
// which RFC 8414 §2 forbids there.
type Metadata struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint         string   `json:"token_endpoint,omitempty"`
	JWKSURI               string   `json:"jwks_uri,omitempty"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint,omitempty"`
	RegistrationEndpoint  string   `json:"registration_endpoint,omitempty"`
	ScopesSupported       []string `json:"scopes_supported,omitempty"`
	// ResponseTypesSupported is REQUIRED by RFC 8414 when an authorization
	// endpoint exists; a token-only service has none to list.
	ResponseTypesSupported []string `json:"response_types_supported,omitempty"`
	ResponseModesSupported []string `json:"response_modes_supported,omitempty"`
	// GrantTypesSupported must be listed: when it is omitted, clients
	// assume ["authorization_code", "implicit"] (RFC 8414 §2).
	GrantTypesSupported                        []string `json:"grant_types_supported,omitempty"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	ServiceDocumentation                       string   `json:"service_documentation,omitempty"`
	RevocationEndpoint                         string   `json:"revocation_endpoint,omitempty"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint,omitempty"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported,omitempty"`
	// AuthorizationResponseISSParameterSupported: authorization responses
	// carry iss (RFC 9207 §3).
	AuthorizationResponseISSParameterSupported bool `json:"authorization_response_iss_parameter_supported,omitempty"`
	// OpenID Connect Discovery members.
	SubjectTypesSupported            []string `json:"subject_types_supported,omitempty"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported,omitempty"`
	ClaimsSupported                  []string `json:"claims_supported,omitempty"`
}

// Endpoints names the paths of the server's endpoints, relative to the
// issuer ("/token") or as absolute https URLs. An empty path leaves the
// endpoint out of the document.
type Endpoints struct {
	Authorization, Token, Revocation, Introspection, JWKS, Userinfo string
}

// NewMetadata builds the document for an issuer and its endpoints.
//
// The issuer must be an https URL without query or fragment (RFC 8414 §2);
// http is accepted only for loopback hosts, for development. A trailing
// slash is removed, because clients compare the issuer byte for byte
// (RFC 8414 §3.3). The authentication methods of the token, revocation and
// introspection endpoints are set to the methods Clients.Authenticate
// implements; the caller fills in grant types, scopes and algorithms.
func NewMetadata(issuer string, ep Endpoints) (*Metadata, error) {
	iss, err := normalizeIssuer(issuer)
	if err != nil {
		return nil, err
	}
	m := &Metadata{Issuer: iss}
	for _, f := range []struct {
		path string
		dst  *string
	}{
		{ep.Authorization, &m.AuthorizationEndpoint},
		{ep.Token, &m.TokenEndpoint},
		{ep.Revocation, &m.RevocationEndpoint},
		{ep.Introspection, &m.IntrospectionEndpoint},
		{ep.JWKS, &m.JWKSURI},
		{ep.Userinfo, &m.UserinfoEndpoint},
	} {
		if f.path == "" {
			continue
		}
		u, err := endpointURL(iss, f.path)
		if err != nil {
			return nil, err
		}
		*f.dst = u
	}
	methods := []string{string(AuthClientSecretBasic), string(AuthClientSecretPost), string(AuthNone)}
	if m.TokenEndpoint != "" {
		m.TokenEndpointAuthMethodsSupported = slices.Clone(methods)
	}
	if m.RevocationEndpoint != "" {
		m.RevocationEndpointAuthMethodsSupported = slices.Clone(methods)
	}
	if m.IntrospectionEndpoint != "" {
		m.IntrospectionEndpointAuthMethodsSupported = slices.Clone(methods)
	}
	return m, nil
}

// Validate checks what RFC 8414 §2 requires of a document this server
// serves: a valid issuer, a token endpoint, listed grant types (the
// default would be wrong for us), and no "none" among signing algorithms.
func (m *Metadata) Validate() error {
	var errs []error
	if iss, err := normalizeIssuer(m.Issuer); err != nil {
		errs = append(errs, err)
	} else if iss != m.Issuer {
		errs = append(errs, fmt.Errorf("%w: issuer %q must not end in a slash", ErrMetadata, m.Issuer))
	}
	if m.TokenEndpoint == "" {
		errs = append(errs, fmt.Errorf("%w: token_endpoint is required", ErrMetadata))
	}
	if m.AuthorizationEndpoint != "" && len(m.ResponseTypesSupported) == 0 {
		errs = append(errs, fmt.Errorf("%w: response_types_supported is required with an authorization endpoint", ErrMetadata))
	}
	if len(m.GrantTypesSupported) == 0 {
		errs = append(errs, fmt.Errorf("%w: grant_types_supported must be listed", ErrMetadata))
	}
	if slices.ContainsFunc(m.IDTokenSigningAlgValuesSupported, isAlgNone) {
		errs = append(errs, fmt.Errorf("%w: id_token_signing_alg_values_supported must not contain \"none\"", ErrMetadata))
	}
	if slices.ContainsFunc(m.TokenEndpointAuthSigningAlgValuesSupported, isAlgNone) {
		errs = append(errs, fmt.Errorf("%w: token_endpoint_auth_signing_alg_values_supported must not contain \"none\"", ErrMetadata))
	}
	return errors.Join(errs...)
}

// MarshalJSON encodes the document with "none" removed from the
// signing-algorithm lists, whatever the struct holds.
func (m Metadata) MarshalJSON() ([]byte, error) {
	type plain Metadata // no methods: avoids recursing into MarshalJSON
	p := plain(m)
	p.IDTokenSigningAlgValuesSupported = withoutNone(m.IDTokenSigningAlgValuesSupported)
	p.TokenEndpointAuthSigningAlgValuesSupported = withoutNone(m.TokenEndpointAuthSigningAlgValuesSupported)
	return json.Marshal(p)
}

// OAuthWellKnownURL is where RFC 8414 §3 clients fetch the document: the
// well-known path inserted between the host and the issuer's path.
func (m *Metadata) OAuthWellKnownURL() string {
	u, err := url.Parse(m.Issuer)
	if err != nil {
		return ""
	}
	u.Path = WellKnownOAuth + strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u.String()
}

// OpenIDWellKnownURL is where OIDC Discovery clients fetch the document:
// the issuer with the well-known path appended.
func (m *Metadata) OpenIDWellKnownURL() string {
	return strings.TrimSuffix(m.Issuer, "/") + WellKnownOpenID
}

// normalizeIssuer validates an issuer and removes a trailing slash.
func normalizeIssuer(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return "", fmt.Errorf("%w: issuer: %w", ErrMetadata, err)
	}
	switch {
	case u.Host == "" || u.User != nil || u.Opaque != "":
		return "", fmt.Errorf("%w: issuer %q must be an absolute URL with a host", ErrMetadata, issuer)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(issuer, "#"):
		return "", fmt.Errorf("%w: issuer %q must not have a query or fragment", ErrMetadata, issuer)
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return "", fmt.Errorf("%w: issuer %q must use https", ErrMetadata, issuer)
	}
	return strings.TrimRight(issuer, "/"), nil
}

// endpointURL resolves an endpoint path against the issuer. Absolute URLs
// must be https (or loopback http), like the issuer.
func endpointURL(issuer, path string) (string, error) {
	if strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "//") {
		return issuer + path, nil
	}
	u, err := url.Parse(path)
	if err != nil || u.Host == "" || u.Fragment != "" ||
		!(u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())) {
		return "", fmt.Errorf("%w: endpoint %q must be a path starting with / or an https URL", ErrMetadata, path)
	}
	return path, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isAlgNone(alg string) bool { return strings.EqualFold(alg, "none") }

func withoutNone(algs []string) []string {
	if !slices.ContainsFunc(algs, isAlgNone) {
		return algs
	}
	return slices.DeleteFunc(slices.Clone(algs), isAlgNone)
}
