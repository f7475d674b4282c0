package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/concord-health/concord/store"
)

// The event log (a transactional outbox) and its consumers' cursors.
//
// Every Put and Delete buffers one events row with the transaction's index rows (rows.go),
// so it is written by the same multi-row INSERT (or COPY) at flush and commits or rolls back
// with the version it records. seq is the table's row key: on SQLite an INTEGER PRIMARY KEY
// (rows are never deleted, so it only grows), on PostgreSQL an identity column.
//
// Ordering. A consumer reads "the events after seq N" and then moves N on, so an event must
// never become visible after one with a higher seq has been handed out.
//   - SQLite has one writer (group commit): seqs are assigned in the order transactions
//     commit, and a commit makes all of its rows visible at once. Events reads plainly.
//   - PostgreSQL takes a seq from the identity sequence when the row is inserted, before its
//     transaction commits, so concurrent transactions (of this process or of others sharing
//     the database) can commit out of seq order, and a rolled-back transaction leaves a seq
//     that never appears. Events therefore hands out only the events up to the first seq
//     missing after the reader's position, unless that gap is known to be final. It reads
//     in a REPEATABLE READ transaction, with that snapshot's xmin (every transaction id
//     below it has ended). A seq missing below the highest visible one was taken before
//     the snapshot, by a transaction whose id was assigned before it took the seq (the
//     event row is written after the version row, which assigns the id). The first time
//     a gap is seen, Events takes a transaction id of its own (pg_current_xact_id), which
//     is above every id assigned until then; once a later snapshot's xmin has reached it,
//     every transaction that could hold a seq of the gap has ended, and what is still
//     missing never will appear. A gap thus holds readers back only while the transactions
//     around it run (one poll more when it is a rollback; a long-running transaction delays
//     the events behind a rolled-back write until it ends).
var eventsSchema = []string{
	`CREATE TABLE IF NOT EXISTS events (
		seq {{rid}},
		type TEXT NOT NULL,
		id TEXT NOT NULL,
		version BIGINT NOT NULL,
		action SMALLINT NOT NULL,
		at BIGINT NOT NULL
	)`,
	// One row per consumer of the event log (a subscription's delivery): its position, its
	// lease, and its current run of failures.
	`CREATE TABLE IF NOT EXISTS event_cursors (
		name TEXT PRIMARY KEY,
		seq BIGINT NOT NULL,
		owner TEXT NOT NULL,
		lease_until BIGINT NOT NULL,
		failing_since BIGINT NOT NULL,
		attempts INTEGER NOT NULL,
		last_error TEXT NOT NULL
	)`,
}

// eventRowCols are the columns of an events row the write path fills (seq is assigned).
var eventRowCols = []string{"type", "id", "version", "action", "at"}

// gapTracker remembers, per gap in the seqs (keyed by its first missing seq), a transaction
// id above every one assigned when it was first seen, and the highest seq then visible: the
// missing seqs up to that one are final once a snapshot's xmin reaches that id.
type gapTracker struct {
	mu   sync.Mutex
	gaps map[int64]gapInfo
}

type gapInfo struct {
	xid, upto int64
}

// maxTrackedGaps bounds the tracker; past it an entry is dropped (a dropped gap is only
// seen again as new, which delays, never skips).
const maxTrackedGaps = 10000

// Events implements store.EventLog.
func (db *DB) Events(ctx context.Context, after int64, limit int) ([]store.Event, error) {
	if limit <= 0 {
		limit = 1000
	}
	const q = "SELECT seq, type, id, version, action, at FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
	if db.d.GroupCommit {
		rows, err := db.reads.QueryContext(ctx, db.d.Rebind(q), after, limit)
		if err != nil {
			return nil, err
		}
		return scanEvents(rows)
	}
	if db.d.Name != "postgres" {
		return nil, fmt.Errorf("the event log needs group commit or PostgreSQL, not %s", db.d.Name)
	}
	evs, xmin, err := db.eventsSnapshot(ctx, db.d.Rebind(q), after, limit)
	if err != nil {
		return nil, err
	}
	out, gap := db.gaps.contiguous(evs, after, xmin)
	if gap != nil {
		// A new gap: note a transaction id above every one assigned so far (taken after
		// the snapshot, in a transaction of its own that writes nothing).
		var xid int64
		if err := db.read.QueryRowContext(ctx, "SELECT pg_current_xact_id()::text::bigint").Scan(&xid); err != nil {
			return nil, err
		}
		db.gaps.note(gap.start, gapInfo{xid: xid, upto: gap.upto})
	}
	return out, nil
}

// eventsSnapshot reads events in a REPEATABLE READ transaction, with its snapshot's xmin.
func (db *DB) eventsSnapshot(ctx context.Context, q string, after int64, limit int) ([]store.Event, int64, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	var xmin int64
	if err := tx.QueryRowContext(ctx, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint").Scan(&xmin); err != nil {
		return nil, 0, err
	}
	rows, err := tx.QueryContext(ctx, q, after, limit)
	if err != nil {
		return nil, 0, err
	}
	evs, err := scanEvents(rows)
	return evs, xmin, err
}

// newGap is a gap seen for the first time: its first missing seq, and the highest seq then
// visible.
type newGap struct{ start, upto int64 }

// contiguous returns the prefix of evs (read after `after` in a snapshot with xmin) that no
// seq still to commit can precede, and the gap that ends it when that gap is new.
func (g *gapTracker) contiguous(evs []store.Event, after, xmin int64) ([]store.Event, *newGap) {
	if len(evs) == 0 {
		return evs, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	upto := evs[len(evs)-1].Seq
	next := after + 1
	for i, e := range evs {
		for e.Seq > next {
			// next .. e.Seq-1 are missing.
			info, seen := g.gaps[next]
			if !seen {
				return evs[:i], &newGap{start: next, upto: upto}
			}
			if xmin < info.xid {
				return evs[:i], nil // a transaction that may hold next is still running
			}
			// Final: kept, so that readers behind this one pass it without waiting.
			if info.upto >= e.Seq-1 {
				break
			}
			// Seqs above info.upto were taken after the gap was first seen: a new gap.
			next = info.upto + 1
		}
		if _, ok := g.gaps[e.Seq]; ok {
			delete(g.gaps, e.Seq) // filled
		}
		next = e.Seq + 1
	}
	return evs, nil
}

func (g *gapTracker) note(start int64, info gapInfo) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gaps == nil {
		g.gaps = map[int64]gapInfo{}
	}
	if _, ok := g.gaps[start]; ok {
		return // another reader noted it first (with an id no higher)
	}
	if len(g.gaps) >= maxTrackedGaps {
		for k := range g.gaps {
			delete(g.gaps, k)
			break
		}
	}
	g.gaps[start] = info
}

func scanEvents(rows *sql.Rows) ([]store.Event, error) {
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var e store.Event
		var action int
		var at int64
		if err := rows.Scan(&e.Seq, &e.Type, &e.ID, &e.Version, &action, &at); err != nil {
			return nil, err
		}
		e.Action, e.Time = store.EventAction(action), micros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// LastEvent implements store.EventLog.
func (db *DB) LastEvent(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	err := db.reads.QueryRowContext(ctx, "SELECT MAX(seq) FROM events").Scan(&seq)
	return seq.Int64, err
}

const eventCursorColumns = "name, seq, owner, lease_until, failing_since, attempts, last_error"

func scanCursors(rows *sql.Rows) ([]store.EventCursor, error) {
	defer rows.Close()
	var out []store.EventCursor
	for rows.Next() {
		var c store.EventCursor
		var lease, failing int64
		if err := rows.Scan(&c.Name, &c.Seq, &c.Owner, &lease, &failing, &c.Attempts, &c.LastError); err != nil {
			return nil, err
		}
		if lease != 0 {
			c.LeaseUntil = micros(lease)
		}
		if failing != 0 {
			c.FailingSince = micros(failing)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (t *tx) cursor(ctx context.Context, name string) (*store.EventCursor, error) {
	return readCursor(t.c(ctx), t.tx, t.db.d, name)
}

// readCursor reads one cursor through q (a transaction or the read pool).
func readCursor(ctx context.Context, q querier, d *Dialect, name string) (*store.EventCursor, error) {
	rows, err := q.QueryContext(ctx, d.Rebind("SELECT "+eventCursorColumns+" FROM event_cursors WHERE name = ?"), name)
	if err != nil {
		return nil, err
	}
	list, err := scanCursors(rows)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: %s", store.ErrCursorNotFound, name)
	}
	return &list[0], nil
}

// execCount runs a statement of the transaction and returns the rows it changed.
func (t *tx) execCount(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.tx.ExecContext(t.c(ctx), t.db.d.Rebind(q), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// CreateCursors implements store.EventCursors.
func (db *DB) CreateCursors(ctx context.Context, names []string, seq int64) error {
	if len(names) == 0 {
		return nil
	}
	return db.writeTx(ctx, func(t *tx) error {
		for start := 0; start < len(names); start += maxCursorNames {
			chunk := names[start:min(len(names), start+maxCursorNames)]
			args := make([]any, 0, 2*len(chunk))
			for _, n := range chunk {
				args = append(args, n, seq)
			}
			values := strings.TrimSuffix(strings.Repeat("(?, ?, '', 0, 0, 0, ''),", len(chunk)), ",")
			if _, err := t.execCount(ctx, `INSERT INTO event_cursors (name, seq, owner, lease_until, failing_since, attempts, last_error)
				VALUES `+values+` ON CONFLICT (name) DO NOTHING`, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// Cursor implements store.EventCursors.
func (db *DB) Cursor(ctx context.Context, name string) (*store.EventCursor, error) {
	return readCursor(ctx, db.read, db.d, name)
}

// maxCursorNames bounds the names of one claim statement.
const maxCursorNames = 500

// ClaimCursors implements store.EventCursors.
func (db *DB) ClaimCursors(ctx context.Context, owner string, names []string, now, until time.Time) ([]store.EventCursor, error) {
	if owner == "" {
		return nil, errors.New("claiming event cursors needs an owner")
	}
	var out []store.EventCursor
	err := db.writeTx(ctx, func(t *tx) error {
		out = out[:0]
		for start := 0; start < len(names); start += maxCursorNames {
			chunk := names[start:min(len(names), start+maxCursorNames)]
			in := strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")
			args := []any{owner, until.UnixMicro()}
			for _, n := range chunk {
				args = append(args, n)
			}
			args = append(args, owner, now.UnixMicro())
			// The rows are locked in name order, skipping those another process is claiming
			// at this moment (where rows are locked: PostgreSQL), so that processes claiming
			// overlapping sets neither deadlock nor wait for each other.
			lock := ""
			if t.db.d.LockRow != "" {
				lock = t.db.d.LockRow + " SKIP LOCKED"
			}
			if _, err := t.execCount(ctx, "UPDATE event_cursors SET owner = ?, lease_until = ? WHERE name IN (SELECT name FROM event_cursors WHERE name IN ("+in+
				") AND (owner = ? OR owner = '' OR lease_until < ?) ORDER BY name"+lock+")", args...); err != nil {
				return err
			}
			args = append([]any{owner}, args[2:2+len(chunk)]...)
			rows, err := t.tx.QueryContext(t.c(ctx), t.db.d.Rebind("SELECT "+eventCursorColumns+" FROM event_cursors WHERE owner = ? AND name IN ("+in+")"), args...)
			if err != nil {
				return err
			}
			list, err := scanCursors(rows)
			if err != nil {
				return err
			}
			out = append(out, list...)
		}
		return nil
	})
	return out, err
}

const advanceCursor = "UPDATE event_cursors SET seq = CASE WHEN seq < ? THEN ? ELSE seq END, failing_since = 0, attempts = 0, last_error = '' WHERE name = ? AND owner = ?"

// AdvanceCursor implements store.EventCursors.
func (db *DB) AdvanceCursor(ctx context.Context, name, owner string, seq int64) error {
	return db.writeTx(ctx, func(t *tx) error {
		n, err := t.execCount(ctx, advanceCursor, seq, seq, name, owner)
		if err == nil && n == 0 {
			err = fmt.Errorf("%w: %s", store.ErrCursorLost, name)
		}
		return err
	})
}

// AdvanceCursors implements store.EventCursors.
func (db *DB) AdvanceCursors(ctx context.Context, owner string, seqs map[string]int64) error {
	if len(seqs) == 0 {
		return nil
	}
	names := make([]string, 0, len(seqs))
	for name := range seqs {
		names = append(names, name)
	}
	sort.Strings(names) // rows in one order for every process
	return db.writeTx(ctx, func(t *tx) error {
		for _, name := range names {
			seq := seqs[name]
			if _, err := t.execCount(ctx, "UPDATE event_cursors SET seq = ? WHERE name = ? AND owner = ? AND seq < ?", seq, name, owner, seq); err != nil {
				return err
			}
		}
		return nil
	})
}

// FailCursor implements store.EventCursors.
func (db *DB) FailCursor(ctx context.Context, name, owner, reason string, at time.Time) (*store.EventCursor, error) {
	var c *store.EventCursor
	err := db.writeTx(ctx, func(t *tx) error {
		n, err := t.execCount(ctx, `UPDATE event_cursors SET attempts = attempts + 1, last_error = ?,
			failing_since = CASE WHEN failing_since = 0 THEN ? ELSE failing_since END WHERE name = ? AND owner = ?`,
			reason, at.UnixMicro(), name, owner)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: %s", store.ErrCursorLost, name)
		}
		c, err = t.cursor(ctx, name)
		return err
	})
	return c, err
}

// ReleaseCursors implements store.EventCursors.
func (db *DB) ReleaseCursors(ctx context.Context, owner string, names ...string) error {
	return db.writeTx(ctx, func(t *tx) error {
		const q = "UPDATE event_cursors SET owner = '', lease_until = 0 WHERE owner = ?"
		if len(names) == 0 {
			_, err := t.execCount(ctx, q, owner)
			return err
		}
		for start := 0; start < len(names); start += maxCursorNames {
			chunk := names[start:min(len(names), start+maxCursorNames)]
			args := []any{owner}
			for _, n := range chunk {
				args = append(args, n)
			}
			if _, err := t.execCount(ctx, q+" AND name IN ("+strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")+")", args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteCursor implements store.EventCursors.
func (db *DB) DeleteCursor(ctx context.Context, name string) error {
	return db.writeTx(ctx, func(t *tx) error {
		_, err := t.execCount(ctx, "DELETE FROM event_cursors WHERE name = ?", name)
		return err
	})
}

var (
	_ store.EventLog     = (*DB)(nil)
	_ store.EventCursors = (*DB)(nil)
)
