package pebble

import (
	"context"

	"github.com/tokengate/tokengate/tokencore"
)

// DiskSpace reports what Pebble counts as the store's disk usage (logs,
// tables, manifest, compactions in progress) and, as free, the part of it
// that is on its way out: obsolete and zombie tables and logs, deleted once
// no reader holds them, and the inputs of a compaction in progress. The
// rest is the LSM's live data (deleted records included until a compaction
// drops them). One call to Pebble's metrics: no file walk.
func (s *Store) DiskSpace(ctx context.Context) (tokencore.DiskSpace, error) {
	if err := s.begin(ctx); err != nil {
		return tokencore.DiskSpace{}, err
	}
	defer s.end()
	m := s.db.Metrics()
	free := m.WAL.ObsoletePhysicalSize + m.Table.Local.ObsoleteSize + m.Table.Local.ZombieSize +
		m.BlobFiles.Local.ObsoleteSize + m.BlobFiles.Local.ZombieSize + uint64(max(m.Compact.InProgressBytes, 0))
	total := m.DiskSpaceUsage()
	return tokencore.DiskSpace{Bytes: int64(total), FreeBytes: int64(min(free, total))}, nil
}

var _ tokencore.DiskSpacer = (*Store)(nil)
