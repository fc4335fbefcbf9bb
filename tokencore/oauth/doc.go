// Package oauth holds the protocol primitives of tokengate's OAuth 2.0 token
// service: the error object of RFC 6749 §5.2, form and HTTP Basic parsing,
// the client registry and client authentication, scopes, the token and
// introspection responses, and authorization-server metadata (RFC 8414).
//
// The package knows nothing about HTTP servers or Caddy. A handler reads the
// request body and the Authorization header, calls ParseForm and
// Clients.Authenticate, runs a grant, and writes either a TokenResponse or an
// *Error with the headers from Headers or Error.Headers. Every rule that
// decides what the client sees is here, so it is unit-tested here.
//
// Behaviour follows authlib 1.6.0 (the server DIRAC runs on), because clients
// written against DIRAC rely on its status codes and error descriptions.
// Where authlib contradicts the RFCs, the RFC wins and the choice is stated
// on the function that makes it: for example a request that uses two client
// authentication methods at once is refused (RFC 6749 §2.3), and a broken
// Basic header never falls through to the body credentials.
package oauth
