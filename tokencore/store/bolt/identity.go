package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/tokencore"
)

// metaIdentityKey holds the store's StoreIdentity (JSON) in the meta bucket.
const metaIdentityKey = "identity"

// boltIdentity returns the identity in meta, creating it (generation 0) if
// there is none. It must run in a read-write transaction when it may create.
func boltIdentity(meta *bolt.Bucket, now time.Time) (tokencore.StoreIdentity, error) {
	var id tokencore.StoreIdentity
	if v := meta.Get([]byte(metaIdentityKey)); v != nil {
		if err := json.Unmarshal(v, &id); err != nil || id.ID == "" {
			return id, fmt.Errorf("%w: store identity %q does not decode", errBoltCorrupt, v)
		}
		return id, nil
	}
	id = tokencore.StoreIdentity{ID: tokencore.NewGrantID(), CreatedAt: now.UTC().Truncate(time.Second)}
	return id, putBoltIdentity(meta, id)
}

func putBoltIdentity(meta *bolt.Bucket, id tokencore.StoreIdentity) error {
	b, err := json.Marshal(id)
	if err != nil {
		return err
	}
	return meta.Put([]byte(metaIdentityKey), b)
}

// Identity implements IdentifiedStore. New stores get their identity when
// they are created; a store made before identities existed gets one here.
func (s *Store) Identity(ctx context.Context) (tokencore.StoreIdentity, error) {
	var id tokencore.StoreIdentity
	err := s.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(bucketMeta)).Get([]byte(metaIdentityKey))
		if v == nil {
			return nil
		}
		return json.Unmarshal(v, &id)
	})
	if err != nil || id.ID != "" {
		return id, err
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		var err error
		id, err = boltIdentity(tx.Bucket([]byte(bucketMeta)), time.Now())
		return err
	})
	return id, err
}

// AdvanceGeneration implements IdentifiedStore in one (fsynced) transaction.
func (s *Store) AdvanceGeneration(ctx context.Context) (tokencore.StoreIdentity, error) {
	var id tokencore.StoreIdentity
	err := s.update(ctx, func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte(bucketMeta))
		v := meta.Get([]byte(metaIdentityKey))
		if v == nil {
			return tokencore.ErrStoreIdentityLost
		}
		if err := json.Unmarshal(v, &id); err != nil {
			return fmt.Errorf("%w: store identity does not decode: %w", errBoltCorrupt, err)
		}
		id.Generation++
		return putBoltIdentity(meta, id)
	})
	return id, err
}

// Interface guard.
var _ tokencore.IdentifiedStore = (*Store)(nil)
