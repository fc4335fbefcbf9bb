package storetest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// Flaky wraps a real Store and makes chosen operations fail the way an
// outage does, with an error wrapping tokencore.ErrStoreUnavailable, without
// touching the store: for testing what callers do when the store fails
// (what they answer, and that nothing changed anywhere). Every other call
// goes to the real store.
//
//	st := storetest.NewFlaky(memory.New())
//	st.FailNext("PutRevocation", 1) // the next PutRevocation fails
//	st.FailAll()                    // every operation fails until Recover
type Flaky struct {
	tokencore.Store

	mu    sync.Mutex
	next  map[string]int // operation -> how many of its next calls fail
	all   bool
	calls map[string]int
}

// ErrInjected is the cause inside the injected failures.
var ErrInjected = fmt.Errorf("storetest: injected outage")

// NewFlaky wraps s.
func NewFlaky(s tokencore.Store) *Flaky {
	return &Flaky{Store: s, next: map[string]int{}, calls: map[string]int{}}
}

// FailNext makes the next n calls of op (a Store method name) fail.
func (f *Flaky) FailNext(op string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next[op] += n
}

// FailAll makes every operation fail until Recover: the store is down.
func (f *Flaky) FailAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.all = true
}

// Recover ends FailAll and forgets pending FailNext counts.
func (f *Flaky) Recover() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.all = false
	clear(f.next)
}

// Calls returns how many times op was called, failed calls included.
func (f *Flaky) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// fail counts a call of op and returns the injected error if it must fail.
func (f *Flaky) fail(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if f.next[op] > 0 {
		f.next[op]--
		return fmt.Errorf("%s: %w: %w", op, tokencore.ErrStoreUnavailable, ErrInjected)
	}
	if f.all {
		return fmt.Errorf("%s: %w: %w", op, tokencore.ErrStoreUnavailable, ErrInjected)
	}
	return nil
}

func (f *Flaky) CreateGrant(ctx context.Context, g *tokencore.Grant) error {
	if err := f.fail("CreateGrant"); err != nil {
		return err
	}
	return f.Store.CreateGrant(ctx, g)
}

func (f *Flaky) GetGrant(ctx context.Context, id string) (*tokencore.Grant, error) {
	if err := f.fail("GetGrant"); err != nil {
		return nil, err
	}
	return f.Store.GetGrant(ctx, id)
}

func (f *Flaky) GrantByTokenHash(ctx context.Context, hash string) (*tokencore.Grant, error) {
	if err := f.fail("GrantByTokenHash"); err != nil {
		return nil, err
	}
	return f.Store.GrantByTokenHash(ctx, hash)
}

func (f *Flaky) UpdateGrant(ctx context.Context, id string, fn func(g *tokencore.Grant) error) (*tokencore.Grant, error) {
	if err := f.fail("UpdateGrant"); err != nil {
		return nil, err
	}
	return f.Store.UpdateGrant(ctx, id, fn)
}

func (f *Flaky) DeleteGrant(ctx context.Context, id string) error {
	if err := f.fail("DeleteGrant"); err != nil {
		return err
	}
	return f.Store.DeleteGrant(ctx, id)
}

func (f *Flaky) ListGrants(ctx context.Context, filter tokencore.GrantFilter) ([]*tokencore.Grant, int, error) {
	if err := f.fail("ListGrants"); err != nil {
		return nil, 0, err
	}
	return f.Store.ListGrants(ctx, filter)
}

func (f *Flaky) PutRevocation(ctx context.Context, r tokencore.Revocation) (uint64, error) {
	if err := f.fail("PutRevocation"); err != nil {
		return 0, err
	}
	return f.Store.PutRevocation(ctx, r)
}

func (f *Flaky) Revocations(ctx context.Context, now time.Time) ([]tokencore.Revocation, error) {
	if err := f.fail("Revocations"); err != nil {
		return nil, err
	}
	return f.Store.Revocations(ctx, now)
}

func (f *Flaky) RevocationSeq(ctx context.Context) (uint64, error) {
	if err := f.fail("RevocationSeq"); err != nil {
		return 0, err
	}
	return f.Store.RevocationSeq(ctx)
}

func (f *Flaky) PutSubject(ctx context.Context, s *tokencore.EDISubject) error {
	if err := f.fail("PutSubject"); err != nil {
		return err
	}
	return f.Store.PutSubject(ctx, s)
}

func (f *Flaky) GetSubject(ctx context.Context, ediID string) (*tokencore.EDISubject, error) {
	if err := f.fail("GetSubject"); err != nil {
		return nil, err
	}
	return f.Store.GetSubject(ctx, ediID)
}

func (f *Flaky) ListSubjects(ctx context.Context) ([]*tokencore.EDISubject, error) {
	if err := f.fail("ListSubjects"); err != nil {
		return nil, err
	}
	return f.Store.ListSubjects(ctx)
}

func (f *Flaky) CreateAPIKey(ctx context.Context, k *tokencore.EDIAPIKey) error {
	if err := f.fail("CreateAPIKey"); err != nil {
		return err
	}
	return f.Store.CreateAPIKey(ctx, k)
}

func (f *Flaky) GetAPIKey(ctx context.Context, id string) (*tokencore.EDIAPIKey, error) {
	if err := f.fail("GetAPIKey"); err != nil {
		return nil, err
	}
	return f.Store.GetAPIKey(ctx, id)
}

func (f *Flaky) GetAPIKeyByHash(ctx context.Context, hash []byte) (*tokencore.EDIAPIKey, error) {
	if err := f.fail("GetAPIKeyByHash"); err != nil {
		return nil, err
	}
	return f.Store.GetAPIKeyByHash(ctx, hash)
}

func (f *Flaky) ListAPIKeys(ctx context.Context, owner string) ([]*tokencore.EDIAPIKey, error) {
	if err := f.fail("ListAPIKeys"); err != nil {
		return nil, err
	}
	return f.Store.ListAPIKeys(ctx, owner)
}

func (f *Flaky) UpdateAPIKey(ctx context.Context, id string, fn func(k *tokencore.EDIAPIKey) error) (*tokencore.EDIAPIKey, error) {
	if err := f.fail("UpdateAPIKey"); err != nil {
		return nil, err
	}
	return f.Store.UpdateAPIKey(ctx, id, fn)
}

func (f *Flaky) RecordKeyUse(ctx context.Context, uses ...tokencore.EDIKeyUse) error {
	if err := f.fail("RecordKeyUse"); err != nil {
		return err
	}
	return f.Store.RecordKeyUse(ctx, uses...)
}

func (f *Flaky) Sweep(ctx context.Context, now time.Time) (int, error) {
	if err := f.fail("Sweep"); err != nil {
		return 0, err
	}
	return f.Store.Sweep(ctx, now)
}

// Interface guard.
var _ tokencore.Store = (*Flaky)(nil)
