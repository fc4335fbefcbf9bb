package oauth

import (
	"slices"
)

// Metadata returns the service's authorization server metadata document
// (RFC 8414), also served as the OpenID Provider configuration. It lists
// the endpoints in ep, the supported grant types (refresh_token and
// client_credentials, and authorization_code with response type code,
// query response mode, PKCE S256 and RFC 9207's iss when the
// authorization endpoint is on: Config.LoginURL; ep.Authorization is
// dropped otherwise, and ep.Userinfo when no client may use openid),
// every scope a client is registered for, and the client
// authentication methods per endpoint: all three at the token and
// revocation endpoints, the two secret-based ones at introspection
// (public clients may not introspect). When a client may receive ID
// tokens, the OpenID members are added: the ID-token signing algorithms
// (RS256, mandatory, and ES256 when a key can sign it; each client's
// registration picks one), subject type "public" and the claims ID tokens
// carry.
func (s *Service) Metadata(ep Endpoints) (*Metadata, error) {
	if !s.AuthorizationEnabled() {
		ep.Authorization = ""
	}
	if len(s.idKeys) == 0 {
		ep.Userinfo = ""
	}
	m, err := NewMetadata(s.cfg.Issuer, ep)
	if err != nil {
		return nil, err
	}
	m.GrantTypesSupported = []string{GrantTypeRefreshToken, GrantTypeClientCredentials}
	if m.AuthorizationEndpoint != "" {
		m.GrantTypesSupported = append([]string{GrantTypeAuthorizationCode}, m.GrantTypesSupported...)
		m.ResponseTypesSupported = []string{ResponseTypeCode}
		m.ResponseModesSupported = []string{ResponseModeQuery}
		m.CodeChallengeMethodsSupported = []string{CodeChallengeMethod}
		m.AuthorizationResponseISSParameterSupported = true
	}
	var scopes []string
	for _, c := range s.clients.byID {
		for _, sc := range c.Scopes {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	slices.Sort(scopes)
	m.ScopesSupported = scopes
	if m.IntrospectionEndpoint != "" {
		m.IntrospectionEndpointAuthMethodsSupported = []string{string(AuthClientSecretBasic), string(AuthClientSecretPost)}
	}
	if algs := s.IDTokenAlgs(); len(algs) > 0 {
		m.SubjectTypesSupported = []string{"public"}
		m.IDTokenSigningAlgValuesSupported = algs
		m.ClaimsSupported = []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "acr", "azp"}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}
