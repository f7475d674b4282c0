package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/concord-health/concord/store"
)

// The inbox: messages received by integration channels, in the database of the resources
// so that a message is marked applied in the transaction that writes its resources. A
// duplicate (same channel and dedup key) is refused by a unique index over the messages
// that have a key.
var inboxSchema = []string{
	`CREATE TABLE IF NOT EXISTS inbox (
		seq {{rid}},
		channel TEXT NOT NULL,
		dedup TEXT NOT NULL,
		order_key TEXT NOT NULL,
		type TEXT NOT NULL,
		received BIGINT NOT NULL,
		state SMALLINT NOT NULL,
		attempts INTEGER NOT NULL,
		reason TEXT NOT NULL,
		updated BIGINT NOT NULL,
		body {{blob}} NOT NULL
	)`,
	`CREATE UNIQUE INDEX IF NOT EXISTS inbox_dedup ON inbox (channel, dedup) WHERE dedup <> ''`,
	`CREATE INDEX IF NOT EXISTS inbox_state ON inbox (channel, state, seq)`,
}

const inboxColumns = "seq, channel, dedup, order_key, type, received, state, attempts, reason, updated, body"

// writeTx runs fn in a write transaction of the store (through group commit on SQLite), for
// the store's own tables beside the resources (the inbox, event cursors).
func (db *DB) writeTx(ctx context.Context, fn func(t *tx) error) error {
	return db.Update(ctx, func(stx store.Tx) error { return fn(stx.(*tx)) })
}

// Receive implements store.Inbox.
func (db *DB) Receive(ctx context.Context, m *store.InboxMessage) (seq int64, duplicate bool, err error) {
	if m.Channel == "" {
		return 0, false, errors.New("inbox: a message needs a channel")
	}
	received := m.Received
	if received.IsZero() {
		received = time.Now()
	}
	err = db.writeTx(ctx, func(t *tx) error {
		if m.DedupKey != "" {
			err := t.queryRow(ctx, "SELECT seq FROM inbox WHERE channel = ? AND dedup = ?", m.Channel, m.DedupKey).Scan(&seq)
			switch {
			case err == nil:
				duplicate = true
				return nil
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		now := time.Now().UnixMicro()
		return t.queryRow(ctx, `INSERT INTO inbox (channel, dedup, order_key, type, received, state, attempts, reason, updated, body)
			VALUES (?, ?, ?, ?, ?, ?, 0, '', ?, ?) RETURNING seq`,
			m.Channel, m.DedupKey, m.OrderKey, m.Type, received.UnixMicro(), int(store.InboxPending), now, m.Body).Scan(&seq)
	})
	if err != nil && !duplicate && m.DedupKey != "" && isUniqueViolation(err) {
		// Another node stored the same message between the check and the insert.
		var other int64
		if e := db.read.QueryRowContext(ctx, db.d.Rebind("SELECT seq FROM inbox WHERE channel = ? AND dedup = ?"), m.Channel, m.DedupKey).Scan(&other); e == nil {
			return other, true, nil
		}
	}
	return seq, duplicate, err
}

func isUniqueViolation(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "unique") || strings.Contains(s, "duplicate key")
}

// Pending implements store.Inbox.
func (db *DB) Pending(ctx context.Context, channel string, limit int) ([]*store.InboxMessage, error) {
	if limit <= 0 {
		limit = 100
	}
	return db.inboxQuery(ctx, "SELECT "+inboxColumns+" FROM inbox WHERE channel = ? AND state = ? ORDER BY seq LIMIT ?",
		channel, int(store.InboxPending), limit)
}

// List implements store.Inbox.
func (db *DB) List(ctx context.Context, f store.InboxFilter) ([]*store.InboxMessage, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q := "SELECT " + inboxColumns + " FROM inbox WHERE seq > ?"
	args := []any{f.After}
	if f.Channel != "" {
		q += " AND channel = ?"
		args = append(args, f.Channel)
	}
	if f.State != nil {
		q += " AND state = ?"
		args = append(args, int(*f.State))
	}
	return db.inboxQuery(ctx, q+" ORDER BY seq LIMIT ?", append(args, f.Limit)...)
}

// Get implements store.Inbox.
func (db *DB) Get(ctx context.Context, seq int64) (*store.InboxMessage, error) {
	list, err := db.inboxQuery(ctx, "SELECT "+inboxColumns+" FROM inbox WHERE seq = ?", seq)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: %d", store.ErrInboxNotFound, seq)
	}
	return list[0], nil
}

// inboxQuery reads messages through the read pool.
func (db *DB) inboxQuery(ctx context.Context, q string, args ...any) ([]*store.InboxMessage, error) {
	rows, err := db.read.QueryContext(ctx, db.d.Rebind(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.InboxMessage
	for rows.Next() {
		m := &store.InboxMessage{}
		var received, updated int64
		var state int
		if err := rows.Scan(&m.Seq, &m.Channel, &m.DedupKey, &m.OrderKey, &m.Type, &received, &state, &m.Attempts, &m.Reason, &updated, &m.Body); err != nil {
			return nil, err
		}
		m.State, m.Received, m.Updated = store.InboxState(state), micros(received), micros(updated)
		out = append(out, m)
	}
	return out, rows.Err()
}

// setInboxState moves a message from one of the states in from to state.
func (db *DB) setInboxState(ctx context.Context, seq int64, state store.InboxState, reason string, attempt bool, from ...store.InboxState) error {
	return db.writeTx(ctx, func(t *tx) error { return t.setInboxState(ctx, seq, state, reason, attempt, from...) })
}

func (t *tx) setInboxState(ctx context.Context, seq int64, state store.InboxState, reason string, attempt bool, from ...store.InboxState) error {
	var cur, attempts int
	err := t.queryRow(ctx, "SELECT state, attempts FROM inbox WHERE seq = ?"+t.db.d.LockRow, seq).Scan(&cur, &attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %d", store.ErrInboxNotFound, seq)
	}
	if err != nil {
		return err
	}
	ok := false
	for _, f := range from {
		ok = ok || store.InboxState(cur) == f
	}
	if !ok {
		return fmt.Errorf("inbox message %d is %s, not %s", seq, store.InboxState(cur), from[0])
	}
	switch {
	case attempt:
		attempts++
	case state == store.InboxPending:
		attempts = 0 // a replay starts afresh
	}
	return t.exec(ctx, "UPDATE inbox SET state = ?, attempts = ?, reason = ?, updated = ? WHERE seq = ?",
		int(state), attempts, reason, time.Now().UnixMicro(), seq)
}

// Fail implements store.Inbox.
func (db *DB) Fail(ctx context.Context, seq int64, reason string) error {
	return db.setInboxState(ctx, seq, store.InboxFailed, reason, true, store.InboxPending)
}

// Retry implements store.Inbox.
func (db *DB) Retry(ctx context.Context, seq int64, reason string) error {
	return db.setInboxState(ctx, seq, store.InboxPending, reason, true, store.InboxPending)
}

// Replay implements store.Inbox.
func (db *DB) Replay(ctx context.Context, seq int64) error {
	return db.setInboxState(ctx, seq, store.InboxPending, "", false, store.InboxFailed)
}

// InboxApplied implements store.InboxTx.
func (t *tx) InboxApplied(ctx context.Context, seq int64) error {
	return t.setInboxState(ctx, seq, store.InboxApplied, "", true, store.InboxPending)
}

// Counts implements store.Inbox.
func (db *DB) Counts(ctx context.Context, channel string) (store.InboxCounts, error) {
	var c store.InboxCounts
	rows, err := db.read.QueryContext(ctx, db.d.Rebind("SELECT state, COUNT(*), MAX(received) FROM inbox WHERE channel = ? GROUP BY state"), channel)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	var last int64
	for rows.Next() {
		var state, n int
		var maxReceived int64
		if err := rows.Scan(&state, &n, &maxReceived); err != nil {
			return c, err
		}
		switch store.InboxState(state) {
		case store.InboxPending:
			c.Pending = n
		case store.InboxApplied:
			c.Applied = n
		case store.InboxFailed:
			c.Failed = n
		}
		last = max(last, maxReceived)
	}
	if last > 0 {
		c.LastReceived = micros(last)
	}
	return c, rows.Err()
}
