package redis

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/tokencore"
)

// EDI records of a Store, under the store's prefix:
//
//	s:<EDI-ID>          subject record, JSON
//	ix:subjects         every EDI-ID (sorted set, scores 0: byte order)
//	k:<id>              API-key record, JSON
//	kh:<hex hash>       key ID of a secret hash
//	ix:keys             every key   } members time(CreatedAt)+ID, scores 0
//	ix:keys:<owner>     keys of one } (the order of ListAPIKeys)

func (s *Store) subjectKey(id string) string { return s.prefix + "s:" + id }
func (s *Store) subjectIndex() string        { return s.prefix + "ix:subjects" }
func (s *Store) apiKeyKey(id string) string  { return s.prefix + "k:" + id }
func (s *Store) apiKeyHashKey(h []byte) string {
	return s.prefix + "kh:" + hex.EncodeToString(h)
}
func (s *Store) apiKeyIndexes(k *tokencore.EDIAPIKey) []string {
	return []string{s.prefix + "ix:keys", s.prefix + "ix:keys:" + k.Owner}
}

func decodeAPIKey(b []byte) (*tokencore.EDIAPIKey, error) {
	var k tokencore.EDIAPIKey
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("redis store: decoding API key: %w", err)
	}
	return &k, nil
}

// PutSubject creates or replaces the subject record.
func (s *Store) PutSubject(ctx context.Context, subj *tokencore.EDISubject) error {
	b, err := tokencore.EncodeSubject(subj)
	if err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.subjectKey(subj.EDIID), b, 0)
		p.ZAdd(ctx, s.subjectIndex(), redis.Z{Score: 0, Member: subj.EDIID})
		return nil
	})
	return s.wrap(err)
}

// GetSubject returns the subject record with this EDI-ID.
func (s *Store) GetSubject(ctx context.Context, ediID string) (*tokencore.EDISubject, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	b, err := s.rdb.Get(ctx, s.subjectKey(ediID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("subject %q: %w", ediID, tokencore.ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap(err)
	}
	var subj tokencore.EDISubject
	if err := json.Unmarshal(b, &subj); err != nil {
		return nil, fmt.Errorf("redis store: decoding subject %q: %w", ediID, err)
	}
	return &subj, nil
}

// ListSubjects returns every subject record, by EDI-ID.
func (s *Store) ListSubjects(ctx context.Context) ([]*tokencore.EDISubject, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	ids, err := s.rdb.ZRange(ctx, s.subjectIndex(), 0, -1).Result()
	if err != nil {
		return nil, s.wrap(err)
	}
	out := make([]*tokencore.EDISubject, 0, len(ids))
	vals, err := s.mget(ctx, ids, s.subjectKey)
	if err != nil {
		return nil, err
	}
	for _, v := range vals {
		var subj tokencore.EDISubject
		if err := json.Unmarshal([]byte(v), &subj); err != nil {
			return nil, fmt.Errorf("redis store: decoding subject: %w", err)
		}
		out = append(out, &subj)
	}
	return out, nil
}

// mget reads the records of ids in batches, leaving out missing ones.
func (s *Store) mget(ctx context.Context, ids []string, key func(string) string) ([]string, error) {
	var out []string
	const batch = 500
	for start := 0; start < len(ids); start += batch {
		chunk := ids[start:min(start+batch, len(ids))]
		keys := make([]string, len(chunk))
		for i, id := range chunk {
			keys[i] = key(id)
		}
		vals, err := s.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, s.wrap(err)
		}
		for _, v := range vals {
			if str, ok := v.(string); ok {
				out = append(out, str)
			}
		}
	}
	return out, nil
}

// CreateAPIKey stores a new key record and indexes its secret hash.
func (s *Store) CreateAPIKey(ctx context.Context, k *tokencore.EDIAPIKey) error {
	b, err := tokencore.EncodeAPIKey(k)
	if err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	if err := s.acks.preflight(ctx, s); err != nil {
		return err
	}
	key, hkey := s.apiKeyKey(k.ID), s.apiKeyHashKey(k.SecretHash)
	return s.watch(ctx, func(tx *redis.Tx) error {
		n, err := tx.Exists(ctx, key).Result()
		if err != nil {
			return s.wrap(err)
		}
		if n > 0 {
			return fmt.Errorf("creating API key %q: %w", k.ID, tokencore.ErrConflict)
		}
		if n, err = tx.Exists(ctx, hkey).Result(); err != nil {
			return s.wrap(err)
		}
		if n > 0 {
			return fmt.Errorf("creating API key %q: its secret hash belongs to another key: %w", k.ID, tokencore.ErrConflict)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, b, 0)
			p.Set(ctx, hkey, k.ID, 0)
			m := timeMember(k.CreatedAt, k.ID)
			for _, ix := range s.apiKeyIndexes(k) {
				p.ZAdd(ctx, ix, redis.Z{Score: 0, Member: m})
			}
			return nil
		})
		if err != nil {
			return s.wrap(err)
		}
		return s.acks.confirm(ctx, tx) // a key revocation must survive a failover
	}, key, hkey)
}

func (s *Store) getAPIKey(ctx context.Context, c redis.Cmdable, id string) (*tokencore.EDIAPIKey, error) {
	b, err := c.Get(ctx, s.apiKeyKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("API key %q: %w", id, tokencore.ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap(err)
	}
	return decodeAPIKey(b)
}

// GetAPIKey returns the key record with this ID.
func (s *Store) GetAPIKey(ctx context.Context, id string) (*tokencore.EDIAPIKey, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	return s.getAPIKey(ctx, s.rdb, id)
}

// GetAPIKeyByHash looks the secret hash up in the kh: index.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (*tokencore.EDIAPIKey, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	id, err := s.rdb.Get(ctx, s.apiKeyHashKey(hash)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("API key by hash: %w", tokencore.ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap(err)
	}
	k, err := s.getAPIKey(ctx, s.rdb, id)
	if errors.Is(err, tokencore.ErrNotFound) {
		return nil, fmt.Errorf("API key by hash: %w", tokencore.ErrNotFound)
	}
	return k, err
}

// ListAPIKeys returns owner's key records (every record when owner is
// empty), by CreatedAt then ID.
func (s *Store) ListAPIKeys(ctx context.Context, owner string) ([]*tokencore.EDIAPIKey, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	ix := s.prefix + "ix:keys"
	if owner != "" {
		ix += ":" + owner
	}
	members, err := s.rdb.ZRange(ctx, ix, 0, -1).Result()
	if err != nil {
		return nil, s.wrap(err)
	}
	ids := make([]string, 0, len(members))
	for _, m := range members {
		if len(m) > timeMemberLen {
			ids = append(ids, m[timeMemberLen:])
		}
	}
	vals, err := s.mget(ctx, ids, s.apiKeyKey)
	if err != nil {
		return nil, err
	}
	var out []*tokencore.EDIAPIKey
	for _, v := range vals {
		k, err := decodeAPIKey([]byte(v))
		if err != nil {
			return nil, err
		}
		if owner == "" || k.Owner == owner {
			out = append(out, k)
		}
	}
	tokencore.SortAPIKeys(out)
	return out, nil
}

// UpdateAPIKey applies fn under WATCH, like UpdateGrant, and like it waits
// for the replicas (a revoked key must stay revoked after a failover).
func (s *Store) UpdateAPIKey(ctx context.Context, id string, fn func(k *tokencore.EDIAPIKey) error) (*tokencore.EDIAPIKey, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := s.acks.preflight(ctx, s); err != nil {
		return nil, err
	}
	var out *tokencore.EDIAPIKey
	err := s.watch(ctx, func(tx *redis.Tx) error {
		old, err := s.getAPIKey(ctx, tx, id)
		if errors.Is(err, tokencore.ErrNotFound) {
			return fmt.Errorf("updating API key %q: %w", id, tokencore.ErrNotFound)
		}
		if err != nil {
			return err
		}
		k, b, err := tokencore.UpdateRecord(old, fn)
		if err != nil {
			return err // fn's error unwrapped: the caller branches on it
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, s.apiKeyKey(id), b, 0)
			if !k.CreatedAt.Equal(old.CreatedAt) {
				oldM, m := timeMember(old.CreatedAt, id), timeMember(k.CreatedAt, id)
				for _, ix := range s.apiKeyIndexes(k) {
					p.ZRem(ctx, ix, oldM)
					p.ZAdd(ctx, ix, redis.Z{Score: 0, Member: m})
				}
			}
			return nil
		})
		if err != nil {
			return s.wrap(err)
		}
		if err := s.acks.confirm(ctx, tx); err != nil {
			return err
		}
		out = k
		return nil
	}, s.apiKeyKey(id))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RecordKeyUse applies every use in one transaction over the keys it names.
func (s *Store) RecordKeyUse(ctx context.Context, uses ...tokencore.EDIKeyUse) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	var keys []string
	for _, u := range uses {
		if k := s.apiKeyKey(u.ID); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	return s.watch(ctx, func(tx *redis.Tx) error {
		recs := map[string]*tokencore.EDIAPIKey{}
		for _, u := range uses {
			if _, seen := recs[u.ID]; seen {
				continue
			}
			k, err := s.getAPIKey(ctx, tx, u.ID)
			if errors.Is(err, tokencore.ErrNotFound) {
				recs[u.ID] = nil
				continue
			}
			if err != nil {
				return err
			}
			recs[u.ID] = k
		}
		for _, u := range uses {
			if k := recs[u.ID]; k != nil {
				tokencore.ApplyKeyUse(k, u)
			}
		}
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for id, k := range recs {
				if k == nil {
					continue
				}
				b, err := json.Marshal(k)
				if err != nil {
					return err
				}
				p.Set(ctx, s.apiKeyKey(id), b, 0)
			}
			return nil
		})
		return s.wrap(err)
	}, keys...)
}
