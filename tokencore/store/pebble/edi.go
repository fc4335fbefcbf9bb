package pebble

import (
	"context"
	"encoding/json"
	"fmt"

	pebble "github.com/cockroachdb/pebble/v2"

	"github.com/tokengate/tokengate/tokencore"
)

// EDI records (keys.go): E subjects, K API keys, H the secret-hash index,
// O the owner index (str(owner) time(created) id -> id). Key writes hold
// ediMu from their read to their commit.

// PutSubject creates or replaces the subject record: one write, no read.
func (s *Store) PutSubject(ctx context.Context, subj *tokencore.EDISubject) error {
	b, err := tokencore.EncodeSubject(subj)
	if err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	batch := s.db.NewBatch()
	_ = batch.Set(key(pEDISubject, subj.EDIID), b, nil)
	return commit(batch)
}

// GetSubject returns the subject record.
func (s *Store) GetSubject(ctx context.Context, ediID string) (*tokencore.EDISubject, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	out := new(tokencore.EDISubject)
	found, err := getWith(s.db, key(pEDISubject, ediID), func(v []byte) error {
		if err := json.Unmarshal(v, out); err != nil {
			return fmt.Errorf("decoding subject %q: %w: %w", ediID, errCorrupt, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("subject %q: %w", ediID, tokencore.ErrNotFound)
	}
	return out, nil
}

// ListSubjects returns every subject record in EDI-ID order (key order).
func (s *Store) ListSubjects(ctx context.Context) ([]*tokencore.EDISubject, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	var out []*tokencore.EDISubject
	err := scanValues(ctx, s.db, []byte{pEDISubject}, func(k, v []byte) error {
		subj := new(tokencore.EDISubject)
		if err := json.Unmarshal(v, subj); err != nil {
			return fmt.Errorf("decoding subject %q: %w: %w", k[1:], errCorrupt, err)
		}
		out = append(out, subj)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// apiKeyOwnerKey is the O key of k.
func apiKeyOwnerKey(k *tokencore.EDIAPIKey) []byte {
	return append(tokencore.AppendSortableTime(appendStr([]byte{pEDIOwner}, k.Owner), k.CreatedAt), k.ID...)
}

// CreateAPIKey stores k with its hash and owner index entries in one
// batch.
func (s *Store) CreateAPIKey(ctx context.Context, k *tokencore.EDIAPIKey) error {
	b, err := tokencore.EncodeAPIKey(k)
	if err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	s.ediMu.Lock()
	defer s.ediMu.Unlock()
	noop := func([]byte) error { return nil }
	if found, err := getWith(s.db, key(pEDIKey, k.ID), noop); err != nil {
		return err
	} else if found {
		return fmt.Errorf("creating API key %q: %w", k.ID, tokencore.ErrConflict)
	}
	if found, err := getWith(s.db, keyBytes(pEDIKeyHash, k.SecretHash), noop); err != nil {
		return err
	} else if found {
		return fmt.Errorf("creating API key %q: its secret hash belongs to another key: %w", k.ID, tokencore.ErrConflict)
	}
	batch := s.db.NewBatch()
	_ = batch.Set(key(pEDIKey, k.ID), b, nil)
	_ = batch.Set(keyBytes(pEDIKeyHash, k.SecretHash), []byte(k.ID), nil)
	_ = batch.Set(apiKeyOwnerKey(k), []byte(k.ID), nil)
	return commit(batch)
}

// loadAPIKey reads one key record.
func loadAPIKey(r pebble.Reader, id string) (*tokencore.EDIAPIKey, error) {
	k := new(tokencore.EDIAPIKey)
	found, err := getWith(r, key(pEDIKey, id), func(v []byte) error {
		if err := json.Unmarshal(v, k); err != nil {
			return fmt.Errorf("decoding API key %q: %w: %w", id, errCorrupt, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("API key %q: %w", id, tokencore.ErrNotFound)
	}
	return k, nil
}

// GetAPIKey returns the key record.
func (s *Store) GetAPIKey(ctx context.Context, id string) (*tokencore.EDIAPIKey, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	return loadAPIKey(s.db, id)
}

// GetAPIKeyByHash looks the hash up in the H index. Like GrantByTokenHash
// it reads the index and the record one after the other; key records are
// never deleted and their hash never changes, so the record is there.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (*tokencore.EDIAPIKey, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	if len(hash) == 0 {
		return nil, fmt.Errorf("API key by hash: %w", tokencore.ErrNotFound)
	}
	id, err := s.getCopy(s.db, keyBytes(pEDIKeyHash, hash))
	if err != nil {
		return nil, err
	}
	if id == nil {
		return nil, fmt.Errorf("API key by hash: %w", tokencore.ErrNotFound)
	}
	k, err := loadAPIKey(s.db, string(id))
	if isNotFound(err) {
		return nil, fmt.Errorf("key hash index names missing key %q: %w", id, errCorrupt)
	}
	return k, err
}

// ListAPIKeys reads owner's entries of the O index, which are in
// ListAPIKeys order already; with no owner it reads every key and sorts.
// Both on a snapshot, so that index and records agree.
func (s *Store) ListAPIKeys(ctx context.Context, owner string) ([]*tokencore.EDIAPIKey, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	snap := s.db.NewSnapshot()
	defer snap.Close()
	var out []*tokencore.EDIAPIKey
	if owner == "" {
		err := scanValues(ctx, snap, []byte{pEDIKey}, func(id, v []byte) error {
			k := new(tokencore.EDIAPIKey)
			if err := json.Unmarshal(v, k); err != nil {
				return fmt.Errorf("decoding API key %q: %w: %w", id[1:], errCorrupt, err)
			}
			out = append(out, k)
			return nil
		})
		if err != nil {
			return nil, err
		}
		tokencore.SortAPIKeys(out)
		return out, nil
	}
	err := scanValues(ctx, snap, appendStr([]byte{pEDIOwner}, owner), func(_, id []byte) error {
		k, err := loadAPIKey(snap, string(id))
		if isNotFound(err) {
			return fmt.Errorf("key owner index names missing key %q: %w", id, errCorrupt)
		} else if err != nil {
			return err
		}
		out = append(out, k)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateAPIKey runs the read, fn and the write under ediMu. ID, owner and
// secret hash cannot change, so only the owner entry moves, when the
// creation time changed.
func (s *Store) UpdateAPIKey(ctx context.Context, id string, fn func(k *tokencore.EDIAPIKey) error) (*tokencore.EDIAPIKey, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	s.ediMu.Lock()
	defer s.ediMu.Unlock()
	old, err := loadAPIKey(s.db, id)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("updating API key: %w", err)
		}
		return nil, err
	}
	k, b, err := updateKeyRecord(old, fn)
	if err != nil {
		return nil, err // fn's error unwrapped: the caller branches on it
	}
	batch := s.db.NewBatch()
	if !k.CreatedAt.Equal(old.CreatedAt) {
		// The owner index is ordered by creation time.
		_ = batch.Delete(apiKeyOwnerKey(old), nil)
		_ = batch.Set(apiKeyOwnerKey(k), []byte(k.ID), nil)
	}
	_ = batch.Set(key(pEDIKey, id), b, nil)
	if err := commit(batch); err != nil {
		return nil, err
	}
	return k, nil
}

func updateKeyRecord(old *tokencore.EDIAPIKey, fn func(*tokencore.EDIAPIKey) error) (k *tokencore.EDIAPIKey, b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("updating API key %q: panic in the update callback: %v", old.ID, r)
		}
	}()
	return tokencore.UpdateRecord(old, fn)
}

// RecordKeyUse applies every use in one batch (one fsync for a batch of
// uses). Uses of keys that do not exist are ignored.
func (s *Store) RecordKeyUse(ctx context.Context, uses ...tokencore.EDIKeyUse) error {
	if len(uses) == 0 {
		return nil
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	s.ediMu.Lock()
	defer s.ediMu.Unlock()
	// Several uses of one key in the batch add up: apply them to one copy.
	keys := map[string]*tokencore.EDIAPIKey{}
	var order []string
	for _, u := range uses {
		k, ok := keys[u.ID]
		if !ok {
			var err error
			k, err = loadAPIKey(s.db, u.ID)
			if isNotFound(err) {
				continue
			} else if err != nil {
				return err
			}
			keys[u.ID] = k
			order = append(order, u.ID)
		}
		tokencore.ApplyKeyUse(k, u)
	}
	if len(order) == 0 {
		return nil
	}
	batch := s.db.NewBatch()
	for _, id := range order {
		b, err := tokencore.EncodeAPIKey(keys[id])
		if err != nil {
			batch.Close()
			return err
		}
		_ = batch.Set(key(pEDIKey, id), b, nil)
	}
	return commit(batch)
}

// scanValues calls fn with every key and value under prefix, in key
// order; both are valid only during the call.
func scanValues(ctx context.Context, r pebble.Reader, prefix []byte, fn func(k, v []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)})
	if err != nil {
		return readErr(err)
	}
	defer it.Close()
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		if i++; i%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return readErr(err)
		}
		if err := fn(it.Key(), v); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return readErr(err)
	}
	return nil
}
