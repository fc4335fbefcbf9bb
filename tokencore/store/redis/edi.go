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

// CreateAPIKey stores a new key record and indexes its secret hash, in
// one script.
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
	keys := append([]string{s.apiKeyKey(k.ID), s.apiKeyHashKey(k.SecretHash)}, s.apiKeyIndexes(k)...)
	// Replicas confirm it: a key revocation must survive a failover.
	v, err := s.runWrite(ctx, createAPIKeyScript, keys, b, k.ID, timeMember(k.CreatedAt, k.ID))
	switch {
	case err != nil:
		return err
	case v == scriptNotFound:
		return fmt.Errorf("creating API key %q: %w", k.ID, tokencore.ErrConflict)
	case v == scriptHashTaken:
		return fmt.Errorf("creating API key %q: its secret hash belongs to another key: %w", k.ID, tokencore.ErrConflict)
	}
	return nil
}

// createAPIKeyScript stores a new API key with its hash and indexes.
//
//	KEYS: 1 k:<id>, 2 kh:<hash>, 3.. its index sets
//	ARGV: 1 record, 2 ID, 3 index member
var createAPIKeyScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
for i = 3, #KEYS do redis.call('ZADD', KEYS[i], 0, ARGV[3]) end
return 1
`)

// updateAPIKeyScript replaces an API key that is still the value read;
// a changed CreatedAt moves its index member.
//
//	KEYS: 1 k:<id>, 2.. the index sets whose member moves (none if it stays)
//	ARGV: 1 record as read, 2 new record, 3 old member, 4 new member
var updateAPIKeyScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if cur ~= ARGV[1] then return -2 end
redis.call('SET', KEYS[1], ARGV[2])
for i = 2, #KEYS do
	redis.call('ZREM', KEYS[i], ARGV[3])
	redis.call('ZADD', KEYS[i], 0, ARGV[4])
end
return 1
`)

// swapRecordsScript replaces records that are all still the values read
// (the use counters of several keys, in one step).
//
//	KEYS: the records
//	ARGV: for each, the value read then the new value
var swapRecordsScript = redis.NewScript(`
for i = 1, #KEYS do
	if redis.call('GET', KEYS[i]) ~= ARGV[2 * i - 1] then return -2 end
end
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[2 * i]) end
return 1
`)

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

// UpdateAPIKey reads the key, applies fn and writes the result with a
// script that checks the record is still the one read (else all again),
// like UpdateGrant, and like it waits for the replicas (a revoked key must
// stay revoked after a failover).
func (s *Store) UpdateAPIKey(ctx context.Context, id string, fn func(k *tokencore.EDIAPIKey) error) (*tokencore.EDIAPIKey, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := s.acks.preflight(ctx, s); err != nil {
		return nil, err
	}
	var out *tokencore.EDIAPIKey
	err := s.casLoop(ctx, func() error {
		oldB, err := s.rdb.Get(ctx, s.apiKeyKey(id)).Bytes()
		if errors.Is(err, redis.Nil) {
			return fmt.Errorf("updating API key %q: %w", id, tokencore.ErrNotFound)
		}
		if err != nil {
			return s.wrap(err)
		}
		old, err := decodeAPIKey(oldB)
		if err != nil {
			return err
		}
		k, b, err := tokencore.UpdateRecord(old, fn)
		if err != nil {
			return err // fn's error unwrapped: the caller branches on it
		}
		keys := []string{s.apiKeyKey(id)}
		if !k.CreatedAt.Equal(old.CreatedAt) {
			keys = append(keys, s.apiKeyIndexes(k)...)
		}
		v, err := s.runWrite(ctx, updateAPIKeyScript, keys, oldB, b, timeMember(old.CreatedAt, id), timeMember(k.CreatedAt, id))
		switch {
		case err != nil:
			return err
		case v == scriptNotFound:
			return fmt.Errorf("updating API key %q: %w", id, tokencore.ErrNotFound)
		case v == scriptChanged:
			return errChanged
		}
		out = k
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RecordKeyUse reads the keys the uses name, applies every use and writes
// them back with one script that checks they are still the records read
// (else all again). Usage counters are not waited for by replicas, as
// before: losing a few uses in a failover is harmless.
func (s *Store) RecordKeyUse(ctx context.Context, uses ...tokencore.EDIKeyUse) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	var ids []string
	for _, u := range uses {
		if !slices.Contains(ids, u.ID) {
			ids = append(ids, u.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rkeys := make([]string, len(ids))
	for i, id := range ids {
		rkeys[i] = s.apiKeyKey(id)
	}
	return s.casLoop(ctx, func() error {
		vals, err := s.rdb.MGet(ctx, rkeys...).Result()
		if err != nil {
			return s.wrap(err)
		}
		recs := map[string]*tokencore.EDIAPIKey{}
		var keys []string
		var args []any
		for i, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue // no such key: its uses are dropped
			}
			k, err := decodeAPIKey([]byte(str))
			if err != nil {
				return err
			}
			recs[ids[i]] = k
			keys = append(keys, rkeys[i])
			args = append(args, str, nil) // the new value is set below
		}
		if len(keys) == 0 {
			return nil
		}
		for _, u := range uses {
			if k := recs[u.ID]; k != nil {
				tokencore.ApplyKeyUse(k, u)
			}
		}
		j := 0
		for _, id := range ids {
			k := recs[id]
			if k == nil {
				continue
			}
			b, err := json.Marshal(k)
			if err != nil {
				return err
			}
			args[2*j+1] = b
			j++
		}
		v, err := swapRecordsScript.Run(ctx, s.rdb, keys, args...).Int64()
		if err != nil {
			return s.wrap(err)
		}
		if v == scriptChanged {
			return errChanged
		}
		return nil
	})
}
