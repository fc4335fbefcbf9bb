// Package oauth is tokengate's OAuth 2.0 / OpenID Connect server on a
// tokencore.Engine: the authorization endpoint (authorization code with
// PKCE, the login delegated to the app through a ticket and Authlete's
// authorization/issue and authorization/fail), the token endpoint
// (authorization_code, refresh_token and client_credentials grants, with
// OpenID Connect ID tokens), UserInfo (OpenID Connect Core §5.3),
// revocation (RFC 7009), introspection (RFC 7662), the discovery documents
// (RFC 8414, OpenID Connect Discovery) and Authlete's token management
// API; with its primitives: the error object of RFC 6749 §5.2, form and
// HTTP Basic parsing, the client registry and client authentication, and
// scopes.
//
// The package knows nothing about HTTP servers or Caddy. A handler copies
// what the service needs of the HTTP request into a Request (method,
// Content-Type, every Authorization line, the body read through a limit),
// an AuthorizeRequest or a ManageRequest, calls one method of Service
// (Token, Revoke, Introspect, UserInfo, Authorize or Manage), and writes
// the answer it gets: a response's Body with the headers from Headers, an
// *Error's Body with Error.Headers and its HTTPStatus, or the status,
// headers and body of an AuthorizeResponse, UserInfoResponse or
// ManageResponse. Every rule that decides what the client sees is here,
// so it is unit-tested here.
//
// Behaviour follows authlib 1.6.0 (the server DIRAC runs on), because clients
// written against DIRAC rely on its status codes and error descriptions.
// Where authlib contradicts the RFCs, the RFC wins and the choice is stated
// on the function that makes it: for example a request that uses two client
// authentication methods at once is refused (RFC 6749 §2.3), and a broken
// Basic header never falls through to the body credentials.
package oauth
