// Package pebble is an embedded, persistent tokencore.Store on Pebble
// (github.com/cockroachdb/pebble/v2), the log-structured merge tree of
// CockroachDB: one directory, for a single gateway instance, like the bbolt
// store. It also implements tokencore.IdentifiedStore.
//
// It exists to evaluate an engine built for write-heavy work against bbolt
// (issue 10): bbolt commits through one goroutine whose transaction
// rewrites B+tree pages and fsyncs twice, so sign and refresh rates follow
// one core and the disk's sync latency. Pebble appends each batch to its
// write-ahead log, and its commit pipeline makes the batches of concurrent
// writers that asked for a sync share one fsync; the B+tree work becomes
// memtable inserts, and flushes and compactions run in the background.
//
// Inside this package the name pebble is github.com/cockroachdb/pebble/v2;
// importers that use both usually name this package pebblestore.
package pebble

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pebble "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tokengate/tokengate/tokencore"
)

// Options configures Open. The zero value is a small store for a gateway:
// 16 MiB memtables (Pebble keeps at most two before it stalls writes, so
// at most 32 MiB of unflushed writes) and an 8 MiB block cache. The
// records a gateway reads are mostly recent (a refresh reads the grant its
// sign wrote minutes before), and recent records are in the memtables.
type Options struct {
	// Timeout is how long Open waits for the directory lock before it
	// gives up. Pebble locks the directory (a LOCK file, fcntl), so a
	// second process, or a second open in this process, cannot open the
	// store while the first has it; `caddy validate` provisions the store
	// too and must fail instead of hanging. Zero means one second.
	Timeout time.Duration
	// MemTableSize is the size of one memtable (default 16 MiB).
	MemTableSize uint64
	// CacheSize is the size of the block cache (default 8 MiB).
	CacheSize int64
	// ErrorLog receives Pebble's error messages (background errors: a
	// failed flush or compaction, a slow disk). Nil discards them. Pebble's
	// informational messages are always discarded. No message contains a
	// token: the store never holds one, only hashes of them.
	ErrorLog func(msg string)

	// fs is the file system (nil: the operating system's). The tests set
	// a crashable in-memory one, which drops what was not fsynced.
	fs vfs.FS
}

// Defaults of Options.
const (
	defaultTimeout      = time.Second
	defaultMemTableSize = 16 << 20
	defaultCacheSize    = 8 << 20
)

// Store is the Pebble tokencore.Store. See keys.go for its layout.
//
// Every write is one Pebble batch committed with pebble.Sync: a method
// that returned nil is in the fsynced write-ahead log and survives a
// crash of the process or the machine. Concurrent commits that ask for a
// sync are grouped by Pebble into one WAL write and one fsync.
//
// Pebble has no read-modify-write transactions, so the store serialises
// the writers that read before they write (see locks.go): the writers of
// one grant (striped mutexes by grant ID), the writers of one token-hash
// index entry (striped by hash), revocations (their sequence), the
// identity and the EDI key records. A stripe is held from the read to the
// end of the commit; writers of unrelated grants commit concurrently, so
// their syncs share the WAL's fsync. This makes the store safe for one
// process only, which Pebble's directory lock enforces.
type Store struct {
	db   *pebble.DB
	lock *pebble.Lock
	dir  string

	// gate: every method holds it for reading while it uses db, Close
	// for writing, so that db is never used after it was closed (Pebble
	// panics then).
	gate   sync.RWMutex
	closed bool

	locks stripes
	// revMu serialises PutRevocation (and the revocation part of Sweep),
	// which assigns the next number of the sequence: revSeq is the last
	// number committed.
	revMu  sync.Mutex
	revSeq atomic.Uint64
	// metaMu serialises the identity's read-modify-write.
	metaMu sync.Mutex
	// ediMu serialises the EDI key writes (create, update, use counts):
	// they are rare, and one lock keeps ID and secret-hash uniqueness
	// simple.
	ediMu sync.Mutex
}

// markerName is the file that marks a directory as a tokengate Pebble
// store, written when the store is created. Open refuses a directory
// without it: a Pebble database of another program, or anything else.
const (
	markerName    = "TOKENGATE-STORE"
	markerContent = "tokengate pebble store; do not edit or remove files in this directory\n"
)

// errCorrupt wraps inconsistencies found in a store: records that do not
// decode, index entries without their record, Pebble's corruption errors.
var errCorrupt = errors.New("tokencore: pebble store is corrupt")

// Open opens the store in directory dir, creating it only when nothing is
// there. The parent directories are created with mode 0700 and the store
// directory is 0700: it holds token hashes and grant properties, not for
// other users.
//
// An existing path must be a tokengate store: a file, an empty directory,
// a directory of something else, a Pebble database of another program (no
// marker), of another schema version, or one Pebble cannot open (damaged)
// is refused with an error naming the path. Those Pebble has not opened
// are left untouched. Starting afresh there would silently forget every
// revocation it held. A new store is built in a temporary directory next
// to dir and renamed into place once initialised, so a crash during
// creation never leaves a half-made store at dir. A store held by another
// process fails with an error wrapping tokencore.ErrStoreLocked after
// opts.Timeout.
func Open(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("opening pebble store: empty path")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.fs == nil {
		opts.fs = vfs.Default
	}
	fsys := opts.fs
	if err := mkdirAllSynced(fsys, fsys.PathDir(dir)); err != nil {
		return nil, fmt.Errorf("opening pebble store %s: creating its parent directory: %w", dir, err)
	}
	if _, err := fsys.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := createStore(dir, opts); err != nil {
			return nil, fmt.Errorf("creating pebble store %s: %w", dir, err)
		}
	}
	if err := checkDir(fsys, dir); err != nil {
		return nil, fmt.Errorf("opening pebble store %s: %w", dir, err)
	}
	lock, err := lockDir(fsys, dir, opts.Timeout)
	if err != nil {
		return nil, fmt.Errorf("opening pebble store %s: %w", dir, err)
	}
	db, err := openPebble(dir, opts, lock, false)
	if err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("opening pebble store %s: %w", dir, err)
	}
	s := &Store{db: db, lock: lock, dir: dir}
	// Per process, so the stripe of an ID cannot be chosen by whoever
	// picks IDs.
	s.locks.seed = maphash.MakeSeed()
	if err := s.load(); err != nil {
		_ = db.Close()
		_ = lock.Close()
		return nil, fmt.Errorf("opening pebble store %s: %w", dir, err)
	}
	return s, nil
}

// createStore makes a new, initialised store (schema version, identity,
// marker) in a temporary directory next to dir and renames it to dir. If
// another process created dir meanwhile, its store is kept and this one
// dropped.
func createStore(dir string, opts Options) error {
	fsys := opts.fs
	tmp := fsys.PathJoin(fsys.PathDir(dir), "."+fsys.PathBase(dir)+".new-"+tokencore.NewGrantID())
	if err := fsys.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	defer fsys.RemoveAll(tmp) //nolint:errcheck // a no-op once renamed
	db, err := openPebble(tmp, opts, nil, true)
	if err != nil {
		return err
	}
	b := db.NewBatch()
	_ = b.Set(metaKey(metaVersion), []byte(schemaVersion), nil)
	id := tokencore.StoreIdentity{ID: tokencore.NewGrantID(), CreatedAt: time.Now().UTC().Truncate(time.Second)}
	if err := putIdentity(b, id); err != nil {
		b.Close()
		db.Close()
		return err
	}
	err = b.Commit(pebble.Sync)
	b.Close()
	if err == nil {
		err = db.Flush()
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// The marker last: a directory with it is a complete store.
	if err := writeSynced(fsys, fsys.PathJoin(tmp, markerName), []byte(markerContent)); err != nil {
		return err
	}
	if err := syncDir(fsys, tmp); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, dir); err != nil {
		if _, serr := fsys.Stat(dir); serr == nil {
			return nil // created by another process meanwhile: keep that one
		}
		return err
	}
	return syncDir(fsys, fsys.PathDir(dir)) // make the new name durable
}

// mkdirAllSynced creates dir and its missing parents with mode 0700, and
// makes each new directory's name durable (an fsync of the directory that
// holds it), so that a power loss right after a store was created cannot
// take the path to the store away with it.
func mkdirAllSynced(fsys vfs.FS, dir string) error {
	if _, err := fsys.Stat(dir); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := fsys.PathDir(dir)
	if parent != dir {
		if err := mkdirAllSynced(fsys, parent); err != nil {
			return err
		}
	}
	if err := fsys.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return syncDir(fsys, parent)
}

func writeSynced(fsys vfs.FS, path string, b []byte) error {
	f, err := fsys.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(fsys vfs.FS, dir string) error {
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkDir refuses a path that is not a tokengate Pebble store, before
// Pebble touches it (Pebble's own open would create its LOCK file in any
// directory, and make a new database in an empty one).
func checkDir(fsys vfs.FS, dir string) error {
	fi, err := fsys.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory: a pebble store is a directory (is it a bbolt file? then use `store bolt`)", dir)
	}
	names, err := fsys.List(dir)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		// Pebble would make a new database in it: a store whose files
		// were deleted must not come back as an empty one.
		return errors.New("the directory is empty, not a tokengate store: its files were deleted, or it was made by hand; " +
			"remove the directory to start a new, empty store, or restore the store from a backup (see docs/operations.md, Backups and recovery)")
	}
	if slices.Contains(names, markerName) {
		return nil
	}
	if slices.ContainsFunc(names, func(n string) bool {
		return n == "CURRENT" || strings.HasPrefix(n, "MANIFEST-") || strings.HasPrefix(n, "OPTIONS-") || strings.HasPrefix(n, "marker.")
	}) {
		return fmt.Errorf("the directory is a pebble (or RocksDB) database of another program, not a tokengate store (no %s file)", markerName)
	}
	return fmt.Errorf("the directory is not a tokengate store (no %s file)", markerName)
}

// lockDir takes Pebble's directory lock, trying again until timeout.
// Pebble's lock does not wait: a held lock fails at once.
func lockDir(fsys vfs.FS, dir string, timeout time.Duration) (*pebble.Lock, error) {
	deadline := time.Now().Add(timeout)
	for {
		l, err := pebble.LockDirectory(dir, fsys)
		if err == nil {
			return l, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w (gave up after %s: %w)", tokencore.ErrStoreLocked, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openPebble opens the database in dir; create says whether it may be
// made. A panic of Pebble on a damaged directory becomes an error.
func openPebble(dir string, opts Options, lock *pebble.Lock, create bool) (db *pebble.DB, err error) {
	defer recoverCorrupt(&err)
	po := &pebble.Options{
		FS:                 opts.fs,
		Lock:               lock,
		ErrorIfExists:      create,
		ErrorIfNotExists:   !create,
		FormatMajorVersion: pebble.FormatNewest,
		MemTableSize:       opts.MemTableSize,
		CacheSize:          opts.CacheSize,
		Logger:             logger{errorf: opts.ErrorLog},
	}
	if po.MemTableSize == 0 {
		po.MemTableSize = defaultMemTableSize
	}
	if po.CacheSize == 0 {
		po.CacheSize = defaultCacheSize
	}
	// Bloom filters (10 bits per key, about 1 % false positives) on every
	// level: most of the store's point reads are misses by design (a new
	// grant's ID, the hashes a new grant claims, a token hash that was
	// rotated away), which a filter answers without reading a data block.
	// L1 and below inherit L0's.
	po.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	db, err = pebble.Open(dir, po)
	if err != nil {
		if pebble.IsCorruptionError(err) {
			return nil, fmt.Errorf("%w; restore it from a backup (see docs/operations.md, Backups and recovery): %w", errCorrupt, err)
		}
		return nil, fmt.Errorf("pebble cannot open it (damaged? restore it from a backup, see docs/operations.md, Backups and recovery): %w", err)
	}
	return db, nil
}

// load checks the schema version and reads the revocation sequence.
func (s *Store) load() error {
	v, err := s.getCopy(s.db, metaKey(metaVersion))
	if err != nil {
		return err
	}
	if v == nil {
		return fmt.Errorf("%w: no schema version: the database was not made by tokengate, or its creation was interrupted", errCorrupt)
	}
	if string(v) != schemaVersion {
		return fmt.Errorf("unsupported schema version %q (this build reads %s)", v, schemaVersion)
	}
	seq, err := s.getCopy(s.db, metaKey(metaRevSeq))
	if err != nil {
		return err
	}
	n, err := decodeSeq(seq)
	if err != nil {
		return err
	}
	s.revSeq.Store(n)
	return nil
}

// Close flushes the memtables to sorted tables (so that the next open
// replays no log), closes the database and releases the directory lock.
// It waits for running calls. Further calls fail with ErrStoreClosed.
func (s *Store) Close() error {
	s.gate.Lock()
	if s.closed {
		s.gate.Unlock()
		return tokencore.ErrStoreClosed
	}
	s.closed = true
	s.gate.Unlock()
	err := s.db.Flush()
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	if lerr := s.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("closing pebble store %s: %w", s.dir, err)
	}
	return nil
}

// begin starts a call: it fails if ctx is done or the store closed, and
// otherwise holds the gate until end.
func (s *Store) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.gate.RLock()
	if s.closed {
		s.gate.RUnlock()
		return tokencore.ErrStoreClosed
	}
	return nil
}

func (s *Store) end() { s.gate.RUnlock() }

// getCopy reads key from r: a copy of its value, nil if there is none.
func (s *Store) getCopy(r pebble.Reader, key []byte) ([]byte, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, readErr(err)
	}
	out := slices.Clone(v)
	if out == nil {
		out = []byte{}
	}
	closer.Close()
	return out, nil
}

// getWith reads key from r and hands its value to fn while it is valid;
// found is false (and fn not called) if there is none.
func getWith(r pebble.Reader, key []byte, fn func(v []byte) error) (found bool, err error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, readErr(err)
	}
	defer closer.Close()
	return true, fn(v)
}

// commit writes b durably (pebble.Sync) and closes it. A failure is the
// store being unavailable (a full disk, an I/O error, a failed fsync):
// nothing of the batch is visible.
func commit(b *pebble.Batch) error {
	err := b.Commit(pebble.Sync)
	b.Close()
	if err != nil {
		if pebble.IsCorruptionError(err) {
			return fmt.Errorf("%w: %w", errCorrupt, err)
		}
		return tokencore.WrapUnavailable(fmt.Errorf("committing to the pebble store: %w", err))
	}
	return nil
}

// readErr classifies a failed read: damage is errCorrupt, anything else
// (an I/O error) the store being unavailable.
func readErr(err error) error {
	if pebble.IsCorruptionError(err) {
		return fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return tokencore.WrapUnavailable(fmt.Errorf("reading the pebble store: %w", err))
}

// recoverCorrupt turns a panic into an error wrapping errCorrupt: Pebble
// panics on some damage it cannot make sense of; inside an update the
// panic may also be the callback's, which the message says too.
func recoverCorrupt(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: panic in pebble (damaged directory, or an update callback's bug): %v", errCorrupt, r)
	}
}

// Interface guard.
var _ tokencore.Store = (*Store)(nil)
