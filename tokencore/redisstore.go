package tokencore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore is a Store kept in Redis, for several gateway instances that
// share their grants and revocations. Every key lives under a prefix
// (default "tokengate:"), so several gateways can share one database:
//
//	g:<id>                grant, JSON
//	h:<token hash>        grant ID of a current access or refresh token
//	ix:all                every grant        } sorted sets, all scores 0,
//	ix:sub:<subject>      grants by subject  } members time(CreatedAt)+ID,
//	ix:cli:<client>       grants by client   } so that Redis' byte order of
//	ix:tu:<tenant,user>   grants by user     } members is CreatedAt then ID
//	exp:g                 grant IDs scored by ExpiresAt (Unix seconds)
//	r:<kind,key>          revocation: a hash with its JSON in field "v"
//	exp:r                 revocation keys scored by ExpiresAt (+inf: never)
//	revocations           the pub/sub channel of stored revocations
//
// plus the EDI records (redisstore_edi.go). Writes that must be atomic
// across instances (UpdateGrant, the merge of PutRevocation, index
// maintenance) use WATCH/MULTI/EXEC and retry on conflict.
type RedisStore struct {
	rdb    *redis.Client
	prefix string
	closed atomic.Bool
	// done is cancelled by Close and stops the subscriptions.
	done   context.Context
	cancel context.CancelFunc
}

// RedisOptions configures OpenRedisStore.
type RedisOptions struct {
	// Addr is host:port of the server (default 127.0.0.1:6379).
	Addr     string
	Username string
	Password string
	DB       int
	// KeyPrefix is put before every key and the channel name (default
	// "tokengate:").
	KeyPrefix string
	// DialTimeout bounds connecting (default 5s).
	DialTimeout time.Duration
}

// DefaultRedisPrefix is the key prefix when RedisOptions.KeyPrefix is empty.
const DefaultRedisPrefix = "tokengate:"

const (
	// redisMaxRetries bounds the optimistic retries of one write. Every
	// failed round means another writer succeeded, so n contenders of one
	// record need at most n rounds.
	redisMaxRetries = 1000
	// timeMemberLen is the length of the time part of an index member.
	timeMemberLen = 12
)

// OpenRedisStore connects to Redis and pings it, so that a wrong address or
// password fails here rather than at the first request.
func OpenRedisStore(ctx context.Context, o RedisOptions) (*RedisStore, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:6379"
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultRedisPrefix
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	rdb := redis.NewClient(&redis.Options{
		Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB,
		DialTimeout: o.DialTimeout,
	})
	pctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis store: cannot reach redis at %s (db %d): %w", o.Addr, o.DB, err)
	}
	done, stop := context.WithCancel(context.Background())
	return &RedisStore{rdb: rdb, prefix: o.KeyPrefix, done: done, cancel: stop}, nil
}

// begin checks the context and the closed state before any command.
func (s *RedisStore) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrStoreClosed
	}
	return nil
}

// wrap turns a client error into the store's errors.
func (s *RedisStore) wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.ErrClosed) || s.closed.Load() && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: %v", ErrStoreClosed, err)
	}
	return err
}

// watch runs fn in a WATCH of keys, retrying while another client changed
// a watched key before EXEC.
func (s *RedisStore) watch(ctx context.Context, fn func(tx *redis.Tx) error, keys ...string) error {
	for i := 0; i < redisMaxRetries; i++ {
		err := s.rdb.Watch(ctx, fn, keys...)
		if !errors.Is(err, redis.TxFailedErr) {
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

func (s *RedisStore) grantKey(id string) string { return s.prefix + "g:" + id }
func (s *RedisStore) hashKey(h string) string   { return s.prefix + "h:" + h }
func (s *RedisStore) expGrants() string         { return s.prefix + "exp:g" }
func (s *RedisStore) expRevs() string           { return s.prefix + "exp:r" }
func (s *RedisStore) revKey(name string) string { return s.prefix + "r:" + name }
func (s *RedisStore) channel() string           { return s.prefix + "revocations" }

// lenStr encodes s with its length, so two fields in one key can never be
// read as each other ("ab"+"c" vs "a"+"bc").
func lenStr(s string) string { return strconv.Itoa(len(s)) + ":" + s }

// grantIndexes returns the index sets g is a member of.
func (s *RedisStore) grantIndexes(g *Grant) []string {
	ix := []string{s.prefix + "ix:all"}
	if g.Subject != "" {
		ix = append(ix, s.prefix+"ix:sub:"+g.Subject)
	}
	if g.ClientID != "" {
		ix = append(ix, s.prefix+"ix:cli:"+g.ClientID)
	}
	if g.Tenant != "" || g.UserID != "" {
		ix = append(ix, s.prefix+"ix:tu:"+lenStr(g.Tenant)+g.UserID)
	}
	return ix
}

// filterIndex is the smallest index set that holds every match of f.
func (s *RedisStore) filterIndex(f GrantFilter) string {
	switch {
	case f.Subject != "":
		return s.prefix + "ix:sub:" + f.Subject
	case f.ClientID != "":
		return s.prefix + "ix:cli:" + f.ClientID
	case f.Tenant != "" && f.UserID != "":
		return s.prefix + "ix:tu:" + lenStr(f.Tenant) + f.UserID
	}
	return s.prefix + "ix:all"
}

// timeMember is an index member: time(t) then id, ordered by Redis like
// (t, id).
func timeMember(t time.Time, id string) string { return string(appendTime(nil, t)) + id }

// expiryScore is the coarse sort score of an expiry: Unix seconds. Sweep
// reads candidates by score and decides on the exact time.
func expiryScore(t time.Time) float64 {
	if t.IsZero() {
		return math.Inf(1)
	}
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

func decodeGrant(b []byte) (*Grant, error) {
	var g Grant
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("redis store: decoding grant: %w", err)
	}
	return &g, nil
}

// getGrant reads a grant through c (the client or a WATCH transaction).
func (s *RedisStore) getGrant(ctx context.Context, c redis.Cmdable, id string) (*Grant, error) {
	b, err := c.Get(ctx, s.grantKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("grant %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap(err)
	}
	return decodeGrant(b)
}

// checkHashOwners refuses hashes of g that are the current token of
// another grant (see MemoryStore.checkHashes).
func (s *RedisStore) checkHashOwners(ctx context.Context, tx *redis.Tx, g *Grant) error {
	for _, h := range grantHashes(g) {
		owner, err := tx.Get(ctx, s.hashKey(h)).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return s.wrap(err)
		}
		if owner != g.ID {
			return fmt.Errorf("grant %q: token hash already belongs to another grant: %w", g.ID, ErrConflict)
		}
	}
	return nil
}

// writeGrant queues the record, its indexes and its expiry entry for g,
// removing those of old (nil for a new grant) that g no longer has.
func (s *RedisStore) writeGrant(ctx context.Context, p redis.Pipeliner, old, g *Grant, b []byte) {
	if old != nil {
		newHashes := grantHashes(g)
		for _, h := range grantHashes(old) {
			if !slices.Contains(newHashes, h) {
				p.Del(ctx, s.hashKey(h))
			}
		}
		oldM := timeMember(old.CreatedAt, old.ID)
		for _, ix := range s.grantIndexes(old) {
			p.ZRem(ctx, ix, oldM)
		}
	}
	p.Set(ctx, s.grantKey(g.ID), b, 0)
	for _, h := range grantHashes(g) {
		p.Set(ctx, s.hashKey(h), g.ID, 0)
	}
	m := timeMember(g.CreatedAt, g.ID)
	for _, ix := range s.grantIndexes(g) {
		p.ZAdd(ctx, ix, redis.Z{Score: 0, Member: m})
	}
	if g.ExpiresAt.IsZero() {
		p.ZRem(ctx, s.expGrants(), g.ID)
	} else {
		p.ZAdd(ctx, s.expGrants(), redis.Z{Score: expiryScore(g.ExpiresAt), Member: g.ID})
	}
}

// deleteGrant queues the removal of g with its index and expiry entries.
func (s *RedisStore) deleteGrant(ctx context.Context, p redis.Pipeliner, g *Grant) {
	p.Del(ctx, s.grantKey(g.ID))
	for _, h := range grantHashes(g) {
		p.Del(ctx, s.hashKey(h))
	}
	m := timeMember(g.CreatedAt, g.ID)
	for _, ix := range s.grantIndexes(g) {
		p.ZRem(ctx, ix, m)
	}
	p.ZRem(ctx, s.expGrants(), g.ID)
}

func (s *RedisStore) hashKeys(g *Grant) []string {
	var ks []string
	for _, h := range grantHashes(g) {
		ks = append(ks, s.hashKey(h))
	}
	return ks
}

// CreateGrant stores g and its index entries in one transaction.
func (s *RedisStore) CreateGrant(ctx context.Context, g *Grant) error {
	b, err := encodeGrant(g)
	if err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	keys := append([]string{s.grantKey(g.ID)}, s.hashKeys(g)...)
	err = s.watch(ctx, func(tx *redis.Tx) error {
		n, err := tx.Exists(ctx, s.grantKey(g.ID)).Result()
		if err != nil {
			return s.wrap(err)
		}
		if n > 0 {
			return fmt.Errorf("creating grant %q: %w", g.ID, ErrConflict)
		}
		if err := s.checkHashOwners(ctx, tx, g); err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			s.writeGrant(ctx, p, nil, g, b)
			return nil
		})
		return s.wrap(err)
	}, keys...)
	return s.wrap(err)
}

// GetGrant returns the grant with this ID.
func (s *RedisStore) GetGrant(ctx context.Context, id string) (*Grant, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	return s.getGrant(ctx, s.rdb, id)
}

// GrantByTokenHash looks the hash up in the h: index.
func (s *RedisStore) GrantByTokenHash(ctx context.Context, hash string) (*Grant, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	id, err := s.rdb.Get(ctx, s.hashKey(hash)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("grant by token hash: %w", ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap(err)
	}
	g, err := s.getGrant(ctx, s.rdb, id)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("grant by token hash: %w", ErrNotFound)
	}
	return g, err
}

// UpdateGrant reads the grant under WATCH, applies fn and writes the result
// with MULTI/EXEC; if another instance wrote the grant in between, EXEC
// fails and the whole step (fn included) runs again on the new value. Of
// concurrent rotations of one refresh token exactly one therefore commits.
func (s *RedisStore) UpdateGrant(ctx context.Context, id string, fn func(g *Grant) error) (*Grant, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	var out *Grant
	err := s.watch(ctx, func(tx *redis.Tx) error {
		old, err := s.getGrant(ctx, tx, id)
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("updating grant %q: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		g := old.Clone()
		if err := fn(g); err != nil {
			return err // unwrapped: the caller branches on its own errors
		}
		if err := checkUpdated(id, g); err != nil {
			return err
		}
		b, err := encodeGrant(g)
		if err != nil {
			return err
		}
		// New token hashes: watch them too, so a concurrent create that
		// takes one of them aborts this transaction.
		if hk := s.hashKeys(g); len(hk) > 0 {
			if err := tx.Watch(ctx, hk...).Err(); err != nil {
				return s.wrap(err)
			}
		}
		if err := s.checkHashOwners(ctx, tx, g); err != nil {
			return fmt.Errorf("updating grant %q: %w", id, err)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			s.writeGrant(ctx, p, old, g, b)
			return nil
		})
		if err != nil {
			return s.wrap(err)
		}
		out = g
		return nil
	}, s.grantKey(id))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteGrant removes the grant with its index entries.
func (s *RedisStore) DeleteGrant(ctx context.Context, id string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	return s.watch(ctx, func(tx *redis.Tx) error {
		g, err := s.getGrant(ctx, tx, id)
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("deleting grant %q: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			s.deleteGrant(ctx, p, g)
			return nil
		})
		return s.wrap(err)
	}, s.grantKey(id))
}

// ListGrants reads the members of the narrowest index (already in CreatedAt,
// ID order), loads their grants and applies the whole filter.
func (s *RedisStore) ListGrants(ctx context.Context, f GrantFilter) ([]*Grant, int, error) {
	if err := s.begin(ctx); err != nil {
		return nil, 0, err
	}
	members, err := s.rdb.ZRange(ctx, s.filterIndex(f), 0, -1).Result()
	if err != nil {
		return nil, 0, s.wrap(err)
	}
	now := filterNow(f)
	var match []*Grant
	const batch = 500
	for start := 0; start < len(members); start += batch {
		chunk := members[start:min(start+batch, len(members))]
		keys := make([]string, 0, len(chunk))
		for _, m := range chunk {
			if len(m) > timeMemberLen {
				keys = append(keys, s.grantKey(m[timeMemberLen:]))
			}
		}
		if len(keys) == 0 {
			continue
		}
		vals, err := s.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, 0, s.wrap(err)
		}
		for _, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue // deleted since the index was read
			}
			g, err := decodeGrant([]byte(str))
			if err != nil {
				return nil, 0, err
			}
			if grantMatches(g, f, now) {
				match = append(match, g)
			}
		}
	}
	slices.SortFunc(match, compareGrants)
	lo, hi := listWindow(len(match), f.Start, f.End)
	return slices.Clone(match[lo:hi]), len(match), nil
}

// revName is the identity of a revocation in keys and in exp:r.
func revName(kind RevocationKind, key string) string { return lenStr(string(kind)) + key }

// PutRevocation merges r into the stored revocation of the same kind and
// key under WATCH, and publishes the stored result in the same transaction,
// so every subscribed instance applies it at once.
func (s *RedisStore) PutRevocation(ctx context.Context, r Revocation) error {
	if err := validateRevocation(r); err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	name := revName(r.Kind, r.Key)
	key := s.revKey(name)
	return s.watch(ctx, func(tx *redis.Tx) error {
		merged := r
		b, err := tx.HGet(ctx, key, "v").Bytes()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return s.wrap(err)
		default:
			var old Revocation
			if err := json.Unmarshal(b, &old); err != nil {
				return fmt.Errorf("redis store: decoding revocation: %w", err)
			}
			merged = mergeRevocation(old, r)
		}
		enc, err := json.Marshal(merged)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, key, "v", enc)
			p.ZAdd(ctx, s.expRevs(), redis.Z{Score: expiryScore(merged.ExpiresAt), Member: name})
			p.Publish(ctx, s.channel(), enc)
			return nil
		})
		return s.wrap(err)
	}, key)
}

// Revocations returns the revocations not expired at now.
func (s *RedisStore) Revocations(ctx context.Context, now time.Time) ([]Revocation, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	names, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: s.expRevs(), ByScore: true, Start: strconv.FormatInt(now.Unix()-1, 10), Stop: "+inf",
	}).Result()
	if err != nil {
		return nil, s.wrap(err)
	}
	var out []Revocation
	const batch = 500
	for start := 0; start < len(names); start += batch {
		chunk := names[start:min(start+batch, len(names))]
		cmds, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, n := range chunk {
				p.HGet(ctx, s.revKey(n), "v")
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, s.wrap(err)
		}
		for _, c := range cmds {
			b, err := c.(*redis.StringCmd).Bytes()
			if err != nil {
				continue // swept since the index was read
			}
			var r Revocation
			if err := json.Unmarshal(b, &r); err != nil {
				return nil, fmt.Errorf("redis store: decoding revocation: %w", err)
			}
			if !revocationExpired(r, now) {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// SubscribeRevocations subscribes to the revocation channel and returns
// once the subscription is live: from then on fn is called, from one
// goroutine, for every revocation stored through any RedisStore with the
// same prefix, until ctx is done or the store is closed. The client
// resubscribes by itself after a lost connection; revocations published
// meanwhile are caught by the periodic reading of Revocations.
func (s *RedisStore) SubscribeRevocations(ctx context.Context, fn func(Revocation)) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	ps := s.rdb.Subscribe(ctx, s.channel())
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return fmt.Errorf("redis store: subscribing to revocations: %w", s.wrap(err))
	}
	ch := ps.Channel()
	go func() {
		defer ps.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.done.Done():
				return
			case msg, ok := <-ch:
				if !ok {
					return
				}
				var r Revocation
				if err := json.Unmarshal([]byte(msg.Payload), &r); err != nil {
					continue
				}
				fn(r)
			}
		}
	}()
	return nil
}

// Sweep removes expired grants and revocations. Candidates come from the
// expiry sets by their coarse score; each is removed in its own
// transaction after checking its exact expiry, so a record updated
// meanwhile is kept.
func (s *RedisStore) Sweep(ctx context.Context, now time.Time) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	// Candidates by score: ZRANGE ... BYSCORE (Redis 6.2), which replaced ZRANGEBYSCORE.
	bound := redis.ZRangeArgs{ByScore: true, Start: "-inf", Stop: strconv.FormatInt(now.Unix()+1, 10)}
	bound.Key = s.expGrants()
	ids, err := s.rdb.ZRangeArgs(ctx, bound).Result()
	if err != nil {
		return 0, s.wrap(err)
	}
	n := 0
	for _, id := range ids {
		removed := false
		err := s.watch(ctx, func(tx *redis.Tx) error {
			removed = false
			g, err := s.getGrant(ctx, tx, id)
			if errors.Is(err, ErrNotFound) {
				return s.wrap(tx.ZRem(ctx, s.expGrants(), id).Err())
			}
			if err != nil {
				return err
			}
			if !grantExpired(g, now) {
				return nil
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				s.deleteGrant(ctx, p, g)
				return nil
			})
			removed = err == nil
			return s.wrap(err)
		}, s.grantKey(id))
		if err != nil {
			return n, err
		}
		if removed {
			n++
		}
	}
	bound.Key = s.expRevs()
	names, err := s.rdb.ZRangeArgs(ctx, bound).Result()
	if err != nil {
		return n, s.wrap(err)
	}
	for _, name := range names {
		key := s.revKey(name)
		removed := false
		err := s.watch(ctx, func(tx *redis.Tx) error {
			removed = false
			b, err := tx.HGet(ctx, key, "v").Bytes()
			if errors.Is(err, redis.Nil) {
				return s.wrap(tx.ZRem(ctx, s.expRevs(), name).Err())
			}
			if err != nil {
				return s.wrap(err)
			}
			var r Revocation
			if err := json.Unmarshal(b, &r); err != nil {
				return fmt.Errorf("redis store: decoding revocation: %w", err)
			}
			if !revocationExpired(r, now) {
				return nil
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Del(ctx, key)
				p.ZRem(ctx, s.expRevs(), name)
				return nil
			})
			removed = err == nil
			return s.wrap(err)
		}, key)
		if err != nil {
			return n, err
		}
		if removed {
			n++
		}
	}
	return n, nil
}

// Close closes the connections and stops the subscriptions. The data stays
// in Redis. Further calls fail with ErrStoreClosed.
func (s *RedisStore) Close() error {
	if s.closed.Swap(true) {
		return ErrStoreClosed
	}
	s.cancel()
	return s.rdb.Close()
}

// Interface guards.
var (
	_ Store                 = (*RedisStore)(nil)
	_ RevocationBroadcaster = (*RedisStore)(nil)
)
