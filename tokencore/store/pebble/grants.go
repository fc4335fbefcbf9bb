package pebble

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	pebble "github.com/cockroachdb/pebble/v2"

	"github.com/tokengate/tokengate/tokencore"
)

// CreateGrant stores g and its index entries in one batch, under the
// stripes of its ID and its token hashes.
func (s *Store) CreateGrant(ctx context.Context, g *tokencore.Grant) error {
	b, err := tokencore.EncodeGrant(g)
	if err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	gl := s.locks.lockGrant(g.ID)
	defer gl.Unlock()
	hl := s.locks.lockHashes(tokencore.GrantHashes(g))
	defer hl.unlock()

	found, err := getWith(s.db, key(pGrant, g.ID), func([]byte) error { return nil })
	if err != nil {
		return err
	}
	if found {
		return fmt.Errorf("creating grant %q: %w", g.ID, tokencore.ErrConflict)
	}
	if err := s.checkHashOwners(g); err != nil {
		return fmt.Errorf("creating grant %q: %w", g.ID, err)
	}
	batch := s.db.NewBatch()
	_ = batch.Set(key(pGrant, g.ID), b, nil)
	if err := s.writeIndexes(batch, g.ID, nil, grantIndexes(g)); err != nil {
		batch.Close()
		return err
	}
	return commit(batch)
}

// GetGrant returns the grant with this ID.
func (s *Store) GetGrant(ctx context.Context, id string) (*tokencore.Grant, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	return loadGrant(s.db, id)
}

// GrantByTokenHash returns the grant whose current access or refresh token
// has this hash. The index and the grant are read one after the other,
// without a snapshot (a snapshot costs more than the two reads): a grant
// rotated or deleted in between is reported as not found, as if the read
// had come after that write, and only a grant missing while the index
// still names it is damage.
func (s *Store) GrantByTokenHash(ctx context.Context, hash string) (*tokencore.Grant, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	ik := key(pToken, hash)
	id, err := s.getCopy(s.db, ik)
	if err != nil {
		return nil, err
	}
	if id == nil {
		return nil, fmt.Errorf("grant by token hash: %w", tokencore.ErrNotFound)
	}
	g, err := loadGrant(s.db, string(id))
	switch {
	case err == nil && slices.Contains(tokencore.GrantHashes(g), hash):
		return g, nil
	case err == nil:
		return nil, fmt.Errorf("grant by token hash: rotated meanwhile: %w", tokencore.ErrNotFound)
	case !isNotFound(err):
		return nil, err
	}
	again, err := s.getCopy(s.db, ik)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(again, id) {
		return nil, fmt.Errorf("token hash index names missing grant %q: %w", id, errCorrupt)
	}
	return nil, fmt.Errorf("grant by token hash: deleted meanwhile: %w", tokencore.ErrNotFound)
}

// UpdateGrant reads the grant, applies fn and commits the result with the
// index entries that changed (a rotation touches the token-hash and expiry
// entries), all under the grant's stripe: of concurrent updates of one
// grant exactly one applies to each version, and fn runs once, on the
// result of the previous update. The token-hash stripes are taken once fn
// has named the new hashes, before the uniqueness check.
func (s *Store) UpdateGrant(ctx context.Context, id string, fn func(g *tokencore.Grant) error) (*tokencore.Grant, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	gl := s.locks.lockGrant(id)
	defer gl.Unlock()

	old, err := loadGrant(s.db, id)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("updating grant: %w", err)
		}
		return nil, err
	}
	g, b, err := updateRecord(old, fn)
	if err != nil {
		return nil, err // fn's error unwrapped: the caller branches on it
	}
	hl := s.locks.lockHashes(tokencore.GrantHashes(old), tokencore.GrantHashes(g))
	defer hl.unlock()
	if err := s.checkHashOwners(g); err != nil {
		return nil, fmt.Errorf("updating grant %q: %w", id, err)
	}
	batch := s.db.NewBatch()
	_ = batch.Set(key(pGrant, id), b, nil)
	if err := s.writeIndexes(batch, id, grantIndexes(old), grantIndexes(g)); err != nil {
		batch.Close()
		return nil, err
	}
	if err := commit(batch); err != nil {
		return nil, err
	}
	return g, nil
}

// updateRecord is tokencore.UpdateRecord with a panic of fn turned into an
// error: the stripe must be released and the gateway keep serving.
func updateRecord(old *tokencore.Grant, fn func(*tokencore.Grant) error) (g *tokencore.Grant, b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("updating grant %q: panic in the update callback: %v", old.ID, r)
		}
	}()
	return tokencore.UpdateRecord(old, fn)
}

// DeleteGrant removes the grant and its index entries.
func (s *Store) DeleteGrant(ctx context.Context, id string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	gl := s.locks.lockGrant(id)
	defer gl.Unlock()
	g, err := loadGrant(s.db, id)
	if err != nil {
		return fmt.Errorf("deleting grant: %w", err)
	}
	hl := s.locks.lockHashes(tokencore.GrantHashes(g))
	defer hl.unlock()
	batch := s.db.NewBatch()
	if err := s.deleteGrant(batch, g); err != nil {
		batch.Close()
		return err
	}
	return commit(batch)
}

// ListGrants reads one index when the filter names an indexed field (a
// tenant+user pair first, then subject, client, tenant) and scans every
// grant otherwise, on a snapshot so that the index and the grants agree.
// When the index alone decides the match (no Kind, no ActiveOnly, no
// second field), only the grants inside the window are decoded.
func (s *Store) ListGrants(ctx context.Context, f tokencore.GrantFilter) ([]*tokencore.Grant, int, error) {
	if err := s.begin(ctx); err != nil {
		return nil, 0, err
	}
	defer s.end()
	now := tokencore.FilterNow(f)
	snap := s.db.NewSnapshot()
	defer snap.Close()

	prefix, residual := pickIndex(f)
	if prefix == nil {
		all, err := scanGrants(ctx, snap, f, now)
		if err != nil {
			return nil, 0, err
		}
		lo, hi := tokencore.ListWindow(len(all), f.Start, f.End)
		return all[lo:hi], len(all), nil
	}
	hits, err := scanIndex(ctx, snap, prefix)
	if err != nil {
		return nil, 0, err
	}
	total := len(hits)
	if !residual {
		lo, hi := tokencore.ListWindow(total, f.Start, f.End)
		hits = hits[lo:hi]
	}
	var match []*tokencore.Grant
	for i, h := range hits {
		if i%ctxCheckEvery == ctxCheckEvery-1 {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
		}
		g, err := loadGrant(snap, h.id)
		if err != nil {
			return nil, 0, fmt.Errorf("index names grant %q: %w: %w", h.id, errCorrupt, err)
		}
		if !residual || tokencore.GrantMatches(g, f, now) {
			match = append(match, g)
		}
	}
	if !residual {
		return match, total, nil
	}
	lo, hi := tokencore.ListWindow(len(match), f.Start, f.End)
	return match[lo:hi], len(match), nil
}

// loadGrant reads and decodes one grant.
func loadGrant(r pebble.Reader, id string) (*tokencore.Grant, error) {
	g := new(tokencore.Grant)
	found, err := getWith(r, key(pGrant, id), func(v []byte) error {
		if err := json.Unmarshal(v, g); err != nil {
			return fmt.Errorf("decoding grant %q: %w: %w", id, errCorrupt, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("grant %q: %w", id, tokencore.ErrNotFound)
	}
	return g, nil
}

// deleteGrant adds the removal of a loaded grant and its index entries to
// batch. The caller holds the grant's and its hashes' stripes.
func (s *Store) deleteGrant(batch *pebble.Batch, g *tokencore.Grant) error {
	if err := s.writeIndexes(batch, g.ID, grantIndexes(g), nil); err != nil {
		return err
	}
	_ = batch.Delete(key(pGrant, g.ID), nil)
	return nil
}

// indexEntry is one secondary-index entry of a grant (its key, prefix
// included); every entry's value is the grant ID.
type indexEntry struct {
	key   []byte
	token bool // a token-hash entry: a hash names one grant
}

// grantIndexes returns every index entry of g.
func grantIndexes(g *tokencore.Grant) []indexEntry {
	es := make([]indexEntry, 0, 6)
	for _, h := range tokencore.GrantHashes(g) {
		es = append(es, indexEntry{key(pToken, h), true})
	}
	if g.Subject != "" {
		es = append(es, indexEntry{key: createdKey(appendStr([]byte{pSubject}, g.Subject), g.CreatedAt, g.ID)})
	}
	if g.ClientID != "" {
		es = append(es, indexEntry{key: createdKey(appendStr([]byte{pClient}, g.ClientID), g.CreatedAt, g.ID)})
	}
	if g.Tenant != "" || g.UserID != "" {
		es = append(es, indexEntry{key: createdKey(appendStr(appendStr([]byte{pUser}, g.Tenant), g.UserID), g.CreatedAt, g.ID)})
	}
	if !g.ExpiresAt.IsZero() {
		es = append(es, indexEntry{key: append(tokencore.AppendSortableTime([]byte{pExpiry}, g.ExpiresAt), g.ID...)})
	}
	return es
}

// writeIndexes adds to batch the move of grant id's index entries from old
// to new: entries only in old are deleted, entries only in new are
// written. A token-hash entry is deleted only while it still names this
// grant (another grant may have taken the hash once this one let it go).
// The caller holds the stripes of every token hash in old and new.
func (s *Store) writeIndexes(batch *pebble.Batch, id string, old, new []indexEntry) error {
	same := func(a, b indexEntry) bool { return bytes.Equal(a.key, b.key) }
	for _, e := range old {
		if slices.ContainsFunc(new, func(n indexEntry) bool { return same(e, n) }) {
			continue
		}
		if e.token {
			owner, err := s.getCopy(s.db, e.key)
			if err != nil {
				return err
			}
			if string(owner) != id {
				continue
			}
		}
		_ = batch.Delete(e.key, nil)
	}
	for _, e := range new {
		if slices.ContainsFunc(old, func(o indexEntry) bool { return same(e, o) }) {
			continue
		}
		_ = batch.Set(e.key, []byte(id), nil)
	}
	return nil
}

// checkHashOwners refuses a grant whose token hash is the current token of
// another grant (see the memory store's checkHashes). The caller holds the
// hashes' stripes.
func (s *Store) checkHashOwners(g *tokencore.Grant) error {
	for _, h := range tokencore.GrantHashes(g) {
		owner, err := s.getCopy(s.db, key(pToken, h))
		if err != nil {
			return err
		}
		if owner != nil && string(owner) != g.ID {
			return fmt.Errorf("token hash already belongs to another grant: %w", tokencore.ErrConflict)
		}
	}
	return nil
}

// pickIndex chooses the index ListGrants reads for f: its key prefix, and
// whether fields remain that the index does not decide. A nil prefix
// means a scan of every grant.
func pickIndex(f tokencore.GrantFilter) (prefix []byte, residual bool) {
	rest := f
	switch {
	case f.Tenant != "" && f.UserID != "":
		prefix = appendStr(appendStr([]byte{pUser}, f.Tenant), f.UserID)
		rest.Tenant, rest.UserID = "", ""
	case f.Subject != "":
		prefix = appendStr([]byte{pSubject}, f.Subject)
		rest.Subject = ""
	case f.ClientID != "":
		prefix = appendStr([]byte{pClient}, f.ClientID)
		rest.ClientID = ""
	case f.Tenant != "":
		// Every user of the tenant: entries are ordered by user first, so
		// scanIndex sorts them.
		prefix = appendStr([]byte{pUser}, f.Tenant)
		rest.Tenant = ""
	default:
		return nil, true
	}
	residual = rest.Subject != "" || rest.ClientID != "" || rest.Tenant != "" || rest.UserID != "" ||
		rest.Kind != "" || rest.ActiveOnly
	return prefix, residual
}

// idxHit is one grant found in an index, with its ListGrants sort key
// (time(created) then ID: the tail of the index key).
type idxHit struct {
	sortKey []byte
	id      string
}

// scanIndex returns the grants under prefix in ListGrants order.
func scanIndex(ctx context.Context, r pebble.Reader, prefix []byte) ([]idxHit, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)})
	if err != nil {
		return nil, readErr(err)
	}
	defer it.Close()
	var hits []idxHit
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		if i++; i%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		k := it.Key()
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, readErr(err)
		}
		tail := len(v) + timeKeyLen
		if len(k) < len(prefix)+tail || !bytes.HasSuffix(k, v) {
			return nil, fmt.Errorf("malformed index key: %w", errCorrupt)
		}
		hits = append(hits, idxHit{bytes.Clone(k[len(k)-tail:]), string(v)})
	}
	if err := it.Error(); err != nil {
		return nil, readErr(err)
	}
	// Already sorted unless the prefix is a tenant alone; pdqsort checks
	// sorted input in linear time.
	slices.SortFunc(hits, func(a, b idxHit) int { return bytes.Compare(a.sortKey, b.sortKey) })
	return hits, nil
}

// scanGrants decodes every grant matching f, in ListGrants order.
func scanGrants(ctx context.Context, r pebble.Reader, f tokencore.GrantFilter, now time.Time) ([]*tokencore.Grant, error) {
	prefix := []byte{pGrant}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)})
	if err != nil {
		return nil, readErr(err)
	}
	defer it.Close()
	var out []*tokencore.Grant
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
		g := new(tokencore.Grant)
		if err := json.Unmarshal(v, g); err != nil {
			return nil, fmt.Errorf("decoding grant %q: %w: %w", it.Key()[1:], errCorrupt, err)
		}
		if tokencore.GrantMatches(g, f, now) {
			out = append(out, g)
		}
	}
	if err := it.Error(); err != nil {
		return nil, readErr(err)
	}
	slices.SortFunc(out, tokencore.CompareGrants)
	return out, nil
}

func isNotFound(err error) bool { return errors.Is(err, tokencore.ErrNotFound) }
