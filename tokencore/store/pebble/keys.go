package pebble

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// Layout: one key space, each kind of record under a one-byte prefix ("str"
// is a 2-byte big-endian length then the bytes; "time" is
// tokencore.AppendSortableTime, 12 bytes that sort like the instant):
//
//	m name                          -> meta: "version" schema version,
//	                                   "identity" StoreIdentity JSON,
//	                                   "revseq" last revocation number (8 bytes)
//	g id                            -> grant JSON
//	t hash                          -> id (token-hash index)
//	s str(subject) time(created) id -> id
//	c str(client) time(created) id  -> id
//	u str(tenant) str(user) time(created) id -> id
//	x time(expires) id              -> id (grant expiry)
//	r str(kind) key                 -> revocation JSON
//	y time(expires) str(kind) key   -> (empty) (revocation expiry)
//	E edi-id                        -> EDI subject JSON
//	K key id                        -> EDI API key JSON
//	H sha256(secret)                -> key id
//	O str(owner) time(created) id   -> key id
//
// It is the bbolt store's layout with prefixes for buckets. Grant IDs start
// with their creation time (tokencore.NewGrantID) and the index keys end in
// time(created) and the ID, so a prefix scan of a subject, client or user
// yields its grants in ListGrants order, and new keys land at the end of
// their range, which suits an LSM as well as a B+tree: memtable flushes
// write non-overlapping runs. Sweep walks x and y from their start and
// stops at the first entry still valid.
const (
	pMeta       = 'm'
	pGrant      = 'g'
	pToken      = 't'
	pSubject    = 's'
	pClient     = 'c'
	pUser       = 'u'
	pExpiry     = 'x'
	pRevocation = 'r'
	pRevExpiry  = 'y'
	pEDISubject = 'E'
	pEDIKey     = 'K'
	pEDIKeyHash = 'H'
	pEDIOwner   = 'O'

	metaVersion   = "version"
	metaIdentity  = "identity"
	metaRevSeq    = "revseq"
	schemaVersion = "1"

	// timeKeyLen is the length of an encoded time.
	timeKeyLen = 12
	// sweepBatch bounds the records of each kind one Sweep batch removes,
	// so a large backlog does not hold every stripe (and delay refreshes)
	// for long.
	sweepBatch = 1000
	// ctxCheckEvery is how many records a scan visits between checks of
	// its context.
	ctxCheckEvery = 256
)

func metaKey(name string) []byte { return append([]byte{pMeta}, name...) }

func key(prefix byte, s string) []byte {
	b := make([]byte, 0, 1+len(s))
	return append(append(b, prefix), s...)
}

func keyBytes(prefix byte, s []byte) []byte {
	b := make([]byte, 0, 1+len(s))
	return append(append(b, prefix), s...)
}

// appendStr appends s with a 2-byte big-endian length, so that one field
// can never be read as a prefix of another ("ab" vs "abc"). Callers bound
// s to tokencore.MaxRevocationKeyLen, far below 64 KiB.
func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// createdKey appends time(created) and id to an index prefix.
func createdKey(prefix []byte, created time.Time, id string) []byte {
	return append(tokencore.AppendSortableTime(prefix, created), id...)
}

// revocationKey is the r key of a revocation, without the prefix byte
// (the y keys embed it).
func revocationKey(r tokencore.Revocation) []byte {
	return append(appendStr(nil, string(r.Kind)), r.Key...)
}

func revExpiryKey(exp time.Time, revKey []byte) []byte {
	return append(tokencore.AppendSortableTime([]byte{pRevExpiry}, exp), revKey...)
}

// upperBound returns the smallest key after every key with this prefix,
// nil if there is none (a prefix of 0xff bytes only).
func upperBound(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func encodeSeq(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func decodeSeq(v []byte) (uint64, error) {
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	}
	return 0, fmt.Errorf("%w: revocation sequence of %d bytes", errCorrupt, len(v))
}
