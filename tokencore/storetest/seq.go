package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// The revocation sequence (tokencore.RevocationStore), and, for stores
// shared by several instances, the feed and the instance registry.

func seqNow(t *testing.T, s tokencore.Store) uint64 {
	t.Helper()
	n, err := s.RevocationSeq(t.Context())
	if err != nil {
		t.Fatalf("RevocationSeq: %v", err)
	}
	return n
}

func putSeq(t *testing.T, s tokencore.Store, r tokencore.Revocation) uint64 {
	t.Helper()
	n, err := s.PutRevocation(t.Context(), r)
	if err != nil {
		t.Fatalf("PutRevocation(%s %q): %v", r.Kind, r.Key, err)
	}
	return n
}

func rev(kind tokencore.RevocationKind, key string) tokencore.Revocation {
	return tokencore.Revocation{Kind: kind, Key: key, NotBefore: t0(), ExpiresAt: t0().Add(time.Hour)}
}

// testRevocationSeq: numbers start at 1 and grow by one with every put,
// a put of an existing key included; a refused put takes none.
func testRevocationSeq(t *testing.T, s tokencore.Store) {
	if n := seqNow(t, s); n != 0 {
		t.Fatalf("RevocationSeq of an empty store = %d, want 0", n)
	}
	puts := []tokencore.Revocation{
		rev(tokencore.RevocationOfGrant, "g1"),
		rev(tokencore.RevocationOfUser, tokencore.UserKey("T", "u")),
		rev(tokencore.RevocationOfGrant, "g1"), // the same key again: merged, numbered anew
	}
	for i, r := range puts {
		if n := putSeq(t, s, r); n != uint64(i+1) {
			t.Errorf("put %d got number %d, want %d", i, n, i+1)
		}
	}
	if _, err := s.PutRevocation(t.Context(), tokencore.Revocation{Key: "no kind"}); !errors.Is(err, tokencore.ErrInvalidRecord) {
		t.Fatalf("PutRevocation without a kind: %v, want ErrInvalidRecord", err)
	}
	if n := seqNow(t, s); n != 3 {
		t.Errorf("RevocationSeq = %d, want 3 (a refused put takes no number)", n)
	}
	if n := putSeq(t, s, rev(tokencore.RevocationOfToken, "j")); n != 4 {
		t.Errorf("next number %d, want 4", n)
	}
	// Sweeping revocations does not give numbers back.
	if _, err := s.Sweep(t.Context(), t0().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := seqNow(t, s); n != 4 {
		t.Errorf("RevocationSeq after Sweep = %d, want 4", n)
	}
	if n := putSeq(t, s, rev(tokencore.RevocationOfToken, "k")); n != 5 {
		t.Errorf("number after Sweep %d, want 5", n)
	}
}

// testRevocationSeqConcurrent: concurrent puts get distinct numbers,
// 1..n with none missing.
func testRevocationSeqConcurrent(t *testing.T, s tokencore.Store) {
	const workers, each = 8, 10
	var mu sync.Mutex
	var got []uint64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n, err := s.PutRevocation(t.Context(), rev(tokencore.RevocationOfToken, fmt.Sprintf("w%d-%d", w, i%3)))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	for i, n := range got {
		if n != uint64(i+1) {
			t.Fatalf("numbers of %d concurrent puts: %v; want 1..%d, each once", len(got), got, workers*each)
		}
	}
	if n := seqNow(t, s); n != workers*each {
		t.Errorf("RevocationSeq = %d, want %d", n, workers*each)
	}
}

// testRevocationFeed: a shared store's feed returns every revocation after
// a number, in order, with the merged value; a blocking read returns as
// soon as another writer stores one.
func testRevocationFeed(t *testing.T, s tokencore.Store) {
	feed, ok := s.(tokencore.RevocationFeed)
	if !ok {
		t.Skip("not a shared store: no feed")
	}
	ctx := t.Context()
	pos, err := feed.FeedPosition(ctx)
	if err != nil || pos.Seq != 0 || pos.Epoch != "" {
		t.Fatalf("FeedPosition of an empty store = %+v, %v; want 0 and no epoch", pos, err)
	}
	first := rev(tokencore.RevocationOfGrant, "g1")
	later := first
	later.NotBefore, later.ExpiresAt = t0().Add(time.Minute), t0().Add(time.Minute)
	putSeq(t, s, first)
	putSeq(t, s, rev(tokencore.RevocationOfSubject, "alice"))
	putSeq(t, s, later)
	pos, err = feed.FeedPosition(ctx)
	if err != nil || pos.Seq != 3 || pos.Epoch == "" {
		t.Fatalf("FeedPosition = %+v, %v; want number 3 and an epoch", pos, err)
	}
	all, err := feed.ReadRevocations(ctx, 0, 0)
	if err != nil || len(all) != 3 {
		t.Fatalf("ReadRevocations(0) = %v, %v; want 3", all, err)
	}
	for i, r := range all {
		if r.Seq != uint64(i+1) || r.Epoch != pos.Epoch {
			t.Errorf("entry %d has number %d and epoch %q, want %d and %q", i, r.Seq, r.Epoch, i+1, pos.Epoch)
		}
	}
	// The third entry is the merged value: later NotBefore, kept expiry.
	if m := all[2].Revocation; m.Key != "g1" || !m.NotBefore.Equal(later.NotBefore) || !m.ExpiresAt.Equal(first.ExpiresAt) {
		t.Errorf("feed entry 3 = %+v, want the merged revocation", m)
	}
	if rest, err := feed.ReadRevocations(ctx, 2, 0); err != nil || len(rest) != 1 || rest[0].Seq != 3 {
		t.Errorf("ReadRevocations(2) = %v, %v; want only number 3", rest, err)
	}
	start := time.Now()
	if none, err := feed.ReadRevocations(ctx, 3, 50*time.Millisecond); err != nil || len(none) != 0 {
		t.Errorf("ReadRevocations at the end = %v, %v; want nothing", none, err)
	} else if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Errorf("a blocking read with nothing to read returned after %v, want about 50ms", waited)
	}
	got := make(chan []tokencore.NumberedRevocation, 1)
	go func() {
		rs, err := feed.ReadRevocations(ctx, 3, 5*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- rs
	}()
	time.Sleep(20 * time.Millisecond)
	putSeq(t, s, rev(tokencore.RevocationOfToken, "j"))
	select {
	case rs := <-got:
		if len(rs) != 1 || rs[0].Seq != 4 || rs[0].Key != "j" {
			t.Errorf("blocking read returned %v, want number 4", rs)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("a blocking read did not return when a revocation was stored")
	}
}

// testInstanceRegistry: live instances and their applied numbers; an
// instance whose registration expired or was removed is not waited for.
func testInstanceRegistry(t *testing.T, s tokencore.Store) {
	reg, ok := s.(tokencore.InstanceRegistry)
	if !ok {
		t.Skip("not a shared store: no instance registry")
	}
	ctx := t.Context()
	lagging := func(seq uint64, want ...string) {
		t.Helper()
		got, err := reg.LaggingInstances(ctx, seq)
		slices.Sort(got)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("LaggingInstances(%d) = %q, %v; want %q", seq, got, err, want)
		}
	}
	lagging(1)
	if err := reg.RegisterInstance(ctx, "a", 5, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterInstance(ctx, "b", 3, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	lagging(3)
	lagging(4, "b")
	lagging(6, "a", "b")
	if err := reg.RegisterInstance(ctx, "b", 7, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	lagging(6, "a")
	if err := reg.UnregisterInstance(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	lagging(6)
	lagging(8, "b")
	time.Sleep(400 * time.Millisecond) // b's registration expires
	lagging(8)
}
