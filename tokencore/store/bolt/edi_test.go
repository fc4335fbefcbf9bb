package bolt_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/tokencore"
)

// TestBoltStoreEDIPersists reopens the file: subjects, keys and both key
// indexes come back.
func TestBoltStoreEDIPersists(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tokens.db")
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	s := openBolt(t, path)
	cn := "Alice Demo"
	subj := &tokencore.EDISubject{EDIID: "EDI-581f8a60cb1482332e92fb44c67078293df21d6c", Type: tokencore.EDIProfile, CommonName: &cn, PastaUID: "uid=alice", CreatedAt: t0, UpdatedAt: t0}
	if err := s.PutSubject(ctx, subj); err != nil {
		t.Fatal(err)
	}
	k := &tokencore.EDIAPIKey{ID: "k1", Owner: subj.EDIID, Name: "n", SecretHash: tokencore.APIKeyHash("secret"), Preview: "secre",
		ValidFrom: t0, ValidTo: t0.Add(time.Hour), CreatedAt: t0, UpdatedAt: t0}
	if err := s.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordKeyUse(ctx, tokencore.EDIKeyUse{ID: "k1", Count: 2, At: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openBolt(t, path)
	defer s.Close()
	got, err := s.GetSubject(ctx, subj.EDIID)
	if err != nil || *got.CommonName != cn || !got.CreatedAt.Equal(t0) {
		t.Fatalf("subject after reopen: %+v, %v", got, err)
	}
	byHash, err := s.GetAPIKeyByHash(ctx, tokencore.APIKeyHash("secret"))
	if err != nil || byHash.ID != "k1" || byHash.UseCount != 2 || !byHash.LastUsed.Equal(t0.Add(time.Minute)) {
		t.Fatalf("key after reopen: %+v, %v", byHash, err)
	}
	ks, err := s.ListAPIKeys(ctx, subj.EDIID)
	if err != nil || len(ks) != 1 || ks[0].ID != "k1" {
		t.Fatalf("owner index after reopen: %d keys, %v", len(ks), err)
	}
}

// TestBoltStoreEDIOldFile: a file written before EDI records existed (no
// EDI buckets) reads as empty and takes EDI writes, without a schema change.
func TestBoltStoreEDIOldFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tokens.db")
	s := openBolt(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		for _, name := range []string{"edi_subjects", "edi_keys", "edi_idx_key_hash", "edi_idx_key_owner"} {
			if tx.Bucket([]byte(name)) != nil {
				return errors.New("a fresh file already has bucket " + name)
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s = openBolt(t, path)
	defer s.Close()
	if _, err := s.GetSubject(ctx, "EDI-x"); !errors.Is(err, tokencore.ErrNotFound) {
		t.Fatalf("GetSubject on an old file: %v", err)
	}
	if _, err := s.GetAPIKeyByHash(ctx, tokencore.APIKeyHash("x")); !errors.Is(err, tokencore.ErrNotFound) {
		t.Fatalf("GetAPIKeyByHash on an old file: %v", err)
	}
	if ks, err := s.ListAPIKeys(ctx, ""); err != nil || len(ks) != 0 {
		t.Fatalf("ListAPIKeys on an old file: %d, %v", len(ks), err)
	}
	if err := s.RecordKeyUse(ctx, tokencore.EDIKeyUse{ID: "x", Count: 1}); err != nil {
		t.Fatalf("RecordKeyUse on an old file: %v", err)
	}
	if err := s.PutSubject(ctx, &tokencore.EDISubject{EDIID: "EDI-x", Type: tokencore.EDIGroup, Name: "g"}); err != nil {
		t.Fatal(err)
	}
}
