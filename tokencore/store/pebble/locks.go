package pebble

import (
	"hash/maphash"
	"slices"
	"sync"
)

// Pebble commits batches but has no transactions that read, so the store
// serialises the writers that read before they write. Two levels of
// striped mutexes, always taken in this order (so no two writers can wait
// for each other in a cycle):
//
//  1. the stripe of a grant ID: held by every write of that grant from its
//     read to the end of its commit, which makes UpdateGrant atomic per
//     grant (one winner of a refresh-token rotation);
//  2. the stripes of the token hashes whose index entries a write reads or
//     changes, in ascending stripe order: the token-hash index maps a hash
//     to one grant, and a write claiming a hash must see every earlier
//     claim (tokencore's uniqueness rule, bbolt's checkHashOwners).
//
// Sweep takes every stripe of both levels, in order. Writes of unrelated
// grants take different stripes (mostly) and commit concurrently, so their
// syncs share Pebble's WAL fsync.
const stripeCount = 256

type stripes struct {
	seed   maphash.Seed
	grants [stripeCount]sync.Mutex
	hashes [stripeCount]sync.Mutex
}

func (st *stripes) index(s string) int { return int(maphash.String(st.seed, s) % stripeCount) }

// lockGrant locks the stripe of grant id and returns it for unlocking.
func (st *stripes) lockGrant(id string) *sync.Mutex {
	m := &st.grants[st.index(id)]
	m.Lock()
	return m
}

// heldHashes is a set of locked hash stripes.
type heldHashes struct {
	st  *stripes
	n   int
	idx [4]int
}

// lockHashes locks the stripes of up to four hashes (a grant's old and
// new access and refresh hashes), each once, in ascending order.
func (st *stripes) lockHashes(hs ...[]string) heldHashes {
	h := heldHashes{st: st}
	for _, list := range hs {
		for _, s := range list {
			i := st.index(s)
			if !slices.Contains(h.idx[:h.n], i) {
				h.idx[h.n] = i
				h.n++
			}
		}
	}
	slices.Sort(h.idx[:h.n])
	for _, i := range h.idx[:h.n] {
		st.hashes[i].Lock()
	}
	return h
}

func (h heldHashes) unlock() {
	for _, i := range h.idx[:h.n] {
		h.st.hashes[i].Unlock()
	}
}

// lockAll locks every stripe, grants first (Sweep).
func (st *stripes) lockAll() {
	for i := range st.grants {
		st.grants[i].Lock()
	}
	for i := range st.hashes {
		st.hashes[i].Lock()
	}
}

func (st *stripes) unlockAll() {
	for i := range st.hashes {
		st.hashes[i].Unlock()
	}
	for i := range st.grants {
		st.grants[i].Unlock()
	}
}
