// Package memory is the tokencore.Store held in process memory, for tests
// and for a single instance that may forget every grant when it restarts.
package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// Store is a tokencore.Store held in process memory: maps behind one RWMutex.
// It is meant for tests and for the `memory` store option of a single
// instance that may forget every grant on restart. It enforces the same
// record limits as the persistent stores, so code tested against it does
// not fail later against bbolt or Redis.
type Store struct {
	mu     sync.RWMutex
	closed bool
	grants map[string]*tokencore.Grant
	// byHash maps a TokenHash of a current access or refresh token to its
	// grant ID.
	byHash map[string]string
	revs   map[revocationID]tokencore.Revocation
	revSeq uint64 // number of the last stored revocation
	edi    memEDI // EDI subject and API-key records (edi.go)
}

// revocationID is the identity of a revocation: a later Put with the same
// ID is merged into the stored one.
type revocationID struct {
	kind tokencore.RevocationKind
	key  string
}

// New returns an empty in-memory store.
func New() *Store {
	return &Store{
		grants: map[string]*tokencore.Grant{},
		byHash: map[string]string{},
		revs:   map[revocationID]tokencore.Revocation{},
	}
}

// begin checks the context and the closed state; it is called with s.mu
// held, so a store closed concurrently is never used afterwards.
func (s *Store) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed {
		return tokencore.ErrStoreClosed
	}
	return nil
}

// CreateGrant stores a copy of g.
func (s *Store) CreateGrant(ctx context.Context, g *tokencore.Grant) error {
	// The rules of the persistent stores, without keeping an encoding.
	if err := tokencore.ValidateGrant(g); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return err
	}
	if _, ok := s.grants[g.ID]; ok {
		return fmt.Errorf("creating grant %q: %w", g.ID, tokencore.ErrConflict)
	}
	if err := s.checkHashes(g); err != nil {
		return fmt.Errorf("creating grant %q: %w", g.ID, err)
	}
	c := g.Clone()
	s.grants[c.ID] = c
	s.indexHashes(c)
	return nil
}

// GetGrant returns a copy of the grant with this ID.
func (s *Store) GetGrant(ctx context.Context, id string) (*tokencore.Grant, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	g, ok := s.grants[id]
	if !ok {
		return nil, fmt.Errorf("grant %q: %w", id, tokencore.ErrNotFound)
	}
	return g.Clone(), nil
}

// GrantByTokenHash returns a copy of the grant whose current access or
// refresh token has this hash.
func (s *Store) GrantByTokenHash(ctx context.Context, hash string) (*tokencore.Grant, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	id, ok := s.byHash[hash]
	if !ok {
		return nil, fmt.Errorf("grant by token hash: %w", tokencore.ErrNotFound)
	}
	return s.grants[id].Clone(), nil
}

// UpdateGrant applies fn to a copy of the grant under the write lock, so
// concurrent updates of one grant are serialised and each sees the result
// of the previous one.
func (s *Store) UpdateGrant(ctx context.Context, id string, fn func(g *tokencore.Grant) error) (*tokencore.Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	old, ok := s.grants[id]
	if !ok {
		return nil, fmt.Errorf("updating grant %q: %w", id, tokencore.ErrNotFound)
	}
	g, err := tokencore.UpdateGrantRecord(old, fn)
	if err != nil {
		return nil, err
	}
	if err := s.checkHashes(g); err != nil {
		return nil, fmt.Errorf("updating grant %q: %w", id, err)
	}
	s.unindexHashes(old)
	c := g.Clone()
	s.grants[id] = c
	s.indexHashes(c)
	return g, nil
}

// DeleteGrant removes the grant and its token-hash entries.
func (s *Store) DeleteGrant(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return err
	}
	g, ok := s.grants[id]
	if !ok {
		return fmt.Errorf("deleting grant %q: %w", id, tokencore.ErrNotFound)
	}
	s.unindexHashes(g)
	delete(s.grants, id)
	return nil
}

// ListGrants scans every grant: the memory store has no secondary indexes
// besides the token hashes, which is fine at the sizes it is meant for.
func (s *Store) ListGrants(ctx context.Context, f tokencore.GrantFilter) ([]*tokencore.Grant, int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx); err != nil {
		return nil, 0, err
	}
	now := tokencore.FilterNow(f)
	var match []*tokencore.Grant
	for _, g := range s.grants {
		if tokencore.GrantMatches(g, f, now) {
			match = append(match, g)
		}
	}
	slices.SortFunc(match, tokencore.CompareGrants)
	lo, hi := tokencore.ListWindow(len(match), f.Start, f.End)
	out := make([]*tokencore.Grant, 0, hi-lo)
	for _, g := range match[lo:hi] {
		out = append(out, g.Clone())
	}
	return out, len(match), nil
}

// PutRevocation stores r, merged with a stored revocation of the same kind
// and key, and numbers it.
func (s *Store) PutRevocation(ctx context.Context, r tokencore.Revocation) (uint64, error) {
	if err := tokencore.ValidateRevocation(r); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	k := revocationID{r.Kind, r.Key}
	if old, ok := s.revs[k]; ok {
		r = tokencore.MergeRevocation(old, r)
	}
	s.revs[k] = r
	s.revSeq++
	return s.revSeq, nil
}

// RevocationSeq returns the number of the last stored revocation.
func (s *Store) RevocationSeq(ctx context.Context) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	return s.revSeq, nil
}

// Revocations returns the revocations not expired at now, in no particular
// order.
func (s *Store) Revocations(ctx context.Context, now time.Time) ([]tokencore.Revocation, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	var out []tokencore.Revocation
	for _, r := range s.revs {
		if !tokencore.RevocationExpired(r, now) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Sweep removes expired grants and revocations.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	n := 0
	for id, g := range s.grants {
		if tokencore.GrantExpired(g, now) {
			s.unindexHashes(g)
			delete(s.grants, id)
			n++
		}
	}
	for k, r := range s.revs {
		if tokencore.RevocationExpired(r, now) {
			delete(s.revs, k)
			n++
		}
	}
	return n, nil
}

// Close drops every record. Further calls fail with ErrStoreClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return tokencore.ErrStoreClosed
	}
	s.closed = true
	s.grants, s.byHash, s.revs = nil, nil, nil
	return nil
}

// checkHashes refuses a grant whose token hash is already the current token
// of another grant: hashes of distinct random tokens never collide, so this
// is a caller bug, and silently moving the index entry would let a lookup by
// that hash return the wrong family.
func (s *Store) checkHashes(g *tokencore.Grant) error {
	for _, h := range tokencore.GrantHashes(g) {
		if owner, ok := s.byHash[h]; ok && owner != g.ID {
			return fmt.Errorf("token hash already belongs to another grant: %w", tokencore.ErrConflict)
		}
	}
	return nil
}

func (s *Store) indexHashes(g *tokencore.Grant) {
	for _, h := range tokencore.GrantHashes(g) {
		s.byHash[h] = g.ID
	}
}

func (s *Store) unindexHashes(g *tokencore.Grant) {
	for _, h := range tokencore.GrantHashes(g) {
		if s.byHash[h] == g.ID {
			delete(s.byHash, h)
		}
	}
}

// Interface guard.
var _ tokencore.Store = (*Store)(nil)
