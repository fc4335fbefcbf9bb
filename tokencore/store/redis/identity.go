package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/tokencore"
)

// identityKey holds the store's StoreIdentity (JSON) under the prefix: the
// instances sharing a prefix share one store, hence one identity.
func (s *Store) identityKey() string { return s.prefix + "identity" }

// redisIdentityScript returns the identity, creating it from ARGV[1] (a
// fresh identity, generation 0) if there is none, in one atomic step so
// that instances starting together agree on one identity.
var redisIdentityScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`)

// redisAdvanceScript adds one to the generation of the identity, or
// returns false if there is none (the database was emptied).
var redisAdvanceScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
local id = cjson.decode(v)
id.generation = (id.generation or 0) + 1
v = cjson.encode(id)
redis.call('SET', KEYS[1], v)
return v
`)

// Identity implements IdentifiedStore. A database without an identity
// (new, flushed, or written by a version without identities) gets one.
func (s *Store) Identity(ctx context.Context) (tokencore.StoreIdentity, error) {
	if err := s.begin(ctx); err != nil {
		return tokencore.StoreIdentity{}, err
	}
	fresh, err := json.Marshal(tokencore.StoreIdentity{ID: tokencore.NewGrantID(), CreatedAt: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return tokencore.StoreIdentity{}, err
	}
	v, err := redisIdentityScript.Run(ctx, s.rdb, []string{s.identityKey()}, fresh).Text()
	if err != nil {
		return tokencore.StoreIdentity{}, fmt.Errorf("redis store identity: %w", s.wrap(err))
	}
	return decodeRedisIdentity(v)
}

// AdvanceGeneration implements IdentifiedStore.
func (s *Store) AdvanceGeneration(ctx context.Context) (tokencore.StoreIdentity, error) {
	if err := s.begin(ctx); err != nil {
		return tokencore.StoreIdentity{}, err
	}
	v, err := redisAdvanceScript.Run(ctx, s.rdb, []string{s.identityKey()}).Text()
	if errors.Is(err, redis.Nil) {
		return tokencore.StoreIdentity{}, tokencore.ErrStoreIdentityLost
	} else if err != nil {
		return tokencore.StoreIdentity{}, fmt.Errorf("redis store identity: %w", s.wrap(err))
	}
	return decodeRedisIdentity(v)
}

func decodeRedisIdentity(v string) (tokencore.StoreIdentity, error) {
	var id tokencore.StoreIdentity
	if err := json.Unmarshal([]byte(v), &id); err != nil || id.ID == "" {
		return tokencore.StoreIdentity{}, fmt.Errorf("redis store identity %q does not decode: %v", v, err)
	}
	return id, nil
}

// Interface guard.
var _ tokencore.IdentifiedStore = (*Store)(nil)
