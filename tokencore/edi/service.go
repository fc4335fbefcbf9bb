package edi

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// PairBinding says whether refresh (and proxied traffic) require the PASTA
// token to belong to the EDI token's subject (spec §5.3).
type PairBinding string

// Pair binding modes.
const (
	// BindingStrict (the default): the PASTA uid is the public uid, the EDI
	// token's idpUid, or the idpUid of one of its links.
	BindingStrict PairBinding = "strict"
	// BindingOff reproduces EDI, which never relates the two tokens.
	BindingOff PairBinding = "off"
)

// EDI's system EDI-IDs (spec §4.2), the defaults of SystemIDs.
const (
	DefaultPublicAccessID        = "EDI-078e6e3cee4f7f2812f150701da9351acb51e089"
	DefaultAuthenticatedAccessID = "EDI-7be3510d08def0dfc667824ebd4f4f1bbd770234"
	DefaultVettedID              = "EDI-bdae74972ed710c56b1e0df18ccb6e23c31f60f6"
	// DefaultPublicUID is the PASTA uid of anonymous and group access.
	DefaultPublicUID = "public"
	// DefaultKeyValidity is the validity of a new API key when none is
	// given: one year less one day, as in EDI's UI (spec §7.2).
	DefaultKeyValidity = 364 * 24 * time.Hour
)

// SystemIDs are the EDI-IDs of EDI's system profiles and vetted group. They
// are the default principals of new profiles.
type SystemIDs struct {
	PublicAccess        string
	AuthenticatedAccess string
	Vetted              string
}

// Config is the behaviour of the EDI token service (spec §9). Zero values
// take the defaults of the spec.
type Config struct {
	// EDISigningKey signs EDI tokens; nil makes a verify-only service
	// (proxied traffic only).
	EDISigningKey *ecdsa.PrivateKey
	// EDIVerifyKeys verify EDI tokens besides the signing key: old keys
	// during a rotation, or EDI's own public key.
	EDIVerifyKeys []*ecdsa.PublicKey
	// PastaSigningKey signs PASTA tokens; nil makes a verify-only service.
	PastaSigningKey *rsa.PrivateKey
	// PastaVerifyKeys verify PASTA tokens besides the signing key.
	PastaVerifyKeys []*rsa.PublicKey

	// Issuer (iss) and HostedDomain (hd) of minted tokens, required of
	// verified ones (defaults DefaultIssuer, DefaultHostedDomain).
	Issuer       string
	HostedDomain string
	// EDITTL and PastaTTL are the lifetimes of minted tokens (8 h each).
	EDITTL   time.Duration
	PastaTTL time.Duration
	// Leeway tolerates clock drift on EDI token times (0 to MaxLeeway).
	Leeway time.Duration
	// Binding is BindingStrict (default) or BindingOff.
	Binding PairBinding
	// PastaMaxExpiredAge, when positive, refuses at refresh a PASTA token
	// that expired longer ago than this. Zero disables the check.
	PastaMaxExpiredAge time.Duration
	// PublicUID is the PASTA uid of public access ("public").
	PublicUID string
	// AuthSystem is the authSystem of minted PASTA tokens.
	AuthSystem string
	// System are the system EDI-IDs (EDI's by default).
	System SystemIDs
	// Location is the time zone of date-only key validity (UTC).
	Location *time.Location
	// Now is the clock (time.Now).
	Now func() time.Time
	// OnUsageError receives failures of the asynchronous key usage writes
	// (for logs); nil ignores them.
	OnUsageError func(error)
}

// withDefaults validates c and fills in the defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if c.HostedDomain == "" {
		c.HostedDomain = DefaultHostedDomain
	}
	if c.EDITTL == 0 {
		c.EDITTL = DefaultEDITTL
	}
	if c.PastaTTL == 0 {
		c.PastaTTL = DefaultPastaTTL
	}
	if c.Binding == "" {
		c.Binding = BindingStrict
	}
	if c.PublicUID == "" {
		c.PublicUID = DefaultPublicUID
	}
	if c.AuthSystem == "" {
		c.AuthSystem = PastaAuthSystem
	}
	if c.System.PublicAccess == "" {
		c.System.PublicAccess = DefaultPublicAccessID
	}
	if c.System.AuthenticatedAccess == "" {
		c.System.AuthenticatedAccess = DefaultAuthenticatedAccessID
	}
	if c.System.Vetted == "" {
		c.System.Vetted = DefaultVettedID
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	switch {
	case c.EDITTL < time.Second || c.PastaTTL < time.Millisecond:
		return c, errors.New("edi: token lifetimes must be at least one second")
	case c.EDITTL > 366*24*time.Hour || c.PastaTTL > 366*24*time.Hour:
		return c, errors.New("edi: token lifetimes must be at most a year")
	case c.Leeway < 0 || c.Leeway > MaxLeeway:
		return c, fmt.Errorf("edi: leeway must be between 0 and %s", MaxLeeway)
	case c.Binding != BindingStrict && c.Binding != BindingOff:
		return c, fmt.Errorf("edi: pair binding %q (want strict or off)", c.Binding)
	case c.PastaMaxExpiredAge < 0:
		return c, errors.New("edi: pasta_max_expired_age must not be negative")
	case checkPastaField("public uid", c.PublicUID) != nil:
		return c, fmt.Errorf("edi: public uid %q cannot be a PASTA uid", c.PublicUID)
	case !acceptedAuthSystem(c.AuthSystem) || checkPastaField("authSystem", c.AuthSystem) != nil:
		return c, fmt.Errorf("edi: authSystem %q is not one PASTA accepts", c.AuthSystem)
	}
	for name, id := range map[string]string{
		"public access": c.System.PublicAccess, "authenticated access": c.System.AuthenticatedAccess, "vetted": c.System.Vetted,
	} {
		if !ValidEDIID(id) {
			return c, fmt.Errorf("edi: %s EDI-ID %q is not EDI- and 40 lowercase hex digits", name, id)
		}
	}
	return c, nil
}

// Service implements POST /auth/v1/token/refresh (spec §5), POST
// /auth/v1/key (spec §6) and the validation of proxied traffic (spec §8) on
// a tokencore.Engine: its store holds the subject and key records, its
// revocation view the subject revocations, its cache the verdicts on
// proxied tokens. It is safe for concurrent use.
type Service struct {
	e             *tokencore.Engine
	cfg           Config
	ediSigner     *Signer
	ediVerifier   *Verifier
	pastaSigner   *PastaSigner
	pastaVerifier *PastaVerifier
	ediScope      string
	pastaScope    string
	usage         *usageRecorder
	// recs is the engine's store as an EDIStore (see ediRecords).
	recs tokencore.EDIStore
}

// NewService builds the service. At least one EDI and one PASTA key (signing
// or verification) is required.
func NewService(e *tokencore.Engine, cfg Config) (*Service, error) {
	recs, err := ediRecords(e)
	if err != nil {
		return nil, err
	}
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Service{e: e, recs: recs, cfg: cfg}
	var (
		ediPubs   []*ecdsa.PublicKey
		pastaPubs []*rsa.PublicKey
	)
	if cfg.EDISigningKey != nil {
		kid, err := KeyID(&cfg.EDISigningKey.PublicKey)
		if err != nil {
			return nil, err
		}
		if s.ediSigner, err = NewSigner(cfg.EDISigningKey, kid); err != nil {
			return nil, fmt.Errorf("EDI signing key: %w", err)
		}
		ediPubs = append(ediPubs, &cfg.EDISigningKey.PublicKey)
	}
	ediPubs = append(ediPubs, cfg.EDIVerifyKeys...)
	opts := []VerifierOption{
		WithIssuer(cfg.Issuer), WithHostedDomain(cfg.HostedDomain), WithLeeway(cfg.Leeway), WithClock(cfg.Now),
	}
	seen := map[string]bool{}
	for i, k := range ediPubs {
		if k == nil {
			return nil, fmt.Errorf("%w: EDI verification key %d is nil", ErrKey, i)
		}
		kid, err := KeyID(k)
		if err != nil {
			return nil, err
		}
		if !seen[kid] {
			seen[kid] = true
			opts = append(opts, WithKeyID(kid, k))
		}
	}
	if s.ediVerifier, err = NewVerifier(nil, opts...); err != nil {
		return nil, err
	}
	if cfg.PastaSigningKey != nil {
		if s.pastaSigner, err = NewPastaSigner(cfg.PastaSigningKey); err != nil {
			return nil, fmt.Errorf("PASTA signing key: %w", err)
		}
		pastaPubs = append(pastaPubs, &cfg.PastaSigningKey.PublicKey)
	}
	pastaPubs = append(pastaPubs, cfg.PastaVerifyKeys...)
	if s.pastaVerifier, err = NewPastaVerifier(pastaPubs...); err != nil {
		return nil, err
	}
	s.ediScope = s.ediVerifier.Scope()
	s.pastaScope = s.pastaVerifier.Scope()
	s.usage = newUsageRecorder(recs, cfg.OnUsageError)
	return s, nil
}

// Config returns the effective configuration (defaults filled in).
func (s *Service) Config() Config { return s.cfg }

// CanMint reports whether both signing keys are configured.
func (s *Service) CanMint() bool { return s.ediSigner != nil && s.pastaSigner != nil }

// EDIPublicKeys returns the EDI verification keys, for publishing.
func (s *Service) EDIPublicKeys() []*ecdsa.PublicKey {
	out := make([]*ecdsa.PublicKey, 0, len(s.ediVerifier.all))
	for _, k := range s.ediVerifier.all {
		out = append(out, k.(*ecdsa.PublicKey))
	}
	return out
}

// PastaPublicKeys returns the PASTA verification keys, for publishing.
func (s *Service) PastaPublicKeys() []*rsa.PublicKey {
	return append([]*rsa.PublicKey(nil), s.pastaVerifier.keys...)
}

// Close waits for pending key usage writes.
func (s *Service) Close() { s.usage.flush() }

// FlushUsage waits until every key use recorded so far is written.
func (s *Service) FlushUsage() { s.usage.flush() }

// describe is the diagnostic text after a 401 message: fixed words per
// cause, never token material.
func describe(err error) string {
	switch {
	case errors.Is(err, ErrTooLarge):
		return "token is too large"
	case errors.Is(err, ErrMalformed):
		return "token is malformed"
	case errors.Is(err, ErrSignature):
		return "signature is invalid"
	case errors.Is(err, ErrExpired), errors.Is(err, ErrPastaExpired):
		return "token is expired"
	case errors.Is(err, ErrNotYetValid):
		return "token is not valid yet"
	case errors.Is(err, ErrClaims):
		return "token claims are invalid"
	case errors.Is(err, ErrRevoked):
		return "token is revoked"
	case errors.Is(err, ErrUnbound):
		return "pasta-token does not belong to the edi-token's subject"
	}
	return "token is invalid"
}

// Refresh is POST /auth/v1/token/refresh with its raw body.
func (s *Service) Refresh(body []byte) *Response {
	req, fail := DecodeRefreshRequest(body)
	if fail != nil {
		return fail
	}
	return s.RefreshPair(req.PastaToken, req.EDIToken)
}

// RefreshPair refreshes a pair (spec §5.2 steps 3 to 7). It reads no store:
// the only state consulted is the in-memory revocation view, on the input
// EDI token, before anything is minted (spec §7.4).
func (s *Service) RefreshPair(pastaToken, ediToken string) *Response {
	claims, err := s.ediVerifier.Verify(ediToken)
	if err == nil {
		if cerr := s.e.View.Check(); cerr != nil {
			return internalError(MethodRefresh, cerr) // the view cannot be confirmed: 503
		}
		if s.e.View.SubjectRevoked(claims.Subject, claims.IssuedAt.Unix()) {
			err = ErrRevoked
		}
	}
	if err != nil {
		return unauthorized(MethodRefresh, msgInvalidEDI+": "+describe(err), err)
	}
	pasta, err := s.pastaVerifier.Verify(pastaToken)
	if err != nil {
		return unauthorized(MethodRefresh, msgInvalidPasta+": "+describe(err), err)
	}
	now := s.cfg.Now()
	if s.cfg.PastaMaxExpiredAge > 0 && now.Sub(pasta.Expiry) > s.cfg.PastaMaxExpiredAge {
		return unauthorized(MethodRefresh, msgInvalidPasta+": token expired too long ago", ErrPastaExpired)
	}
	if s.cfg.Binding == BindingStrict && !Bound(pasta, claims, s.cfg.PublicUID) {
		return unauthorized(MethodRefresh, msgInvalidPasta+": "+describe(ErrUnbound), ErrUnbound)
	}
	if !s.CanMint() {
		return internalError(MethodRefresh, errors.New("edi: no signing keys configured"))
	}
	newPasta, err := s.pastaSigner.Sign(pasta.WithExpiry(now.Add(s.cfg.PastaTTL)))
	if err != nil {
		return internalError(MethodRefresh, err)
	}
	newEDI, err := s.ediSigner.Sign(claims.Refreshed(now, s.cfg.EDITTL))
	if err != nil {
		return internalError(MethodRefresh, err)
	}
	return &Response{Status: http.StatusOK, Msg: msgRefreshed, PastaToken: newPasta, EDIToken: newEDI, Method: MethodRefresh}
}

// Bound implements the binding rule of spec §5.3: the PASTA uid is the
// public uid, the EDI token's idpUid, or the idpUid of one of its links.
// Comparisons are exact (byte for byte), as PASTA compares uids.
func Bound(p PastaToken, c Claims, publicUID string) bool {
	if p.UID == publicUID {
		return true
	}
	if c.IdPUID != nil && *c.IdPUID == p.UID {
		return true
	}
	for _, l := range c.Links {
		if l.IdPUID != nil && *l.IdPUID == p.UID {
			return true
		}
	}
	return false
}

// ExchangeKey is POST /auth/v1/key with its raw body.
func (s *Service) ExchangeKey(ctx context.Context, body []byte) *Response {
	key, fail := DecodeKeyRequest(body)
	if fail != nil {
		return fail
	}
	return s.ExchangeSecret(ctx, key)
}

// errKeyUnusable causes of the one indistinguishable 401 (for logs only).
var (
	errKeyUnknown   = errors.New("unknown API key")
	errKeyLength    = errors.New("API key length outside 1..256")
	errKeyRevoked   = errors.New("API key is revoked")
	errKeyWindow    = errors.New("API key is outside its validity window")
	errKeySubject   = errors.New("API key's subject record is missing or does not fit the key")
	errKeyUntrusted = errors.New("API key's group is not owned by the key's owner")
)

// ExchangeSecret mints a pair for the subject of an API key (spec §6.2
// steps 3 to 7). Unknown, expired, not yet valid and revoked keys, and keys
// whose subject record is gone, all get the same 401 body.
func (s *Service) ExchangeSecret(ctx context.Context, secret string) *Response {
	invalid := func(cause error) *Response { return unauthorized(MethodKey, msgInvalidKey, cause) }
	if len(secret) == 0 || len(secret) > MaxKeyLength {
		return invalid(errKeyLength)
	}
	hash := tokencore.APIKeyHash(secret)
	rec, err := s.recs.GetAPIKeyByHash(ctx, hash)
	if errors.Is(err, tokencore.ErrNotFound) {
		return invalid(errKeyUnknown)
	} else if err != nil {
		return internalError(MethodKey, err)
	}
	// The index found it; this constant-time check only guards against a
	// store whose index and records disagree.
	if subtle.ConstantTimeCompare(rec.SecretHash, hash) != 1 {
		return invalid(errKeyUnknown)
	}
	now := s.cfg.Now()
	switch {
	case rec.Revoked():
		return invalid(errKeyRevoked)
	case !rec.Usable(now):
		return invalid(errKeyWindow)
	}
	claims, pasta, err := s.subjectTokens(ctx, rec)
	if err != nil {
		if errors.Is(err, errKeySubject) || errors.Is(err, errKeyUntrusted) {
			return invalid(err)
		}
		return internalError(MethodKey, err)
	}
	if !s.CanMint() {
		return internalError(MethodKey, errors.New("edi: no signing keys configured"))
	}
	now, err = s.afterRevocation(ctx, claims.Subject, now)
	if err != nil {
		return internalError(MethodKey, err)
	}
	pasta.Expiry = now.Add(s.cfg.PastaTTL)
	newPasta, err := s.pastaSigner.Sign(pasta)
	if err != nil {
		return internalError(MethodKey, err)
	}
	newEDI, err := s.ediSigner.Sign(claims.Refreshed(now, s.cfg.EDITTL))
	if err != nil {
		return internalError(MethodKey, err)
	}
	s.usage.record(rec.ID, now)
	return &Response{Status: http.StatusOK, Msg: msgKeyExchanged, PastaToken: newPasta, EDIToken: newEDI, Method: MethodKey}
}

// afterRevocation returns a clock reading at which a token minted for sub
// is not refused by a revocation of sub. Revocation refuses tokens whose
// iat (whole seconds) is at or before the revocation's second, so a key
// exchanged in the very second its subject was revoked would mint a token
// that is refused at once; waiting for the next second (at most one) makes
// the new pair usable. Revocations further in the future (another
// instance's clock) are not waited for.
func (s *Service) afterRevocation(ctx context.Context, sub string, now time.Time) (time.Time, error) {
	if err := s.e.View.Check(); err != nil {
		return now, err
	}
	if !s.e.View.SubjectRevoked(sub, now.Unix()) {
		return now, nil
	}
	wait := time.Unix(now.Unix()+1, 0).Sub(now)
	if wait <= 0 || wait > time.Second {
		return now, nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return now, ctx.Err()
	case <-t.C:
	}
	return s.cfg.Now(), nil
}

// subjectTokens builds the claims and the PASTA token (without times) of a
// key's subject from the current records (spec §6.2 step 5).
func (s *Service) subjectTokens(ctx context.Context, k *tokencore.EDIAPIKey) (Claims, PastaToken, error) {
	owner, err := s.recs.GetSubject(ctx, k.Owner)
	if errors.Is(err, tokencore.ErrNotFound) {
		return Claims{}, PastaToken{}, fmt.Errorf("%w: owner %s not found", errKeySubject, k.Owner)
	} else if err != nil {
		return Claims{}, PastaToken{}, err
	}
	if owner.Type != tokencore.EDIProfile {
		return Claims{}, PastaToken{}, fmt.Errorf("%w: owner %s is not a profile", errKeySubject, k.Owner)
	}
	if k.Group == "" {
		return s.profileClaims(owner), PastaToken{UID: owner.PastaUID, AuthSystem: s.cfg.AuthSystem, Groups: owner.PastaGroups}, nil
	}
	group, err := s.recs.GetSubject(ctx, k.Group)
	if errors.Is(err, tokencore.ErrNotFound) {
		return Claims{}, PastaToken{}, fmt.Errorf("%w: group %s not found", errKeySubject, k.Group)
	} else if err != nil {
		return Claims{}, PastaToken{}, err
	}
	if group.Type != tokencore.EDIGroup {
		return Claims{}, PastaToken{}, fmt.Errorf("%w: %s is not a group", errKeySubject, k.Group)
	}
	if group.Owner != k.Owner {
		return Claims{}, PastaToken{}, errKeyUntrusted
	}
	return s.groupClaims(group), PastaToken{UID: s.cfg.PublicUID, AuthSystem: s.cfg.AuthSystem}, nil
}

// profileClaims are a profile's claims (spec §4.2); times are set later.
func (s *Service) profileClaims(p *tokencore.EDISubject) Claims {
	c := Claims{
		Subject:        p.EDIID,
		CommonName:     p.CommonName,
		Email:          p.Email,
		Principals:     p.Principals,
		IsEmailEnabled: p.EmailEnabled,
		IdPCommonName:  p.IdPCommonName,
		IdPName:        p.IdPName,
		IdPUID:         p.IdPUID,
		Issuer:         s.cfg.Issuer,
		HostedDomain:   s.cfg.HostedDomain,
	}
	for _, l := range p.Links {
		c.Links = append(c.Links, Link{
			EDIID: l.EDIID, LinkedAt: l.LinkedAt, CommonName: l.CommonName, Email: l.Email,
			IdPCommonName: l.IdPCommonName, IdPName: l.IdPName, IdPUID: l.IdPUID,
		})
	}
	return c
}

// groupClaims are a group key's claims: sub and cn of the group, every
// other claim at its group default (spec §4.2, last column).
func (s *Service) groupClaims(g *tokencore.EDISubject) Claims {
	name := g.Name
	return Claims{
		Subject: g.EDIID, CommonName: &name, Principals: []string{}, Links: []Link{},
		Issuer: s.cfg.Issuer, HostedDomain: s.cfg.HostedDomain,
	}
}
