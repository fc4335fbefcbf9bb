// Package redis is the tokencore.Store kept in Redis, for several gateway
// instances sharing their grants, revocations and EDI records. Beside the
// store contract it implements tokencore.RevocationFeed and
// tokencore.InstanceRegistry, which a tokencore.RevocationFollower uses to
// keep every instance's revocation view complete, and
// tokencore.IdentifiedStore.
//
// Inside this package the name redis is go-redis; importers that use both
// usually name this package redisstore.
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/tokencore"
)

// Store is a tokencore.Store kept in Redis, for several gateway instances that
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
//	rev:seq               number of the last stored revocation (INCR)
//	rev:epoch             identity of the revocation history (see FeedPosition)
//	rev:stream            the revocation feed: a stream whose entry IDs are
//	                      "<number>-0", each with the merged revocation in
//	                      field "v" and the epoch in "e", trimmed to about
//	                      redisFeedLength entries
//	inst:<id>             a live instance: expires unless its heartbeat renews it
//	instances             instance IDs scored by the last number each applied
//
// plus the EDI records (edi.go). Every write of a grant or a revocation
// with its indexes is one Lua script (scripts.go): atomic, one round trip;
// writes that depend on the stored value (UpdateGrant, DeleteGrant, the
// merge of PutRevocation) pass the value they read and the script writes
// only if it is still there (compare-and-swap), else they retry. A
// revocation's record, its number and its feed entry are written by one
// script, so they exist together or not at all.
//
// With replicas, writes of grants, revocations and API keys return only
// once enough replicas confirmed them (WAIT, see Options.ReplicaAcks).
type Store struct {
	rdb    *redis.Client
	prefix string
	closed atomic.Bool
	acks   replicaAcks
	recent recentReads
}

// ReplicaAcks is how many replicas must confirm a write before it counts
// as stored (Options.ReplicaAcks).
type ReplicaAcks int

const (
	// ReplicaAcksAuto (the zero value) waits for one replica once the
	// primary has reported a connected replica (INFO replication, checked
	// at open and then at most once a second while none was seen), and
	// keeps waiting for one from then on: a replica that drops away makes
	// writes fail (503) rather than silently lose the failover guarantee.
	ReplicaAcksAuto ReplicaAcks = 0
	// ReplicaAcksOff never waits: a write is stored when the primary has
	// it (and its own persistence settings say what survives a crash).
	ReplicaAcksOff ReplicaAcks = -1
)

// Options configures Open.
type Options struct {
	// Addr is host:port of the server (default 127.0.0.1:6379).
	Addr     string
	Username string
	Password string
	DB       int
	// KeyPrefix is put before every key (default "tokengate:").
	KeyPrefix string
	// DialTimeout bounds connecting (default 5s).
	DialTimeout time.Duration
	// ReplicaAcks is how many replicas must confirm each write of a
	// grant, a revocation or an API key (WAIT) before it returns: a
	// number, ReplicaAcksAuto (default) or ReplicaAcksOff. A write the
	// replicas did not confirm within ReplicaAckTimeout fails with
	// ErrNotReplicated; it is on the primary (see the method docs).
	ReplicaAcks ReplicaAcks
	// ReplicaAckTimeout bounds that wait (default 100ms).
	ReplicaAckTimeout time.Duration
}

// DefaultPrefix is the key prefix when Options.KeyPrefix is empty.
const DefaultPrefix = "tokengate:"

const (
	// redisMaxRetries bounds the optimistic retries of one write. Every
	// failed round means another writer succeeded, so n contenders of one
	// record need at most n rounds.
	redisMaxRetries = 1000
	// timeMemberLen is the length of the time part of an index member.
	timeMemberLen = 12
)

// Open connects to Redis and pings it, so that a wrong address or
// password fails here rather than at the first request.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:6379"
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultPrefix
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	rdb := redis.NewClient(&redis.Options{
		Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB,
		DialTimeout: o.DialTimeout,
		// Deadlines of the caller's context bound every command, so that
		// the revocation follower's checks fail fast on a hung connection.
		ContextTimeoutEnabled: true,
	})
	pctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis store: cannot reach redis at %s (db %d): %w", o.Addr, o.DB, err)
	}
	if o.ReplicaAckTimeout <= 0 {
		o.ReplicaAckTimeout = DefaultReplicaAckTimeout
	}
	s := &Store{rdb: rdb, prefix: o.KeyPrefix, acks: replicaAcks{mode: o.ReplicaAcks, timeout: o.ReplicaAckTimeout}}
	s.acks.required(pctx, rdb) // auto: learn at once whether the primary has replicas
	return s, nil
}

// DefaultReplicaAckTimeout is Options.ReplicaAckTimeout's default: a
// replica on the same network confirms in about one round trip.
const DefaultReplicaAckTimeout = 100 * time.Millisecond

// begin checks the context and the closed state before any command.
func (s *Store) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return tokencore.ErrStoreClosed
	}
	return nil
}

// wrap turns a client error into the store's errors: a closed client is
// ErrStoreClosed, a failure to reach Redis or a refusal that is Redis' own
// state (READONLY after a failover, LOADING, OOM, ...) wraps
// ErrStoreUnavailable; anything else (the caller's own errors, redis.Nil,
// a failed transaction) is returned as it is.
func (s *Store) wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.ErrClosed) || s.closed.Load() && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: %v", tokencore.ErrStoreClosed, err)
	}
	if redisUnavailable(err) {
		return tokencore.WrapUnavailable(err)
	}
	return err
}

// redisUnavailable reports whether err means Redis could not serve the
// command: the connection (refused, reset, timed out, pool exhausted) or a
// server state that passes (a replica or a loading server, no memory).
func redisUnavailable(err error) bool {
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return false // the caller went away
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrPoolExhausted):
		return true
	}
	return redis.IsReadOnlyError(err) || redis.IsLoadingError(err) || redis.IsMasterDownError(err) ||
		redis.IsClusterDownError(err) || redis.IsTryAgainError(err) || redis.IsMaxClientsError(err) ||
		redis.IsNoReplicasError(err) || redis.IsOOMError(err) || redis.IsExecAbortError(err) ||
		redis.HasErrorPrefix(err, "BUSY")
}

func (s *Store) grantKey(id string) string { return s.prefix + "g:" + id }
func (s *Store) hashKey(h string) string   { return s.prefix + "h:" + h }
func (s *Store) expGrants() string         { return s.prefix + "exp:g" }
func (s *Store) expRevs() string           { return s.prefix + "exp:r" }
func (s *Store) revKey(name string) string { return s.prefix + "r:" + name }
func (s *Store) revSeqKey() string         { return s.prefix + "rev:seq" }
func (s *Store) revEpochKey() string       { return s.prefix + "rev:epoch" }
func (s *Store) revStream() string         { return s.prefix + "rev:stream" }
func (s *Store) instKey(id string) string  { return s.prefix + "inst:" + id }
func (s *Store) instances() string         { return s.prefix + "instances" }

// lenStr encodes s with its length, so two fields in one key can never be
// read as each other ("ab"+"c" vs "a"+"bc").
func lenStr(s string) string { return strconv.Itoa(len(s)) + ":" + s }

// grantIndexes returns the index sets g is a member of.
func (s *Store) grantIndexes(g *tokencore.Grant) []string {
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
func (s *Store) filterIndex(f tokencore.GrantFilter) string {
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
func timeMember(t time.Time, id string) string {
	return string(tokencore.AppendSortableTime(nil, t)) + id
}

// expiryScore is the coarse sort score of an expiry: Unix seconds. Sweep
// reads candidates by score and decides on the exact time.
func expiryScore(t time.Time) float64 {
	if t.IsZero() {
		return math.Inf(1)
	}
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

func decodeGrant(b []byte) (*tokencore.Grant, error) {
	var g tokencore.Grant
	if err := tokencore.DecodeGrant(b, &g); err != nil {
		return nil, fmt.Errorf("redis store: decoding grant: %w", err)
	}
	return &g, nil
}

func (s *Store) hashKeys(g *tokencore.Grant) []string {
	var ks []string
	for _, h := range tokencore.GrantHashes(g) {
		ks = append(ks, s.hashKey(h))
	}
	return ks
}

// CreateGrant stores g with its index entries: one script, one round
// trip (see scripts.go).
func (s *Store) CreateGrant(ctx context.Context, g *tokencore.Grant) error {
	b, err := tokencore.EncodeGrant(g)
	if err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	if err := s.acks.preflight(ctx, s); err != nil {
		return err
	}
	return s.createGrant(ctx, g, b)
}

// GetGrant returns the grant with this ID.
func (s *Store) GetGrant(ctx context.Context, id string) (*tokencore.Grant, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	g, b, err := s.readGrant(ctx, id)
	if err == nil {
		s.recent.put(id, b)
	}
	return g, err
}

// GrantByTokenHash looks the hash up in the h: index and reads the grant
// it names, in one script (one round trip: a refresh starts with it).
func (s *Store) GrantByTokenHash(ctx context.Context, hash string) (*tokencore.Grant, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	v, err := grantByHashScript.Run(ctx, s.rdb, []string{s.hashKey(hash)}, s.prefix+"g:").Text()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("grant by token hash: %w", tokencore.ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap(err)
	}
	b := []byte(v)
	g, err := decodeGrant(b)
	if err == nil {
		s.recent.put(g.ID, b)
	}
	return g, err
}

// UpdateGrant reads the grant, applies fn and writes the result with a
// script that first checks the record is still the one read; if another
// instance wrote the grant in between, the whole step (fn included) runs
// again on the new value. Of concurrent rotations of one refresh token
// exactly one therefore commits.
//
// With replica acknowledgement on, an update the replicas did not confirm
// returns ErrNotReplicated although the primary has it: a rotation is then
// done on the primary (the old refresh token is used up there) while its
// caller answers 503 without the new tokens. Nothing is undone, because an
// undo would be as unconfirmed as the write: if the primary survives, the
// client's retry with the old token is a replay (or, within a configured
// refresh grace window, gets the same new pair); if the primary is lost,
// the promoted replica never saw the rotation and the retry rotates anew.
// While the replicas are known to lag, every write first checks that they
// confirm again (preflight), so in that state a write fails with nothing
// written.
func (s *Store) UpdateGrant(ctx context.Context, id string, fn func(g *tokencore.Grant) error) (*tokencore.Grant, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := s.acks.preflight(ctx, s); err != nil {
		return nil, err
	}
	var out *tokencore.Grant
	// The bytes of a read just made, if any (recentReads). They may be
	// older than the record: a write with them fails and reads again, and
	// so does an error of fn on them, which only a fresh read may answer.
	remembered := s.recent.take(id)
	err := s.casLoop(ctx, func() error {
		var old *tokencore.Grant
		oldB, err := remembered, error(nil)
		fromMemory := oldB != nil
		if fromMemory {
			remembered = nil
			old, err = decodeGrant(oldB)
		} else {
			old, oldB, err = s.readGrant(ctx, id)
		}
		if errors.Is(err, tokencore.ErrNotFound) {
			return fmt.Errorf("updating grant %q: %w", id, tokencore.ErrNotFound)
		}
		if err != nil {
			if fromMemory {
				return errChanged
			}
			return err
		}
		g, b, err := tokencore.UpdateRecord(old, fn)
		if err != nil {
			if fromMemory {
				return errChanged
			}
			return err // fn's error unwrapped: the caller branches on it
		}
		if err := s.replaceGrant(ctx, old, g, oldB, b); err != nil {
			return err
		}
		out = g
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteGrant removes the grant with its index entries.
func (s *Store) DeleteGrant(ctx context.Context, id string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	if err := s.acks.preflight(ctx, s); err != nil {
		return err
	}
	return s.casLoop(ctx, func() error {
		g, b, err := s.readGrant(ctx, id)
		if errors.Is(err, tokencore.ErrNotFound) {
			return fmt.Errorf("deleting grant %q: %w", id, tokencore.ErrNotFound)
		}
		if err != nil {
			return err
		}
		return s.removeGrant(ctx, g, b)
	})
}

// ListGrants reads the members of the narrowest index (already in CreatedAt,
// ID order), loads their grants and applies the whole filter.
func (s *Store) ListGrants(ctx context.Context, f tokencore.GrantFilter) ([]*tokencore.Grant, int, error) {
	if err := s.begin(ctx); err != nil {
		return nil, 0, err
	}
	members, err := s.rdb.ZRange(ctx, s.filterIndex(f), 0, -1).Result()
	if err != nil {
		return nil, 0, s.wrap(err)
	}
	now := tokencore.FilterNow(f)
	var match []*tokencore.Grant
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
			if tokencore.GrantMatches(g, f, now) {
				match = append(match, g)
			}
		}
	}
	slices.SortFunc(match, tokencore.CompareGrants)
	lo, hi := tokencore.ListWindow(len(match), f.Start, f.End)
	return slices.Clone(match[lo:hi]), len(match), nil
}

// redisFeedLength is about how many revocations the feed keeps (XADD
// MAXLEN ~). An instance that falls further behind (it was disconnected
// while that many revocations were made) reloads the whole set instead.
const redisFeedLength = 100_000

// putRevocationScript merges a revocation into the stored one of the
// same kind and key, takes its number and appends the merged value to the
// feed, as one step and one round trip (the revoking request waits for
// it, and then for every instance to apply it).
//
// The record r:<name> is a hash: "v" the JSON of the revocation, and for
// the merge its times as fixed-width digits that sort like the times
// ("nb", "ex"), their JSON ("nbj", "exj") and the expiry score ("es").
// The merged JSON is the head (kind and key) and the later of each time.
//
//	KEYS: 1 r:<name>, 2 exp:r, 3 rev:seq, 4 rev:epoch, 5 rev:stream
//	ARGV: 1 JSON head, 2 nb, 3 nbj, 4 ex, 5 exj, 6 es, 7 name,
//	      8 epoch if none yet, 9 feed length,
//	      10 "" to merge here, or the stored JSON that ARGV 1-6 were
//	         merged with in Go (a record written before these fields:
//	         then the record must still be that value)
//
// It returns the number, -2 (scriptChanged) or -3 (scriptNoFields), with
// nothing written.
//
// Stream IDs must grow; if the counter is behind the stream (the counter
// key alone was lost: an eviction policy that should not be set on this
// database), the number moves past the stream instead of failing after
// the record was written.
var putRevocationScript = redis.NewScript(`
local old = redis.call('HMGET', KEYS[1], 'v', 'nb', 'nbj', 'ex', 'exj', 'es')
local nb, nbj, ex, exj, es = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if ARGV[10] ~= '' then
	if old[1] ~= ARGV[10] then return -2 end
elseif old[1] then
	if not old[2] then return -3 end
	if old[2] > nb then nb, nbj = old[2], old[3] end
	if old[4] > ex then ex, exj, es = old[4], old[5], old[6] end
end
local v = ARGV[1] .. '"not_before":' .. nbj .. ',"expires_at":' .. exj .. '}'
redis.call('HSET', KEYS[1], 'v', v, 'nb', nb, 'nbj', nbj, 'ex', ex, 'exj', exj, 'es', es)
redis.call('ZADD', KEYS[2], es, ARGV[7])
local seq = redis.call('INCR', KEYS[3])
redis.call('SET', KEYS[4], ARGV[8], 'NX')
local epoch = redis.call('GET', KEYS[4])
local ok = redis.pcall('XADD', KEYS[5], 'MAXLEN', '~', ARGV[9], seq .. '-0', 'v', v, 'e', epoch)
if type(ok) == 'table' and ok.err then
	local info = redis.call('XINFO', 'STREAM', KEYS[5])
	for i = 1, #info, 2 do
		if info[i] == 'last-generated-id' then
			local last = tonumber(string.match(info[i + 1], '^(%d+)'))
			if last >= seq then
				seq = last + 1
				redis.call('SET', KEYS[3], seq)
			end
		end
	end
	redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[9], seq .. '-0', 'v', v, 'e', epoch)
end
return seq
`)

// scriptNoFields: the stored revocation was written without the merge
// fields (by an earlier version); the merge is done in Go.
const scriptNoFields = -3

// sortableTime is t as fixed-width digits (seconds since year 1, then
// nanoseconds) whose byte order is the order of the times.
func sortableTime(t time.Time) string {
	return fmt.Sprintf("%020d%09d", t.Unix()+62135596800, t.Nanosecond())
}

// revocationArgs are ARGV 1-6 of putRevocationScript for r.
func revocationArgs(r tokencore.Revocation) ([]any, error) {
	head, err := json.Marshal(struct {
		Kind tokencore.RevocationKind `json:"kind"`
		Key  string                   `json:"key"`
	}{r.Kind, r.Key})
	if err != nil {
		return nil, err
	}
	head = append(head[:len(head)-1], ',')
	nbj, err := json.Marshal(r.NotBefore)
	if err != nil {
		return nil, err
	}
	exj, err := json.Marshal(r.ExpiresAt)
	if err != nil {
		return nil, err
	}
	return []any{head, sortableTime(r.NotBefore), nbj, sortableTime(r.ExpiresAt), exj, scoreArg(r.ExpiresAt)}, nil
}

// revName is the identity of a revocation in keys and in exp:r.
func revName(kind tokencore.RevocationKind, key string) string { return lenStr(string(kind)) + key }

// scoreArg is an expiry score as a command argument (+inf for never).
func scoreArg(t time.Time) string {
	if t.IsZero() {
		return "+inf"
	}
	return strconv.FormatFloat(expiryScore(t), 'f', -1, 64)
}

// PutRevocation merges r into the stored revocation of the same kind and
// key, numbers the merged value and appends it to the feed, from which
// every instance applies it: one script, one round trip. A record written
// by an earlier version (without the merge fields) is read and merged in
// Go, then written if it is still the value read.
//
// With replica acknowledgement on, a revocation the replicas did not
// confirm returns ErrNotReplicated: it is stored on the primary and
// followed by every instance, but could be lost in a failover, so the
// caller answers 503 and the client retries; the retry stores it again
// (idempotent) and waits again.
func (s *Store) PutRevocation(ctx context.Context, r tokencore.Revocation) (uint64, error) {
	if err := tokencore.ValidateRevocation(r); err != nil {
		return 0, err
	}
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	if err := s.acks.preflight(ctx, s); err != nil {
		return 0, err
	}
	name := revName(r.Kind, r.Key)
	key := s.revKey(name)
	keys := []string{key, s.expRevs(), s.revSeqKey(), s.revEpochKey(), s.revStream()}
	epoch := tokencore.NewGrantID() // kept only if this is the first revocation of the history
	var seq uint64
	stored := "" // set when the merge is done here
	err := s.casLoop(ctx, func() error {
		merged := r
		if stored != "" {
			var old tokencore.Revocation
			if err := json.Unmarshal([]byte(stored), &old); err != nil {
				return fmt.Errorf("redis store: decoding revocation: %w", err)
			}
			merged = tokencore.MergeRevocation(old, r)
		}
		args, err := revocationArgs(merged)
		if err != nil {
			return err
		}
		args = append(args, name, epoch, redisFeedLength, stored)
		n, err := s.runWrite(ctx, putRevocationScript, keys, args...)
		switch {
		case n == scriptChanged || n == scriptNoFields:
			stored, err = s.rdb.HGet(ctx, key, "v").Result()
			if errors.Is(err, redis.Nil) {
				stored = "" // removed meanwhile: merge in the script again
			} else if err != nil {
				return s.wrap(err)
			}
			return errChanged
		case err != nil && n <= 0:
			return err
		case n <= 0:
			return fmt.Errorf("redis store: numbering revocation: %d", n)
		}
		seq = uint64(n)
		return err // the revocation is numbered; err says whether replicas confirmed it
	})
	if err != nil {
		return 0, err
	}
	return seq, nil
}

// RevocationSeq returns the number of the last stored revocation.
func (s *Store) RevocationSeq(ctx context.Context) (uint64, error) {
	pos, err := s.FeedPosition(ctx)
	return pos.Seq, err
}

// FeedPosition reads the number and the epoch in one command.
func (s *Store) FeedPosition(ctx context.Context) (tokencore.FeedPosition, error) {
	if err := s.begin(ctx); err != nil {
		return tokencore.FeedPosition{}, err
	}
	vals, err := s.rdb.MGet(ctx, s.revSeqKey(), s.revEpochKey()).Result()
	if err != nil {
		return tokencore.FeedPosition{}, s.wrap(err)
	}
	var pos tokencore.FeedPosition
	if v, ok := vals[0].(string); ok {
		if pos.Seq, err = strconv.ParseUint(v, 10, 64); err != nil {
			return tokencore.FeedPosition{}, fmt.Errorf("redis store: revocation number %q: %w", v, err)
		}
	}
	pos.Epoch, _ = vals[1].(string)
	return pos, nil
}

// ReadRevocations reads the feed after number after: XREAD, blocking up to
// block for new entries when block is positive.
func (s *Store) ReadRevocations(ctx context.Context, after uint64, block time.Duration) ([]tokencore.NumberedRevocation, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	args := &redis.XReadArgs{
		Streams: []string{s.revStream(), strconv.FormatUint(after, 10) + "-0"},
		Count:   1000,
		Block:   -1,
	}
	if block > 0 {
		args.Block = max(block, time.Millisecond)
	}
	streams, err := s.rdb.XRead(ctx, args).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil // nothing new within block
	}
	if err != nil {
		return nil, s.wrap(err)
	}
	var out []tokencore.NumberedRevocation
	for _, st := range streams {
		for _, m := range st.Messages {
			idMS, _, _ := strings.Cut(m.ID, "-")
			seq, err := strconv.ParseUint(idMS, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("redis store: feed entry ID %q: %w", m.ID, err)
			}
			v, _ := m.Values["v"].(string)
			var r tokencore.Revocation
			if err := json.Unmarshal([]byte(v), &r); err != nil {
				return nil, fmt.Errorf("redis store: decoding feed entry %s: %w", m.ID, err)
			}
			epoch, _ := m.Values["e"].(string)
			out = append(out, tokencore.NumberedRevocation{Seq: seq, Epoch: epoch, Revocation: r})
		}
	}
	return out, nil
}

// RegisterInstance renews inst:<id> for ttl and records applied in
// instances, in one transaction.
func (s *Store) RegisterInstance(ctx context.Context, id string, applied uint64, ttl time.Duration) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.instKey(id), applied, ttl)
		p.ZAdd(ctx, s.instances(), redis.Z{Score: float64(applied), Member: id})
		return nil
	})
	return s.wrap(err)
}

// UnregisterInstance removes the instance's keys.
func (s *Store) UnregisterInstance(ctx context.Context, id string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.instKey(id))
		p.ZRem(ctx, s.instances(), id)
		return nil
	})
	return s.wrap(err)
}

// LaggingInstances reads the instances whose recorded number is below seq
// and keeps those whose inst:<id> key is still alive; the others have
// stopped renewing it and are removed from instances.
func (s *Store) LaggingInstances(ctx context.Context, seq uint64) ([]string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	ids, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: s.instances(), ByScore: true, Start: "-inf", Stop: "(" + strconv.FormatUint(seq, 10),
	}).Result()
	if err != nil || len(ids) == 0 {
		return nil, s.wrap(err)
	}
	cmds, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.Exists(ctx, s.instKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap(err)
	}
	var live, dead []string
	for i, c := range cmds {
		if c.(*redis.IntCmd).Val() > 0 {
			live = append(live, ids[i])
		} else {
			dead = append(dead, ids[i])
		}
	}
	if len(dead) > 0 {
		_ = s.rdb.ZRem(ctx, s.instances(), dead).Err() // housekeeping; retried on the next call
	}
	return live, nil
}

// Revocations returns the revocations not expired at now.
func (s *Store) Revocations(ctx context.Context, now time.Time) ([]tokencore.Revocation, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	names, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: s.expRevs(), ByScore: true, Start: strconv.FormatInt(now.Unix()-1, 10), Stop: "+inf",
	}).Result()
	if err != nil {
		return nil, s.wrap(err)
	}
	var out []tokencore.Revocation
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
			var r tokencore.Revocation
			if err := json.Unmarshal(b, &r); err != nil {
				return nil, fmt.Errorf("redis store: decoding revocation: %w", err)
			}
			if !tokencore.RevocationExpired(r, now) {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// Sweep removes expired grants and revocations. Candidates come from the
// expiry sets by their coarse score; each is removed in its own
// transaction after checking its exact expiry, so a record updated
// meanwhile is kept.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
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
		err := s.casLoop(ctx, func() error {
			removed = false
			g, b, err := s.readGrant(ctx, id)
			if errors.Is(err, tokencore.ErrNotFound) {
				return s.wrap(s.rdb.ZRem(ctx, s.expGrants(), id).Err())
			}
			if err != nil {
				return err
			}
			if !tokencore.GrantExpired(g, now) {
				return nil
			}
			err = s.removeGrant(ctx, g, b)
			if errors.Is(err, tokencore.ErrNotFound) {
				return nil // removed meanwhile by someone else
			}
			removed = err == nil
			return err
		})
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
		err := s.casLoop(ctx, func() error {
			removed = false
			stored, err := s.rdb.HGet(ctx, key, "v").Result()
			if errors.Is(err, redis.Nil) {
				return s.wrap(s.rdb.ZRem(ctx, s.expRevs(), name).Err())
			}
			if err != nil {
				return s.wrap(err)
			}
			var r tokencore.Revocation
			if err := json.Unmarshal([]byte(stored), &r); err != nil {
				return fmt.Errorf("redis store: decoding revocation: %w", err)
			}
			if !tokencore.RevocationExpired(r, now) {
				return nil
			}
			v, err := deleteRevocationScript.Run(ctx, s.rdb, []string{key, s.expRevs()}, stored, name).Int64()
			switch {
			case err != nil:
				return s.wrap(err)
			case v == scriptChanged:
				return errChanged // merged meanwhile: decide on the new value
			}
			removed = true
			return nil
		})
		if err != nil {
			return n, err
		}
		if removed {
			n++
		}
	}
	return n, nil
}

// Close closes the connections (a blocked ReadRevocations returns). The data stays
// in Redis. Further calls fail with ErrStoreClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return tokencore.ErrStoreClosed
	}
	return s.rdb.Close()
}

// Interface guards.
var (
	_ tokencore.Store            = (*Store)(nil)
	_ tokencore.RevocationFeed   = (*Store)(nil)
	_ tokencore.InstanceRegistry = (*Store)(nil)
)
