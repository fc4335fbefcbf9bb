package pebble_test

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

// TestPebbleDiskSpace: the size DiskSpace reports is the directory's (what
// an operator's du shows, within Pebble's own accounting of files being
// written), grows with the grants written, and the free part is within it.
func TestPebbleDiskSpace(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "state")
	s := openPebble(t, dir)
	defer s.Close()
	empty, err := s.DiskSpace(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 2000 {
		if err := s.CreateGrant(ctx, storetest.SampleGrant(fmt.Sprintf("g-%05d", i), t0.Add(time.Duration(i)*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
	full, err := s.DiskSpace(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if full.Bytes <= empty.Bytes || full.FreeBytes < 0 || full.FreeBytes > full.Bytes {
		t.Fatalf("DiskSpace empty %+v, after 2000 grants %+v", empty, full)
	}
	var onDisk int64
	if err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			onDisk += info.Size()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if full.Bytes < onDisk/2 || full.Bytes > onDisk*2 {
		t.Fatalf("DiskSpace says %d bytes, the directory holds %d", full.Bytes, onDisk)
	}
	s.Close()
	if _, err := s.DiskSpace(ctx); err != tokencore.ErrStoreClosed {
		t.Fatalf("DiskSpace on a closed store = %v, want ErrStoreClosed", err)
	}
}
