package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/tokencore"
)

// Every write of a record and its indexes is one Lua script, run with
// EVALSHA (EVAL once per connection the first time the server lacks it):
// Redis runs a script atomically, so the record and its index entries
// change together, in one round trip and with a fraction of the server's
// work of WATCH/MULTI/EXEC over every key involved.
//
// A write that depends on what is stored (UpdateGrant, DeleteGrant, the
// merge of PutRevocation) reads the record, computes the new value in Go
// and hands the script the value it read: the script writes only if the
// record is still exactly that value (a compare-and-swap on the whole
// record, which needs no version field, so records written by earlier
// versions need no migration) and otherwise reports a conflict; the
// caller then reads again and retries. Of concurrent rotations of one
// refresh token exactly one therefore commits, on every instance.
//
// Every script returns a number: positive when it wrote, and otherwise
// one of the codes below with nothing written.
const (
	scriptNotFound  = 0  // the record is not there (or, for a create, is)
	scriptHashTaken = -1 // a token hash belongs to another grant
	scriptChanged   = -2 // the record is not the value read: read again
)

// errChanged makes casLoop run its step again.
var errChanged = errors.New("redis store: record changed since it was read")

// casLoop runs step until it does not report errChanged: every failed
// round means another writer succeeded, so n contenders of one record
// need at most n rounds. After a few rounds it backs off with jitter.
func (s *Store) casLoop(ctx context.Context, step func() error) error {
	for i := 0; i < redisMaxRetries; i++ {
		err := step()
		if !errors.Is(err, errChanged) {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if i > 2 {
			time.Sleep(time.Duration(rand.IntN(1000*min(i, 20))) * time.Microsecond)
		}
	}
	return fmt.Errorf("redis store: gave up after %d conflicting writes", redisMaxRetries)
}

// runWrite runs a write script. When replicas must confirm writes, WAIT
// follows the script in the same pipeline (one connection, one round
// trip): it waits for everything that connection wrote. A script that
// wrote nothing (result ≤ 0) needs no confirmation.
func (s *Store) runWrite(ctx context.Context, sc *redis.Script, keys []string, args ...any) (int64, error) {
	n := s.acks.required(ctx, s.rdb)
	if n == 0 {
		v, err := sc.Run(ctx, s.rdb, keys, args...).Int64()
		return v, s.wrap(err)
	}
	res, wait := s.evalWait(ctx, sc.EvalSha, keys, args, n)
	if redis.HasErrorPrefix(res.Err(), "NOSCRIPT") {
		res, wait = s.evalWait(ctx, sc.Eval, keys, args, n)
	}
	v, err := res.Int64()
	if err != nil {
		return 0, s.wrap(err)
	}
	if v <= 0 {
		return v, nil
	}
	got, err := wait.Int64()
	return v, s.acks.check(n, got, err)
}

// evalWait sends eval (EVALSHA or EVAL) and WAIT in one pipeline.
func (s *Store) evalWait(ctx context.Context, eval func(context.Context, redis.Scripter, []string, ...any) *redis.Cmd,
	keys []string, args []any, n int) (res, wait *redis.Cmd) {
	// The pipeline's error is the first command's; both are read below.
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		res = eval(ctx, p, keys, args...)
		wait = p.Do(ctx, "wait", n, int64(s.acks.timeout/time.Millisecond))
		return nil
	})
	return res, wait
}

// createGrantScript stores a new grant with its indexes.
//
//	KEYS: 1 g:<id>, 2 exp:g, 3.. the nh keys h:<hash> of its token
//	      hashes, then the index sets it joins
//	ARGV: 1 record, 2 ID, 3 index member, 4 expiry score ("": none), 5 nh
var createGrantScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local nh = tonumber(ARGV[5])
for i = 3, 2 + nh do
	local owner = redis.call('GET', KEYS[i])
	if owner and owner ~= ARGV[2] then return -1 end
end
redis.call('SET', KEYS[1], ARGV[1])
for i = 3, 2 + nh do redis.call('SET', KEYS[i], ARGV[2]) end
for i = 3 + nh, #KEYS do redis.call('ZADD', KEYS[i], 0, ARGV[3]) end
if ARGV[4] == '' then
	redis.call('ZREM', KEYS[2], ARGV[2])
else
	redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
end
return 1
`)

// updateGrantScript replaces a grant that is still the value read, with
// the changes of its index entries.
//
//	KEYS: 1 g:<id>, 2 exp:g, then nd keys h:<hash> to delete, ns keys
//	      h:<hash> to point at the grant, nr index sets to leave, and the
//	      index sets to join
//	ARGV: 1 record as read, 2 new record, 3 ID, 4 old index member,
//	      5 new index member, 6 expiry score ("": none, "=": unchanged),
//	      7 nd, 8 ns, 9 nr
var updateGrantScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if cur ~= ARGV[1] then return -2 end
local nd, ns, nr = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local s = 3 + nd
for i = s, s + ns - 1 do
	local owner = redis.call('GET', KEYS[i])
	if owner and owner ~= ARGV[3] then return -1 end
end
for i = 3, s - 1 do redis.call('DEL', KEYS[i]) end
redis.call('SET', KEYS[1], ARGV[2])
for i = s, s + ns - 1 do redis.call('SET', KEYS[i], ARGV[3]) end
local r = s + ns
for i = r, r + nr - 1 do redis.call('ZREM', KEYS[i], ARGV[4]) end
for i = r + nr, #KEYS do redis.call('ZADD', KEYS[i], 0, ARGV[5]) end
if ARGV[6] == '' then
	redis.call('ZREM', KEYS[2], ARGV[3])
elseif ARGV[6] ~= '=' then
	redis.call('ZADD', KEYS[2], ARGV[6], ARGV[3])
end
return 1
`)

// deleteGrantScript removes a grant that is still the value read, with
// its index entries.
//
//	KEYS: 1 g:<id>, 2 exp:g, 3.. the nh keys h:<hash>, then its index sets
//	ARGV: 1 record as read, 2 ID, 3 index member, 4 nh
var deleteGrantScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if cur ~= ARGV[1] then return -2 end
local nh = tonumber(ARGV[4])
redis.call('DEL', KEYS[1])
for i = 3, 2 + nh do redis.call('DEL', KEYS[i]) end
for i = 3 + nh, #KEYS do redis.call('ZREM', KEYS[i], ARGV[3]) end
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
`)

// grantByHashScript reads the grant a token hash names, or nil. The
// grant's key is built in the script from ARGV[1], the prefix of grant
// keys: it cannot be declared up front, which a single Redis server (the
// only kind this store talks to) allows.
//
//	KEYS: 1 h:<hash>
//	ARGV: 1 the prefix of g:<id>
var grantByHashScript = redis.NewScript(`
local id = redis.call('GET', KEYS[1])
if not id then return false end
return redis.call('GET', ARGV[1] .. id)
`)

// deleteRevocationScript removes an expired revocation that is still the
// value read (a put may have extended it meanwhile).
//
//	KEYS: 1 r:<name>, 2 exp:r
//	ARGV: 1 the JSON read, 2 name
var deleteRevocationScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return -2 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
`)

// expiryArg is the expiry score argument of the grant scripts: "" for no
// expiry.
func expiryArg(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatFloat(expiryScore(t), 'f', -1, 64)
}

// createGrant runs createGrantScript for g, encoded as b.
func (s *Store) createGrant(ctx context.Context, g *tokencore.Grant, b []byte) error {
	hashes := s.hashKeys(g)
	keys := make([]string, 0, 2+len(hashes)+4)
	keys = append(keys, s.grantKey(g.ID), s.expGrants())
	keys = append(keys, hashes...)
	keys = append(keys, s.grantIndexes(g)...)
	v, err := s.runWrite(ctx, createGrantScript, keys,
		b, g.ID, timeMember(g.CreatedAt, g.ID), expiryArg(g.ExpiresAt), len(hashes))
	switch {
	case err != nil:
		return err
	case v == scriptNotFound:
		return fmt.Errorf("creating grant %q: %w", g.ID, tokencore.ErrConflict)
	case v == scriptHashTaken:
		return fmt.Errorf("grant %q: token hash already belongs to another grant: %w", g.ID, tokencore.ErrConflict)
	}
	return nil
}

// replaceGrant runs updateGrantScript: old (stored as oldB) becomes g
// (encoded as b). It returns errChanged when old is no longer stored.
func (s *Store) replaceGrant(ctx context.Context, old, g *tokencore.Grant, oldB, b []byte) error {
	newHashes := tokencore.GrantHashes(g)
	var del []string
	for _, h := range tokencore.GrantHashes(old) {
		if !slices.Contains(newHashes, h) {
			del = append(del, s.hashKey(h))
		}
	}
	oldM, m := timeMember(old.CreatedAt, old.ID), timeMember(g.CreatedAt, g.ID)
	leave, join := s.grantIndexes(old), s.grantIndexes(g)
	if oldM == m { // the member stays: only the sets that differ change
		leave, join = setMinus(leave, join), setMinus(join, leave)
	}
	keys := make([]string, 0, 2+len(del)+len(newHashes)+len(leave)+len(join))
	keys = append(keys, s.grantKey(g.ID), s.expGrants())
	keys = append(keys, del...)
	for _, h := range newHashes {
		keys = append(keys, s.hashKey(h))
	}
	keys = append(keys, leave...)
	keys = append(keys, join...)
	exp := expiryArg(g.ExpiresAt)
	if g.ExpiresAt.Equal(old.ExpiresAt) {
		exp = "="
	}
	v, err := s.runWrite(ctx, updateGrantScript, keys,
		oldB, b, g.ID, oldM, m, exp, len(del), len(newHashes), len(leave))
	switch {
	case err != nil:
		return err
	case v == scriptNotFound:
		return fmt.Errorf("updating grant %q: %w", g.ID, tokencore.ErrNotFound)
	case v == scriptHashTaken:
		return fmt.Errorf("updating grant %q: token hash already belongs to another grant: %w", g.ID, tokencore.ErrConflict)
	case v == scriptChanged:
		return errChanged
	}
	return nil
}

// removeGrant runs deleteGrantScript for g, stored as b. It returns
// ErrNotFound when g is gone and errChanged when it is no longer b.
func (s *Store) removeGrant(ctx context.Context, g *tokencore.Grant, b []byte) error {
	hashes := s.hashKeys(g)
	keys := make([]string, 0, 2+len(hashes)+4)
	keys = append(keys, s.grantKey(g.ID), s.expGrants())
	keys = append(keys, hashes...)
	keys = append(keys, s.grantIndexes(g)...)
	v, err := s.runWrite(ctx, deleteGrantScript, keys, b, g.ID, timeMember(g.CreatedAt, g.ID), len(hashes))
	switch {
	case err != nil:
		return err
	case v == scriptNotFound:
		return fmt.Errorf("deleting grant %q: %w", g.ID, tokencore.ErrNotFound)
	case v == scriptChanged:
		return errChanged
	}
	return nil
}

// readGrant reads a grant with its stored bytes, the value a CAS script
// compares with.
func (s *Store) readGrant(ctx context.Context, id string) (*tokencore.Grant, []byte, error) {
	b, err := s.rdb.Get(ctx, s.grantKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil, fmt.Errorf("grant %q: %w", id, tokencore.ErrNotFound)
	}
	if err != nil {
		return nil, nil, s.wrap(err)
	}
	g, err := decodeGrant(b)
	return g, b, err
}

// setMinus returns the elements of a not in b.
func setMinus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// recentReads remembers, per Store, the stored bytes of the last grants
// read (GetGrant, GrantByTokenHash), a few hundred slots by ID. A refresh
// reads its grant and then updates it: UpdateGrant starts from the bytes
// of that read instead of reading again, which saves a round trip. It is
// safe because the update script writes only if the record is still
// exactly those bytes; if not, the update reads again and calls fn again
// (which the Store contract allows).
type recentReads struct {
	slots [256]atomic.Pointer[recentRead]
}

type recentRead struct {
	id string
	b  []byte
}

func (r *recentReads) slot(id string) *atomic.Pointer[recentRead] {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(id); i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return &r.slots[h%uint32(len(r.slots))]
}

// put remembers b as the stored value of grant id.
func (r *recentReads) put(id string, b []byte) { r.slot(id).Store(&recentRead{id: id, b: b}) }

// take returns and forgets the remembered bytes of grant id, or nil.
func (r *recentReads) take(id string) []byte {
	sl := r.slot(id)
	p := sl.Load()
	if p == nil || p.id != id || !sl.CompareAndSwap(p, nil) {
		return nil
	}
	return p.b
}
