package pebble

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	pebble "github.com/cockroachdb/pebble/v2"

	"github.com/tokengate/tokengate/tokencore"
)

// PutRevocation stores r, merged with a stored revocation of the same kind
// and key (the later NotBefore and ExpiresAt are kept), and numbers it: the
// new number is written in the same batch, so a number is handed out only
// with its revocation, and never twice. Revocations are serialised (one
// fsync each); they are rare next to grant writes, and a revocation storm
// (a replay revoking every grant of a user) is bounded by the user's
// grants.
func (s *Store) PutRevocation(ctx context.Context, r tokencore.Revocation) (uint64, error) {
	if err := tokencore.ValidateRevocation(r); err != nil {
		return 0, err
	}
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	defer s.end()
	s.revMu.Lock()
	defer s.revMu.Unlock()

	rk := revocationKey(r)
	batch := s.db.NewBatch()
	merged := r
	var old tokencore.Revocation
	found, err := getWith(s.db, keyBytes(pRevocation, rk), func(v []byte) error {
		if err := json.Unmarshal(v, &old); err != nil {
			return fmt.Errorf("decoding revocation: %w: %w", errCorrupt, err)
		}
		return nil
	})
	if err != nil {
		batch.Close()
		return 0, err
	}
	if found {
		merged = tokencore.MergeRevocation(old, r)
		if !old.ExpiresAt.IsZero() {
			_ = batch.Delete(revExpiryKey(old.ExpiresAt, rk), nil)
		}
	}
	b, err := json.Marshal(merged)
	if err != nil {
		batch.Close()
		return 0, fmt.Errorf("encoding revocation: %w", err)
	}
	_ = batch.Set(keyBytes(pRevocation, rk), b, nil)
	if !merged.ExpiresAt.IsZero() {
		_ = batch.Set(revExpiryKey(merged.ExpiresAt, rk), nil, nil)
	}
	seq := s.revSeq.Load() + 1
	_ = batch.Set(metaKey(metaRevSeq), encodeSeq(seq), nil)
	if err := commit(batch); err != nil {
		return 0, err
	}
	s.revSeq.Store(seq)
	return seq, nil
}

// RevocationSeq returns the number of the last stored revocation. It is
// kept in memory (this process is the store's only writer) and read from
// the store when it is opened.
func (s *Store) RevocationSeq(ctx context.Context) (uint64, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	defer s.end()
	return s.revSeq.Load(), nil
}

// Revocations returns the revocations not expired at now, in no particular
// order.
func (s *Store) Revocations(ctx context.Context, now time.Time) ([]tokencore.Revocation, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	prefix := []byte{pRevocation}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)})
	if err != nil {
		return nil, readErr(err)
	}
	defer it.Close()
	var out []tokencore.Revocation
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		if i++; i%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, readErr(err)
		}
		var r tokencore.Revocation
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, fmt.Errorf("decoding revocation: %w: %w", errCorrupt, err)
		}
		if !tokencore.RevocationExpired(r, now) {
			out = append(out, r)
		}
	}
	if err := it.Error(); err != nil {
		return nil, readErr(err)
	}
	return out, nil
}

// Sweep removes expired grants and revocations in batches of at most
// sweepBatch records of each kind, walking the expiry indexes only as far
// as now. Each batch holds every stripe and the revocation lock from its
// scan to its commit (one fsync), like bbolt's write transaction. The
// count includes the batches committed before an error.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		n, more, err := s.sweepOnce(ctx, now)
		total += n
		if err != nil {
			return total, fmt.Errorf("sweeping: %w", err)
		}
		if !more {
			return total, nil
		}
	}
}

func (s *Store) sweepOnce(ctx context.Context, now time.Time) (int, bool, error) {
	if err := s.begin(ctx); err != nil {
		return 0, false, err
	}
	defer s.end()
	s.locks.lockAll()
	defer s.locks.unlockAll()
	s.revMu.Lock()
	defer s.revMu.Unlock()

	batch := s.db.NewBatch()
	ng, moreG, err := s.sweepGrants(batch, now)
	if err != nil {
		batch.Close()
		return 0, false, err
	}
	nr, moreR, err := s.sweepRevocations(batch, now)
	if err != nil {
		batch.Close()
		return 0, false, err
	}
	if ng+nr == 0 {
		batch.Close()
		return 0, false, nil
	}
	if err := commit(batch); err != nil {
		return 0, false, err
	}
	return ng + nr, moreG || moreR, nil
}

// sweepGrants adds the removal of up to sweepBatch grants expired at now
// (ExpiresAt not after now) to batch and reports whether more may remain.
func (s *Store) sweepGrants(batch *pebble.Batch, now time.Time) (int, bool, error) {
	limit := tokencore.AppendSortableTime(nil, now)
	prefix := []byte{pExpiry}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)})
	if err != nil {
		return 0, false, readErr(err)
	}
	var ids []string
	for ok := it.First(); ok && len(ids) < sweepBatch; ok = it.Next() {
		k := it.Key()[1:]
		if len(k) < timeKeyLen || bytes.Compare(k[:timeKeyLen], limit) > 0 {
			break
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return 0, false, readErr(err)
		}
		ids = append(ids, string(v))
	}
	err = it.Error()
	it.Close()
	if err != nil {
		return 0, false, readErr(err)
	}
	for _, id := range ids {
		g, err := loadGrant(s.db, id)
		if err != nil {
			return 0, false, fmt.Errorf("expiry index: %w", err)
		}
		if err := s.deleteGrant(batch, g); err != nil {
			return 0, false, err
		}
	}
	return len(ids), len(ids) == sweepBatch, nil
}

// sweepRevocations adds the removal of up to sweepBatch revocations
// expired at now (ExpiresAt before now) to batch and reports whether more
// may remain.
func (s *Store) sweepRevocations(batch *pebble.Batch, now time.Time) (int, bool, error) {
	limit := tokencore.AppendSortableTime(nil, now)
	prefix := []byte{pRevExpiry}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)})
	if err != nil {
		return 0, false, readErr(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok && n < sweepBatch; ok = it.Next() {
		k := it.Key()
		if len(k) < 1+timeKeyLen || bytes.Compare(k[1:1+timeKeyLen], limit) >= 0 {
			break
		}
		_ = batch.Delete(keyBytes(pRevocation, k[1+timeKeyLen:]), nil)
		_ = batch.Delete(k, nil) // Delete copies the key into the batch
		n++
	}
	if err := it.Error(); err != nil {
		return 0, false, readErr(err)
	}
	return n, n == sweepBatch, nil
}
