package bolt

import (
	"context"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/tokencore"
)

// DiskSpace reports the file's size and the part of it that holds no
// record: the tail bbolt has grown the file by but not written yet (it
// grows files in steps of up to 16 MiB), the free pages, and the pages
// freed by transactions still open (free once those end). It costs one
// stat of the file, a read transaction's start (for the high-water mark)
// and bbolt's in-memory freelist counts: no page walk.
func (s *Store) DiskSpace(ctx context.Context) (tokencore.DiskSpace, error) {
	if err := ctx.Err(); err != nil {
		return tokencore.DiskSpace{}, err
	}
	if s.closed.Load() {
		return tokencore.DiskSpace{}, tokencore.ErrStoreClosed
	}
	fi, err := os.Stat(s.db.Path())
	if err != nil {
		return tokencore.DiskSpace{}, fmt.Errorf("bolt store size: %w", err)
	}
	var used int64
	if err := s.view(ctx, func(tx *bolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		return tokencore.DiskSpace{}, err
	}
	st := s.db.Stats()
	page := int64(s.db.Info().PageSize)
	free := max(fi.Size()-used, 0) + int64(st.FreePageN+st.PendingPageN)*page
	return tokencore.DiskSpace{Bytes: fi.Size(), FreeBytes: min(free, fi.Size())}, nil
}

var _ tokencore.DiskSpacer = (*Store)(nil)
