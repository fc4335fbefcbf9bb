// Package policy decides, after a token has been verified, whether a route
// admits it: the scopes it must grant (all of a set, or at least one of a
// set), the claims it must carry (equal to a value, one of several values,
// or an array containing values), the issuer and the client it must come
// from. It is the one decision function behind tokengate_protect's
// `require` lines and the tokengate_require handler, and it says which kind
// of refusal a token earned, so the HTTP answer follows RFC 6750 §3.1:
// 403 insufficient_scope with the required scope when only a scope is
// missing, 403 for any other refusal.
//
// Claim names are looked up as tokencore.Claims.Lookup does: the exact
// top-level member first (Auth0's namespaced claims such as
// "https://example.com/roles" contain dots), then, for a name with dots, a
// path through nested objects (Keycloak's "realm_access.roles").
//
// The package does not import Caddy.
package policy
