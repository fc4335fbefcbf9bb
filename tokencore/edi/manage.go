package edi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/tokengate/tokengate/tokencore"
)

// Management of subject and API-key records (spec §7): the rules shared by
// the operator API and the `caddy tokengate edi` command line.

// ErrInvalid wraps every refusal of a management request for its content;
// the operator API answers it with 400.
var ErrInvalid = errors.New("invalid request")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// ValidEDIID reports whether id is an EDI-ID: "EDI-" and 40 lowercase hex
// digits.
func ValidEDIID(id string) bool {
	if len(id) != 44 || id[:4] != "EDI-" {
		return false
	}
	for i := 4; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Bounds of management input.
const (
	maxNameRunes    = 64   // key names (spec §7.2)
	maxGroupName    = 256  // group names
	maxTextBytes    = 1024 // cn, email, idp names and uids
	maxPrincipals   = 1000
	maxLinks        = 100
	maxPastaGroups  = 32
	secretBytes     = 20 // 160 bits, EDI's key size (spec §6.3)
	previewLength   = 5
	maxIdPNameBytes = 32
)

// SubjectDoc is a subject record as the operator API and the command line
// read and write it. Nullable claims are pointers; for a profile, absent
// principals and PASTA fields are derived (see Manager.PutSubject).
type SubjectDoc struct {
	EDIID          string     `json:"ediId,omitempty"`
	Type           string     `json:"type"`
	CommonName     *string    `json:"cn,omitempty"`
	Email          *string    `json:"email,omitempty"`
	Principals     []string   `json:"principals,omitempty"`
	Links          []LinkDoc  `json:"links,omitempty"`
	IsEmailEnabled bool       `json:"isEmailEnabled,omitempty"`
	IdPCommonName  *string    `json:"idpCommonName,omitempty"`
	IdPName        *string    `json:"idpName,omitempty"`
	IdPUID         *string    `json:"idpUid,omitempty"`
	PastaUID       string     `json:"pastaUid,omitempty"`
	PastaGroups    []string   `json:"pastaGroups,omitempty"`
	Name           string     `json:"name,omitempty"`
	Owner          string     `json:"owner,omitempty"`
	Created        *time.Time `json:"created,omitempty"`
	Updated        *time.Time `json:"updated,omitempty"`
}

// LinkDoc is a linked profile in a SubjectDoc, shaped like the claim.
type LinkDoc struct {
	EDIID         string  `json:"ediId"`
	LinkedAt      int64   `json:"linkedAt"`
	CommonName    *string `json:"commonName,omitempty"`
	Email         *string `json:"email,omitempty"`
	IdPCommonName *string `json:"idpCommonName,omitempty"`
	IdPName       *string `json:"idpName,omitempty"`
	IdPUID        *string `json:"idpUid,omitempty"`
}

// DocFromSubject renders a stored record.
func DocFromSubject(s *tokencore.EDISubject) SubjectDoc {
	created, updated := s.CreatedAt, s.UpdatedAt
	d := SubjectDoc{
		EDIID: s.EDIID, Type: s.Type, CommonName: s.CommonName, Email: s.Email, Principals: s.Principals,
		IsEmailEnabled: s.EmailEnabled, IdPCommonName: s.IdPCommonName, IdPName: s.IdPName, IdPUID: s.IdPUID,
		PastaUID: s.PastaUID, PastaGroups: s.PastaGroups, Name: s.Name, Owner: s.Owner,
		Created: &created, Updated: &updated,
	}
	for _, l := range s.Links {
		d.Links = append(d.Links, LinkDoc{
			EDIID: l.EDIID, LinkedAt: l.LinkedAt.Unix(), CommonName: l.CommonName, Email: l.Email,
			IdPCommonName: l.IdPCommonName, IdPName: l.IdPName, IdPUID: l.IdPUID,
		})
	}
	return d
}

// KeyDoc is an API-key record as the operator API shows it: the preview,
// never the secret or its hash. ValidTo is exclusive.
type KeyDoc struct {
	ID        string     `json:"id"`
	Owner     string     `json:"owner"`
	Group     string     `json:"group,omitempty"`
	Name      string     `json:"name"`
	Preview   string     `json:"preview"`
	ValidFrom time.Time  `json:"validFrom"`
	ValidTo   time.Time  `json:"validTo"`
	Created   time.Time  `json:"created"`
	Updated   time.Time  `json:"updated"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	LastUsed  *time.Time `json:"lastUsed,omitempty"`
	UseCount  int64      `json:"useCount"`
	// Secret is set only in the answer to a creation.
	Secret string `json:"secret,omitempty"`
}

// DocFromKey renders a stored key record.
func DocFromKey(k *tokencore.EDIAPIKey) KeyDoc {
	d := KeyDoc{
		ID: k.ID, Owner: k.Owner, Group: k.Group, Name: k.Name, Preview: k.Preview,
		ValidFrom: k.ValidFrom, ValidTo: k.ValidTo, Created: k.CreatedAt, Updated: k.UpdatedAt, UseCount: k.UseCount,
	}
	if !k.RevokedAt.IsZero() {
		t := k.RevokedAt
		d.RevokedAt = &t
	}
	if !k.LastUsed.IsZero() {
		t := k.LastUsed
		d.LastUsed = &t
	}
	return d
}

// Manager writes subject and key records and revokes subjects and keys.
type Manager struct {
	e    *tokencore.Engine
	recs tokencore.EDIStore // the engine's store as an EDIStore
	cfg  Config
}

// NewManager returns a manager; only the non-key fields of cfg are used.
func NewManager(e *tokencore.Engine, cfg Config) (*Manager, error) {
	recs, err := ediRecords(e)
	if err != nil {
		return nil, err
	}
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return newManager(e, recs, cfg), nil
}

// ediRecords checks that the engine can run EDI: a store, a revocation
// view, and a store that holds EDI records. The engine asks its store for
// grants and revocations only (tokencore.TokenStore), so that a backend can
// serve FOLIO and OAuth without the EDI methods; EDI needs them.
func ediRecords(e *tokencore.Engine) (tokencore.EDIStore, error) {
	if e == nil || e.Store == nil || e.View == nil {
		return nil, errors.New("edi: the engine needs a store and a revocation view")
	}
	recs, ok := e.Store.(tokencore.EDIStore)
	if !ok {
		return nil, fmt.Errorf("edi: the engine's store (%T) holds no EDI records: it does not implement tokencore.EDIStore", e.Store)
	}
	return recs, nil
}

// Manager returns a manager sharing the service's engine and configuration.
func (s *Service) Manager() *Manager { return newManager(s.e, s.recs, s.cfg) }

// newManager declares to the engine how long EDI tokens live (edi_ttl plus
// the leeway; PASTA tokens are refused with their EDI token), so subject
// revocations outlive them.
func newManager(e *tokencore.Engine, recs tokencore.EDIStore, cfg Config) *Manager {
	e.DeclareAccessLifetime(cfg.EDITTL + cfg.Leeway)
	return &Manager{e: e, recs: recs, cfg: cfg}
}

func checkText(name string, p *string, limit int) error {
	if p != nil && (len(*p) > limit || !utf8.ValidString(*p)) {
		return invalidf("%s is longer than %d bytes or not UTF-8", name, limit)
	}
	return nil
}

// NormalizeSubject checks a SubjectDoc for the record ediID and returns the
// record to store (without timestamps). For a profile:
//
//   - pastaUid defaults to the e-mail for Google (idpName "google") and to
//     idpUid otherwise (spec §6.2); one of them is required;
//   - pastaGroups default to ["vetted", "authenticated"] for LDAP and
//     ["authenticated"] otherwise;
//   - principals default to the Authenticated and Public Access system
//     profiles, plus the Vetted group for LDAP; they are stored sorted and
//     without duplicates (spec §4.2), and an explicit [] means none.
//
// A group needs a name and an owner (an EDI-ID) and nothing else.
func (m *Manager) NormalizeSubject(ediID string, d SubjectDoc) (*tokencore.EDISubject, error) {
	if !ValidEDIID(ediID) {
		return nil, invalidf("EDI-ID %q is not EDI- and 40 lowercase hex digits", truncate(ediID))
	}
	if d.EDIID != "" && d.EDIID != ediID {
		return nil, invalidf("ediId in the body differs from the one in the path")
	}
	for _, f := range []struct {
		name string
		p    *string
	}{{"cn", d.CommonName}, {"email", d.Email}, {"idpCommonName", d.IdPCommonName}, {"idpUid", d.IdPUID}} {
		if err := checkText(f.name, f.p, maxTextBytes); err != nil {
			return nil, err
		}
	}
	s := &tokencore.EDISubject{EDIID: ediID, Type: d.Type}
	switch d.Type {
	case tokencore.EDIGroup:
		if d.CommonName != nil || d.Email != nil || d.Principals != nil || d.Links != nil || d.IsEmailEnabled ||
			d.IdPCommonName != nil || d.IdPName != nil || d.IdPUID != nil || d.PastaUID != "" || d.PastaGroups != nil {
			return nil, invalidf("a group has only a name and an owner")
		}
		if d.Name == "" || len(d.Name) > maxGroupName || !utf8.ValidString(d.Name) {
			return nil, invalidf("a group needs a name of 1 to %d bytes", maxGroupName)
		}
		if !ValidEDIID(d.Owner) {
			return nil, invalidf("a group needs an owner EDI-ID")
		}
		s.Name, s.Owner = d.Name, d.Owner
		return s, nil
	case tokencore.EDIProfile:
	default:
		return nil, invalidf("type must be %q or %q", tokencore.EDIProfile, tokencore.EDIGroup)
	}
	if d.Name != "" || d.Owner != "" {
		return nil, invalidf("name and owner are group fields")
	}
	idpName := ""
	if d.IdPName != nil {
		idpName = *d.IdPName
		if idpName == "" || len(idpName) > maxIdPNameBytes || !isLowerAlnum(idpName) {
			return nil, invalidf("idpName must be a lowercase IdP name (ldap, github, google, microsoft, orcid, system, skeleton)")
		}
	}
	s.CommonName, s.Email, s.EmailEnabled = d.CommonName, d.Email, d.IsEmailEnabled
	s.IdPCommonName, s.IdPName, s.IdPUID = d.IdPCommonName, d.IdPName, d.IdPUID

	s.PastaUID = d.PastaUID
	if s.PastaUID == "" {
		switch {
		case idpName == "google" && d.Email != nil:
			s.PastaUID = *d.Email
		case d.IdPUID != nil:
			s.PastaUID = *d.IdPUID
		}
	}
	if s.PastaUID == "" {
		return nil, invalidf("a profile needs idpUid or pastaUid")
	}
	if s.PastaUID == m.cfg.PublicUID {
		return nil, invalidf("the PASTA uid %q is reserved for public access", m.cfg.PublicUID)
	}
	if err := checkPastaField("pastaUid", s.PastaUID); err != nil || len(s.PastaUID) > maxTextBytes {
		return nil, invalidf("pastaUid must be 1 to %d bytes without '*'", maxTextBytes)
	}
	s.PastaGroups = d.PastaGroups
	if s.PastaGroups == nil {
		s.PastaGroups = []string{"authenticated"}
		if idpName == "ldap" {
			s.PastaGroups = []string{"vetted", "authenticated"}
		}
	}
	if len(s.PastaGroups) > maxPastaGroups {
		return nil, invalidf("at most %d PASTA groups", maxPastaGroups)
	}
	for _, g := range s.PastaGroups {
		if err := checkPastaField("pastaGroups", g); err != nil || len(g) > maxGroupName {
			return nil, invalidf("PASTA groups must be 1 to %d bytes without '*'", maxGroupName)
		}
	}
	principals := d.Principals
	if principals == nil {
		principals = []string{m.cfg.System.AuthenticatedAccess, m.cfg.System.PublicAccess}
		if idpName == "ldap" {
			principals = append(principals, m.cfg.System.Vetted)
		}
	}
	if len(principals) > maxPrincipals {
		return nil, invalidf("at most %d principals", maxPrincipals)
	}
	for _, p := range principals {
		if !ValidEDIID(p) {
			return nil, invalidf("principal %q is not an EDI-ID", truncate(p))
		}
	}
	s.Principals = slices.Compact(slices.Sorted(slices.Values(principals)))
	if len(d.Links) > maxLinks {
		return nil, invalidf("at most %d links", maxLinks)
	}
	for i, l := range d.Links {
		if !ValidEDIID(l.EDIID) {
			return nil, invalidf("link %d: ediId is not an EDI-ID", i)
		}
		if l.LinkedAt <= 0 || l.LinkedAt > maxUnixSeconds {
			return nil, invalidf("link %d: linkedAt must be epoch seconds", i)
		}
		for _, f := range []struct {
			name string
			p    *string
		}{{"commonName", l.CommonName}, {"email", l.Email}, {"idpCommonName", l.IdPCommonName}, {"idpName", l.IdPName}, {"idpUid", l.IdPUID}} {
			if err := checkText(fmt.Sprintf("link %d: %s", i, f.name), f.p, maxTextBytes); err != nil {
				return nil, err
			}
		}
		s.Links = append(s.Links, tokencore.EDILink{
			EDIID: l.EDIID, LinkedAt: time.Unix(l.LinkedAt, 0).UTC(), CommonName: l.CommonName, Email: l.Email,
			IdPCommonName: l.IdPCommonName, IdPName: l.IdPName, IdPUID: l.IdPUID,
		})
	}
	return s, nil
}

func isLowerAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// PutSubject creates or replaces the record ediID from d and reports
// whether it was created. A group's owner must be an existing profile. A
// replaced record keeps its creation time. Changes take effect at the next
// key exchange; tokens already issued keep their claims until they are
// refreshed away or the subject is revoked.
func (m *Manager) PutSubject(ctx context.Context, ediID string, d SubjectDoc) (*tokencore.EDISubject, bool, error) {
	s, err := m.NormalizeSubject(ediID, d)
	if err != nil {
		return nil, false, err
	}
	if s.Type == tokencore.EDIGroup {
		owner, err := m.recs.GetSubject(ctx, s.Owner)
		if errors.Is(err, tokencore.ErrNotFound) {
			return nil, false, invalidf("group owner %s does not exist", s.Owner)
		} else if err != nil {
			return nil, false, err
		}
		if owner.Type != tokencore.EDIProfile {
			return nil, false, invalidf("group owner %s is not a profile", s.Owner)
		}
	}
	now := m.cfg.Now()
	s.CreatedAt, s.UpdatedAt = now, now
	created := true
	if old, err := m.recs.GetSubject(ctx, ediID); err == nil {
		s.CreatedAt, created = old.CreatedAt, false
		// Writing the same content again (a seed at every start) changes
		// nothing, not even the update time.
		same := old.Clone()
		same.UpdatedAt = s.UpdatedAt
		if reflect.DeepEqual(same, s) {
			return old, false, nil
		}
	} else if !errors.Is(err, tokencore.ErrNotFound) {
		return nil, false, err
	}
	if err := m.recs.PutSubject(ctx, s); err != nil {
		return nil, false, err
	}
	return s, created, nil
}

// GetSubject returns the record ediID (ErrNotFound when missing).
func (m *Manager) GetSubject(ctx context.Context, ediID string) (*tokencore.EDISubject, error) {
	if !ValidEDIID(ediID) {
		return nil, invalidf("EDI-ID %q is not EDI- and 40 lowercase hex digits", truncate(ediID))
	}
	return m.recs.GetSubject(ctx, ediID)
}

// RevokeSubject refuses, at once and on every instance, every EDI token of
// ediID issued up to now, at refresh and on proxied traffic (spec §7.4).
// The entry refuses every token whose subject is ediID, whichever path of
// the gateway issued it, so it lives until every one of them has expired:
// the longest access lifetime any configured path can issue
// (tokencore.Engine.PrincipalRevocationExpiry), and never less than
// edi_ttl plus the leeway. A subject without a record can be revoked too:
// its tokens may have been minted by EDI with a shared key.
func (m *Manager) RevokeSubject(ctx context.Context, ediID string) (tokencore.Revocation, error) {
	if !ValidEDIID(ediID) {
		return tokencore.Revocation{}, invalidf("EDI-ID %q is not EDI- and 40 lowercase hex digits", truncate(ediID))
	}
	now := m.cfg.Now()
	r := tokencore.Revocation{
		Kind: tokencore.RevocationOfSubject, Key: ediID, NotBefore: now,
		ExpiresAt: m.e.PrincipalRevocationExpiry(now),
	}
	if err := m.e.Revoke(ctx, r); err != nil {
		return r, err
	}
	return r, nil
}

// KeyRequest creates an API key. ValidFrom and ValidTo are RFC 3339 times
// or dates (YYYY-MM-DD, in the configured time zone: a ValidFrom date
// starts at the beginning of that day, a ValidTo date includes the whole
// day, as in EDI). Defaults: from now, to the end of the day one year less
// one day from today.
type KeyRequest struct {
	Owner     string `json:"owner"`
	Group     string `json:"group,omitempty"`
	Name      string `json:"name"`
	ValidFrom string `json:"validFrom,omitempty"`
	ValidTo   string `json:"validTo,omitempty"`
}

// KeyPatch changes a key; nil fields stay. An empty Group makes a group key
// a profile key.
type KeyPatch struct {
	Name      *string `json:"name,omitempty"`
	Group     *string `json:"group,omitempty"`
	ValidFrom *string `json:"validFrom,omitempty"`
	ValidTo   *string `json:"validTo,omitempty"`
}

// ParseValidity reads a validity bound: an RFC 3339 time, or a date in loc;
// a date as an end bound means the end of that day (exclusive: the start of
// the next day).
func ParseValidity(s string, end bool, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, invalidf("%q is neither an RFC 3339 time nor a YYYY-MM-DD date", truncate(s))
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}

// defaultValidTo is the exclusive end of a key created at now without an
// end: the end of the day one year less one day after today.
func (m *Manager) defaultValidTo(now time.Time) time.Time {
	local := now.In(m.cfg.Location)
	y, mo, d := local.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, m.cfg.Location).AddDate(1, 0, 0)
}

func checkKeyName(name string) error {
	if n := utf8.RuneCountInString(name); n == 0 || n > maxNameRunes || !utf8.ValidString(name) {
		return invalidf("name must be 1 to %d characters", maxNameRunes)
	}
	return nil
}

// checkKeySubjects checks that owner is a profile and group, when set, a
// group owned by owner (spec §7.2).
func (m *Manager) checkKeySubjects(ctx context.Context, owner, group string) error {
	if !ValidEDIID(owner) {
		return invalidf("owner must be an EDI-ID")
	}
	o, err := m.recs.GetSubject(ctx, owner)
	if errors.Is(err, tokencore.ErrNotFound) {
		return invalidf("owner %s does not exist", owner)
	} else if err != nil {
		return err
	}
	if o.Type != tokencore.EDIProfile {
		return invalidf("owner %s is not a profile", owner)
	}
	if group == "" {
		return nil
	}
	if !ValidEDIID(group) {
		return invalidf("group must be an EDI-ID")
	}
	g, err := m.recs.GetSubject(ctx, group)
	if errors.Is(err, tokencore.ErrNotFound) {
		return invalidf("group %s does not exist", group)
	} else if err != nil {
		return err
	}
	if g.Type != tokencore.EDIGroup || g.Owner != owner {
		return invalidf("%s is not a group owned by %s", group, owner)
	}
	return nil
}

// NewSecret returns a new API-key secret: 20 random bytes, base64url
// without padding (27 characters), EDI's format (spec §6.3).
func NewSecret() string {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// CreateKey creates a key and returns its record and secret. The secret is
// shown this once: only its hash and preview are stored.
func (m *Manager) CreateKey(ctx context.Context, req KeyRequest) (*tokencore.EDIAPIKey, string, error) {
	if err := checkKeyName(req.Name); err != nil {
		return nil, "", err
	}
	if err := m.checkKeySubjects(ctx, req.Owner, req.Group); err != nil {
		return nil, "", err
	}
	now := m.cfg.Now()
	from, to := now, m.defaultValidTo(now)
	var err error
	if req.ValidFrom != "" {
		if from, err = ParseValidity(req.ValidFrom, false, m.cfg.Location); err != nil {
			return nil, "", err
		}
	}
	if req.ValidTo != "" {
		if to, err = ParseValidity(req.ValidTo, true, m.cfg.Location); err != nil {
			return nil, "", err
		}
	}
	if !from.Before(to) {
		return nil, "", invalidf("validFrom must be before validTo")
	}
	for attempt := 0; ; attempt++ {
		secret := NewSecret()
		k := &tokencore.EDIAPIKey{
			ID: tokencore.NewGrantID(), Owner: req.Owner, Group: req.Group, Name: req.Name,
			SecretHash: tokencore.APIKeyHash(secret), Preview: secret[:previewLength],
			ValidFrom: from, ValidTo: to, CreatedAt: now, UpdatedAt: now,
		}
		err := m.recs.CreateAPIKey(ctx, k)
		if err == nil {
			return k, secret, nil
		}
		// A collision of 128-bit IDs or 256-bit hashes means a broken RNG;
		// retry once, then give up.
		if !errors.Is(err, tokencore.ErrConflict) || attempt > 0 {
			return nil, "", err
		}
	}
}

// ImportKey stores a key whose secret hash is known (a seeded key, or a row
// of EDI's key table): created when absent; when present with the same
// hash, its name, group and validity follow k while its revocation, usage
// and creation time stay. A different hash under the same ID is refused:
// an ID names one secret for its whole life.
func (m *Manager) ImportKey(ctx context.Context, k *tokencore.EDIAPIKey) (*tokencore.EDIAPIKey, error) {
	if err := checkKeyName(k.Name); err != nil {
		return nil, err
	}
	if err := m.checkKeySubjects(ctx, k.Owner, k.Group); err != nil {
		return nil, err
	}
	now := m.cfg.Now()
	k = k.Clone()
	fromGiven, toGiven := !k.ValidFrom.IsZero(), !k.ValidTo.IsZero()
	if k.ValidFrom.IsZero() {
		k.ValidFrom = now
	}
	if k.ValidTo.IsZero() {
		k.ValidTo = m.defaultValidTo(now)
	}
	if !k.ValidFrom.Before(k.ValidTo) {
		return nil, invalidf("API key %s: valid_from must be before valid_to", k.ID)
	}
	k.CreatedAt, k.UpdatedAt = now, now
	err := m.recs.CreateAPIKey(ctx, k)
	if err == nil || !errors.Is(err, tokencore.ErrConflict) {
		return k, err
	}
	errOtherSecret := errors.New("other secret")
	out, err := m.recs.UpdateAPIKey(ctx, k.ID, func(old *tokencore.EDIAPIKey) error {
		if string(old.SecretHash) != string(k.SecretHash) || old.Owner != k.Owner {
			return errOtherSecret
		}
		// Validity not given keeps what was stored (the default was applied
		// when the key was first created, not at every start).
		from, to := old.ValidFrom, old.ValidTo
		if fromGiven {
			from = k.ValidFrom
		}
		if toGiven {
			to = k.ValidTo
		}
		if !from.Before(to) {
			return invalidf("API key %s: valid_from must be before valid_to", k.ID)
		}
		if old.Name == k.Name && old.Group == k.Group && old.ValidFrom.Equal(from) && old.ValidTo.Equal(to) && old.Preview == k.Preview {
			return nil
		}
		old.Name, old.Group, old.ValidFrom, old.ValidTo, old.Preview, old.UpdatedAt = k.Name, k.Group, from, to, k.Preview, now
		return nil
	})
	switch {
	case errors.Is(err, errOtherSecret):
		return nil, invalidf("API key %s is stored with another secret or owner; give the new secret a new id", k.ID)
	case errors.Is(err, tokencore.ErrNotFound):
		// The conflict was on the hash: another ID holds this secret.
		return nil, invalidf("API key %s: its secret already belongs to another key", k.ID)
	}
	return out, err
}

// ErrKeyRevoked: a revoked key cannot be changed.
var ErrKeyRevoked = fmt.Errorf("%w: the API key is revoked", tokencore.ErrConflict)

// UpdateKey changes a key's name, group or validity.
func (m *Manager) UpdateKey(ctx context.Context, id string, p KeyPatch) (*tokencore.EDIAPIKey, error) {
	if p.Name != nil {
		if err := checkKeyName(*p.Name); err != nil {
			return nil, err
		}
	}
	var from, to *time.Time
	if p.ValidFrom != nil {
		t, err := ParseValidity(*p.ValidFrom, false, m.cfg.Location)
		if err != nil {
			return nil, err
		}
		from = &t
	}
	if p.ValidTo != nil {
		t, err := ParseValidity(*p.ValidTo, true, m.cfg.Location)
		if err != nil {
			return nil, err
		}
		to = &t
	}
	cur, err := m.recs.GetAPIKey(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.Group != nil && *p.Group != cur.Group {
		if err := m.checkKeySubjects(ctx, cur.Owner, *p.Group); err != nil {
			return nil, err
		}
	}
	now := m.cfg.Now()
	return m.recs.UpdateAPIKey(ctx, id, func(k *tokencore.EDIAPIKey) error {
		if k.Revoked() {
			return ErrKeyRevoked
		}
		if p.Name != nil {
			k.Name = *p.Name
		}
		if p.Group != nil {
			k.Group = *p.Group
		}
		if from != nil {
			k.ValidFrom = *from
		}
		if to != nil {
			k.ValidTo = *to
		}
		if !k.ValidFrom.Before(k.ValidTo) {
			return invalidf("validFrom must be before validTo")
		}
		k.UpdatedAt = now
		return nil
	})
}

// RevokeKey revokes a key at once: the next exchange of its secret, on any
// instance sharing the store, is refused. Revoking a revoked key keeps the
// first revocation time.
func (m *Manager) RevokeKey(ctx context.Context, id string) (*tokencore.EDIAPIKey, error) {
	now := m.cfg.Now()
	return m.recs.UpdateAPIKey(ctx, id, func(k *tokencore.EDIAPIKey) error {
		if !k.Revoked() {
			k.RevokedAt, k.UpdatedAt = now, now
		}
		return nil
	})
}

// GetKey returns a key record.
func (m *Manager) GetKey(ctx context.Context, id string) (*tokencore.EDIAPIKey, error) {
	return m.recs.GetAPIKey(ctx, id)
}

// ListKeys returns owner's keys (every key when owner is empty), without
// the revoked ones unless includeRevoked (spec §7.2 lists keys that are not
// revoked).
func (m *Manager) ListKeys(ctx context.Context, owner string, includeRevoked bool) ([]*tokencore.EDIAPIKey, error) {
	if owner != "" && !ValidEDIID(owner) {
		return nil, invalidf("owner must be an EDI-ID")
	}
	ks, err := m.recs.ListAPIKeys(ctx, owner)
	if err != nil {
		return nil, err
	}
	if includeRevoked {
		return ks, nil
	}
	return slices.DeleteFunc(ks, (*tokencore.EDIAPIKey).Revoked), nil
}

// Location is the time zone of date-only validity bounds.
func (m *Manager) Location() *time.Location { return m.cfg.Location }

// ListSubjects returns every subject record, by EDI-ID.
func (m *Manager) ListSubjects(ctx context.Context) ([]*tokencore.EDISubject, error) {
	return m.recs.ListSubjects(ctx)
}
