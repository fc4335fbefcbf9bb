package tokencore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemoryStore is a Store held in process memory: maps behind one RWMutex.
// It is meant for tests and for the `memory` store option of a single
// instance that may forget every grant on restart. It enforces the same
// record limits as the persistent stores, so code tested against it does
// not fail later against bbolt or Redis.
type MemoryStore struct {
	mu     sync.RWMutex
	closed bool
	grants map[string]*Grant
	// byHash maps a TokenHash of a current access or refresh token to its
	// grant ID.
	byHash map[string]string
	revs   map[revocationID]Revocation
	revSeq uint64 // number of the last stored revocation
	edi    memEDI // EDI subject and API-key records (memstore_edi.go)
}

// revocationID is the identity of a revocation: a later Put with the same
// ID is merged into the stored one.
type revocationID struct {
	kind RevocationKind
	key  string
}

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		grants: map[string]*Grant{},
		byHash: map[string]string{},
		revs:   map[revocationID]Revocation{},
	}
}

// begin checks the context and the closed state; it is called with s.mu
// held, so a store closed concurrently is never used afterwards.
func (s *MemoryStore) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed {
		return ErrStoreClosed
	}
	return nil
}

// CreateGrant stores a copy of g.
func (s *MemoryStore) CreateGrant(ctx context.Context, g *Grant) error {
	if _, err := encodeGrant(g); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return err
	}
	if _, ok := s.grants[g.ID]; ok {
		return fmt.Errorf("creating grant %q: %w", g.ID, ErrConflict)
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
func (s *MemoryStore) GetGrant(ctx context.Context, id string) (*Grant, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	g, ok := s.grants[id]
	if !ok {
		return nil, fmt.Errorf("grant %q: %w", id, ErrNotFound)
	}
	return g.Clone(), nil
}

// GrantByTokenHash returns a copy of the grant whose current access or
// refresh token has this hash.
func (s *MemoryStore) GrantByTokenHash(ctx context.Context, hash string) (*Grant, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	id, ok := s.byHash[hash]
	if !ok {
		return nil, fmt.Errorf("grant by token hash: %w", ErrNotFound)
	}
	return s.grants[id].Clone(), nil
}

// UpdateGrant applies fn to a copy of the grant under the write lock, so
// concurrent updates of one grant are serialised and each sees the result
// of the previous one.
func (s *MemoryStore) UpdateGrant(ctx context.Context, id string, fn func(g *Grant) error) (*Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	old, ok := s.grants[id]
	if !ok {
		return nil, fmt.Errorf("updating grant %q: %w", id, ErrNotFound)
	}
	g := old.Clone()
	if err := fn(g); err != nil {
		return nil, err // unwrapped: the caller branches on its own errors
	}
	if err := checkUpdated(id, g); err != nil {
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
func (s *MemoryStore) DeleteGrant(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return err
	}
	g, ok := s.grants[id]
	if !ok {
		return fmt.Errorf("deleting grant %q: %w", id, ErrNotFound)
	}
	s.unindexHashes(g)
	delete(s.grants, id)
	return nil
}

// ListGrants scans every grant: the memory store has no secondary indexes
// besides the token hashes, which is fine at the sizes it is meant for.
func (s *MemoryStore) ListGrants(ctx context.Context, f GrantFilter) ([]*Grant, int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx); err != nil {
		return nil, 0, err
	}
	now := filterNow(f)
	var match []*Grant
	for _, g := range s.grants {
		if grantMatches(g, f, now) {
			match = append(match, g)
		}
	}
	slices.SortFunc(match, compareGrants)
	lo, hi := listWindow(len(match), f.Start, f.End)
	out := make([]*Grant, 0, hi-lo)
	for _, g := range match[lo:hi] {
		out = append(out, g.Clone())
	}
	return out, len(match), nil
}

// PutRevocation stores r, merged with a stored revocation of the same kind
// and key, and numbers it.
func (s *MemoryStore) PutRevocation(ctx context.Context, r Revocation) (uint64, error) {
	if err := validateRevocation(r); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	k := revocationID{r.Kind, r.Key}
	if old, ok := s.revs[k]; ok {
		r = mergeRevocation(old, r)
	}
	s.revs[k] = r
	s.revSeq++
	return s.revSeq, nil
}

// RevocationSeq returns the number of the last stored revocation.
func (s *MemoryStore) RevocationSeq(ctx context.Context) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	return s.revSeq, nil
}

// Revocations returns the revocations not expired at now, in no particular
// order.
func (s *MemoryStore) Revocations(ctx context.Context, now time.Time) ([]Revocation, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	var out []Revocation
	for _, r := range s.revs {
		if !revocationExpired(r, now) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Sweep removes expired grants and revocations.
func (s *MemoryStore) Sweep(ctx context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	n := 0
	for id, g := range s.grants {
		if grantExpired(g, now) {
			s.unindexHashes(g)
			delete(s.grants, id)
			n++
		}
	}
	for k, r := range s.revs {
		if revocationExpired(r, now) {
			delete(s.revs, k)
			n++
		}
	}
	return n, nil
}

// Close drops every record. Further calls fail with ErrStoreClosed.
func (s *MemoryStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrStoreClosed
	}
	s.closed = true
	s.grants, s.byHash, s.revs = nil, nil, nil
	return nil
}

// checkHashes refuses a grant whose token hash is already the current token
// of another grant: hashes of distinct random tokens never collide, so this
// is a caller bug, and silently moving the index entry would let a lookup by
// that hash return the wrong family.
func (s *MemoryStore) checkHashes(g *Grant) error {
	for _, h := range grantHashes(g) {
		if owner, ok := s.byHash[h]; ok && owner != g.ID {
			return fmt.Errorf("token hash already belongs to another grant: %w", ErrConflict)
		}
	}
	return nil
}

func (s *MemoryStore) indexHashes(g *Grant) {
	for _, h := range grantHashes(g) {
		s.byHash[h] = g.ID
	}
}

func (s *MemoryStore) unindexHashes(g *Grant) {
	for _, h := range grantHashes(g) {
		if s.byHash[h] == g.ID {
			delete(s.byHash, h)
		}
	}
}

// The rest of this file is shared by every Store implementation, so that
// they validate, match, order and expire records identically (the
// storetest suite checks they do).

// ErrInvalidRecord means a store refused a record: a grant without an ID,
// with a key field that is too long, or too large as a whole; a revocation
// without a kind or with a key that is too long. Records come from the
// gateway itself, so this is a bug or an abuse attempt, never a condition
// to retry.
var ErrInvalidRecord = errors.New("tokencore: invalid record")

// Record limits. Stores put grant IDs, token hashes and the indexed fields
// into keys (bbolt keys are at most 32 KiB; Redis keys should be short),
// and the grant as one value. The limits are far above anything the
// gateway produces (IDs and hashes are 22 to 43 characters) but bound what
// a caller passing user-supplied subjects or properties can make the store
// hold.
const (
	// MaxGrantSize is the largest JSON encoding of a grant a store accepts.
	MaxGrantSize = 64 << 10
	// MaxKeyFieldLen bounds ID, Subject, UserID, Tenant, ClientID,
	// AccessHash and RefreshHash of a grant.
	MaxKeyFieldLen = 1024
	// MaxRevocationKeyLen bounds Revocation.Kind and Revocation.Key (a
	// user key is a tenant and a user ID).
	MaxRevocationKeyLen = 4096
)

// encodeGrant validates g and returns its JSON encoding, the stored form
// of the persistent stores.
func encodeGrant(g *Grant) ([]byte, error) {
	if g == nil {
		return nil, fmt.Errorf("nil grant: %w", ErrInvalidRecord)
	}
	if g.ID == "" {
		return nil, fmt.Errorf("grant without ID: %w", ErrInvalidRecord)
	}
	fields := []struct{ name, v string }{
		{"ID", g.ID}, {"Subject", g.Subject}, {"UserID", g.UserID}, {"Tenant", g.Tenant},
		{"ClientID", g.ClientID}, {"AccessHash", g.AccessHash}, {"RefreshHash", g.RefreshHash},
	}
	for _, f := range fields {
		if len(f.v) > MaxKeyFieldLen {
			// The value is not quoted: it may be a large attacker-chosen string.
			return nil, fmt.Errorf("grant %s is %d bytes, more than %d: %w", f.name, len(f.v), MaxKeyFieldLen, ErrInvalidRecord)
		}
	}
	b, err := json.Marshal(g)
	if err != nil {
		return nil, fmt.Errorf("encoding grant %q: %w", g.ID, err)
	}
	if len(b) > MaxGrantSize {
		return nil, fmt.Errorf("grant %q is %d bytes encoded, more than %d: %w", g.ID, len(b), MaxGrantSize, ErrInvalidRecord)
	}
	return b, nil
}

// checkUpdated validates the grant an UpdateGrant callback returned: it may
// not rename the grant (the ID is the record's identity and the key of
// every index entry) and must stay within the record limits.
func checkUpdated(id string, g *Grant) error {
	if g.ID != id {
		return fmt.Errorf("updating grant %q: the update changed the grant ID: %w", id, ErrInvalidRecord)
	}
	_, err := encodeGrant(g)
	return err
}

// validateRevocation refuses revocations that cannot be stored or that
// name nothing.
func validateRevocation(r Revocation) error {
	if r.Kind == "" {
		return fmt.Errorf("revocation without kind: %w", ErrInvalidRecord)
	}
	if len(r.Kind) > MaxRevocationKeyLen || len(r.Key) > MaxRevocationKeyLen {
		return fmt.Errorf("revocation kind or key longer than %d bytes: %w", MaxRevocationKeyLen, ErrInvalidRecord)
	}
	return nil
}

// grantHashes returns the token hashes a grant is indexed under.
func grantHashes(g *Grant) []string {
	hs := make([]string, 0, 2)
	if g.AccessHash != "" {
		hs = append(hs, g.AccessHash)
	}
	if g.RefreshHash != "" && g.RefreshHash != g.AccessHash {
		hs = append(hs, g.RefreshHash)
	}
	return hs
}

// grantExpired reports whether Sweep removes g at now: its ExpiresAt is set
// and not after now, the instant Grant.Active turns false.
func grantExpired(g *Grant, now time.Time) bool {
	return !g.ExpiresAt.IsZero() && !now.Before(g.ExpiresAt)
}

// revocationExpired reports whether r is forgotten at now. An entry is kept
// through its ExpiresAt instant (RevocationView.Prune keeps it too): a
// token expiring at that instant may still be presented, and keeping the
// entry one tick longer fails closed. A zero ExpiresAt never expires.
func revocationExpired(r Revocation, now time.Time) bool {
	return !r.ExpiresAt.IsZero() && r.ExpiresAt.Before(now)
}

// filterNow is the instant ActiveOnly is evaluated at. A filter without Now
// is evaluated at the current time rather than at the zero time, at which
// every grant with an expiry would look active.
func filterNow(f GrantFilter) time.Time {
	if f.Now.IsZero() {
		return time.Now()
	}
	return f.Now
}

// grantMatches applies every field of f to g.
func grantMatches(g *Grant, f GrantFilter, now time.Time) bool {
	switch {
	case f.Subject != "" && g.Subject != f.Subject,
		f.ClientID != "" && g.ClientID != f.ClientID,
		f.Tenant != "" && g.Tenant != f.Tenant,
		f.UserID != "" && g.UserID != f.UserID,
		f.Kind != "" && g.Kind != f.Kind,
		f.ActiveOnly && !g.Active(now):
		return false
	}
	return true
}

// compareGrants is the order of ListGrants: CreatedAt, then ID.
func compareGrants(a, b *Grant) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
}

// listWindow turns the Start and End of a filter into bounds of a result of
// n items: negative values count as 0, End 0 means n, and a window past the
// end is empty.
func listWindow(n, start, end int) (lo, hi int) {
	lo = min(max(start, 0), n)
	hi = n
	if end > 0 {
		hi = min(end, n)
	}
	return lo, max(lo, hi)
}

// Interface guard.
var _ Store = (*MemoryStore)(nil)
