// Package bolt is the embedded, persistent tokencore.Store: one bbolt file,
// the default for a single gateway instance. It also implements
// tokencore.IdentifiedStore.
//
// Inside this package the name bolt is go.etcd.io/bbolt; importers that use
// both usually name this package boltstore.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/tokengate/tokengate/tokencore"
)

// Options configures Open.
type Options struct {
	// Timeout is how long Open waits for the file lock before it
	// gives up. bbolt locks the file exclusively, so a second process (or a
	// second open in this process) waits for the first to close it; `caddy
	// validate` provisions the store too, and must fail instead of hanging
	// while the server holds the file. Zero means one second.
	Timeout time.Duration
}

// Store is the embedded, persistent tokencore.Store: one bbolt file, the default
// for a single gateway instance.
//
// Every write is one bbolt read-write transaction, and bbolt fsyncs each
// commit, so a method that returned nil survives a crash. bbolt runs one
// read-write transaction at a time; that is what makes UpdateGrant an atomic
// compare-and-swap with exactly one winner. Readers never wait for writers.
//
// Layout (buckets; "str" is a 2-byte big-endian length then the bytes, and
// "time" is 12 bytes that sort like the instant: Unix seconds as a
// sign-flipped big-endian uint64, then nanoseconds as a big-endian uint32):
//
//	meta                   "version" -> schema version
//	grants                 id -> grant JSON
//	idx_token              token hash -> id
//	idx_subject            str(subject) time(created) id -> id
//	idx_client             str(client) time(created) id -> id
//	idx_tenant_user        str(tenant) str(user) time(created) id -> id
//	idx_expiry             time(expires) id -> id
//	revocations            str(kind) key -> revocation JSON
//	idx_revocation_expiry  time(expires) str(kind) key -> (empty)
//
// The index keys end in time(created) and the ID, so a prefix scan of one
// subject, client or user yields its grants already in ListGrants order and
// can count them without decoding any, and Sweep walks the expiry indexes
// from their start and stops at the first entry still valid.
type Store struct {
	db     *bolt.DB
	writes *groupCommitter // grant creations and updates
	closed atomic.Bool
}

// Bucket names and the schema version of the layout above.
const (
	bucketMeta         = "meta"
	bucketGrants       = "grants"
	bucketTokenIdx     = "idx_token"
	bucketSubjectIdx   = "idx_subject"
	bucketClientIdx    = "idx_client"
	bucketUserIdx      = "idx_tenant_user"
	bucketExpiryIdx    = "idx_expiry"
	bucketRevocations  = "revocations"
	bucketRevExpiryIdx = "idx_revocation_expiry"
	boltSchemaVersion  = 1
	metaVersionKey     = "version"

	// sweepBatch bounds the records one Sweep transaction removes, so a
	// large backlog does not hold the write lock (and delay refreshes)
	// for long.
	sweepBatch = 1000
	// ctxCheckEvery is how many records a scan visits between checks of
	// its context.
	ctxCheckEvery = 256
	// timeKeyLen is the length of an encoded time.
	timeKeyLen = 12
)

// errBoltCorrupt wraps inconsistencies found in a bolt file: records that
// do not decode, index entries without their record, panics of bbolt.
var errBoltCorrupt = errors.New("tokencore: bolt store is corrupt")

// Open opens the bbolt file at path, creating it only when no file
// is there. The parent directories are created with mode 0700 and the file
// with 0600: the file holds token hashes and grant properties, not for
// other users.
//
// An existing file must be a tokengate store: a file that is empty (0
// bytes), not a bbolt database, a bbolt database of another program (no
// "meta" bucket), of another schema version, or damaged (truncated) is
// refused with an error naming the path, and left untouched. Starting
// afresh over such a file would silently forget every revocation it held.
// A new store is built under a temporary name and linked into place once
// initialised, so a crash during creation never leaves a half-made store at
// path. A file held by another process fails with an error wrapping
// bbolt's timeout error after opts.Timeout.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("opening bolt store: empty path")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("opening bolt store %s: creating its directory: %w", path, err)
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		if err := createBoltStore(path, opts.Timeout); err != nil {
			return nil, fmt.Errorf("creating bolt store %s: %w", path, err)
		}
	}
	if err := checkBoltFile(path); errors.Is(err, errBoltCorrupt) {
		return nil, fmt.Errorf("opening bolt store %s: %w; restore it from a backup (see docs/operations.md, Backups and recovery)", path, err)
	} else if err != nil {
		return nil, fmt.Errorf("opening bolt store %s: %w", path, err)
	}
	db, err := openBolt(path, opts.Timeout)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("opening bolt store %s: %w (gave up after %s: %w)", path, tokencore.ErrStoreLocked, opts.Timeout, err)
	} else if errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrChecksum) || errors.Is(err, bolterrors.ErrVersionMismatch) {
		return nil, fmt.Errorf("opening bolt store %s: the file is not a tokengate store, or its header is damaged; restore it from a backup (see docs/operations.md, Backups and recovery): %w", path, err)
	} else if errors.Is(err, errBoltCorrupt) {
		return nil, fmt.Errorf("opening bolt store %s: %w; restore it from a backup (see docs/operations.md, Backups and recovery)", path, err)
	} else if err != nil {
		return nil, fmt.Errorf("opening bolt store %s: %w", path, err)
	}
	if err := initBolt(db, false); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("opening bolt store %s: %w", path, err)
	}
	return &Store{db: db, writes: newGroupCommitter(db)}, nil
}

// createBoltStore makes a new, initialised store (buckets, schema version,
// identity) under a temporary name next to path and links it to path. If
// another process created path meanwhile, its store is kept and this one
// dropped.
func createBoltStore(path string, timeout time.Duration) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".new-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	f.Close() // empty: bbolt initialises it
	defer os.Remove(tmp)
	db, err := openBolt(tmp, timeout)
	if err != nil {
		return err
	}
	if err := initBolt(db, true); err != nil {
		_ = db.Close()
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // make the new name durable
		d.Close()
	}
	return nil
}

// openBolt opens the file, turning a bbolt panic on a damaged file into
// an error. The hash-map freelist is bbolt's recommendation for databases
// with many deletes (every rotation and sweep frees pages).
func openBolt(path string, timeout time.Duration) (db *bolt.DB, err error) {
	defer recoverCorrupt(&err)
	return bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
}

// checkBoltFile refuses an existing file whose meta pages name pages past
// its end, the mark of a truncated copy or a disk that filled up. bbolt
// maps the file and would read those pages as memory, and a read past the
// end of a mapped file is a fault that kills the process, not a panic that
// can be recovered. Only the meta pages that validate (magic, version,
// checksum) are checked; a file without any is left to bbolt, which
// refuses it with ErrInvalid.
//
// This cannot make bbolt safe against any damage (a page pointer corrupted
// inside a valid file may still fault when read), but it turns the common
// damage into an error at start.
func checkBoltFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // bbolt creates it
	} else if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	size := fi.Size()
	if size == 0 {
		// bbolt would initialise it as a new database: a store truncated
		// to nothing must not come back as an empty one.
		return errors.New("the file is empty (0 bytes), not a tokengate store: it was truncated or never written; restore it from a backup, or remove it to start a new, empty store (see docs/operations.md, Backups and recovery)")
	}
	// Find the page size as bbolt does: from meta page 0, else from a
	// meta page 1 at any power of two from 1 KiB to 16 MiB.
	var pageSize int64
	if m, ok := readBoltMeta(f, 0); ok {
		pageSize = int64(m.pageSize)
	} else {
		for i := range 15 {
			if m, ok := readBoltMeta(f, 1024<<i); ok && int64(m.pageSize) == 1024<<i {
				pageSize = 1024 << i
				break
			}
		}
	}
	if pageSize == 0 {
		return nil
	}
	for _, off := range []int64{0, pageSize} {
		m, ok := readBoltMeta(f, off)
		if !ok {
			continue
		}
		if int64(m.pageSize) != pageSize || m.pgid > uint64(size/pageSize) {
			return fmt.Errorf("file is %d bytes, its meta page at %d expects %d pages of %d bytes (truncated?): %w",
				size, off, m.pgid, m.pageSize, errBoltCorrupt)
		}
		if m.root >= m.pgid || (m.freelist != boltNoFreelist && m.freelist >= m.pgid) {
			return fmt.Errorf("meta page at %d names pages past its end: %w", off, errBoltCorrupt)
		}
		if m.freelist != boltNoFreelist {
			var hdr [16]byte
			if _, err := f.ReadAt(hdr[:], int64(m.freelist)*pageSize); err != nil {
				return fmt.Errorf("reading the freelist page: %w: %w", errBoltCorrupt, err)
			}
			if overflow := uint64(binary.NativeEndian.Uint32(hdr[12:16])); m.freelist+overflow >= m.pgid {
				return fmt.Errorf("freelist runs past the end of the file: %w", errBoltCorrupt)
			}
		}
	}
	return nil
}

// boltMeta holds the fields of a bbolt meta page that checkBoltFile needs.
type boltMeta struct {
	pageSize             uint32
	root, freelist, pgid uint64
}

// bbolt's on-disk constants (go.etcd.io/bbolt/internal/common): the meta
// page follows a 16-byte page header, is written in native byte order and
// ends with an FNV-1a checksum of the fields before it.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	boltNoFreelist = ^uint64(0)
	boltMetaOff    = 16 // page header: id, flags, count, overflow
	boltMetaSumOff = 56 // magic, version, pageSize, flags, root, sequence, freelist, pgid, txid
)

// readBoltMeta reads the meta page at off and reports whether it is valid.
func readBoltMeta(f *os.File, off int64) (boltMeta, bool) {
	var b [boltMetaOff + boltMetaSumOff + 8]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return boltMeta{}, false
	}
	m := b[boltMetaOff:]
	ne := binary.NativeEndian
	h := fnv.New64a()
	h.Write(m[:boltMetaSumOff])
	if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion || ne.Uint64(m[boltMetaSumOff:]) != h.Sum64() {
		return boltMeta{}, false
	}
	return boltMeta{pageSize: ne.Uint32(m[8:]), root: ne.Uint64(m[16:]), freelist: ne.Uint64(m[32:]), pgid: ne.Uint64(m[40:])}, true
}

// initBolt creates the buckets, schema version and identity of a new file
// (create) and checks the schema version of an existing one. An existing
// file without a meta bucket is refused and left untouched: with other
// buckets it belongs to another program (bbolt files look alike); without
// any, it is no tokengate store either (tokengate creates its stores whole,
// see createBoltStore). Buckets added since the file was created are added.
func initBolt(db *bolt.DB, create bool) (err error) {
	defer recoverCorrupt(&err)
	return db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte(bucketMeta))
		if meta == nil && !create {
			foreign := false
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { foreign = true; return nil })
			if foreign {
				return errors.New("the file is a bbolt database of another program")
			}
			return errors.New("the file is an empty bbolt database, not a tokengate store (was its creation interrupted? remove it to start a new store)")
		} else if meta != nil {
			if v := meta.Get([]byte(metaVersionKey)); string(v) != strconv.Itoa(boltSchemaVersion) {
				return fmt.Errorf("unsupported schema version %q (this build reads %d)", v, boltSchemaVersion)
			}
		}
		for _, name := range []string{bucketMeta, bucketGrants, bucketTokenIdx, bucketSubjectIdx, bucketClientIdx,
			bucketUserIdx, bucketExpiryIdx, bucketRevocations, bucketRevExpiryIdx} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("creating bucket %s: %w", name, err)
			}
		}
		if meta == nil {
			meta = tx.Bucket([]byte(bucketMeta))
			if err := meta.Put([]byte(metaVersionKey), []byte(strconv.Itoa(boltSchemaVersion))); err != nil {
				return err
			}
			_, err := boltIdentity(meta, time.Now())
			return err
		}
		return nil
	})
}

// CreateGrant stores g and its index entries in one transaction.
func (s *Store) CreateGrant(ctx context.Context, g *tokencore.Grant) error {
	b, err := tokencore.EncodeGrant(g)
	if err != nil {
		return err
	}
	return s.batch(ctx, func(tx *bolt.Tx) (refused, failed error) {
		grants := writeBucket(tx, bucketGrants)
		if grants.Get([]byte(g.ID)) != nil {
			return fmt.Errorf("creating grant %q: %w", g.ID, tokencore.ErrConflict), nil
		}
		if err := checkHashOwners(tx, g); err != nil {
			return fmt.Errorf("creating grant %q: %w", g.ID, err), nil
		}
		if err := grants.Put([]byte(g.ID), b); err != nil {
			return nil, fmt.Errorf("creating grant %q: %w", g.ID, err)
		}
		return nil, writeIndexes(tx, nil, grantIndexes(g))
	})
}

func (s *Store) GetGrant(ctx context.Context, id string) (*tokencore.Grant, error) {
	var g *tokencore.Grant
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		g, err = loadGrant(tx, id)
		return err
	})
	return g, err
}

// GrantByTokenHash returns the grant whose current access or refresh token
// has this hash.
func (s *Store) GrantByTokenHash(ctx context.Context, hash string) (*tokencore.Grant, error) {
	var g *tokencore.Grant
	err := s.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket([]byte(bucketTokenIdx)).Get([]byte(hash))
		if id == nil {
			return fmt.Errorf("grant by token hash: %w", tokencore.ErrNotFound)
		}
		var err error
		if g, err = loadGrant(tx, string(id)); errors.Is(err, tokencore.ErrNotFound) {
			return fmt.Errorf("token hash index names missing grant %q: %w", id, errBoltCorrupt)
		}
		return err
	})
	return g, err
}

// UpdateGrant is a compare-and-swap through the single committer. The
// grant is read, fn applied and the result encoded outside it, in a
// read-only transaction, so the committer only compares and writes bytes:
// inside the shared write transaction the update is applied only if the
// stored record is still, byte for byte, the one read; otherwise it wrote
// nothing and the whole step (fn included) runs again on the new record.
// bbolt serialises write transactions, so of concurrent updates of one
// grant exactly one applies to each version: fn always acts on the result
// of the previous update. fn may run more than once (a lost comparison, or
// another write of its commit group failing the transaction). Only the
// index entries that changed are rewritten: a rotation touches the
// token-hash and expiry indexes.
func (s *Store) UpdateGrant(ctx context.Context, id string, fn func(g *tokencore.Grant) error) (*tokencore.Grant, error) {
	for range maxUpdateAttempts {
		out, changed, err := s.updateGrantOnce(ctx, id, fn)
		if !changed {
			return out, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("updating grant %q: changed by %d concurrent updates in a row: %w", id, maxUpdateAttempts, tokencore.ErrConflict)
}

// maxUpdateAttempts bounds how often UpdateGrant starts again because the
// grant changed under it; each lost attempt is another update that won.
const maxUpdateAttempts = 100

// updateGrantOnce is one step of UpdateGrant: changed reports that the
// grant changed between the read and the committer's comparison.
func (s *Store) updateGrantOnce(ctx context.Context, id string, fn func(g *tokencore.Grant) error) (out *tokencore.Grant, changed bool, err error) {
	var read []byte
	var old *tokencore.Grant
	err = s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		if old, err = loadGrant(tx, id); err != nil {
			return err
		}
		read = bytes.Clone(tx.Bucket([]byte(bucketGrants)).Get([]byte(id))) // valid only inside the transaction
		return nil
	})
	if err != nil {
		if errors.Is(err, tokencore.ErrNotFound) {
			return nil, false, fmt.Errorf("updating grant: %w", err)
		}
		return nil, false, err
	}
	g, b, err := tokencore.UpdateRecord(old, fn)
	if err != nil {
		return nil, false, err // fn's error unwrapped: the caller branches on it
	}
	oldIdx, newIdx := grantIndexes(old), grantIndexes(g)
	err = s.batch(ctx, func(tx *bolt.Tx) (refused, failed error) {
		changed = false
		grants := writeBucket(tx, bucketGrants)
		cur := grants.Get([]byte(id))
		if cur == nil {
			return fmt.Errorf("updating grant: grant %q: %w", id, tokencore.ErrNotFound), nil
		}
		if !bytes.Equal(cur, read) {
			changed = true
			return errGrantChanged, nil
		}
		if err := checkHashOwners(tx, g); err != nil {
			return fmt.Errorf("updating grant %q: %w", id, err), nil
		}
		// Nothing was written before this point, so every refusal above
		// leaves the shared transaction untouched.
		if err := grants.Put([]byte(id), b); err != nil {
			return nil, fmt.Errorf("updating grant %q: %w", id, err)
		}
		return nil, writeIndexes(tx, oldIdx, newIdx)
	})
	if changed {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return g, false, nil
}

// errGrantChanged is the committer's refusal of an update whose grant
// changed since it was read; UpdateGrant runs the step again.
var errGrantChanged = errors.New("grant changed since it was read")

func (s *Store) DeleteGrant(ctx context.Context, id string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		g, err := loadGrant(tx, id)
		if err != nil {
			return fmt.Errorf("deleting grant: %w", err)
		}
		return deleteGrant(tx, g)
	})
}

// ListGrants reads one index when the filter names an indexed field (a
// tenant+user pair first, then subject, client, tenant) and scans every
// grant otherwise. When the index alone decides the match (no Kind, no
// ActiveOnly, no second field), only the grants inside the window are
// decoded.
func (s *Store) ListGrants(ctx context.Context, f tokencore.GrantFilter) ([]*tokencore.Grant, int, error) {
	now := tokencore.FilterNow(f)
	var (
		out   []*tokencore.Grant
		total int
	)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		bucket, prefix, residual := pickIndex(f)
		if bucket == "" {
			all, err := scanGrants(ctx, tx, f, now)
			if err != nil {
				return err
			}
			total = len(all)
			lo, hi := tokencore.ListWindow(total, f.Start, f.End)
			out = all[lo:hi]
			return nil
		}
		entries, err := scanIndex(ctx, tx, bucket, prefix)
		if err != nil {
			return err
		}
		if !residual {
			total = len(entries)
			lo, hi := tokencore.ListWindow(total, f.Start, f.End)
			entries = entries[lo:hi]
		}
		var match []*tokencore.Grant
		for i, e := range entries {
			if i%ctxCheckEvery == ctxCheckEvery-1 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			g, err := loadGrant(tx, e.id)
			if err != nil {
				return fmt.Errorf("index %s names grant %q: %w: %w", bucket, e.id, errBoltCorrupt, err)
			}
			if !residual || tokencore.GrantMatches(g, f, now) {
				match = append(match, g)
			}
		}
		if !residual {
			out = match
			return nil
		}
		total = len(match)
		lo, hi := tokencore.ListWindow(total, f.Start, f.End)
		out = match[lo:hi]
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// PutRevocation stores r, merged with a stored revocation of the same kind
// and key (the later NotBefore and ExpiresAt are kept), and numbers it with
// the revocations bucket's sequence in the same transaction. It goes
// through the group committer: revocations made together (a user's grants,
// a replay storm) share one fsync.
func (s *Store) PutRevocation(ctx context.Context, r tokencore.Revocation) (uint64, error) {
	if err := tokencore.ValidateRevocation(r); err != nil {
		return 0, err
	}
	key := appendStr(nil, string(r.Kind))
	key = append(key, r.Key...)
	var seq uint64
	err := s.batch(ctx, func(tx *bolt.Tx) (refused, failed error) {
		revs := tx.Bucket([]byte(bucketRevocations))
		expIdx := tx.Bucket([]byte(bucketRevExpiryIdx))
		merged := r
		if v := revs.Get(key); v != nil {
			var old tokencore.Revocation
			if err := json.Unmarshal(v, &old); err != nil {
				return nil, fmt.Errorf("decoding revocation: %w: %w", errBoltCorrupt, err)
			}
			merged = tokencore.MergeRevocation(old, r)
			if !old.ExpiresAt.IsZero() {
				if err := expIdx.Delete(revExpiryKey(old.ExpiresAt, key)); err != nil {
					return nil, err
				}
			}
		}
		b, err := json.Marshal(merged)
		if err != nil {
			return nil, fmt.Errorf("encoding revocation: %w", err)
		}
		if err := revs.Put(key, b); err != nil {
			return nil, fmt.Errorf("storing revocation: %w", err)
		}
		if !merged.ExpiresAt.IsZero() {
			if err := expIdx.Put(revExpiryKey(merged.ExpiresAt, key), nil); err != nil {
				return nil, err
			}
		}
		// The sequence is part of the transaction: rolled back with it if
		// the group fails, so a number is never handed out twice.
		seq, err = revs.NextSequence()
		return nil, err
	})
	if err != nil {
		return 0, err
	}
	return seq, nil
}

// RevocationSeq returns the revocations bucket's sequence: the number of
// the last stored revocation.
func (s *Store) RevocationSeq(ctx context.Context) (uint64, error) {
	var seq uint64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		seq = tx.Bucket([]byte(bucketRevocations)).Sequence()
		return nil
	})
	return seq, err
}

// Revocations returns the revocations not expired at now, in no particular
// order.
func (s *Store) Revocations(ctx context.Context, now time.Time) ([]tokencore.Revocation, error) {
	var out []tokencore.Revocation
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bucketRevocations)).Cursor()
		i := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if i++; i%ctxCheckEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var r tokencore.Revocation
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decoding revocation: %w: %w", errBoltCorrupt, err)
			}
			if !tokencore.RevocationExpired(r, now) {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Sweep removes expired grants and revocations in transactions of at most
// sweepBatch records of each, walking the expiry indexes only as far as
// now. The count includes the batches committed before an error.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		var n int
		more := false
		err := s.update(ctx, func(tx *bolt.Tx) error {
			ng, moreG, err := sweepGrants(tx, now)
			if err != nil {
				return err
			}
			nr, moreR, err := sweepRevocations(tx, now)
			if err != nil {
				return err
			}
			n, more = ng+nr, moreG || moreR
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("sweeping: %w", err)
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

// Close closes the file, releasing its lock. Further calls fail with
// ErrStoreClosed. bbolt waits for running transactions to finish.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return tokencore.ErrStoreClosed
	}
	s.writes.stop()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing bolt store: %w", err)
	}
	return nil
}

// view runs fn in a read-only transaction.
func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	return boltErr(s.db.View(func(tx *bolt.Tx) (err error) {
		defer recoverCorrupt(&err)
		return fn(tx)
	}))
}

// update runs fn in a read-write transaction, committed (and fsynced) when
// fn returns nil and rolled back otherwise. A panic inside (bbolt's on a
// damaged page, or an UpdateGrant callback's) rolls back and becomes an
// error: the gateway keeps serving.
func (s *Store) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	var fnErr error
	err := s.db.Update(func(tx *bolt.Tx) (err error) {
		defer recoverCorrupt(&err)
		fnErr = fn(tx)
		return fnErr
	})
	if err != nil && fnErr == nil {
		return commitErr(err) // fn succeeded: the commit (write, fsync) failed
	}
	return boltErr(err)
}

// batch runs fn in a write transaction shared with concurrent writers
// (see groupCommitter), so that many grants created or rotated at once cost
// one fsync instead of one each.
//
// fn reports an expected refusal (a lost compare-and-swap, a conflict) as
// refused and a storage failure as failed. A refusal is returned to the
// caller without failing the transaction, so one caller's lost race never
// rolls back the others' writes; fn must not write before it refuses. fn
// may run more than once (when another write of its group fails); the last
// run's outcome is the one returned.
func (s *Store) batch(ctx context.Context, fn func(tx *bolt.Tx) (refused, failed error)) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	return s.writes.submit(fn)
}

func (s *Store) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return tokencore.ErrStoreClosed
	}
	return nil
}

// boltErr maps bbolt's "database not open", met when Close wins a race
// with a method that already checked s.closed, to ErrStoreClosed.
func boltErr(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("%w: %w", tokencore.ErrStoreClosed, err)
	}
	return err
}

// commitErr classifies the failure of a write transaction that was not
// refused by its own logic: a damaged file stays errBoltCorrupt (not worth
// a retry), anything else (a full disk, an I/O error, a failed fsync) is
// the store being unavailable, and nothing of the transaction was written.
func commitErr(err error) error {
	if errors.Is(err, errBoltCorrupt) {
		return err
	}
	return tokencore.WrapUnavailable(boltErr(err))
}

// recoverCorrupt turns a panic into an error wrapping errBoltCorrupt. bbolt
// panics on pages it cannot make sense of; inside UpdateGrant the panic may
// also be the callback's, which the message says too.
func recoverCorrupt(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: panic in a bbolt transaction (damaged file, or an update callback's bug): %v", errBoltCorrupt, r)
	}
}

// loadGrant reads and decodes one grant.
func loadGrant(tx *bolt.Tx, id string) (*tokencore.Grant, error) {
	v := tx.Bucket([]byte(bucketGrants)).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("grant %q: %w", id, tokencore.ErrNotFound)
	}
	g := new(tokencore.Grant)
	if err := tokencore.DecodeGrant(v, g); err != nil {
		return nil, fmt.Errorf("decoding grant %q: %w: %w", id, errBoltCorrupt, err)
	}
	return g, nil
}

// deleteGrant removes a loaded grant and its index entries.
func deleteGrant(tx *bolt.Tx, g *tokencore.Grant) error {
	if err := writeIndexes(tx, grantIndexes(g), nil); err != nil {
		return err
	}
	if err := tx.Bucket([]byte(bucketGrants)).Delete([]byte(g.ID)); err != nil {
		return fmt.Errorf("deleting grant %q: %w", g.ID, err)
	}
	return nil
}

// indexEntry is one secondary-index entry of a grant; its value is the
// grant ID (the token-hash index is keyed by the hash alone, and the other
// indexes keep the ID as value too so a scan need not parse keys).
type indexEntry struct {
	bucket string
	key    []byte
	id     string
}

// grantIndexes returns every index entry of g.
func grantIndexes(g *tokencore.Grant) []indexEntry {
	es := make([]indexEntry, 0, 6)
	for _, h := range tokencore.GrantHashes(g) {
		es = append(es, indexEntry{bucketTokenIdx, []byte(h), g.ID})
	}
	if g.Subject != "" {
		es = append(es, indexEntry{bucketSubjectIdx, createdKey(appendStr(nil, g.Subject), g), g.ID})
	}
	if g.ClientID != "" {
		es = append(es, indexEntry{bucketClientIdx, createdKey(appendStr(nil, g.ClientID), g), g.ID})
	}
	if g.Tenant != "" || g.UserID != "" {
		es = append(es, indexEntry{bucketUserIdx, createdKey(appendStr(appendStr(nil, g.Tenant), g.UserID), g), g.ID})
	}
	if !g.ExpiresAt.IsZero() {
		es = append(es, indexEntry{bucketExpiryIdx, append(tokencore.AppendSortableTime(nil, g.ExpiresAt), g.ID...), g.ID})
	}
	return es
}

// writeIndexes moves a grant's index entries from old to new: entries only
// in old are deleted, entries only in new are written. A token-hash entry
// is deleted only while it still names this grant.
func writeIndexes(tx *bolt.Tx, old, new []indexEntry) error {
	same := func(a, b indexEntry) bool { return a.bucket == b.bucket && bytes.Equal(a.key, b.key) }
	for _, e := range old {
		if slices.ContainsFunc(new, func(n indexEntry) bool { return same(e, n) }) {
			continue
		}
		b := tx.Bucket([]byte(e.bucket))
		if e.bucket == bucketTokenIdx && string(b.Get(e.key)) != e.id {
			continue
		}
		if err := b.Delete(e.key); err != nil {
			return fmt.Errorf("deleting %s entry: %w", e.bucket, err)
		}
	}
	for _, e := range new {
		if slices.ContainsFunc(old, func(o indexEntry) bool { return same(e, o) }) {
			continue
		}
		if err := writeBucket(tx, e.bucket).Put(e.key, []byte(e.id)); err != nil {
			return fmt.Errorf("writing %s entry: %w", e.bucket, err)
		}
	}
	return nil
}

// appendFillPercent is how full bbolt fills a page before it splits it in
// the buckets whose keys grow with time: grants (IDs start with their
// creation time, tokencore.NewGrantID) and the indexes ordered by creation
// or expiry. New keys land at their end, so a split page is never written
// again: filled to bbolt's default of 50 %, half of every such page (and of
// the file) would stay empty for good.
const appendFillPercent = 0.95

// writeBucket returns a bucket for writing, with the fill percent of its
// key order: appendFillPercent for time-ordered keys, bbolt's default for
// the token-hash index, whose keys (hashes) land anywhere.
func writeBucket(tx *bolt.Tx, name string) *bolt.Bucket {
	b := tx.Bucket([]byte(name))
	if name != bucketTokenIdx {
		b.FillPercent = appendFillPercent
	}
	return b
}

// checkHashOwners refuses a grant whose token hash is the current token of
// another grant (see the memory store's checkHashes).
func checkHashOwners(tx *bolt.Tx, g *tokencore.Grant) error {
	idx := tx.Bucket([]byte(bucketTokenIdx))
	for _, h := range tokencore.GrantHashes(g) {
		if owner := idx.Get([]byte(h)); owner != nil && string(owner) != g.ID {
			return fmt.Errorf("token hash already belongs to another grant: %w", tokencore.ErrConflict)
		}
	}
	return nil
}

// pickIndex chooses the index ListGrants reads for f: the bucket and key
// prefix, and whether fields remain that the index does not decide. An
// empty bucket means a scan of every grant.
func pickIndex(f tokencore.GrantFilter) (bucket string, prefix []byte, residual bool) {
	rest := f
	switch {
	case f.Tenant != "" && f.UserID != "":
		bucket, prefix = bucketUserIdx, appendStr(appendStr(nil, f.Tenant), f.UserID)
		rest.Tenant, rest.UserID = "", ""
	case f.Subject != "":
		bucket, prefix = bucketSubjectIdx, appendStr(nil, f.Subject)
		rest.Subject = ""
	case f.ClientID != "":
		bucket, prefix = bucketClientIdx, appendStr(nil, f.ClientID)
		rest.ClientID = ""
	case f.Tenant != "":
		// Every user of the tenant: entries are ordered by user first, so
		// scanIndex sorts them.
		bucket, prefix = bucketUserIdx, appendStr(nil, f.Tenant)
		rest.Tenant = ""
	default:
		return "", nil, true
	}
	residual = rest.Subject != "" || rest.ClientID != "" || rest.Tenant != "" || rest.UserID != "" ||
		rest.Kind != "" || rest.ActiveOnly
	return bucket, prefix, residual
}

// idxHit is one grant found in an index, with its ListGrants sort key
// (time(created) then ID: the tail of the index key).
type idxHit struct {
	sortKey []byte
	id      string
}

// scanIndex returns the grants under prefix in ListGrants order. The sort
// keys point into the transaction's memory map and are only used inside it.
func scanIndex(ctx context.Context, tx *bolt.Tx, bucket string, prefix []byte) ([]idxHit, error) {
	var hits []idxHit
	c := tx.Bucket([]byte(bucket)).Cursor()
	i := 0
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if i++; i%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		tail := len(v) + timeKeyLen
		if len(k) < len(prefix)+tail || !bytes.HasSuffix(k, v) {
			return nil, fmt.Errorf("malformed %s key: %w", bucket, errBoltCorrupt)
		}
		hits = append(hits, idxHit{k[len(k)-tail:], string(v)})
	}
	// Already sorted unless the prefix is a tenant alone; pdqsort checks
	// sorted input in linear time.
	slices.SortFunc(hits, func(a, b idxHit) int { return bytes.Compare(a.sortKey, b.sortKey) })
	return hits, nil
}

// scanGrants decodes every grant matching f, in ListGrants order.
func scanGrants(ctx context.Context, tx *bolt.Tx, f tokencore.GrantFilter, now time.Time) ([]*tokencore.Grant, error) {
	var out []*tokencore.Grant
	c := tx.Bucket([]byte(bucketGrants)).Cursor()
	i := 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if i++; i%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		g := new(tokencore.Grant)
		if err := tokencore.DecodeGrant(v, g); err != nil {
			return nil, fmt.Errorf("decoding grant %q: %w: %w", k, errBoltCorrupt, err)
		}
		if tokencore.GrantMatches(g, f, now) {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, tokencore.CompareGrants)
	return out, nil
}

// sweepGrants removes up to sweepBatch grants expired at now (ExpiresAt not
// after now) and reports whether more may remain.
func sweepGrants(tx *bolt.Tx, now time.Time) (int, bool, error) {
	limit := tokencore.AppendSortableTime(nil, now)
	var ids []string
	c := tx.Bucket([]byte(bucketExpiryIdx)).Cursor()
	for k, v := c.First(); k != nil && len(ids) < sweepBatch; k, v = c.Next() {
		if len(k) < timeKeyLen || bytes.Compare(k[:timeKeyLen], limit) > 0 {
			break
		}
		ids = append(ids, string(v))
	}
	n := 0
	for _, id := range ids {
		g, err := loadGrant(tx, id)
		if err != nil {
			return n, false, fmt.Errorf("expiry index: %w", err)
		}
		if err := deleteGrant(tx, g); err != nil {
			return n, false, err
		}
		n++
	}
	return n, len(ids) == sweepBatch, nil
}

// sweepRevocations removes up to sweepBatch revocations expired at now
// (ExpiresAt before now) and reports whether more may remain.
func sweepRevocations(tx *bolt.Tx, now time.Time) (int, bool, error) {
	limit := tokencore.AppendSortableTime(nil, now)
	var keys [][]byte
	idx := tx.Bucket([]byte(bucketRevExpiryIdx))
	c := idx.Cursor()
	for k, _ := c.First(); k != nil && len(keys) < sweepBatch; k, _ = c.Next() {
		if len(k) < timeKeyLen || bytes.Compare(k[:timeKeyLen], limit) >= 0 {
			break
		}
		keys = append(keys, bytes.Clone(k))
	}
	revs := tx.Bucket([]byte(bucketRevocations))
	for _, k := range keys {
		if err := revs.Delete(k[timeKeyLen:]); err != nil {
			return 0, false, err
		}
		if err := idx.Delete(k); err != nil {
			return 0, false, err
		}
	}
	return len(keys), len(keys) == sweepBatch, nil
}

// appendStr appends s with a 2-byte big-endian length, so that one field
// can never be read as a prefix of another ("ab" vs "abc"). Callers bound
// s to MaxRevocationKeyLen, far below 64 KiB.
func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// createdKey appends time(g.CreatedAt) and g.ID to an index prefix.
func createdKey(prefix []byte, g *tokencore.Grant) []byte {
	return append(tokencore.AppendSortableTime(prefix, g.CreatedAt), g.ID...)
}

// revExpiryKey is the idx_revocation_expiry key of a revocation.
func revExpiryKey(exp time.Time, revKey []byte) []byte {
	return append(tokencore.AppendSortableTime(nil, exp), revKey...)
}

// Interface guard.
var _ tokencore.Store = (*Store)(nil)
