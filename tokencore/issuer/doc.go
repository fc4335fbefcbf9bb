// Package issuer verifies the tokens of external identity providers
// (Keycloak, Auth0, Entra ID, Okta, Zitadel, any OpenID Provider) so that
// tokengate can protect routes with them, beside or instead of its own.
//
// Each trusted issuer has one key source: OpenID Connect discovery
// (issuer → jwks_uri), a JWK Set URL or a key file. Fetched key sets are
// refreshed in the background as their Cache-Control allows, clamped
// between a floor and a ceiling; a set that cannot be refreshed is used
// for a bounded stale window and then every token of the issuer is refused
// (tokencore.ErrIssuerUnavailable: fail closed). A token naming a kid the
// set lacks triggers a refetch at once, at most once per
// UnknownKIDInterval, so made-up kids never become a flood of fetches.
//
// The key decides the algorithm: a JWK's alg, or its curve, fixes it, and
// the issuer's algorithm list only narrows; HMAC and none are never
// accepted. aud, iss and (optionally) typ are checked; exp is required.
// Opaque tokens are checked by RFC 7662 introspection with client
// credentials.
//
// Verdicts go through the engine's verification cache, under a scope made
// of the issuer's name and configuration and the fingerprint of its
// current key set (or its introspection endpoint and client), so two
// issuers or two configurations never share one. Time and revocation are
// checked on every request: the verifier returns the same
// *tokencore.Claims tokengate's own verifier does and passes it to the
// revocation view's Admit, so revocations by subject, user or jti apply to
// external tokens too.
//
// Fetches go over https only; http is allowed to loopback hosts when
// AllowHTTPLoopback is set (tests, a sidecar). Every fetched document is
// bounded (MaxDocumentBytes) and must be strict JSON; every fetch has a
// timeout.
package issuer
