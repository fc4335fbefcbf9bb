package oauth

import "net/http"

// Descriptions of client-authentication failures, as authlib 1.6.0 words
// them, plus tokengate's own for the cases authlib does not refuse.
const (
	// descCannotAuthenticate is authlib's message when no method succeeded:
	// the Python repr of the method list (DIRAC's
	// TOKEN_ENDPOINT_AUTH_METHODS, which is ours).
	descCannotAuthenticate = "The client cannot authenticate with methods: ['client_secret_basic', 'client_secret_post', 'none']"
	descUnknownClient      = "The client does not exist on this server."
	descTwoMethods         = "The client must not use more than one authentication method."
	descClientIDMismatch   = "The 'client_id' parameter does not match the authenticated client."
)

// dummySecretHash is verified against when the client is unknown, so that
// answering for an unknown ID costs the same SHA-256 and constant-time
// compare as a wrong secret. It is the hash of no secret anyone holds.
//
// It is deliberately not bcrypt even when some clients use bcrypt: authlib's
// descriptions already tell an unknown client from a wrong secret, so equal
// timing there protects nothing, while a bcrypt dummy would let anyone burn
// a bcrypt computation per request without knowing a single client ID.
const dummySecretHash = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// Authenticate identifies and authenticates the client of a token,
// revocation or introspection request, from the Authorization header and
// the parsed form body. It follows authlib's ClientAuthentication with the
// methods client_secret_basic, client_secret_post and none, in that order,
// where a client succeeds only with the method it is registered for.
//
// Outcomes (status, with a "Basic" challenge on every 401: authlib sends it
// whenever Basic is an allowed method, and RFC 9110 requires a challenge):
//
//   - malformed Basic header: invalid_client 401 — the client tried the
//     header, so it never falls through to the body (RFC 6749 §5.2);
//   - Basic and a client_secret in the body: invalid_request 400, since a
//     client MUST NOT use two methods (RFC 6749 §2.3; authlib lets Basic win);
//   - Basic and a body client_id naming another client: invalid_request
//     400 (OAuth 2.1 §4.3.1: a client_id that is present must match);
//   - Basic with an empty ID or secret: invalid_client 401;
//   - Basic naming an unknown client: invalid_client 401, "The client does
//     not exist on this server.";
//   - client_secret_post or none naming an unknown client_id: invalid_client
//     400 with the same description (authlib raises immediately, at 400);
//   - a wrong secret, a client registered for another method, a public
//     client that sends a secret, a client_secret without client_id, or no
//     credentials at all: invalid_client 401, "The client cannot
//     authenticate with methods: [...]".
//
// The returned client is a copy the caller may keep.
func (cs *Clients) Authenticate(authorization string, form Form) (*Client, *Error) {
	basicID, basicSecret, hasBasic, perr := ParseBasicAuth(authorization)
	if perr != nil {
		return nil, perr
	}
	postID, postSecret := form.Get("client_id"), form.Get("client_secret")

	if hasBasic {
		if postSecret != "" {
			return nil, NewError(ErrInvalidRequest, descTwoMethods)
		}
		if postID != "" && postID != basicID {
			return nil, NewError(ErrInvalidRequest, descClientIDMismatch)
		}
		if basicID == "" || basicSecret == "" {
			return nil, clientFailed(descCannotAuthenticate, true)
		}
		return cs.verifySecret(basicID, basicSecret, AuthClientSecretBasic, http.StatusUnauthorized)
	}

	if postSecret != "" {
		if postID == "" {
			return nil, clientFailed(descCannotAuthenticate, true)
		}
		return cs.verifySecret(postID, postSecret, AuthClientSecretPost, http.StatusBadRequest)
	}

	if postID != "" {
		c := cs.lookup(postID)
		if c == nil {
			return nil, clientFailed(descUnknownClient, false)
		}
		if c.AuthMethod != AuthNone {
			// A confidential client that left out its secret.
			return nil, clientFailed(descCannotAuthenticate, true)
		}
		return c.Clone(), nil
	}

	return nil, clientFailed(descCannotAuthenticate, true)
}

// verifySecret authenticates id with secret for a secret-based method.
// unknownStatus is the status for an unknown ID: 401 for Basic, 400 for
// post, as authlib. The secret is always checked, against a dummy hash for
// an unknown client and against the real one before the method is
// compared, so the work done does not depend on which check fails.
func (cs *Clients) verifySecret(id, secret string, method AuthMethod, unknownStatus int) (*Client, *Error) {
	c := cs.lookup(id)
	if c == nil {
		VerifySecret(dummySecretHash, secret)
		return nil, clientFailed(descUnknownClient, unknownStatus == http.StatusUnauthorized)
	}
	// A public client has no hash; checking the dummy keeps the work equal,
	// and the method comparison refuses it whatever the outcome, because a
	// public client must not send a secret.
	hash := c.SecretHash
	if hash == "" {
		hash = dummySecretHash
	}
	ok := VerifySecret(hash, secret)
	if !ok || c.AuthMethod != method {
		return nil, clientFailed(descCannotAuthenticate, true)
	}
	return c.Clone(), nil
}

// clientFailed builds invalid_client, at 401 with a Basic challenge or at
// 400 without one.
func clientFailed(desc string, unauthorized bool) *Error {
	e := NewError(ErrInvalidClient, desc)
	if unauthorized {
		e.Status = http.StatusUnauthorized
		e.AuthScheme = "Basic"
	}
	return e
}
