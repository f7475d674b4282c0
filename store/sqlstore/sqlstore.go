// Package sqlstore is the SQL implementation of store.Store shared by the SQLite and
// PostgreSQL backends: one schema, one write path, one search compiler. A Dialect carries the
// few differences (placeholders, column types, how a row key comes back).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/concord-health/concord/search"
	"github.com/concord-health/concord/store"
)

// Dialect describes what differs between SQL backends.
type Dialect struct {
	Name string
	// Numbered placeholders ($1, $2…) instead of "?".
	NumberedPlaceholders bool
	// Column types substituted into the schema.
	RIDColumn, BlobType, RealType string
	// MaxParams bounds the parameters of one statement (multi-row inserts are chunked).
	MaxParams int
	// Init runs on a new database before the schema (pragmas, extensions).
	Init []string
}

// Rebind rewrites "?" placeholders for the dialect.
func (d *Dialect) Rebind(q string) string {
	if !d.NumberedPlaceholders {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	inStr := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c == '\'' {
			inStr = !inStr
		}
		if c == '?' && !inStr {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// DB is a store.Store over database/sql.
type DB struct {
	write *sql.DB // the connection(s) writes go through
	read  *sql.DB // the pool reads use (may be the same as write)
	d     *Dialect

	// clock keeps lastUpdated strictly increasing across writes of this process, so that
	// history order and _since are exact even when two writes share a microsecond.
	clockMu sync.Mutex
	last    int64
}

// Open wraps the pools; it creates the schema if needed.
func Open(ctx context.Context, write, read *sql.DB, d *Dialect) (*DB, error) {
	db := &DB{write: write, read: read, d: d}
	for _, s := range d.Init {
		if _, err := write.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("init %q: %w", s, err)
		}
	}
	for _, s := range d.schemaStatements() {
		if _, err := write.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("schema: %w\n%s", err, s)
		}
	}
	var maxLU sql.NullInt64
	if err := write.QueryRowContext(ctx, "SELECT MAX(last_updated) FROM resources").Scan(&maxLU); err != nil {
		return nil, err
	}
	db.last = maxLU.Int64
	return db, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	err := db.write.Close()
	if db.read != db.write {
		if e := db.read.Close(); err == nil {
			err = e
		}
	}
	return err
}

func (db *DB) now() int64 {
	db.clockMu.Lock()
	defer db.clockMu.Unlock()
	t := time.Now().UnixMicro()
	if t <= db.last {
		t = db.last + 1
	}
	db.last = t
	return t
}

func micros(t int64) time.Time { return time.UnixMicro(t).UTC() }

// Read implements store.Store.
func (db *DB) Read(ctx context.Context, typ, id string) (*store.Record, error) {
	return readCurrent(ctx, db.read, db.d, typ, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func readCurrent(ctx context.Context, q querier, d *Dialect, typ, id string) (*store.Record, error) {
	r := &store.Record{Type: typ, ID: id}
	var lu int64
	var del int
	err := q.QueryRowContext(ctx, d.Rebind("SELECT version, last_updated, deleted, body FROM resources WHERE type = ? AND id = ?"), typ, id).
		Scan(&r.Version, &lu, &del, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	r.LastUpdated = micros(lu)
	if del != 0 {
		r.Deleted = true
		return r, store.ErrGone
	}
	return r, nil
}

// VRead implements store.Store.
func (db *DB) VRead(ctx context.Context, typ, id string, version int64) (*store.Record, error) {
	var rid, cur int64
	err := db.read.QueryRowContext(ctx, db.d.Rebind("SELECT rid, version FROM resources WHERE type = ? AND id = ?"), typ, id).Scan(&rid, &cur)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if version == cur {
		r, err := readCurrent(ctx, db.read, db.d, typ, id)
		return r, err
	}
	r := &store.Record{Type: typ, ID: id, Version: version}
	var lu int64
	var del int
	err = db.read.QueryRowContext(ctx, db.d.Rebind("SELECT last_updated, deleted, body FROM history WHERE rid = ? AND version = ?"), rid, version).Scan(&lu, &del, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	r.LastUpdated = micros(lu)
	if del != 0 {
		r.Deleted = true
		return r, store.ErrGone
	}
	return r, nil
}

// Update implements store.Store.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	t := &tx{db: db, tx: sqlTx}
	if err := fn(t); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := t.flush(ctx); err != nil {
		sqlTx.Rollback()
		return err
	}
	return sqlTx.Commit()
}

// tx is one write transaction. Index rows are buffered and written in multi-row statements
// when the transaction needs to read them (Match) and before commit: one statement per
// table per transaction is far cheaper than one per row.
type tx struct {
	db  *DB
	tx  *sql.Tx
	buf rowBuffer
}

func (t *tx) Current(ctx context.Context, typ, id string) (*store.Record, error) {
	r, err := readCurrent(ctx, t.tx, t.db.d, typ, id)
	if errors.Is(err, store.ErrGone) {
		return r, nil
	}
	return r, err
}

func (t *tx) Put(ctx context.Context, p *store.Put) (*store.Record, error) {
	d := t.db.d
	res := p.Resource
	var rid, version int64
	var del int
	err := t.tx.QueryRowContext(ctx, d.Rebind("SELECT rid, version, deleted FROM resources WHERE type = ? AND id = ?"), res.Type, res.ID).Scan(&rid, &version, &del)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	live := exists && del == 0
	if p.CreateOnly && live {
		return nil, store.ErrExists
	}
	if p.IfMatch != 0 && (!live || version != p.IfMatch) {
		return nil, store.ErrVersionConflict
	}
	lu := t.db.now()
	version++
	res.SetMeta(strconv.FormatInt(version, 10), micros(lu))
	body := res.Bytes()
	if exists {
		if err := t.archive(ctx, rid); err != nil {
			return nil, err
		}
		if live {
			if err := t.clearIndex(ctx, rid); err != nil {
				return nil, err
			}
		}
		if _, err := t.tx.ExecContext(ctx, d.Rebind("UPDATE resources SET version = ?, last_updated = ?, deleted = 0, body = ? WHERE rid = ?"), version, lu, body, rid); err != nil {
			return nil, err
		}
	} else {
		err := t.tx.QueryRowContext(ctx, d.Rebind("INSERT INTO resources (type, id, version, last_updated, deleted, body) VALUES (?, ?, ?, ?, 0, ?) RETURNING rid"),
			res.Type, res.ID, version, lu, body).Scan(&rid)
		if err != nil {
			return nil, err
		}
	}
	if p.Index != nil {
		t.buf.add(rid, p.Index)
	}
	return &store.Record{Type: res.Type, ID: res.ID, Version: version, LastUpdated: micros(lu), Body: body}, nil
}

// archive copies the current row of rid into history before it is replaced.
func (t *tx) archive(ctx context.Context, rid int64) error {
	_, err := t.tx.ExecContext(ctx, t.db.d.Rebind(`INSERT INTO history (rid, version, last_updated, deleted, body)
		SELECT rid, version, last_updated, deleted, body FROM resources WHERE rid = ?`), rid)
	return err
}

func (t *tx) clearIndex(ctx context.Context, rid int64) error {
	// Buffered rows may belong to rid (the same resource written twice in one transaction).
	if err := t.flush(ctx); err != nil {
		return err
	}
	for _, tab := range indexTables {
		if _, err := t.tx.ExecContext(ctx, t.db.d.Rebind("DELETE FROM "+tab+" WHERE rid = ?"), rid); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) Delete(ctx context.Context, typ, id string, ifMatch int64) (*store.Record, error) {
	d := t.db.d
	var rid, version int64
	var del int
	err := t.tx.QueryRowContext(ctx, d.Rebind("SELECT rid, version, deleted FROM resources WHERE type = ? AND id = ?"), typ, id).Scan(&rid, &version, &del)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if del != 0 {
		return &store.Record{Type: typ, ID: id, Version: version, Deleted: true}, store.ErrGone
	}
	if ifMatch != 0 && ifMatch != version {
		return nil, store.ErrVersionConflict
	}
	if err := t.archive(ctx, rid); err != nil {
		return nil, err
	}
	if err := t.clearIndex(ctx, rid); err != nil {
		return nil, err
	}
	lu := t.db.now()
	version++
	if _, err := t.tx.ExecContext(ctx, d.Rebind("UPDATE resources SET version = ?, last_updated = ?, deleted = 1, body = NULL WHERE rid = ?"), version, lu, rid); err != nil {
		return nil, err
	}
	return &store.Record{Type: typ, ID: id, Version: version, LastUpdated: micros(lu), Deleted: true}, nil
}

func (t *tx) Match(ctx context.Context, q *search.Query, limit int) ([]string, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	sel, args, err := compileMatch(t.db.d, q, limit)
	if err != nil {
		return nil, err
	}
	rows, err := t.tx.QueryContext(ctx, sel, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (t *tx) flush(ctx context.Context) error {
	err := t.buf.flush(ctx, t.tx, t.db.d)
	t.buf.reset()
	return err
}

var _ store.Store = (*DB)(nil)
