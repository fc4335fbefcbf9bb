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
//
// The store interfaces are narrow per protocol, as fosite declares one
// storage interface per flow: the Engine, and with it FOLIO and OAuth,
// needs only a TokenStore (grants and revocations); EDI needs an EDIStore
// beside it. So a backend for FOLIO and OAuth does not implement the EDI
// records, while the gateway's backends implement Store (both) and run the
// whole conformance suite (tokencore/storetest). The backends are packages
// of their own (tokencore/store/...), so that this package links neither
// bbolt nor go-redis.
package tokencore
