package pebble_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// TestPebbleStoreEDIPersists reopens the store: subjects, keys and both
// key indexes come back.
func TestPebbleStoreEDIPersists(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "state")
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 6, time.UTC)
	s := openPebble(t, dir)
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
	s = openPebble(t, dir)
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
