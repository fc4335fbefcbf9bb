package tokencore

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// The record rules every Store implementation shares, so that they
// validate, match, order and expire records identically (the storetest
// suite checks they do). They are exported for the store packages
// (tokencore/store/...), not for the protocols.

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

// EncodeGrant validates g and returns its JSON encoding, the stored form
// of the persistent stores: the bytes json.Marshal writes for it (see
// grantjson.go), in one allocation.
func EncodeGrant(g *Grant) ([]byte, error) {
	return encodeGrant(make([]byte, 0, grantBufferSize), g)
}

// ValidateGrant applies EncodeGrant's rules (an ID, the field and size
// limits, an encodable record) without keeping the encoding: the memory
// store holds the struct, not the bytes, and encodes into a stack buffer.
func ValidateGrant(g *Grant) error {
	var buf [grantBufferSize]byte
	_, err := encodeGrant(buf[:0], g)
	return err
}

// grantBufferSize is the initial buffer of a grant's encoding: a FOLIO or
// OAuth grant is 700 to 900 bytes, so most need no second allocation.
const grantBufferSize = 1024

// encodeGrant is EncodeGrant appending to dst.
func encodeGrant(dst []byte, g *Grant) ([]byte, error) {
	if g == nil {
		return nil, fmt.Errorf("nil grant: %w", ErrInvalidRecord)
	}
	if g.ID == "" {
		return nil, fmt.Errorf("grant without ID: %w", ErrInvalidRecord)
	}
	fields := [...]struct{ name, v string }{
		{"ID", g.ID}, {"Subject", g.Subject}, {"UserID", g.UserID}, {"Tenant", g.Tenant},
		{"ClientID", g.ClientID}, {"AccessHash", g.AccessHash}, {"RefreshHash", g.RefreshHash},
	}
	for _, f := range fields {
		if len(f.v) > MaxKeyFieldLen {
			// The value is not quoted: it may be a large attacker-chosen string.
			return nil, fmt.Errorf("grant %s is %d bytes, more than %d: %w", f.name, len(f.v), MaxKeyFieldLen, ErrInvalidRecord)
		}
	}
	b, err := appendGrant(dst, g)
	if err != nil {
		return nil, fmt.Errorf("encoding grant %q: %w", g.ID, err)
	}
	if len(b) > MaxGrantSize {
		return nil, fmt.Errorf("grant %q is %d bytes encoded, more than %d: %w", g.ID, len(b), MaxGrantSize, ErrInvalidRecord)
	}
	return b, nil
}

// UpdatableRecord is a record kind that a store updates with a callback
// (Store.UpdateGrant, EDIStore.UpdateAPIKey): *Grant and *EDIAPIKey.
type UpdatableRecord[T any] interface {
	// Clone returns a deep copy, which the callback may edit freely.
	Clone() T
	// checkUpdate refuses an update that changed the record's identity
	// (the key of every index entry), comparing with old.
	checkUpdate(old T) error
	// encode validates the record and returns its stored JSON form.
	encode() ([]byte, error)
}

// UpdateRecord is the step every store's update takes between reading the
// stored record old and writing the result, whatever the backend: it calls
// fn on a copy of old, refuses a result that changed the record's identity
// or breaks the record limits (ErrInvalidRecord), and returns the updated
// record with its stored encoding. fn's own error is returned unwrapped,
// so that callers branch on their own error values. Nothing is written
// here: the store writes the encoding, and maintains its indexes, in the
// same atomic step as its read of old.
func UpdateRecord[T UpdatableRecord[T]](old T, fn func(T) error) (T, []byte, error) {
	var zero T
	rec := old.Clone()
	if err := fn(rec); err != nil {
		return zero, nil, err
	}
	if err := rec.checkUpdate(old); err != nil {
		return zero, nil, err
	}
	b, err := rec.encode()
	if err != nil {
		return zero, nil, err
	}
	return rec, b, nil
}

// UpdateGrantRecord is UpdateRecord for a store that keeps the struct and
// not the bytes (the memory store): the same checks, ValidateGrant's
// stack buffer instead of an encoding it would throw away on every
// refresh.
func UpdateGrantRecord(old *Grant, fn func(*Grant) error) (*Grant, error) {
	g := old.Clone()
	if err := fn(g); err != nil {
		return nil, err
	}
	if err := g.checkUpdate(old); err != nil {
		return nil, err
	}
	if err := ValidateGrant(g); err != nil {
		return nil, err
	}
	return g, nil
}

// checkUpdate implements UpdatableRecord: an update may not rename the
// grant (the ID is the record's identity and the key of every index entry).
func (g *Grant) checkUpdate(old *Grant) error {
	if g.ID != old.ID {
		return fmt.Errorf("updating grant %q: the update changed the grant ID: %w", old.ID, ErrInvalidRecord)
	}
	return nil
}

func (g *Grant) encode() ([]byte, error) { return EncodeGrant(g) }

// ValidateRevocation refuses revocations that cannot be stored or that
// name nothing.
func ValidateRevocation(r Revocation) error {
	if r.Kind == "" {
		return fmt.Errorf("revocation without kind: %w", ErrInvalidRecord)
	}
	if len(r.Kind) > MaxRevocationKeyLen || len(r.Key) > MaxRevocationKeyLen {
		return fmt.Errorf("revocation kind or key longer than %d bytes: %w", MaxRevocationKeyLen, ErrInvalidRecord)
	}
	return nil
}

// GrantHashes returns the token hashes a grant is indexed under.
func GrantHashes(g *Grant) []string {
	hs := make([]string, 0, 2)
	if g.AccessHash != "" {
		hs = append(hs, g.AccessHash)
	}
	if g.RefreshHash != "" && g.RefreshHash != g.AccessHash {
		hs = append(hs, g.RefreshHash)
	}
	return hs
}

// GrantExpired reports whether Sweep removes g at now: its ExpiresAt is set
// and not after now, the instant Grant.Active turns false.
func GrantExpired(g *Grant, now time.Time) bool {
	return !g.ExpiresAt.IsZero() && !now.Before(g.ExpiresAt)
}

// RevocationExpired reports whether r is forgotten at now. An entry is kept
// through its ExpiresAt instant (RevocationView.Prune keeps it too): a
// token expiring at that instant may still be presented, and keeping the
// entry one tick longer fails closed. A zero ExpiresAt never expires.
func RevocationExpired(r Revocation, now time.Time) bool {
	return !r.ExpiresAt.IsZero() && r.ExpiresAt.Before(now)
}

// FilterNow is the instant ActiveOnly is evaluated at. A filter without Now
// is evaluated at the current time rather than at the zero time, at which
// every grant with an expiry would look active.
func FilterNow(f GrantFilter) time.Time {
	if f.Now.IsZero() {
		return time.Now()
	}
	return f.Now
}

// GrantMatches applies every field of f to g.
func GrantMatches(g *Grant, f GrantFilter, now time.Time) bool {
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

// CompareGrants is the order of ListGrants: CreatedAt, then ID.
func CompareGrants(a, b *Grant) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
}

// ListWindow turns the Start and End of a filter into bounds of a result of
// n items: negative values count as 0, End 0 means n, and a window past the
// end is empty.
func ListWindow(n, start, end int) (lo, hi int) {
	lo = min(max(start, 0), n)
	hi = n
	if end > 0 {
		hi = min(end, n)
	}
	return lo, max(lo, hi)
}

// AppendSortableTime appends t as 12 bytes that sort like the instant: the Unix
// seconds with the sign bit flipped (so negative values sort first) and the
// nanoseconds. Unlike UnixNano this covers every time.Time, the zero
// CreatedAt included. The bbolt indexes and the Redis sorted-set members
// use it, so their orders are the order of the instants.
func AppendSortableTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}
