package bolt

import (
	bolt "go.etcd.io/bbolt"

	"github.com/tokengate/tokengate/tokencore"
)

// groupCommitter funnels the grant writes of a Store through one
// goroutine that commits them in groups: while one transaction is being
// written and fsynced, the writes that arrive wait, and the next
// transaction takes all of them at once. Under load many writes share one
// fsync (what lets /token/sign and /token/refresh go past the disk's sync
// rate); a lone write is committed at once, with no timer to wait for as
// with bbolt's own Batch.
type groupCommitter struct {
	db     *bolt.DB
	writes chan *commitRequest
	quit   chan struct{}
	done   chan struct{}
}

// maxCommitGroup bounds one transaction, so a burst does not hold bbolt's
// write lock (and grow one transaction's dirty pages) without limit.
const maxCommitGroup = 512

// commitRequest is one write waiting for its group's transaction.
type commitRequest struct {
	fn      func(tx *bolt.Tx) (refused, failed error)
	refused error
	err     error
	ready   chan struct{}
}

func newGroupCommitter(db *bolt.DB) *groupCommitter {
	gc := &groupCommitter{db: db, writes: make(chan *commitRequest), quit: make(chan struct{}), done: make(chan struct{})}
	go gc.run()
	return gc
}

// submit runs fn in a group transaction and returns fn's refusal, or the
// error that failed its transaction. It returns ErrStoreClosed once the
// committer is stopped.
func (gc *groupCommitter) submit(fn func(tx *bolt.Tx) (refused, failed error)) error {
	r := &commitRequest{fn: fn, ready: make(chan struct{})}
	select {
	case gc.writes <- r:
	case <-gc.quit:
		return tokencore.ErrStoreClosed
	}
	<-r.ready
	if r.err != nil {
		return commitErr(r.err)
	}
	return r.refused
}

// stop ends the goroutine after the group it is committing, if any.
func (gc *groupCommitter) stop() {
	close(gc.quit)
	<-gc.done
}

func (gc *groupCommitter) run() {
	defer close(gc.done)
	for {
		var first *commitRequest
		select {
		case first = <-gc.writes:
		case <-gc.quit:
			return
		}
		group := []*commitRequest{first}
		// The writes is unbuffered: every write still waiting is a sender
		// blocked on it, and joins this group.
	drain:
		for len(group) < maxCommitGroup {
			select {
			case r := <-gc.writes:
				group = append(group, r)
			default:
				break drain
			}
		}
		gc.commit(group)
	}
}

// commit writes a group in one transaction. A refusal (a lost
// compare-and-swap, a conflict) is not a failure: the refused write wrote
// nothing and the others commit. If a write fails the transaction (a
// storage error, a panic), each write of the group is run again alone, so
// only the failing one fails.
func (gc *groupCommitter) commit(group []*commitRequest) {
	err := gc.db.Update(func(tx *bolt.Tx) error {
		for _, r := range group {
			if err := r.call(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(group) > 1 {
		for _, r := range group {
			gc.commit([]*commitRequest{r})
		}
		return
	}
	for _, r := range group {
		r.err = err
		close(r.ready)
	}
}

func (r *commitRequest) call(tx *bolt.Tx) (err error) {
	defer recoverCorrupt(&err)
	r.refused, err = r.fn(tx)
	return err
}
