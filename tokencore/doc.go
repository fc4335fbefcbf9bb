// Package tokencore is the engine of tokengate: signing keys and JWKS, token
// minting and verification, refresh-token families (grants), revocation, the
// store contract that persists them (Store, implemented by the packages under
// tokencore/store: memory, bolt, redis), the verification cache and the
// legacy token codecs of the systems tokengate is compatible with.
//
// tokencore does not import Caddy. Every protocol rule lives here and is
// unit-tested here; the caddymodule package only decodes HTTP requests,
// calls into this package and encodes the answers.
//
// The central record is the Grant: one token family (a login, an OAuth grant,
// a token created through the management API). A grant names its subject,
// tenant, client and scopes, and the identifiers and hashes of its current
// access and refresh tokens. Rotating a refresh token is an atomic
// compare-and-swap on the grant (Store.UpdateGrant), so concurrent refreshes
// of one token have exactly one winner.
package tokencore
