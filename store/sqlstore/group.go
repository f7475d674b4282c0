package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/concord-health/concord/store"
)

// Group commit. A database with one writer (SQLite) runs every write transaction through one
// goroutine, which takes all the transactions waiting at that moment and runs them inside one
// database transaction, each in its own savepoint, with one commit for the lot. A transaction
// that fails is rolled back to its savepoint and leaves nothing; the others are unaffected.
// Committing once for many writers is what makes concurrent small writes cheap: a commit
// writes every page the group dirtied once (pages shared between writers, such as index
// interior pages, once rather than once per writer).
//
// Callers see the same contract as a transaction of their own: Update returns after the
// commit that makes their writes durable, or with the error that undid them.

// maxGroup bounds the transactions of one commit, so that the first writer of a long queue
// does not wait for all of it.
const maxGroup = 64

type writeRequest struct {
	ctx  context.Context
	fn   func(store.Tx) error
	done chan error
}

func (db *DB) startWriter() {
	db.queue = make(chan *writeRequest, maxGroup)
	db.writerDone = make(chan struct{})
	go func() {
		defer close(db.writerDone)
		for first := range db.queue {
			group := []*writeRequest{first}
		collect:
			for len(group) < maxGroup {
				select {
				case r, ok := <-db.queue:
					if !ok {
						break collect
					}
					group = append(group, r)
				default:
					break collect
				}
			}
			db.commitGroup(group)
		}
	}()
}

// stopWriter lets the writer finish what is queued, then stops it.
func (db *DB) stopWriter() {
	if db.queue == nil {
		return
	}
	db.queueMu.Lock()
	if !db.closed {
		db.closed = true
		close(db.queue)
	}
	db.queueMu.Unlock()
	<-db.writerDone
}

// errClosed is returned by writes that arrive after Close.
var errClosed = errors.New("the store is closed")

// updateGrouped queues fn for the writer and waits for its outcome.
func (db *DB) updateGrouped(ctx context.Context, fn func(store.Tx) error) error {
	r := &writeRequest{ctx: ctx, fn: fn, done: make(chan error, 1)}
	db.queueMu.RLock()
	if db.closed {
		db.queueMu.RUnlock()
		return errClosed
	}
	select {
	case db.queue <- r:
	case <-ctx.Done():
		db.queueMu.RUnlock()
		return ctx.Err()
	}
	db.queueMu.RUnlock()
	// Once queued the request runs to its end: a write half-way through a savepoint is not
	// abandoned because its caller stopped waiting.
	return <-r.done
}

func (db *DB) commitGroup(group []*writeRequest) {
	fail := func(rs []*writeRequest, err error) {
		for _, r := range rs {
			r.done <- err
		}
	}
	// The transaction belongs to the group, not to any caller: no caller's cancellation may
	// end it.
	sqlTx, err := db.write.BeginTx(context.Background(), nil)
	if err != nil {
		fail(group, err)
		return
	}
	stmts := map[string]*sql.Stmt{}
	var committed []*writeRequest
	writes := 0
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		if _, err := sqlTx.Exec("SAVEPOINT w"); err != nil {
			sqlTx.Rollback()
			fail(committed, err)
			fail(group[i:], err)
			return
		}
		t := &tx{db: db, tx: sqlTx, stmts: stmts, detached: true}
		err := runGuarded(r.ctx, t, r.fn)
		if err != nil {
			if _, rerr := sqlTx.Exec("ROLLBACK TO w"); rerr != nil {
				sqlTx.Rollback()
				r.done <- err
				fail(committed, rerr)
				fail(group[i+1:], rerr)
				return
			}
		}
		if _, rerr := sqlTx.Exec("RELEASE w"); rerr != nil {
			sqlTx.Rollback()
			if err == nil {
				err = rerr
			}
			r.done <- err
			fail(committed, rerr)
			fail(group[i+1:], rerr)
			return
		}
		if err != nil {
			r.done <- err
			continue
		}
		committed = append(committed, r)
		writes += t.writes
	}
	if len(committed) == 0 {
		sqlTx.Rollback()
		return
	}
	if err := sqlTx.Commit(); err != nil {
		fail(committed, err)
		return
	}
	fail(committed, nil)
	db.noteWrites(writes)
}

// runGuarded runs fn and flushes its index rows, turning a panic into an error so that one
// writer's bug cannot take the group's other writers down with it.
func runGuarded(ctx context.Context, t *tx, fn func(store.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("write transaction panicked: %v", p)
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	return t.flush(ctx)
}
