package tokencore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// StoreHandle is a Store whose backend is attached after the handle is
// handed out. Caddy provisions every module (and so builds every service on
// the engine) before any app starts, and tokengate opens its store only
// when its app starts, so that `caddy validate` creates no file and takes
// no lock; services hold the handle from the start, and it forwards to the
// store once Attach has run. Caddy starts its apps in no fixed order, so
// requests may arrive before that: a call waits for Attach (up to
// ViewLoadWait, or its context), and fails with ErrStoreNotOpen if the
// store does not come, or was abandoned. Make one with NewStoreHandle.
type StoreHandle struct {
	p         atomic.Pointer[storeRef]
	settled   chan struct{} // closed by Attach or Abandon
	closeOnce sync.Once
}

type storeRef struct{ Store }

// NewStoreHandle returns a handle without a store.
func NewStoreHandle() *StoreHandle { return &StoreHandle{settled: make(chan struct{})} }

// Attach makes s the backend and wakes the waiting calls. It may be called
// once, and not after Abandon.
func (h *StoreHandle) Attach(s Store) error {
	select {
	case <-h.settled:
		if h.p.Load() == nil {
			return errors.New("tokencore: store handle was abandoned")
		}
	default:
	}
	if !h.p.CompareAndSwap(nil, &storeRef{s}) {
		return errors.New("tokencore: store handle already attached")
	}
	h.settle()
	return nil
}

// Abandon wakes the waiting calls when no store will be attached (it could
// not be opened): they, and every later call, fail with ErrStoreNotOpen.
func (h *StoreHandle) Abandon() { h.settle() }

func (h *StoreHandle) settle() { h.closeOnce.Do(func() { close(h.settled) }) }

// Backend returns the attached store, or nil.
func (h *StoreHandle) Backend() Store {
	if r := h.p.Load(); r != nil {
		return r.Store
	}
	return nil
}

// get returns the store, waiting for it if it is not attached yet.
func (h *StoreHandle) get(ctx context.Context) (Store, error) {
	if r := h.p.Load(); r != nil {
		return r.Store, nil
	}
	t := time.NewTimer(ViewLoadWait)
	defer t.Stop()
	select {
	case <-h.settled:
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r := h.p.Load(); r != nil {
		return r.Store, nil
	}
	return nil, ErrStoreNotOpen
}

func (h *StoreHandle) CreateGrant(ctx context.Context, g *Grant) error {
	s, err := h.get(ctx)
	if err != nil {
		return err
	}
	return s.CreateGrant(ctx, g)
}

func (h *StoreHandle) GetGrant(ctx context.Context, id string) (*Grant, error) {
	s, err := h.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.GetGrant(ctx, id)
}

func (h *StoreHandle) GrantByTokenHash(ctx context.Context, hash string) (*Grant, error) {
	s, err := h.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.GrantByTokenHash(ctx, hash)
}

func (h *StoreHandle) UpdateGrant(ctx context.Context, id string, fn func(g *Grant) error) (*Grant, error) {
	s, err := h.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.UpdateGrant(ctx, id, fn)
}

func (h *StoreHandle) DeleteGrant(ctx context.Context, id string) error {
	s, err := h.get(ctx)
	if err != nil {
		return err
	}
	return s.DeleteGrant(ctx, id)
}

func (h *StoreHandle) ListGrants(ctx context.Context, f GrantFilter) ([]*Grant, int, error) {
	s, err := h.get(ctx)
	if err != nil {
		return nil, 0, err
	}
	return s.ListGrants(ctx, f)
}

func (h *StoreHandle) PutRevocation(ctx context.Context, r Revocation) (uint64, error) {
	s, err := h.get(ctx)
	if err != nil {
		return 0, err
	}
	return s.PutRevocation(ctx, r)
}

func (h *StoreHandle) RevocationSeq(ctx context.Context) (uint64, error) {
	s, err := h.get(ctx)
	if err != nil {
		return 0, err
	}
	return s.RevocationSeq(ctx)
}

func (h *StoreHandle) Revocations(ctx context.Context, now time.Time) ([]Revocation, error) {
	s, err := h.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.Revocations(ctx, now)
}

func (h *StoreHandle) PutSubject(ctx context.Context, subj *EDISubject) error {
	s, err := h.get(ctx)
	if err != nil {
		return err
	}
	return s.PutSubject(ctx, subj)
}

func (h *StoreHandle) GetSubject(ctx context.Context, ediID string) (*EDISubject, error) {
	s, err := h.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.GetSubject(ctx, ediID)
}

func (h *StoreHandle) ListSubjects(ctx context.Context) ([]*EDISubject, error) {
	s, err := h.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.ListSubjects(ctx)
}

func (h *StoreHandle) CreateAPIKey(ctx context.Context, k *EDIAPIKey) error {
	s, err := h.get(ctx)
	if err != nil {
		return err
	}
	return s.CreateAPIKey(ctx, k)
}

func (h *StoreHandle) GetAPIKey(ctx context.Context, id string) (*EDIAPIKey, error) {
	s, err := h.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.GetAPIKey(ctx, id)
}

func (h *StoreHandle) GetAPIKeyByHash(ctx context.Context, hash []byte) (*EDIAPIKey, error) {
	s, err := h.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.GetAPIKeyByHash(ctx, hash)
}

func (h *StoreHandle) ListAPIKeys(ctx context.Context, owner string) ([]*EDIAPIKey, error) {
	s, err := h.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.ListAPIKeys(ctx, owner)
}

func (h *StoreHandle) UpdateAPIKey(ctx context.Context, id string, fn func(k *EDIAPIKey) error) (*EDIAPIKey, error) {
	s, err := h.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.UpdateAPIKey(ctx, id, fn)
}

func (h *StoreHandle) RecordKeyUse(ctx context.Context, uses ...EDIKeyUse) error {
	s, err := h.get(ctx)
	if err != nil {
		return err
	}
	return s.RecordKeyUse(ctx, uses...)
}

func (h *StoreHandle) Sweep(ctx context.Context, now time.Time) (int, error) {
	s, err := h.get(ctx)
	if err != nil {
		return 0, err
	}
	return s.Sweep(ctx, now)
}

// Close closes the attached store; a handle never attached has nothing to
// close, and is abandoned.
func (h *StoreHandle) Close() error {
	h.settle()
	if s := h.Backend(); s != nil {
		return s.Close()
	}
	return nil
}

// Interface guard.
var _ Store = (*StoreHandle)(nil)
