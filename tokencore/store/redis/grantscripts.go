package redis

// Grant writes as one Lua script each. A script runs atomically in Redis,
// so the checks and the writes of a creation are one round trip (instead
// of WATCH, EXISTS, a GET per token hash and MULTI/EXEC), and an update is
// a read and one compare-and-swap: the script writes only if the stored
// record is still the one the update started from, byte for byte (the
// record is its own version field), and the caller runs the update again
// from the new record otherwise, as after a failed WATCH.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/tokencore"
)

// Script results other than "ok".
const (
	scriptConflictID   = "conflict-id"   // a grant with this ID exists
	scriptConflictHash = "conflict-hash" // a token hash is another grant's
	scriptNotFound     = "not-found"     // the grant is gone
	scriptChanged      = "changed"       // the grant changed since it was read
)

// createGrantScript stores a new grant with its token hashes, index
// members and expiry entry, unless the ID is taken or a hash belongs to
// another grant (then nothing is written).
//
//	KEYS: grant, hash keys (ARGV[5] of them), index sets, the expiry set (last)
//	ARGV: record, id, index member, expiry score ("" for none), number of hashes
var createGrantScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 'conflict-id' end
local nh = tonumber(ARGV[5])
for i = 2, 1 + nh do
	local owner = redis.call('GET', KEYS[i])
	if owner and owner ~= ARGV[2] then return 'conflict-hash' end
end
redis.call('SET', KEYS[1], ARGV[1])
for i = 2, 1 + nh do redis.call('SET', KEYS[i], ARGV[2]) end
for i = 2 + nh, #KEYS - 1 do redis.call('ZADD', KEYS[i], 0, ARGV[3]) end
if ARGV[4] == '' then
	redis.call('ZREM', KEYS[#KEYS], ARGV[2])
else
	redis.call('ZADD', KEYS[#KEYS], ARGV[4], ARGV[2])
end
return 'ok'
`)

// updateGrantScript replaces a grant if it is still the record the update
// read (compare-and-swap), moving its token hashes, index members and
// expiry entry as writeGrant does; nothing is written otherwise.
//
//	KEYS: grant, then ARGV[7] hash keys to delete, ARGV[8] hash keys to set,
//	      ARGV[9] index sets to leave, ARGV[10] index sets to join, the expiry set (last)
//	ARGV: expected record, new record, id, old member, new member,
//	      expiry score ("" for none), and the four counts
var updateGrantScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return 'not-found' end
if cur ~= ARGV[1] then return 'changed' end
local nd, nh, nr, na = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local hs = 2 + nd
for i = hs, hs + nh - 1 do
	local owner = redis.call('GET', KEYS[i])
	if owner and owner ~= ARGV[3] then return 'conflict-hash' end
end
for i = 2, 1 + nd do redis.call('DEL', KEYS[i]) end
local rs = hs + nh
for i = rs, rs + nr - 1 do redis.call('ZREM', KEYS[i], ARGV[4]) end
redis.call('SET', KEYS[1], ARGV[2])
for i = hs, hs + nh - 1 do redis.call('SET', KEYS[i], ARGV[3]) end
for i = rs + nr, rs + nr + na - 1 do redis.call('ZADD', KEYS[i], 0, ARGV[5]) end
if ARGV[6] == '' then
	redis.call('ZREM', KEYS[#KEYS], ARGV[3])
else
	redis.call('ZADD', KEYS[#KEYS], ARGV[6], ARGV[3])
end
return 'ok'
`)

// expiryArg is the expiry set's score of g as a script argument, as
// go-redis formats a ZADD score; "" when g does not expire.
func expiryArg(g *tokencore.Grant) string {
	if g.ExpiresAt.IsZero() {
		return ""
	}
	return strconv.FormatFloat(expiryScore(g.ExpiresAt), 'f', -1, 64)
}

// createGrantScripted is CreateGrant in one round trip (two with replica
// acknowledgement: the script and WAIT, on one connection).
func (s *Store) createGrantScripted(ctx context.Context, g *tokencore.Grant, record []byte) error {
	hashes := s.hashKeys(g)
	keys := make([]string, 0, 2+len(hashes)+4)
	keys = append(keys, s.grantKey(g.ID))
	keys = append(keys, hashes...)
	keys = append(keys, s.grantIndexes(g)...)
	keys = append(keys, s.expGrants())
	res, err := s.runGrantScript(ctx, createGrantScript, keys,
		record, g.ID, timeMember(g.CreatedAt, g.ID), expiryArg(g), len(hashes))
	if err != nil {
		return err
	}
	switch res {
	case "ok":
		return nil
	case scriptConflictID:
		return fmt.Errorf("creating grant %q: %w", g.ID, tokencore.ErrConflict)
	case scriptConflictHash:
		return fmt.Errorf("grant %q: token hash already belongs to another grant: %w", g.ID, tokencore.ErrConflict)
	}
	return s.wrap(fmt.Errorf("redis store: unexpected script result %q", res))
}

// updateGrantOnce reads the grant, applies fn and writes the result if the
// grant did not change in between; changed reports that it did (the caller
// runs the step again from the new record).
func (s *Store) updateGrantOnce(ctx context.Context, id string, fn func(g *tokencore.Grant) error) (out *tokencore.Grant, changed bool, err error) {
	oldRecord, err := s.rdb.Get(ctx, s.grantKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, fmt.Errorf("updating grant %q: %w", id, tokencore.ErrNotFound)
	}
	if err != nil {
		return nil, false, s.wrap(err)
	}
	old, err := decodeGrant(oldRecord)
	if err != nil {
		return nil, false, err
	}
	g, record, err := tokencore.UpdateRecord(old, fn)
	if err != nil {
		return nil, false, err // fn's error unwrapped: the caller branches on it
	}
	newHashes := tokencore.GrantHashes(g)
	var del []string
	for _, h := range tokencore.GrantHashes(old) {
		if !slices.Contains(newHashes, h) {
			del = append(del, s.hashKey(h))
		}
	}
	set := s.hashKeys(g)
	leave, join := s.grantIndexes(old), s.grantIndexes(g)
	keys := make([]string, 0, 2+len(del)+len(set)+len(leave)+len(join))
	keys = append(keys, s.grantKey(id))
	keys = append(keys, del...)
	keys = append(keys, set...)
	keys = append(keys, leave...)
	keys = append(keys, join...)
	keys = append(keys, s.expGrants())
	res, err := s.runGrantScript(ctx, updateGrantScript, keys,
		oldRecord, record, id, timeMember(old.CreatedAt, old.ID), timeMember(g.CreatedAt, g.ID), expiryArg(g),
		len(del), len(set), len(leave), len(join))
	if err != nil {
		return nil, false, err
	}
	switch res {
	case "ok":
		return g, false, nil
	case scriptChanged:
		return nil, true, nil
	case scriptNotFound:
		return nil, false, fmt.Errorf("updating grant %q: %w", id, tokencore.ErrNotFound)
	case scriptConflictHash:
		return nil, false, fmt.Errorf("updating grant %q: token hash already belongs to another grant: %w", id, tokencore.ErrConflict)
	}
	return nil, false, s.wrap(fmt.Errorf("redis store: unexpected script result %q", res))
}

// runGrantScript runs a grant script and returns its result. When replicas
// must confirm writes, the script and WAIT go over one connection (WAIT
// counts that connection's writes), and a write they do not confirm
// returns ErrNotReplicated: it is on the primary.
func (s *Store) runGrantScript(ctx context.Context, script *redis.Script, keys []string, args ...any) (string, error) {
	if s.acks.required(ctx, s.rdb) == 0 {
		res, err := script.Run(ctx, s.rdb, keys, args...).Text()
		if err != nil {
			return "", s.wrap(err)
		}
		return res, nil
	}
	var res string
	err := s.rdb.Watch(ctx, func(tx *redis.Tx) error { // no key watched: a dedicated connection
		var err error
		if res, err = script.Run(ctx, tx, keys, args...).Text(); err != nil {
			return s.wrap(err)
		}
		if res != "ok" {
			return nil
		}
		return s.acks.confirm(ctx, tx)
	})
	return res, err
}
