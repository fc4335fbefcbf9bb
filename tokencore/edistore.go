package tokencore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// EDIStore holds the records the EDI-compatible token service mints from
// (EDI spec §7): subject records (profiles and groups) and API-key records.
// It is part of Store, so every backend carries them and a shared backend
// shares them between gateway instances.
//
// The contract of Store applies: every method honours its context, missing
// records wrap ErrNotFound, records handed out are copies, writes are
// durable, and the store keeps its indexes (secret hash, owner) itself.
//
// API-key secrets are never stored. A key record holds SHA-256 of the
// secret's UTF-8 bytes (the lookup key, as in EDI's own key table, so EDI
// key rows can be imported) and its first five characters for display.
type EDIStore interface {
	// PutSubject creates or replaces the subject record with s.EDIID.
	PutSubject(ctx context.Context, s *EDISubject) error
	// GetSubject returns the subject record with this EDI-ID.
	GetSubject(ctx context.Context, ediID string) (*EDISubject, error)
	// ListSubjects returns every subject record, ordered by EDI-ID.
	ListSubjects(ctx context.Context) ([]*EDISubject, error)

	// CreateAPIKey stores a new key record. An existing ID, or an existing
	// secret hash, wraps ErrConflict.
	CreateAPIKey(ctx context.Context, k *EDIAPIKey) error
	// GetAPIKey returns the key record with this ID.
	GetAPIKey(ctx context.Context, id string) (*EDIAPIKey, error)
	// GetAPIKeyByHash returns the key record whose SecretHash is hash (32
	// bytes, SHA-256 of the secret). The lookup goes through the store's
	// hash index; secrets are never compared in a loop.
	GetAPIKeyByHash(ctx context.Context, hash []byte) (*EDIAPIKey, error)
	// ListAPIKeys returns the key records of owner (every record when owner
	// is empty), revoked ones included, ordered by CreatedAt then ID.
	ListAPIKeys(ctx context.Context, owner string) ([]*EDIAPIKey, error)
	// UpdateAPIKey atomically applies fn to the key record and stores the
	// result, like UpdateGrant: fn's error is returned unwrapped and
	// nothing is written. fn may not change ID, Owner or SecretHash (the
	// identity and the index entries of the record): such an update fails
	// with ErrInvalidRecord.
	UpdateAPIKey(ctx context.Context, id string, fn func(k *EDIAPIKey) error) (*EDIAPIKey, error)
	// RecordKeyUse adds each use's Count to the UseCount of its key and
	// moves LastUsed forward to its At, in one write. Uses of keys that do
	// not exist are ignored: usage statistics never fail an exchange.
	RecordKeyUse(ctx context.Context, uses ...EDIKeyUse) error
}

// EDI subject types.
const (
	EDIProfile = "profile"
	EDIGroup   = "group"
)

// EDISubject is what the gateway knows about an EDI profile or group (spec
// §7.3): everything a key exchange needs to mint the subject's EDI token
// (the claims of spec §4.2 that do not depend on time) and PASTA token.
// Refresh never reads it: a refresh copies claims from the token itself.
type EDISubject struct {
	// EDIID is "EDI-" and 40 lowercase hex digits.
	EDIID string `json:"edi_id"`
	// Type is EDIProfile or EDIGroup.
	Type string `json:"type"`

	// Profile claims. Nullable claims are pointers, as in the token.
	CommonName    *string   `json:"cn,omitempty"`
	Email         *string   `json:"email,omitempty"`
	Principals    []string  `json:"principals,omitempty"`
	Links         []EDILink `json:"links,omitempty"`
	EmailEnabled  bool      `json:"email_enabled,omitempty"`
	IdPCommonName *string   `json:"idp_cn,omitempty"`
	IdPName       *string   `json:"idp_name,omitempty"`
	IdPUID        *string   `json:"idp_uid,omitempty"`
	// PastaUID and PastaGroups make the profile's PASTA token.
	PastaUID    string   `json:"pasta_uid,omitempty"`
	PastaGroups []string `json:"pasta_groups,omitempty"`

	// Group fields: its name (the cn of its tokens) and owning profile.
	Name  string `json:"name,omitempty"`
	Owner string `json:"owner,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// EDILink is a linked profile of a subject (the links claim).
type EDILink struct {
	EDIID         string    `json:"edi_id"`
	LinkedAt      time.Time `json:"linked_at"`
	CommonName    *string   `json:"cn,omitempty"`
	Email         *string   `json:"email,omitempty"`
	IdPCommonName *string   `json:"idp_cn,omitempty"`
	IdPName       *string   `json:"idp_name,omitempty"`
	IdPUID        *string   `json:"idp_uid,omitempty"`
}

// Clone returns a deep copy.
func (s *EDISubject) Clone() *EDISubject {
	if s == nil {
		return nil
	}
	c := *s
	c.CommonName = cloneStrPtr(s.CommonName)
	c.Email = cloneStrPtr(s.Email)
	c.IdPCommonName = cloneStrPtr(s.IdPCommonName)
	c.IdPName = cloneStrPtr(s.IdPName)
	c.IdPUID = cloneStrPtr(s.IdPUID)
	c.Principals = slices.Clone(s.Principals)
	c.PastaGroups = slices.Clone(s.PastaGroups)
	if s.Links != nil {
		c.Links = make([]EDILink, len(s.Links))
		for i, l := range s.Links {
			l.CommonName = cloneStrPtr(l.CommonName)
			l.Email = cloneStrPtr(l.Email)
			l.IdPCommonName = cloneStrPtr(l.IdPCommonName)
			l.IdPName = cloneStrPtr(l.IdPName)
			l.IdPUID = cloneStrPtr(l.IdPUID)
			c.Links[i] = l
		}
	}
	return &c
}

func cloneStrPtr(p *string) *string {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// EDIAPIKey is an API-key record (spec §7.2). The key is usable while it is
// not revoked and ValidFrom ≤ now < ValidTo.
type EDIAPIKey struct {
	// ID is opaque and never the secret.
	ID string `json:"id"`
	// Owner is the EDI-ID of the profile that created the key.
	Owner string `json:"owner"`
	// Group, when set, is the EDI-ID of a group the owner owns; the key
	// then acts as that group.
	Group string `json:"group,omitempty"`
	Name  string `json:"name"`
	// SecretHash is SHA-256 of the secret (32 bytes).
	SecretHash []byte `json:"secret_sha256"`
	// Preview is the first five characters of the secret, for display.
	Preview string `json:"preview,omitempty"`
	// ValidFrom is inclusive and ValidTo exclusive.
	ValidFrom time.Time `json:"valid_from"`
	ValidTo   time.Time `json:"valid_to"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	UseCount  int64     `json:"use_count,omitempty"`
}

// Clone returns a deep copy.
func (k *EDIAPIKey) Clone() *EDIAPIKey {
	if k == nil {
		return nil
	}
	c := *k
	c.SecretHash = slices.Clone(k.SecretHash)
	return &c
}

// Revoked reports whether the key was revoked.
func (k *EDIAPIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// Usable reports whether the key may be exchanged at now: not revoked and
// inside its validity window, ValidFrom ≤ now < ValidTo (spec §7.2).
func (k *EDIAPIKey) Usable(now time.Time) bool {
	return !k.Revoked() && !now.Before(k.ValidFrom) && now.Before(k.ValidTo)
}

// EDIKeyUse is one batch of uses of an API key, for RecordKeyUse.
type EDIKeyUse struct {
	ID    string
	Count int64
	At    time.Time
}

// APIKeyHash is the stored form of an API-key secret: SHA-256 of its UTF-8
// bytes (spec §7.1).
func APIKeyHash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// MaxEDIRecordSize bounds the JSON encoding of a subject or key record.
const MaxEDIRecordSize = 64 << 10

// EncodeSubject validates s and returns its stored JSON form.
func EncodeSubject(s *EDISubject) ([]byte, error) {
	if s == nil {
		return nil, fmt.Errorf("nil subject: %w", ErrInvalidRecord)
	}
	if s.EDIID == "" || len(s.EDIID) > MaxKeyFieldLen {
		return nil, fmt.Errorf("subject EDI-ID is empty or longer than %d bytes: %w", MaxKeyFieldLen, ErrInvalidRecord)
	}
	if s.Type != EDIProfile && s.Type != EDIGroup {
		return nil, fmt.Errorf("subject %q: type must be %q or %q: %w", s.EDIID, EDIProfile, EDIGroup, ErrInvalidRecord)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encoding subject %q: %w", s.EDIID, err)
	}
	if len(b) > MaxEDIRecordSize {
		return nil, fmt.Errorf("subject %q is %d bytes encoded, more than %d: %w", s.EDIID, len(b), MaxEDIRecordSize, ErrInvalidRecord)
	}
	return b, nil
}

// EncodeAPIKey validates k and returns its stored JSON form.
func EncodeAPIKey(k *EDIAPIKey) ([]byte, error) {
	if k == nil {
		return nil, fmt.Errorf("nil API key: %w", ErrInvalidRecord)
	}
	if k.ID == "" || len(k.ID) > MaxKeyFieldLen || k.Owner == "" || len(k.Owner) > MaxKeyFieldLen || len(k.Group) > MaxKeyFieldLen {
		return nil, fmt.Errorf("API key ID or owner is empty, or ID, owner or group longer than %d bytes: %w", MaxKeyFieldLen, ErrInvalidRecord)
	}
	if len(k.SecretHash) != sha256.Size {
		return nil, fmt.Errorf("API key %q: secret hash of %d bytes, want %d: %w", k.ID, len(k.SecretHash), sha256.Size, ErrInvalidRecord)
	}
	b, err := json.Marshal(k)
	if err != nil {
		return nil, fmt.Errorf("encoding API key %q: %w", k.ID, err)
	}
	if len(b) > MaxEDIRecordSize {
		return nil, fmt.Errorf("API key %q is %d bytes encoded, more than %d: %w", k.ID, len(b), MaxEDIRecordSize, ErrInvalidRecord)
	}
	return b, nil
}

// checkUpdate implements UpdatableRecord: an update may not change the
// key's identity (ID, owner, secret hash: the keys of its index entries).
func (k *EDIAPIKey) checkUpdate(old *EDIAPIKey) error {
	if k.ID != old.ID || k.Owner != old.Owner || string(k.SecretHash) != string(old.SecretHash) {
		return fmt.Errorf("updating API key %q: the update changed its ID, owner or secret hash: %w", old.ID, ErrInvalidRecord)
	}
	return nil
}

// ApplyKeyUse adds one use batch to k.
func ApplyKeyUse(k *EDIAPIKey, u EDIKeyUse) {
	if u.Count > 0 {
		k.UseCount += u.Count
	}
	if u.At.After(k.LastUsed) {
		k.LastUsed = u.At
	}
}

// CompareAPIKeys is the order of ListAPIKeys: CreatedAt, then ID.
func CompareAPIKeys(a, b *EDIAPIKey) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
}

// SortAPIKeys sorts ks in the order of ListAPIKeys.
func SortAPIKeys(ks []*EDIAPIKey) { slices.SortFunc(ks, CompareAPIKeys) }

func (k *EDIAPIKey) encode() ([]byte, error) { return EncodeAPIKey(k) }
