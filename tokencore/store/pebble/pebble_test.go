package pebble_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	pebble "github.com/cockroachdb/pebble/v2"

	"github.com/tokengate/tokengate/tokencore"
	pebblestore "github.com/tokengate/tokengate/tokencore/store/pebble"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

func TestPebbleStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tokencore.Store {
		return openPebble(t, filepath.Join(t.TempDir(), "state"))
	})
}

func openPebble(t testing.TB, dir string) *pebblestore.Store {
	t.Helper()
	s, err := pebblestore.Open(dir, pebblestore.Options{ErrorLog: func(msg string) { t.Logf("pebble: %s", msg) }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPebbleStorePersists closes and reopens the store: grants, every
// index, revocations and their numbers come back.
func TestPebbleStorePersists(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "state")
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	s := openPebble(t, dir)
	a, b, gone := storetest.SampleGrant("a", t0), storetest.SampleGrant("b", t0.Add(time.Second)), storetest.SampleGrant("gone", t0)
	for _, g := range []*tokencore.Grant{a, b, gone} {
		if err := s.CreateGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	rotated, err := s.UpdateGrant(ctx, "a", func(g *tokencore.Grant) error {
		g.RefreshID, g.RefreshHash = "r2", tokencore.TokenHash("refresh-2")
		g.ExpiresAt = t0.Add(48 * time.Hour)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGrant(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	revs := []tokencore.Revocation{
		{Kind: tokencore.RevocationOfUser, Key: tokencore.UserKey("T1", "u1"), NotBefore: t0, ExpiresAt: t0.Add(time.Hour)},
		{Kind: tokencore.RevocationOfSubject, Key: "bob", NotBefore: t0},
	}
	for _, r := range revs {
		if _, err := s.PutRevocation(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openPebble(t, dir)
	defer s.Close()
	for _, want := range []*tokencore.Grant{rotated, b} {
		got, err := s.GetGrant(ctx, want.ID)
		if err != nil {
			t.Fatalf("GetGrant(%q) after reopen: %v", want.ID, err)
		}
		if g, w := mustJSON(t, got), mustJSON(t, want); !bytes.Equal(g, w) {
			t.Errorf("grant after reopen\n got: %s\nwant: %s", g, w)
		}
	}
	for hash, want := range map[string]string{
		rotated.RefreshHash: "a", a.RefreshHash: "", a.AccessHash: "a", b.RefreshHash: "b", gone.AccessHash: "",
	} {
		g, err := s.GrantByTokenHash(ctx, hash)
		if want == "" && !errors.Is(err, tokencore.ErrNotFound) || want != "" && (err != nil || g.ID != want) {
			t.Errorf("GrantByTokenHash after reopen: %v, %v; want grant %q", g, err, want)
		}
	}
	for _, f := range []tokencore.GrantFilter{{Subject: "alice"}, {ClientID: "c1"}, {Tenant: "T1", UserID: "u1"}, {Tenant: "T1"}} {
		gs, total, err := s.ListGrants(ctx, f)
		if got := idsOf(gs); err != nil || total != 2 || !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("ListGrants(%+v) after reopen = %q, %d, %v; want [a b], 2", f, got, total, err)
		}
	}
	got, err := s.Revocations(ctx, t0)
	if err != nil || len(got) != 2 {
		t.Fatalf("Revocations after reopen = %+v, %v; want 2", got, err)
	}
	// The revocation numbers survive too: the next one is 3, never 1 again.
	if n, err := s.RevocationSeq(ctx); err != nil || n != 2 {
		t.Errorf("RevocationSeq after reopen = %d, %v; want 2", n, err)
	}
	if n, err := s.PutRevocation(ctx, tokencore.Revocation{Kind: tokencore.RevocationOfToken, Key: "j", NotBefore: t0, ExpiresAt: t0.Add(72 * time.Hour)}); err != nil || n != 3 {
		t.Errorf("PutRevocation after reopen got number %d, %v; want 3", n, err)
	}
	// The expiry index survived: b expires after an hour, the rotated a
	// after two days, the user revocation after an hour.
	if n, err := s.Sweep(ctx, t0.Add(2*time.Hour)); err != nil || n != 2 {
		t.Errorf("Sweep after reopen = %d, %v; want 2 (grant b, user revocation)", n, err)
	}
}

// TestPebbleStoreSurvivesUnflushedClose: a store whose process died
// without Close (the memtable never flushed, the directory lock left to
// the kernel) comes back with every acknowledged write, from the WAL. The
// process is simulated by copying the directory while the store is open:
// what is on disk then is what a crash leaves.
func TestPebbleStoreSurvivesUnflushedClose(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "state")
	s := openPebble(t, dir)
	defer s.Close()
	t0 := time.Now().UTC()
	for i := range 50 {
		if err := s.CreateGrant(ctx, storetest.SampleGrant(fmt.Sprintf("g%02d", i), t0)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PutRevocation(ctx, tokencore.Revocation{Kind: tokencore.RevocationOfGrant, Key: "g00", NotBefore: t0}); err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(t.TempDir(), "crashed")
	if err := os.CopyFS(crashed, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	c := openPebble(t, crashed)
	defer c.Close()
	if _, total, err := c.ListGrants(ctx, tokencore.GrantFilter{}); err != nil || total != 50 {
		t.Fatalf("grants after the crash: %d, %v; want 50", total, err)
	}
	if n, err := c.RevocationSeq(ctx); err != nil || n != 1 {
		t.Fatalf("revocation number after the crash: %d, %v; want 1", n, err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func idsOf(gs []*tokencore.Grant) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.ID)
	}
	return out
}

// TestPebbleStoreLockTimeout opens a store that is held: Pebble's lock
// is taken once per process too, so a second open here fails like one
// from a second process would, after the timeout.
func TestPebbleStoreLockTimeout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	held := openPebble(t, dir)
	tests := []struct {
		name     string
		timeout  time.Duration
		min, max time.Duration
	}{
		{"explicit", 200 * time.Millisecond, 150 * time.Millisecond, 3 * time.Second},
		{"default one second", 0, 900 * time.Millisecond, 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s, err := pebblestore.Open(dir, pebblestore.Options{Timeout: tc.timeout})
			elapsed := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatal("second open of a held store succeeded")
			}
			if !errors.Is(err, tokencore.ErrStoreLocked) || !strings.Contains(err.Error(), dir) {
				t.Errorf("error %v, want one wrapping ErrStoreLocked and naming the directory", err)
			}
			if elapsed < tc.min || elapsed > tc.max {
				t.Errorf("gave up after %v, want between %v and %v", elapsed, tc.min, tc.max)
			}
		})
	}
	if err := held.Close(); err != nil {
		t.Fatal(err)
	}
	openPebble(t, dir).Close() // released: opens at once
}

// TestPebbleStoreBadDirs opens paths that are not tokengate stores: each
// is an error naming the path, never a panic, and nothing is changed.
func TestPebbleStoreBadDirs(t *testing.T) {
	valid := filepath.Join(t.TempDir(), "valid")
	s := openPebble(t, valid)
	for i := range 200 {
		if err := s.CreateGrant(t.Context(), storetest.SampleGrant(fmt.Sprintf("g%03d", i), time.Unix(int64(i), 0))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	copyValid := func(t *testing.T, path string) {
		if err := os.CopyFS(path, os.DirFS(valid)); err != nil {
			t.Fatal(err)
		}
	}
	// withFile copies the valid store and passes each file whose name
	// starts with prefix to edit.
	withFile := func(prefix string, edit func(t *testing.T, path string)) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			copyValid(t, path)
			entries, _ := os.ReadDir(path)
			n := 0
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), prefix) {
					edit(t, filepath.Join(path, e.Name()))
					n++
				}
			}
			if n == 0 {
				t.Fatalf("no file %s* in the store: %v", prefix, entries)
			}
		}
	}
	tests := []struct {
		name  string
		write func(t *testing.T, path string)
		// pebble: the directory is a tokengate store that Pebble opened
		// and refused (or that this package refused after Pebble opened
		// it); Pebble may have replayed its log and rewritten its own
		// files. Every other path is refused before Pebble touches it.
		pebble bool
	}{
		{"file", func(t *testing.T, path string) { writeFile(t, path, []byte("not a directory\n")) }, false},
		{"empty directory", func(t *testing.T, path string) { mkdir(t, path) }, false},
		{"directory of other files", func(t *testing.T, path string) {
			mkdir(t, path)
			writeFile(t, filepath.Join(path, "notes.txt"), []byte("hello\n"))
		}, false},
		{"pebble database of another program", func(t *testing.T, path string) {
			db, err := pebble.Open(path, rawOptions())
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Set([]byte("acme"), []byte("x"), pebble.Sync); err != nil {
				t.Fatal(err)
			}
			db.Close()
		}, false},
		{"marker only", func(t *testing.T, path string) {
			mkdir(t, path)
			writeFile(t, filepath.Join(path, "TOKENGATE-STORE"), []byte("x"))
		}, true},
		{"manifest truncated", withFile("MANIFEST-", func(t *testing.T, p string) {
			if err := os.Truncate(p, 10); err != nil {
				t.Fatal(err)
			}
		}), true},
		{"manifest removed", withFile("MANIFEST-", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}), true},
		{"sstable removed", withFile("0", func(t *testing.T, p string) {
			if strings.HasSuffix(p, ".sst") {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			}
		}), true},
		{"schema version of another build", func(t *testing.T, path string) {
			copyValid(t, path)
			db, err := pebble.Open(path, rawOptions())
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Set([]byte("mversion"), []byte("99"), pebble.Sync); err != nil {
				t.Fatal(err)
			}
			db.Close()
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state")
			tc.write(t, path)
			before := snapshotTree(t, path)
			s, err := pebblestore.Open(path, pebblestore.Options{Timeout: 100 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), path) {
				t.Errorf("the error does not name the path: %v", err)
			}
			if after := snapshotTree(t, path); !tc.pebble && after != before {
				t.Errorf("the path was modified:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// snapshotTree describes path: a file's size and content hash, a
// directory's entries, LOCK (Pebble's lock file, empty) left out.
func snapshotTree(t *testing.T, path string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == "LOCK" {
			return nil
		}
		fmt.Fprintf(&b, "%s:", strings.TrimPrefix(p, path))
		if !d.IsDir() {
			c, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "%d:%x", len(c), tokencore.TokenHash(string(c))[:8])
		}
		b.WriteString(" ")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func mkdir(t *testing.T, path string) {
	t.Helper()
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestPebbleStoreDirMode: the store holds token hashes and grant
// properties; its directory and the new parents are its owner's only.
func TestPebbleStoreDirMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	parent := filepath.Join(t.TempDir(), "a", "b")
	dir := filepath.Join(parent, "state")
	openPebble(t, dir).Close()
	for p, want := range map[string]os.FileMode{dir: 0o700, parent: 0o700, filepath.Dir(parent): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^want != 0 {
			t.Errorf("%s has mode %v, want at most %v", p, got, want)
		}
	}
	// Creation left nothing beside the store.
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Errorf("creating the store left %d entries in its parent, want 1", len(entries))
	}
	if _, err := pebblestore.Open("", pebblestore.Options{}); err == nil {
		t.Error(`Open("") succeeded`)
	}
}

// TestPebbleStoreSweepBacklog sweeps more records than one sweep batch
// removes (1000), of each kind while the other kind has few.
func TestPebbleStoreSweepBacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 2200 records")
	}
	t0 := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		grants, revs int
	}{
		{"grants", 1100, 5},
		{"revocations", 5, 1100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := openPebble(t, filepath.Join(t.TempDir(), "state"))
			defer s.Close()
			for i := range tc.grants {
				g := storetest.SampleGrant(fmt.Sprintf("g%04d", i), t0)
				g.ExpiresAt = t0.Add(time.Duration(i) * time.Second)
				if err := s.CreateGrant(ctx, g); err != nil {
					t.Fatal(err)
				}
			}
			for i := range tc.revs {
				r := tokencore.Revocation{Kind: tokencore.RevocationOfToken, Key: fmt.Sprint(i), NotBefore: t0, ExpiresAt: t0.Add(time.Duration(i) * time.Second)}
				if _, err := s.PutRevocation(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			keep := storetest.SampleGrant("keep", t0)
			keep.ExpiresAt = time.Time{}
			if err := s.CreateGrant(ctx, keep); err != nil {
				t.Fatal(err)
			}
			now := t0.Add(time.Hour) // after every expiry
			if n, err := s.Sweep(ctx, now); err != nil || n != tc.grants+tc.revs {
				t.Fatalf("Sweep = %d, %v; want %d", n, err, tc.grants+tc.revs)
			}
			if gs, total, err := s.ListGrants(ctx, tokencore.GrantFilter{}); err != nil || total != 1 || gs[0].ID != "keep" {
				t.Errorf("ListGrants after sweep = %q, %d, %v; want [keep]", idsOf(gs), total, err)
			}
			if rs, err := s.Revocations(ctx, t0); err != nil || len(rs) != 0 {
				t.Errorf("Revocations after sweep = %d, %v; want 0", len(rs), err)
			}
		})
	}
}

// TestPebbleStoreHashClaimRace: many grants created at once claim the
// same token hash; the stripes make exactly one of them own it, and the
// index names that one.
func TestPebbleStoreHashClaimRace(t *testing.T) {
	ctx := t.Context()
	s := openPebble(t, filepath.Join(t.TempDir(), "state"))
	defer s.Close()
	const n = 32
	shared := tokencore.TokenHash("shared")
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			g := storetest.SampleGrant(fmt.Sprintf("g%02d", i), time.Now())
			g.RefreshHash = shared
			errs <- s.CreateGrant(ctx, g)
		}()
	}
	close(start)
	won := 0
	for range n {
		err := <-errs
		switch {
		case err == nil:
			won++
		case !errors.Is(err, tokencore.ErrConflict):
			t.Errorf("CreateGrant: %v, want nil or ErrConflict", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d grants claimed the same hash, want 1", won)
	}
	g, err := s.GrantByTokenHash(ctx, shared)
	if err != nil {
		t.Fatal(err)
	}
	if _, total, _ := s.ListGrants(ctx, tokencore.GrantFilter{}); total != 1 || g.RefreshHash != shared {
		t.Errorf("%d grants stored, the hash names %q", total, g.ID)
	}
}

// rawOptions opens a store's directory with Pebble itself (to damage or
// edit it), without Pebble's logging to the standard library's log.
func rawOptions() *pebble.Options {
	return &pebble.Options{Logger: quietLogger{}}
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// TestPebbleStoreSweepDuringRotations: Sweep (which takes every stripe)
// runs again and again while grants are rotated and expired ones created:
// no deadlock, the live grants keep every update and their current hashes,
// and the expired ones are gone with their index entries.
func TestPebbleStoreSweepDuringRotations(t *testing.T) {
	ctx := t.Context()
	s := openPebble(t, filepath.Join(t.TempDir(), "state"))
	defer s.Close()
	now := time.Now()
	const workers, rotations = 8, 30
	done := make(chan struct{})
	swept := make(chan int)
	go func() {
		total := 0
		for {
			select {
			case <-done:
				swept <- total
				return
			default:
			}
			n, err := s.Sweep(ctx, now)
			if err != nil {
				t.Error(err)
			}
			total += n
		}
	}()
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			id := fmt.Sprintf("live-%d", w)
			g := storetest.SampleGrant(id, now)
			g.ExpiresAt = now.Add(time.Hour)
			if err := s.CreateGrant(ctx, g); err != nil {
				errs <- err
				return
			}
			for i := range rotations {
				dead := storetest.SampleGrant(fmt.Sprintf("dead-%d-%d", w, i), now)
				dead.ExpiresAt = now.Add(-time.Second)
				if err := s.CreateGrant(ctx, dead); err != nil {
					errs <- err
					return
				}
				if _, err := s.UpdateGrant(ctx, id, func(g *tokencore.Grant) error {
					g.RefreshID = fmt.Sprint("r", i)
					g.RefreshHash, g.AccessHash = tokencore.TokenHash(id+g.RefreshID), tokencore.TokenHash(id+"a"+g.RefreshID)
					return nil
				}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	n := <-swept
	if m, err := s.Sweep(ctx, now); err != nil {
		t.Fatal(err)
	} else {
		n += m
	}
	if n != workers*rotations {
		t.Errorf("swept %d grants, want %d", n, workers*rotations)
	}
	gs, total, err := s.ListGrants(ctx, tokencore.GrantFilter{Subject: "alice"})
	if err != nil || total != workers {
		t.Fatalf("ListGrants = %q, %d, %v; want the %d live grants", idsOf(gs), total, err, workers)
	}
	for _, g := range gs {
		last := fmt.Sprint("r", rotations-1)
		if g.RefreshID != last {
			t.Errorf("%s lost an update: refresh %q, want %q", g.ID, g.RefreshID, last)
		}
		for _, h := range []string{tokencore.TokenHash(g.ID + last), tokencore.TokenHash(g.ID + "a" + last)} {
			if got, err := s.GrantByTokenHash(ctx, h); err != nil || got.ID != g.ID {
				t.Errorf("current hash of %s: %v, %v", g.ID, got, err)
			}
		}
	}
}
