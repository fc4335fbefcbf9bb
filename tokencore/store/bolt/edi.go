package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/tokencore"
)

// EDI records in a Store live in buckets of their own, created by the
// first write (so files written before EDI support existed open unchanged
// and need no new schema version; readers treat a missing bucket as empty):
//
//	edi_subjects           edi-id -> subject JSON
//	edi_keys               key id -> key JSON
//	edi_idx_key_hash       sha256(secret) (32 bytes) -> key id
//	edi_idx_key_owner      str(owner) time(created) key id -> key id
const (
	bucketEDISubjects  = "edi_subjects"
	bucketEDIKeys      = "edi_keys"
	bucketEDIKeyHash   = "edi_idx_key_hash"
	bucketEDIKeyOwners = "edi_idx_key_owner"
)

// ediBucket returns a bucket for writing, creating it if needed.
func ediBucket(tx *bolt.Tx, name string) (*bolt.Bucket, error) {
	b, err := tx.CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return nil, fmt.Errorf("creating bucket %s: %w", name, err)
	}
	return b, nil
}

// PutSubject creates or replaces the subject record.
func (s *Store) PutSubject(ctx context.Context, subj *tokencore.EDISubject) error {
	b, err := tokencore.EncodeSubject(subj)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		bk, err := ediBucket(tx, bucketEDISubjects)
		if err != nil {
			return err
		}
		if err := bk.Put([]byte(subj.EDIID), b); err != nil {
			return fmt.Errorf("storing subject %q: %w", subj.EDIID, err)
		}
		return nil
	})
}

// GetSubject returns the subject record.
func (s *Store) GetSubject(ctx context.Context, ediID string) (*tokencore.EDISubject, error) {
	var out *tokencore.EDISubject
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var v []byte
		if bk := tx.Bucket([]byte(bucketEDISubjects)); bk != nil {
			v = bk.Get([]byte(ediID))
		}
		if v == nil {
			return fmt.Errorf("subject %q: %w", ediID, tokencore.ErrNotFound)
		}
		out = new(tokencore.EDISubject)
		if err := json.Unmarshal(v, out); err != nil {
			return fmt.Errorf("decoding subject %q: %w: %w", ediID, errBoltCorrupt, err)
		}
		return nil
	})
	return out, err
}

// ListSubjects returns every subject record in EDI-ID order (the bucket's
// key order).
func (s *Store) ListSubjects(ctx context.Context) ([]*tokencore.EDISubject, error) {
	var out []*tokencore.EDISubject
	err := s.view(ctx, func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucketEDISubjects))
		if bk == nil {
			return nil
		}
		c := bk.Cursor()
		i := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if i++; i%ctxCheckEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			subj := new(tokencore.EDISubject)
			if err := json.Unmarshal(v, subj); err != nil {
				return fmt.Errorf("decoding subject %q: %w: %w", k, errBoltCorrupt, err)
			}
			out = append(out, subj)
		}
		return nil
	})
	return out, err
}

// apiKeyOwnerKey is the edi_idx_key_owner key of k.
func apiKeyOwnerKey(k *tokencore.EDIAPIKey) []byte {
	return append(tokencore.AppendSortableTime(appendStr(nil, k.Owner), k.CreatedAt), k.ID...)
}

// CreateAPIKey stores k with its hash and owner index entries in one
// transaction.
func (s *Store) CreateAPIKey(ctx context.Context, k *tokencore.EDIAPIKey) error {
	b, err := tokencore.EncodeAPIKey(k)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		keys, err := ediBucket(tx, bucketEDIKeys)
		if err != nil {
			return err
		}
		hashes, err := ediBucket(tx, bucketEDIKeyHash)
		if err != nil {
			return err
		}
		owners, err := ediBucket(tx, bucketEDIKeyOwners)
		if err != nil {
			return err
		}
		if keys.Get([]byte(k.ID)) != nil {
			return fmt.Errorf("creating API key %q: %w", k.ID, tokencore.ErrConflict)
		}
		if hashes.Get(k.SecretHash) != nil {
			return fmt.Errorf("creating API key %q: its secret hash belongs to another key: %w", k.ID, tokencore.ErrConflict)
		}
		if err := keys.Put([]byte(k.ID), b); err != nil {
			return fmt.Errorf("creating API key %q: %w", k.ID, err)
		}
		if err := hashes.Put(k.SecretHash, []byte(k.ID)); err != nil {
			return fmt.Errorf("creating API key %q: %w", k.ID, err)
		}
		if err := owners.Put(apiKeyOwnerKey(k), []byte(k.ID)); err != nil {
			return fmt.Errorf("creating API key %q: %w", k.ID, err)
		}
		return nil
	})
}

// loadAPIKey reads one key record; a nil bucket is an empty store.
func loadAPIKey(tx *bolt.Tx, id string) (*tokencore.EDIAPIKey, error) {
	var v []byte
	if bk := tx.Bucket([]byte(bucketEDIKeys)); bk != nil {
		v = bk.Get([]byte(id))
	}
	if v == nil {
		return nil, fmt.Errorf("API key %q: %w", id, tokencore.ErrNotFound)
	}
	k := new(tokencore.EDIAPIKey)
	if err := json.Unmarshal(v, k); err != nil {
		return nil, fmt.Errorf("decoding API key %q: %w: %w", id, errBoltCorrupt, err)
	}
	return k, nil
}

// GetAPIKey returns the key record.
func (s *Store) GetAPIKey(ctx context.Context, id string) (*tokencore.EDIAPIKey, error) {
	var out *tokencore.EDIAPIKey
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = loadAPIKey(tx, id)
		return err
	})
	return out, err
}

// GetAPIKeyByHash looks the hash up in edi_idx_key_hash.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (*tokencore.EDIAPIKey, error) {
	var out *tokencore.EDIAPIKey
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var id []byte
		if bk := tx.Bucket([]byte(bucketEDIKeyHash)); bk != nil && len(hash) > 0 {
			id = bk.Get(hash)
		}
		if id == nil {
			return fmt.Errorf("API key by hash: %w", tokencore.ErrNotFound)
		}
		var err error
		if out, err = loadAPIKey(tx, string(id)); errors.Is(err, tokencore.ErrNotFound) {
			return fmt.Errorf("key hash index names missing key %q: %w", id, errBoltCorrupt)
		}
		return err
	})
	return out, err
}

// ListAPIKeys reads owner's entries of edi_idx_key_owner, which are in
// ListAPIKeys order already; with no owner it reads every key and sorts.
func (s *Store) ListAPIKeys(ctx context.Context, owner string) ([]*tokencore.EDIAPIKey, error) {
	var out []*tokencore.EDIAPIKey
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if owner == "" {
			bk := tx.Bucket([]byte(bucketEDIKeys))
			if bk == nil {
				return nil
			}
			return bk.ForEach(func(id, v []byte) error {
				k := new(tokencore.EDIAPIKey)
				if err := json.Unmarshal(v, k); err != nil {
					return fmt.Errorf("decoding API key %q: %w: %w", id, errBoltCorrupt, err)
				}
				out = append(out, k)
				return nil
			})
		}
		idx := tx.Bucket([]byte(bucketEDIKeyOwners))
		if idx == nil {
			return nil
		}
		prefix := appendStr(nil, owner)
		c := idx.Cursor()
		i := 0
		for k, id := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, id = c.Next() {
			if i++; i%ctxCheckEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			key, err := loadAPIKey(tx, string(id))
			if errors.Is(err, tokencore.ErrNotFound) {
				return fmt.Errorf("key owner index names missing key %q: %w", id, errBoltCorrupt)
			} else if err != nil {
				return err
			}
			out = append(out, key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if owner == "" {
		tokencore.SortAPIKeys(out)
	}
	return out, nil
}

// UpdateAPIKey runs the read, fn and the write in one read-write
// transaction. ID, owner and secret hash cannot change, so the index
// entries stay as they are.
func (s *Store) UpdateAPIKey(ctx context.Context, id string, fn func(k *tokencore.EDIAPIKey) error) (*tokencore.EDIAPIKey, error) {
	var out *tokencore.EDIAPIKey
	err := s.update(ctx, func(tx *bolt.Tx) error {
		old, err := loadAPIKey(tx, id)
		if err != nil {
			return fmt.Errorf("updating API key: %w", err)
		}
		k, b, err := tokencore.UpdateRecord(old, fn)
		if err != nil {
			return err // fn's error unwrapped: the caller branches on it
		}
		if !k.CreatedAt.Equal(old.CreatedAt) {
			// The owner index is ordered by creation time.
			owners, err := ediBucket(tx, bucketEDIKeyOwners)
			if err != nil {
				return err
			}
			if err := owners.Delete(apiKeyOwnerKey(old)); err != nil {
				return err
			}
			if err := owners.Put(apiKeyOwnerKey(k), []byte(k.ID)); err != nil {
				return err
			}
		}
		if err := tx.Bucket([]byte(bucketEDIKeys)).Put([]byte(id), b); err != nil {
			return fmt.Errorf("updating API key %q: %w", id, err)
		}
		out = k
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RecordKeyUse applies every use in one transaction (one fsync for a batch).
func (s *Store) RecordKeyUse(ctx context.Context, uses ...tokencore.EDIKeyUse) error {
	if len(uses) == 0 {
		return nil
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucketEDIKeys))
		if bk == nil {
			return nil
		}
		for _, u := range uses {
			k, err := loadAPIKey(tx, u.ID)
			if errors.Is(err, tokencore.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			tokencore.ApplyKeyUse(k, u)
			b, err := tokencore.EncodeAPIKey(k)
			if err != nil {
				return err
			}
			if err := bk.Put([]byte(k.ID), b); err != nil {
				return fmt.Errorf("recording use of API key %q: %w", k.ID, err)
			}
		}
		return nil
	})
}
