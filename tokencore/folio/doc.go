// Package folio implements FOLIO mod-authtoken's token API on the engine:
// /token/sign, /token/refresh, /token/invalidate, /token/invalidate-all,
// legacy /token and /refreshtoken, and /admin/health.
//
// It has the shape of the other protocols (oauth, edi): every
// mod-authtoken rule and message lives here, so the Caddy handler only
// turns an HTTP request into a Request and a Response back into HTTP.
// Bodies and error texts are mod-authtoken's (errors are text/plain),
// with the improvements docs/folio.md lists.
package folio
