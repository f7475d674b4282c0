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

	"github.com/concord-health/concord/fhir/definitions"
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
	// ByteOrderText is the column type of text searched by prefix ranges (string and uri
	// values): the range [p, successor(p)) only works under byte-order collation. "" = TEXT.
	ByteOrderText string
	// MaxParams bounds the parameters of one statement (multi-row inserts are chunked).
	MaxParams int
	// Init runs on a new database before the schema (pragmas, extensions).
	Init []string
	// SchemaLock, when set, runs first in the transaction that creates the schema: processes
	// starting together against one shared database would otherwise race on CREATE … IF NOT
	// EXISTS, which is not atomic on PostgreSQL.
	SchemaLock string
	// LockRow is appended to the SELECT that reads a resource before writing a new version of
	// it (" FOR UPDATE"), so that concurrent writers of one resource queue behind each other
	// instead of both building on the same version. SQLite has a single writer and needs none.
	LockRow string
	// CopyFrom, when set, bulk-loads one table's buffered index rows (args holds len(cols)
	// values per row) over the transaction's connection; batches of at least CopyMinRows rows
	// use it instead of multi-row INSERTs.
	CopyFrom    func(ctx context.Context, conn *sql.Conn, table string, cols []string, args []any) error
	CopyMinRows int
	// Analyze refreshes the planner's statistics (run in the background as a store grows).
	Analyze string
	// DriverCachesStatements: the driver prepares and caches statements itself (pgx), so the
	// store does not; otherwise every write-path statement is prepared once and reused, as
	// parsing SQL costs more than running it on embedded engines.
	DriverCachesStatements bool
	// ClusteredIndexTables: index tables are stored clustered on their value key (SQLite's
	// WITHOUT ROWID), so that key is also a uniqueness constraint and index rows are inserted
	// with InsertVerb.
	ClusteredIndexTables bool
	// InsertVerb starts index-row inserts ("INSERT OR IGNORE INTO" where a resource's
	// duplicate rows meet a uniqueness constraint); "" = "INSERT INTO".
	InsertVerb string
	// ByRowKey follows "resources r" in a search whose filters name the rids to read (r.rid
	// IN …), forbidding the planner to walk an index of resources instead (SQLite's
	// " NOT INDEXED", under which lookups by the row key are still made).
	ByRowKey string
	// NewReader, when set, opens the Reader that runs the reads of searches and of Read in
	// place of database/sql, once the schema exists; the store closes it.
	NewReader func() (Reader, error)
	// ListOpen and ListClose wrap one parameter holding a JSON array of strings into a
	// subquery listing them, for IN lists too long for one placeholder each (a value set's
	// codes): "SELECT value FROM json_each(" and ")" on SQLite.
	ListOpen, ListClose string
	// GroupCommit: the database has one writer, and concurrent write transactions are run
	// through one goroutine and committed together (see group.go).
	GroupCommit bool
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
	// reads runs read queries on read, through prepared statements unless the driver caches
	// its own; reader runs those of searches and reads (the dialect's, or one over reads).
	reads  querier
	reader Reader
	d      *Dialect

	readCache *stmtCache // nil when the driver caches statements

	// queue feeds the group-commit writer (nil without GroupCommit); queueMu and closed
	// keep writes from being queued once Close has begun.
	queue      chan *writeRequest
	writerDone chan struct{}
	queueMu    sync.RWMutex
	closed     bool

	// stmts are the write path's prepared statements by query text; fixed after Open.
	stmts map[string]*sql.Stmt

	planner planner

	// patientDates says which patient_date rows each resource type has.
	patientDates map[string]*patientDateSpec

	// clock keeps lastUpdated strictly increasing across writes of this process, so that
	// history order and _since are exact even when two writes share a microsecond.
	clockMu sync.Mutex
	last    int64

	// gaps tracks missing seqs of the event log on PostgreSQL (events.go).
	gaps gapTracker
}

// Open wraps the pools; it creates the schema if needed.
func Open(ctx context.Context, write, read *sql.DB, d *Dialect) (*DB, error) {
	db := &DB{write: write, read: read, d: d, reads: read, patientDates: patientDateSpecs(definitions.R4())}
	if !d.DriverCachesStatements {
		db.readCache = newStmtCache(read)
		db.reads = db.readCache
	}
	db.reader = sqlReader{db.reads}
	for _, s := range d.Init {
		if _, err := write.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("init %q: %w", s, err)
		}
	}
	if err := db.createSchema(ctx); err != nil {
		return nil, err
	}
	if d.NewReader != nil {
		r, err := d.NewReader()
		if err != nil {
			return nil, fmt.Errorf("opening the reader: %w", err)
		}
		db.reader = r
	}
	if !d.DriverCachesStatements {
		if err := db.prepare(ctx); err != nil {
			db.reader.Close()
			return nil, err
		}
	}
	var maxLU sql.NullInt64
	if err := write.QueryRowContext(ctx, "SELECT MAX(last_updated) FROM resources").Scan(&maxLU); err != nil {
		db.closeStmts()
		db.reader.Close()
		return nil, err
	}
	db.last = maxLU.Int64
	if d.GroupCommit {
		db.startWriter()
	}
	return db, nil
}

// createSchema creates what is missing in one transaction, so a process that fails half-way
// leaves nothing behind and one that starts alongside waits for the other's schema.
func (db *DB) createSchema(ctx context.Context) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if db.d.SchemaLock != "" {
		if _, err := tx.ExecContext(ctx, db.d.SchemaLock); err != nil {
			return fmt.Errorf("schema lock: %w", err)
		}
	}
	for _, s := range db.d.schemaStatements() {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("schema: %w\n%s", err, s)
		}
	}
	if err := checkSchemaVersion(ctx, tx, db.d); err != nil {
		return err
	}
	return tx.Commit()
}

// The write path's statements ("?" placeholders), besides the index inserts of rows.go.
const (
	insertResource = "INSERT INTO resources (type, id, version, last_updated, deleted, body) VALUES (?, ?, 1, ?, 0, ?) ON CONFLICT (type, id) DO NOTHING RETURNING rid"
	selectCurrent  = "SELECT rid, version, last_updated, deleted FROM resources WHERE type = ? AND id = ?"
	updateResource = "UPDATE resources SET version = ?, last_updated = ?, deleted = 0, body = ? WHERE rid = ?"
	markDeleted    = "UPDATE resources SET version = ?, last_updated = ?, deleted = 1, body = NULL WHERE rid = ?"
	archiveCurrent = `INSERT INTO history (rid, version, last_updated, deleted, body)
		SELECT rid, version, last_updated, deleted, body FROM resources WHERE rid = ?`
)

func clearIndexSQL(table string) string { return "DELETE FROM " + table + " WHERE rid = ?" }

// prepare prepares every write-path statement once, up front: inside a transaction the write
// pool may have no connection to spare (SQLite has one).
func (db *DB) prepare(ctx context.Context) error {
	qs := []string{insertResource, selectCurrent + db.d.LockRow, updateResource, markDeleted, archiveCurrent}
	for _, tab := range indexTables {
		qs = append(qs, clearIndexSQL(tab))
	}
	qs = append(qs, insertStatements(db.d)...)
	db.stmts = make(map[string]*sql.Stmt, len(qs))
	for _, q := range qs {
		q = db.d.Rebind(q)
		st, err := db.write.PrepareContext(ctx, q)
		if err != nil {
			db.closeStmts()
			return fmt.Errorf("prepare %s: %w", q, err)
		}
		db.stmts[q] = st
	}
	return nil
}

func (db *DB) closeStmts() {
	for _, st := range db.stmts {
		st.Close()
	}
	db.stmts = nil
}

// Close closes both pools.
func (db *DB) Close() error {
	db.stopWriter()
	db.closeStmts()
	if db.readCache != nil {
		db.readCache.close()
	}
	db.reader.Close()
	err := db.write.Close()
	if db.read != db.write {
		if e := db.read.Close(); err == nil {
			err = e
		}
	}
	return err
}

func (db *DB) now() int64 { return db.after(0) }

// after returns a new lastUpdated later than both this process's previous one and prev, the
// resource's current version: processes sharing a database have their own clocks, and a new
// version must never appear to precede the one it replaces (history order, _at).
func (db *DB) after(prev int64) int64 {
	db.clockMu.Lock()
	defer db.clockMu.Unlock()
	t := time.Now().UnixMicro()
	if t <= db.last {
		t = db.last + 1
	}
	if t <= prev {
		t = prev + 1
	}
	db.last = t
	return t
}

func micros(t int64) time.Time { return time.UnixMicro(t).UTC() }

// Read implements store.Store.
func (db *DB) Read(ctx context.Context, typ, id string) (*store.Record, error) {
	var r *store.Record
	var deleted bool
	err := db.reader.Query(ctx, db.d.Rebind("SELECT version, last_updated, deleted, body FROM resources WHERE type = ? AND id = ?"),
		[]any{typ, id}, func(row Row) error {
			r = &store.Record{Type: typ, ID: id, Version: row.Int64(0), LastUpdated: micros(row.Int64(1)),
				Body: row.AppendBytes(3, make([]byte, 0, row.Len(3)))}
			deleted = row.Int64(2) != 0
			return nil
		})
	switch {
	case err != nil:
		return nil, err
	case r == nil:
		return nil, store.ErrNotFound
	case deleted:
		r.Deleted, r.Body = true, nil
		return r, store.ErrGone
	}
	return r, nil
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
	err := db.reads.QueryRowContext(ctx, db.d.Rebind("SELECT rid, version FROM resources WHERE type = ? AND id = ?"), typ, id).Scan(&rid, &cur)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if version == cur {
		r, err := readCurrent(ctx, db.reads, db.d, typ, id)
		return r, err
	}
	r := &store.Record{Type: typ, ID: id, Version: version}
	var lu int64
	var del int
	err = db.reads.QueryRowContext(ctx, db.d.Rebind("SELECT last_updated, deleted, body FROM history WHERE rid = ? AND version = ?"), rid, version).Scan(&lu, &del, &r.Body)
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
	if db.queue != nil {
		return db.updateGrouped(ctx, fn)
	}
	t := &tx{db: db}
	var err error
	if db.d.CopyFrom != nil {
		// Bulk copy needs the driver connection under the transaction.
		if t.conn, err = db.write.Conn(ctx); err != nil {
			return err
		}
		defer t.conn.Close()
		t.tx, err = t.conn.BeginTx(ctx, nil)
	} else {
		t.tx, err = db.write.BeginTx(ctx, nil)
	}
	if err != nil {
		return err
	}
	sqlTx := t.tx
	if err := fn(t); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := t.flush(ctx); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return err
	}
	db.noteWrites(t.writes)
	return nil
}

// tx is one write transaction. Index rows are buffered and written in multi-row statements
// when the transaction needs to read them (Match) and before commit: one statement per
// table per transaction is far cheaper than one per row.
type tx struct {
	db    *DB
	tx    *sql.Tx
	conn  *sql.Conn // set when the dialect bulk-copies
	buf   rowBuffer
	stmts map[string]*sql.Stmt // db.prepared statements bound to this transaction
	// detached: the transaction is shared by a commit group, so its statements run without
	// the caller's cancellation (an interrupted statement can end the whole transaction).
	detached bool
	// writes counts the versions written (creates, updates, deletions), for the planner
	// statistics.
	writes int
}

// stmt returns q (already rebound) as a prepared statement of this transaction, or nil when
// there is none (the driver caches statements itself, or q is not a write-path statement).
// c is the context the transaction's statements run under.
func (t *tx) c(ctx context.Context) context.Context {
	if t.detached {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

func (t *tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if st, ok := t.stmts[q]; ok {
		return st
	}
	st, ok := t.db.stmts[q]
	if !ok {
		return nil
	}
	st = t.tx.StmtContext(t.c(ctx), st)
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[q] = st
	return st
}

// exec runs a write-path statement (q with "?" placeholders).
func (t *tx) exec(ctx context.Context, q string, args ...any) error {
	ctx = t.c(ctx)
	q = t.db.d.Rebind(q)
	var err error
	if st := t.stmt(ctx, q); st != nil {
		_, err = st.ExecContext(ctx, args...)
	} else {
		_, err = t.tx.ExecContext(ctx, q, args...)
	}
	return err
}

// queryRow runs a write-path query (q with "?" placeholders) that returns one row.
func (t *tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	ctx = t.c(ctx)
	q = t.db.d.Rebind(q)
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

func (t *tx) Current(ctx context.Context, typ, id string) (*store.Record, error) {
	r, err := readCurrent(t.c(ctx), t.tx, t.db.d, typ, id)
	if errors.Is(err, store.ErrGone) {
		return r, nil
	}
	return r, err
}

func (t *tx) Put(ctx context.Context, p *store.Put) (*store.Record, error) {
	res := p.Resource
	if p.IfMatch == 0 {
		// Creates dominate (imports), so try the insert first: one statement instead of a
		// lookup and an insert. On a conflict, including one with a concurrent transaction
		// creating the same id (the insert waits for it), fall through to the update path.
		lu := t.db.now()
		res.SetMeta("1", micros(lu))
		body := res.Bytes()
		var rid int64
		err := t.queryRow(ctx, insertResource, res.Type, res.ID, lu, body).Scan(&rid)
		if err == nil {
			if p.Index != nil {
				t.buf.add(rid, p.Index, t.db.patientDates[res.Type])
			}
			t.buf.addEvent(res.Type, res.ID, 1, store.EventCreate, lu)
			t.writes++
			return &store.Record{Type: res.Type, ID: res.ID, Version: 1, LastUpdated: micros(lu), Body: body}, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
	}
	rid, version, prevLU, del, err := t.lockCurrent(ctx, res.Type, res.ID)
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
	if !exists {
		// Rows are never removed, so a failed insert means the row exists; only an If-Match
		// write, which has just failed, gets here without one.
		return nil, store.ErrVersionConflict
	}
	lu := t.db.after(prevLU)
	version++
	res.SetMeta(strconv.FormatInt(version, 10), micros(lu))
	body := res.Bytes()
	if err := t.archive(ctx, rid); err != nil {
		return nil, err
	}
	if live {
		if err := t.clearIndex(ctx, rid); err != nil {
			return nil, err
		}
	}
	if err := t.exec(ctx, updateResource, version, lu, body, rid); err != nil {
		return nil, err
	}
	if p.Index != nil {
		t.buf.add(rid, p.Index, t.db.patientDates[res.Type])
	}
	action := store.EventCreate
	if live {
		action = store.EventUpdate
	}
	t.buf.addEvent(res.Type, res.ID, version, action, lu)
	t.writes++
	return &store.Record{Type: res.Type, ID: res.ID, Version: version, LastUpdated: micros(lu), Body: body}, nil
}

// lockCurrent reads the row of a resource about to get a new version, locking it where the
// dialect can.
func (t *tx) lockCurrent(ctx context.Context, typ, id string) (rid, version, lastUpdated int64, deleted int, err error) {
	err = t.queryRow(ctx, selectCurrent+t.db.d.LockRow, typ, id).
		Scan(&rid, &version, &lastUpdated, &deleted)
	return
}

// archive copies the current row of rid into history before it is replaced.
func (t *tx) archive(ctx context.Context, rid int64) error {
	return t.exec(ctx, archiveCurrent, rid)
}

func (t *tx) clearIndex(ctx context.Context, rid int64) error {
	// Buffered rows may belong to rid (the same resource written twice in one transaction).
	if err := t.flush(ctx); err != nil {
		return err
	}
	for _, tab := range indexTables {
		if err := t.exec(ctx, clearIndexSQL(tab), rid); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) Delete(ctx context.Context, typ, id string, ifMatch int64) (*store.Record, error) {
	rid, version, prevLU, del, err := t.lockCurrent(ctx, typ, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if del != 0 {
		return &store.Record{Type: typ, ID: id, Version: version, LastUpdated: micros(prevLU), Deleted: true}, store.ErrGone
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
	lu := t.db.after(prevLU)
	version++
	if err := t.exec(ctx, markDeleted, version, lu, rid); err != nil {
		return nil, err
	}
	t.buf.addEvent(typ, id, version, store.EventDelete, lu)
	t.writes++
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
	rows, err := t.tx.QueryContext(t.c(ctx), sel, args...)
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
	err := t.buf.flush(ctx, t.exec, t.conn, t.db.d)
	t.buf.reset()
	return err
}

var _ store.Store = (*DB)(nil)
