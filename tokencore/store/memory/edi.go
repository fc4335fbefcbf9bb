package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tokengate/tokengate/tokencore"
)

// memEDI holds the EDI records of a Store, under the store's mutex.
// Its maps are created on first write, so a Store that never sees an
// EDI record pays nothing for them.
type memEDI struct {
	subjects map[string]*tokencore.EDISubject
	keys     map[string]*tokencore.EDIAPIKey
	// byHash maps a secret hash (as a string of its 32 bytes) to a key ID.
	byHash map[string]string
}

func (m *memEDI) init() {
	if m.subjects == nil {
		m.subjects = map[string]*tokencore.EDISubject{}
		m.keys = map[string]*tokencore.EDIAPIKey{}
		m.byHash = map[string]string{}
	}
}

// PutSubject stores a copy of subj, replacing a record with its EDI-ID.
func (s *Store) PutSubject(ctx context.Context, subj *tokencore.EDISubject) error {
	if _, err := tokencore.EncodeSubject(subj); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return err
	}
	s.edi.init()
	s.edi.subjects[subj.EDIID] = subj.Clone()
	return nil
}

// GetSubject returns a copy of the subject record.
func (s *Store) GetSubject(ctx context.Context, ediID string) (*tokencore.EDISubject, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	subj, ok := s.edi.subjects[ediID]
	if !ok {
		return nil, fmt.Errorf("subject %q: %w", ediID, tokencore.ErrNotFound)
	}
	return subj.Clone(), nil
}

// ListSubjects returns copies of every subject record, by EDI-ID.
func (s *Store) ListSubjects(ctx context.Context) ([]*tokencore.EDISubject, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	out := make([]*tokencore.EDISubject, 0, len(s.edi.subjects))
	for _, subj := range s.edi.subjects {
		out = append(out, subj.Clone())
	}
	slices.SortFunc(out, func(a, b *tokencore.EDISubject) int { return strings.Compare(a.EDIID, b.EDIID) })
	return out, nil
}

// CreateAPIKey stores a copy of k and indexes its secret hash.
func (s *Store) CreateAPIKey(ctx context.Context, k *tokencore.EDIAPIKey) error {
	if _, err := tokencore.EncodeAPIKey(k); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return err
	}
	s.edi.init()
	if _, ok := s.edi.keys[k.ID]; ok {
		return fmt.Errorf("creating API key %q: %w", k.ID, tokencore.ErrConflict)
	}
	if _, ok := s.edi.byHash[string(k.SecretHash)]; ok {
		return fmt.Errorf("creating API key %q: its secret hash belongs to another key: %w", k.ID, tokencore.ErrConflict)
	}
	c := k.Clone()
	s.edi.keys[c.ID] = c
	s.edi.byHash[string(c.SecretHash)] = c.ID
	return nil
}

// GetAPIKey returns a copy of the key record.
func (s *Store) GetAPIKey(ctx context.Context, id string) (*tokencore.EDIAPIKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	k, ok := s.edi.keys[id]
	if !ok {
		return nil, fmt.Errorf("API key %q: %w", id, tokencore.ErrNotFound)
	}
	return k.Clone(), nil
}

// GetAPIKeyByHash returns a copy of the key record with this secret hash.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (*tokencore.EDIAPIKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	id, ok := s.edi.byHash[string(hash)]
	if !ok {
		return nil, fmt.Errorf("API key by hash: %w", tokencore.ErrNotFound)
	}
	return s.edi.keys[id].Clone(), nil
}

// ListAPIKeys returns copies of owner's key records (all when owner is
// empty), by creation time then ID.
func (s *Store) ListAPIKeys(ctx context.Context, owner string) ([]*tokencore.EDIAPIKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	var out []*tokencore.EDIAPIKey
	for _, k := range s.edi.keys {
		if owner == "" || k.Owner == owner {
			out = append(out, k.Clone())
		}
	}
	slices.SortFunc(out, tokencore.CompareAPIKeys)
	return out, nil
}

// UpdateAPIKey applies fn to a copy of the record under the write lock.
func (s *Store) UpdateAPIKey(ctx context.Context, id string, fn func(k *tokencore.EDIAPIKey) error) (*tokencore.EDIAPIKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	old, ok := s.edi.keys[id]
	if !ok {
		return nil, fmt.Errorf("updating API key %q: %w", id, tokencore.ErrNotFound)
	}
	k, _, err := tokencore.UpdateRecord(old, fn)
	if err != nil {
		return nil, err
	}
	s.edi.keys[id] = k.Clone()
	return k, nil
}

// RecordKeyUse adds the uses to their keys.
func (s *Store) RecordKeyUse(ctx context.Context, uses ...tokencore.EDIKeyUse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return err
	}
	for _, u := range uses {
		if k, ok := s.edi.keys[u.ID]; ok {
			tokencore.ApplyKeyUse(k, u)
		}
	}
	return nil
}
