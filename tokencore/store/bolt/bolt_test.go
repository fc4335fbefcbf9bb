package bolt_test

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

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/tokengate/tokengate/tokencore"
	boltstore "github.com/tokengate/tokengate/tokencore/store/bolt"
	"github.com/tokengate/tokengate/tokencore/storetest"
)

func TestBoltStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tokencore.Store {
		return openBolt(t, filepath.Join(t.TempDir(), "tokens.db"))
	})
}

func openBolt(t testing.TB, path string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBoltStorePersists closes and reopens the file: grants, every index
// and revocations come back.
func TestBoltStorePersists(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tokens.db")
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	s := openBolt(t, path)
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

	s = openBolt(t, path)
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

// TestBoltStoreLockTimeout opens a file that is held: bbolt's flock is per
// open file description, so a second open in the same process waits like a
// second process would, and must give up after the timeout.
func TestBoltStoreLockTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.db")
	held := openBolt(t, path)
	tests := []struct {
		name     string
		timeout  time.Duration
		min, max time.Duration
	}{
		// bbolt retries the lock every 50ms and gives up within the last
		// retry interval before the timeout.
		{"explicit", 200 * time.Millisecond, 100 * time.Millisecond, 3 * time.Second},
		{"default one second", 0, 900 * time.Millisecond, 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			type result struct {
				s   *boltstore.Store
				err error
			}
			done := make(chan result, 1)
			start := time.Now()
			go func() {
				s, err := boltstore.Open(path, boltstore.Options{Timeout: tc.timeout})
				done <- result{s, err}
			}()
			select {
			case r := <-done:
				elapsed := time.Since(start)
				if r.err == nil {
					r.s.Close()
					t.Fatal("second open of a held file succeeded")
				}
				if !errors.Is(r.err, tokencore.ErrStoreLocked) || !errors.Is(r.err, bolterrors.ErrTimeout) {
					t.Errorf("error %v, want one wrapping ErrStoreLocked and bbolt's ErrTimeout", r.err)
				}
				if elapsed < tc.min || elapsed > tc.max {
					t.Errorf("gave up after %v, want between %v and %v", elapsed, tc.min, tc.max)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("second open of a held file hangs")
			}
		})
	}
	if err := held.Close(); err != nil {
		t.Fatal(err)
	}
	openBolt(t, path).Close() // released: opens at once
}

// TestBoltStoreBadFiles opens files that are not tokengate stores: each is
// an error, never a panic or a crash, and the file is left as it was.
func TestBoltStoreBadFiles(t *testing.T) {
	dir := t.TempDir()
	valid := filepath.Join(dir, "valid.db")
	s := openBolt(t, valid)
	// Large enough that, truncated, bbolt would read its freelist outside
	// the memory it maps: a fault, not a panic, without Open's
	// check of the meta pages.
	for i := range 500 {
		g := storetest.SampleGrant(fmt.Sprintf("g%03d", i), time.Unix(int64(i), 0))
		g.Properties = []tokencore.Property{{Key: "pad", Value: string(bytes.Repeat([]byte("p"), 500))}}
		if err := s.CreateGrant(t.Context(), g); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	validBytes, err := os.ReadFile(valid)
	if err != nil {
		t.Fatal(err)
	}

	random := make([]byte, 64<<10)
	for i := range random {
		random[i] = byte(i*7919 + i>>8)
	}
	tests := []struct {
		name string
		// write creates the file at path (nil: path is a directory).
		write func(t *testing.T, path string)
	}{
		{"empty (0 bytes)", writeBytes(nil)},
		{"bbolt database without any bucket", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
		}},
		{"text", writeBytes([]byte("this is not a database\n"))},
		{"random bytes", writeBytes(random)},
		{"zero pages", writeBytes(make([]byte, 16<<10))},
		{"truncated to half", writeBytes(validBytes[:len(validBytes)/2])},
		{"truncated to the meta pages", writeBytes(validBytes[:8192])},
		{"truncated to one page", writeBytes(validBytes[:4096])},
		{"directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{"bbolt file of another program", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Update(func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("acme"))
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}},
		{"newer schema", func(t *testing.T, path string) {
			openBolt(t, path).Close()
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Update(func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("meta")).Put([]byte("version"), []byte("99"))
			}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens.db")
			tc.write(t, path)
			before, _ := os.ReadFile(path)
			s, err := boltstore.Open(path, boltstore.Options{Timeout: 100 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), path) {
				t.Errorf("the error does not name the file: %v", err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("the file was modified")
			}
		})
	}
}

func writeBytes(b []byte) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBoltStoreFileMode: the store holds token hashes and grant
// properties; it is created readable by its owner only.
func TestBoltStoreFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "tokens.db")
	openBolt(t, path).Close()
	for p, want := range map[string]os.FileMode{dir: 0o700, filepath.Dir(dir): 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^want != 0 {
			t.Errorf("%s has mode %v, want at most %v", p, got, want)
		}
	}
	if _, err := boltstore.Open("", boltstore.Options{}); err == nil {
		t.Error("Open(\"\") succeeded")
	}
}

// TestBoltStoreSweepBacklog sweeps more records than one sweep transaction
// removes (1000), of each kind while the other kind has few.
func TestBoltStoreSweepBacklog(t *testing.T) {
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
			s := openBolt(t, filepath.Join(t.TempDir(), "tokens.db"))
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

// Benchmarks run on a real file: every write is one fsynced transaction.

func BenchmarkBoltCreateGrant(b *testing.B) {
	s := openBolt(b, filepath.Join(b.TempDir(), "tokens.db"))
	defer s.Close()
	t0 := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := s.CreateGrant(b.Context(), storetest.SampleGrant(fmt.Sprintf("g%09d", i), t0)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkBoltUpdateGrant is a refresh-token rotation: compare, new
// refresh and access hashes, new expiry.
func BenchmarkBoltUpdateGrant(b *testing.B) {
	s := openBolt(b, filepath.Join(b.TempDir(), "tokens.db"))
	defer s.Close()
	t0 := time.Now()
	if err := s.CreateGrant(b.Context(), storetest.SampleGrant("g", t0)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		want := "r-g"
		if i > 0 {
			want = fmt.Sprintf("r%d", i)
		}
		i++
		next := fmt.Sprintf("r%d", i)
		if _, err := s.UpdateGrant(b.Context(), "g", func(g *tokencore.Grant) error {
			if g.RefreshID != want {
				return errors.New("lost rotation")
			}
			g.PreviousRefreshID, g.RefreshID = g.RefreshID, next
			g.RefreshHash, g.AccessHash = tokencore.TokenHash("refresh-"+next), tokencore.TokenHash("access-"+next)
			g.ExpiresAt = t0.Add(time.Duration(i) * time.Second)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}

func loadedBolt(b *testing.B, n int) (*boltstore.Store, []string) {
	s := openBolt(b, filepath.Join(b.TempDir(), "tokens.db"))
	t0 := time.Now()
	hashes := make([]string, n)
	for i := range n {
		g := storetest.SampleGrant(fmt.Sprintf("g%06d", i), t0.Add(time.Duration(i)))
		g.Subject = fmt.Sprintf("user%d", i%100) // 100 subjects of n/100 grants
		if err := s.CreateGrant(b.Context(), g); err != nil {
			b.Fatal(err)
		}
		hashes[i] = g.RefreshHash
	}
	return s, hashes
}

func BenchmarkBoltGrantByTokenHash(b *testing.B) {
	s, hashes := loadedBolt(b, 5000)
	defer s.Close()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.GrantByTokenHash(b.Context(), hashes[i%len(hashes)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkBoltGrantByTokenHashParallel(b *testing.B) {
	s, hashes := loadedBolt(b, 5000)
	defer s.Close()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.GrantByTokenHash(b.Context(), hashes[i%len(hashes)]); err != nil {
				b.Error(err)
				return
			}
			i += 7
		}
	})
}

// BenchmarkBoltListGrantsBySubject lists one page of 20 of a subject's 50
// grants (index only, no residual filter).
func BenchmarkBoltListGrantsBySubject(b *testing.B) {
	s, _ := loadedBolt(b, 5000)
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		gs, total, err := s.ListGrants(b.Context(), tokencore.GrantFilter{Subject: "user42", End: 20})
		if err != nil || len(gs) != 20 || total != 50 {
			b.Fatalf("ListGrants = %d of %d, %v", len(gs), total, err)
		}
	}
}
