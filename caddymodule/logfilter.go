package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/logging"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tokengate/tokengate/tokencore/edi"
)

func init() {
	caddy.RegisterModule(CredentialsLogFilter{})
}

// CredentialsLogFilter is a log field filter (for Caddy's `filter` log
// encoder) that redacts tokengate's credential headers in a logged header
// set, the way Caddy itself redacts Authorization, Cookie and Set-Cookie:
// X-Okapi-Token, X-Okapi-Module-Tokens, X-New-Auth-Token, the FOLIO signer
// header (X-Tokengate-Signer, plus the names given in Headers), in every
// spelling (case, '_' and '.' as '-'). Like Caddy's own redaction it steps
// aside when the server logs credentials (`log_credentials`).
//
// Why a log filter and not the handlers: Caddy encodes the access log's
// `request` from a copy of the request taken before any handler runs
// (caddyhttp.Server.ServeHTTP clones it "to capture the original request"),
// so no handler can take a header out of the access log; and
// reverse_proxy's debug log shows the request exactly as the upstream gets
// it, which for a FOLIO upstream includes the verified X-Okapi-Token it
// needs. The log encoder is the one place where both can be redacted, and
// Caddy's `filter` encoder is how Caddy lets a log redact a field. The
// handlers still remove every credential an upstream does not need
// (signer secrets, EDI cookies, unverified tokens) before it is proxied.
//
// Apply it to every field that holds request or response headers:
//
//	log {
//	    format filter {
//	        request>headers tokengate_credentials
//	        resp_headers    tokengate_credentials
//	        headers         tokengate_credentials   # reverse_proxy's upstream response
//	    }
//	}
type CredentialsLogFilter struct {
	// Headers are more header names to redact (a custom signer_header).
	Headers []string `json:"headers,omitempty"`
}

// credentialHeaders are redacted by every CredentialsLogFilter: the headers
// that carry a token or a secret to or from a tokengate deployment, besides
// those Caddy redacts itself.
var credentialHeaders = []string{HeaderToken, "X-Okapi-Module-Tokens", edi.HeaderNewAuth, defaultSignerHeader}

// CaddyModule returns the Caddy module information.
func (CredentialsLogFilter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "caddy.logging.encoders.filter.tokengate_credentials",
		New: func() caddy.Module { return new(CredentialsLogFilter) },
	}
}

// UnmarshalCaddyfile reads `tokengate_credentials [<header>...]`.
func (f *CredentialsLogFilter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the filter's name
	f.Headers = append(f.Headers, d.RemainingArgs()...)
	if d.NextBlock(0) {
		return d.Err("tokengate_credentials takes header names as arguments, no block")
	}
	return nil
}

// Filter redacts the credential headers of a logged header set (a
// caddyhttp.LoggableHTTPHeader); any other field passes unchanged.
func (f CredentialsLogFilter) Filter(in zapcore.Field) zapcore.Field {
	h, ok := in.Interface.(caddyhttp.LoggableHTTPHeader)
	if !ok || h.ShouldLogCredentials || len(h.Header) == 0 {
		return in
	}
	var out http.Header
	for key := range h.Header {
		if !f.redacts(key) {
			continue
		}
		if out == nil {
			out = h.Header.Clone() // the logged request is shared: never edit it
		}
		out[key] = []string{"REDACTED"} // what Caddy logs for a credential
	}
	if out == nil {
		return in
	}
	return zap.Object(in.Key, caddyhttp.LoggableHTTPHeader{Header: out})
}

// redacts reports whether the header key is one of the filter's.
func (f CredentialsLogFilter) redacts(key string) bool {
	var buf [maxListedHeader]byte
	n, ok := appendNormalized(buf[:0], key)
	if !ok {
		return false
	}
	for _, lists := range [][]string{credentialHeaders, f.Headers} {
		for _, name := range lists {
			if len(name) == len(n) && normalizeHeaderName(name) == string(n) {
				return true
			}
		}
	}
	return false
}

// Interface guards
var (
	_ logging.LogFieldFilter = CredentialsLogFilter{}
	_ caddyfile.Unmarshaler  = (*CredentialsLogFilter)(nil)
)
