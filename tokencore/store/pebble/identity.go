package pebble

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	pebble "github.com/cockroachdb/pebble/v2"

	"github.com/tokengate/tokengate/tokencore"
)

// The store's tokencore.StoreIdentity is the JSON value of meta key
// "identity", written when the store is created (createStore).

func putIdentity(b *pebble.Batch, id tokencore.StoreIdentity) error {
	v, err := json.Marshal(id)
	if err != nil {
		return err
	}
	return b.Set(metaKey(metaIdentity), v, nil)
}

// readIdentity returns the stored identity; found is false if there is
// none.
func (s *Store) readIdentity() (id tokencore.StoreIdentity, found bool, err error) {
	found, err = getWith(s.db, metaKey(metaIdentity), func(v []byte) error {
		if err := json.Unmarshal(v, &id); err != nil || id.ID == "" {
			return fmt.Errorf("%w: store identity %q does not decode", errCorrupt, v)
		}
		return nil
	})
	return id, found, err
}

// Identity implements IdentifiedStore. Every store is created with its
// identity; one that lost it (its meta record deleted) gets a new one
// here, as the bbolt store does for a file made before identities
// existed, and BindStore then sees a new store.
func (s *Store) Identity(ctx context.Context) (tokencore.StoreIdentity, error) {
	if err := s.begin(ctx); err != nil {
		return tokencore.StoreIdentity{}, err
	}
	defer s.end()
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	id, found, err := s.readIdentity()
	if err != nil || found {
		return id, err
	}
	id = tokencore.StoreIdentity{ID: tokencore.NewGrantID(), CreatedAt: time.Now().UTC().Truncate(time.Second)}
	b := s.db.NewBatch()
	if err := putIdentity(b, id); err != nil {
		b.Close()
		return tokencore.StoreIdentity{}, err
	}
	return id, commit(b)
}

// AdvanceGeneration implements IdentifiedStore, durably (pebble.Sync).
func (s *Store) AdvanceGeneration(ctx context.Context) (tokencore.StoreIdentity, error) {
	if err := s.begin(ctx); err != nil {
		return tokencore.StoreIdentity{}, err
	}
	defer s.end()
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	id, found, err := s.readIdentity()
	if err != nil {
		return id, err
	}
	if !found {
		return id, tokencore.ErrStoreIdentityLost
	}
	id.Generation++
	b := s.db.NewBatch()
	if err := putIdentity(b, id); err != nil {
		b.Close()
		return tokencore.StoreIdentity{}, err
	}
	if err := commit(b); err != nil {
		return tokencore.StoreIdentity{}, err
	}
	return id, nil
}

// Interface guard.
var _ tokencore.IdentifiedStore = (*Store)(nil)
