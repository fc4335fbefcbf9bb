package edi

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokengate/tokengate/tokencore"
)

// ediAlg is the only algorithm of EDI tokens. The key decides the algorithm:
// every configured key is a P-256 key, so ES256 is the only one that can
// verify, whatever a token's header asks for.
const ediAlg = "ES256"

// Signer mints EDI tokens: ES256 JWTs whose header is exactly EDI's
// {"alg":"ES256","typ":"JWT"}, plus "kid" when the signer has one (spec
// §4.1: consumers ignore extra header fields, and a kid lets verifiers pick
// the key during a rotation). It is safe for concurrent use.
type Signer struct {
	key *ecdsa.PrivateKey
	kid string
}

// NewSigner returns a signer for a P-256 private key. kid may be empty,
// which reproduces EDI's header; KeyID gives a stable kid for a key.
func NewSigner(key *ecdsa.PrivateKey, kid string) (*Signer, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: nil EC private key", ErrKey)
	}
	if err := checkP256(&key.PublicKey); err != nil {
		return nil, err
	}
	return &Signer{key: key, kid: kid}, nil
}

// Public returns the verification key.
func (s *Signer) Public() *ecdsa.PublicKey { return &s.key.PublicKey }

// KeyID returns the kid the signer writes into headers, or "".
func (s *Signer) KeyID() string { return s.kid }

// Sign returns the compact JWS of c. It refuses claims that an Verifier
// would reject for their form (ErrUnencodable): an empty sub, iss or hd, a
// zero or out-of-range time, exp not after iat, or a result over
// MaxTokenLength. It does not compare iss and hd with any configuration.
func (s *Signer) Sign(c Claims) (string, error) {
	if err := c.checkMintable(); err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, &jwtClaims{claims: c})
	if s.kid != "" {
		t.Header["kid"] = s.kid
	}
	out, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("signing EDI token: %w", err)
	}
	if len(out) > MaxTokenLength {
		return "", fmt.Errorf("%w: %w: EDI token of %d bytes", ErrUnencodable, ErrTooLarge, len(out))
	}
	return out, nil
}

// Verifier checks EDI tokens (spec §4.3 steps 1–6). It is immutable once
// built and safe for concurrent use. Revocation (step 7) is the caller's:
// it is checked on the returned claims.
type Verifier struct {
	all          []jwt.VerificationKey // every configured key, tried when a token has no kid
	byKID        map[string]*ecdsa.PublicKey
	issuer       string
	hostedDomain string
	leeway       time.Duration
	now          func() time.Time
	parser       *jwt.Parser
}

// verifierConfig collects the options. It is unexported so that an option
// can only ever act on a verifier under construction, never on a built one.
type verifierConfig struct {
	keys         []*ecdsa.PublicKey
	byKID        map[string]*ecdsa.PublicKey
	issuer       string
	hostedDomain string
	leeway       time.Duration
	now          func() time.Time
}

// addKey adds k to the keys tried for tokens without a kid, once.
func (c *verifierConfig) addKey(k *ecdsa.PublicKey) {
	for _, have := range c.keys {
		if have.Equal(k) {
			return
		}
	}
	c.keys = append(c.keys, k)
}

// VerifierOption configures NewVerifier.
type VerifierOption func(*verifierConfig) error

// WithKeyID adds a key that tokens can select with their kid header. The key
// is also tried for tokens without a kid, like the keys passed directly.
func WithKeyID(kid string, key *ecdsa.PublicKey) VerifierOption {
	return func(c *verifierConfig) error {
		if kid == "" {
			return fmt.Errorf("%w: empty kid", ErrKey)
		}
		if _, dup := c.byKID[kid]; dup {
			return fmt.Errorf("%w: kid %q configured twice", ErrKey, kid)
		}
		if err := checkP256(key); err != nil {
			return fmt.Errorf("key %q: %w", kid, err)
		}
		c.byKID[kid] = key
		c.addKey(key)
		return nil
	}
}

// WithIssuer sets the required iss (default DefaultIssuer).
func WithIssuer(iss string) VerifierOption {
	return func(c *verifierConfig) error {
		if iss == "" {
			return errors.New("edi: empty issuer")
		}
		c.issuer = iss
		return nil
	}
}

// WithHostedDomain sets the required hd (default DefaultHostedDomain).
func WithHostedDomain(hd string) VerifierOption {
	return func(c *verifierConfig) error {
		if hd == "" {
			return errors.New("edi: empty hosted domain")
		}
		c.hostedDomain = hd
		return nil
	}
}

// WithLeeway tolerates clock drift on exp, nbf and iat: 0 (the default, as
// in EDI) to MaxLeeway.
func WithLeeway(d time.Duration) VerifierOption {
	return func(c *verifierConfig) error {
		if d < 0 || d > MaxLeeway {
			return fmt.Errorf("edi: leeway %s is outside 0s..%s", d, MaxLeeway)
		}
		c.leeway = d
		return nil
	}
}

// WithClock replaces time.Now, for tests and for callers that take one
// clock reading per request.
func WithClock(now func() time.Time) VerifierOption {
	return func(c *verifierConfig) error {
		if now == nil {
			return errors.New("edi: nil clock")
		}
		c.now = now
		return nil
	}
}

// NewVerifier returns a verifier for the given P-256 public keys and
// those added with WithKeyID; at least one key is required. A token with a
// kid is verified only with the key of that kid, and fails if no key has
// it: a kid may select among the configured keys, never bring its own.
func NewVerifier(keys []*ecdsa.PublicKey, opts ...VerifierOption) (*Verifier, error) {
	c := &verifierConfig{
		byKID:        make(map[string]*ecdsa.PublicKey),
		issuer:       DefaultIssuer,
		hostedDomain: DefaultHostedDomain,
		now:          time.Now,
	}
	for i, k := range keys {
		if err := checkP256(k); err != nil {
			return nil, fmt.Errorf("EDI verification key %d: %w", i, err)
		}
		c.addKey(k)
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	if len(c.keys) == 0 {
		return nil, fmt.Errorf("%w: no EDI verification key", ErrKey)
	}
	v := &Verifier{
		all:          make([]jwt.VerificationKey, len(c.keys)),
		byKID:        c.byKID,
		issuer:       c.issuer,
		hostedDomain: c.hostedDomain,
		leeway:       c.leeway,
		now:          c.now,
		parser: jwt.NewParser(
			// The key decides: only ES256 reaches the keyfunc, which checks again.
			jwt.WithValidMethods([]string{ediAlg}),
			// One spelling per token: no padding, no stray bits.
			jwt.WithStrictDecoding(),
			jwt.WithExpirationRequired(),
			jwt.WithNotBeforeRequired(),
			jwt.WithIssuedAt(),
			jwt.WithIssuer(c.issuer),
			jwt.WithLeeway(c.leeway),
			jwt.WithTimeFunc(c.now),
		),
	}
	for i, k := range c.keys {
		v.all[i] = k
	}
	return v, nil
}

// Verify checks token and returns its claims:
//
//  0. the header passes tokencore.CheckJOSEHeader (no crit, no b64, no
//     duplicate member);
//  1. the alg is exactly ES256 and the signature, 64 raw bytes r‖s, verifies
//     under a configured key (the kid's key if the token names one);
//  2. exp is present and now < exp (a token whose exp is now is expired);
//  3. nbf and iat are present and not in the future;
//  4. sub is a non-empty string;
//  5. the claim set is exactly that of Claims, which rules out aud and
//     jti, the legacy identityId and idpCname, and any unknown claim;
//  6. iss and hd equal the configured values.
//
// Leeway applies to steps 2 and 3. Errors wrap exactly one of ErrMalformed,
// ErrSignature, ErrExpired, ErrNotYetValid and ErrClaims.
func (v *Verifier) Verify(token string) (Claims, error) {
	if len(token) > MaxTokenLength {
		return Claims{}, fmt.Errorf("%w: %w: EDI token of %d bytes", ErrMalformed, ErrTooLarge, len(token))
	}
	// The header rules every tokengate parser shares (crit, duplicate
	// members, b64); the claims reader is strict on its own (UnmarshalJSON).
	if err := tokencore.CheckCompactHeader(token, tokencore.JWS); err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	jc := &jwtClaims{hostedDomain: v.hostedDomain}
	if _, err := v.parser.ParseWithClaims(token, jc, v.keyfunc); err != nil {
		return Claims{}, fmt.Errorf("%w: %v", classify(err), err)
	}
	return jc.claims, nil
}

// CheckTime applies steps 2 and 3 of Verify (exp, nbf and iat against the
// verifier's clock, with its leeway) to claims Verify returned earlier, so
// that a cached verdict is never used past the token's lifetime. The rules
// and errors are exactly those of Verify.
func (v *Verifier) CheckTime(c Claims) error {
	now := v.now()
	switch {
	case !now.Before(c.ExpiresAt.Add(v.leeway)):
		return fmt.Errorf("%w: exp has passed", ErrExpired)
	case now.Before(c.NotBefore.Add(-v.leeway)):
		return fmt.Errorf("%w: nbf is in the future", ErrNotYetValid)
	case now.Before(c.IssuedAt.Add(-v.leeway)):
		return fmt.Errorf("%w: iat is in the future", ErrNotYetValid)
	}
	return nil
}

// Leeway returns the configured clock leeway.
func (v *Verifier) Leeway() time.Duration { return v.leeway }

// Scope identifies what the verifier accepts (its keys, issuer and hosted
// domain), for keying caches of its verdicts: two verifiers with the same
// scope accept the same tokens with the same claims.
func (v *Verifier) Scope() string {
	var b strings.Builder
	b.WriteString("edi-v1|")
	b.WriteString(v.issuer)
	b.WriteString("|")
	b.WriteString(v.hostedDomain)
	for _, k := range v.all {
		id, _ := KeyID(k)
		b.WriteString("|")
		b.WriteString(id)
	}
	kids := make([]string, 0, len(v.byKID))
	for kid := range v.byKID {
		kids = append(kids, kid)
	}
	slices.Sort(kids)
	for _, kid := range kids {
		id, _ := KeyID(v.byKID[kid])
		b.WriteString("|" + kid + "=" + id)
	}
	return b.String()
}

// keyfunc returns the keys a token may be verified with.
func (v *Verifier) keyfunc(t *jwt.Token) (any, error) {
	// Belt and braces: WithValidMethods already admits ES256 only, and this
	// also fails closed should "ES256" be re-registered with golang-jwt.
	if t.Method != jwt.SigningMethodES256 {
		return nil, errors.New("algorithm is not ES256")
	}
	raw, ok := t.Header["kid"]
	if !ok {
		return jwt.VerificationKeySet{Keys: v.all}, nil
	}
	kid, ok := raw.(string)
	if !ok {
		return nil, errors.New("kid is not a string")
	}
	key, ok := v.byKID[kid]
	if !ok {
		return nil, fmt.Errorf("kid %q names no configured key", truncate(kid))
	}
	return key, nil
}

// classify maps golang-jwt's errors to this package's sentinels. A token
// that fails for several reasons reports the first of: malformed,
// signature, expired, not yet valid, claims.
func classify(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return ErrSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ErrNotYetValid
	}
	return ErrClaims
}

// jwtClaims adapts Claims to golang-jwt. Strict decoding errors are kept
// rather than returned from UnmarshalJSON: golang-jwt decodes claims before
// it checks the signature, and a forged token should fail as a forgery.
// Validate reports them once the signature has verified.
type jwtClaims struct {
	claims       Claims
	decodeErr    error
	hostedDomain string // required hd; empty when signing
}

func (j *jwtClaims) MarshalJSON() ([]byte, error) { return j.claims.MarshalJSON() }

func (j *jwtClaims) UnmarshalJSON(data []byte) error {
	j.decodeErr = j.claims.UnmarshalJSON(data)
	return nil
}

// Validate runs after golang-jwt's own checks of exp, nbf, iat and iss.
func (j *jwtClaims) Validate() error {
	if j.decodeErr != nil {
		return j.decodeErr
	}
	if j.claims.HostedDomain != j.hostedDomain {
		return fmt.Errorf("%w: hd is not the configured hosted domain", ErrClaims)
	}
	return nil
}

func (j *jwtClaims) date(t time.Time) *jwt.NumericDate {
	if j.decodeErr != nil {
		return nil
	}
	return jwt.NewNumericDate(t)
}

func (j *jwtClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return j.date(j.claims.ExpiresAt), nil
}
func (j *jwtClaims) GetIssuedAt() (*jwt.NumericDate, error)  { return j.date(j.claims.IssuedAt), nil }
func (j *jwtClaims) GetNotBefore() (*jwt.NumericDate, error) { return j.date(j.claims.NotBefore), nil }
func (j *jwtClaims) GetIssuer() (string, error)              { return j.claims.Issuer, nil }
func (j *jwtClaims) GetSubject() (string, error)             { return j.claims.Subject, nil }

// GetAudience returns nothing: a token with aud fails strict decoding.
func (j *jwtClaims) GetAudience() (jwt.ClaimStrings, error) { return nil, nil }

// Interface guards.
var (
	_ jwt.Claims          = (*jwtClaims)(nil)
	_ jwt.ClaimsValidator = (*jwtClaims)(nil)
)
