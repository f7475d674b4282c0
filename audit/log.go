package audit

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/concord-health/concord/store/sqlite"
)

// FileName is the audit database inside the data directory: a governance record kept apart
// from the clinical data, so that it can be retained, backed up and access-controlled on its
// own terms.
const FileName = "audit.db"

// Config says where the log lives.
type Config struct {
	// DataDir holds DIR/audit.db when DatabaseURL is empty.
	DataDir string
	// DatabaseURL, a postgres:// URL, keeps the log as the table audit_log in that database,
	// shared by every Concord process that uses it.
	DatabaseURL string
	// Monitor, when set, hears every event once it is durable.
	Monitor *Monitor
	// FullSync makes the embedded log fsync every commit (SQLite synchronous=FULL), so that an
	// appended event survives power loss and OS crashes, not only the process dying. Without
	// it the log is as durable as the clinical store (synchronous=NORMAL: a committed event
	// survives the process being killed; a power failure may take the last commits, as it may
	// the clinical writes of the same requests). Each batch then waits for the disk. PostgreSQL
	// follows the server's synchronous_commit.
	FullSync bool
}

// ErrChainBroken is returned by Append when the log's head is not the one this process last
// wrote or saw: entries were removed under it, and appending would hide that.
var ErrChainBroken = errors.New("audit: the log's head went back; entries were removed")

// errClosed is returned by appends after Close.
var errClosed = errors.New("audit: the log is closed")

// maxBatch bounds the events of one commit, so that the first of a long queue does not wait
// for all of it.
const maxBatch = 256

// Log is the append-only, hash-chained audit log. It is safe for concurrent use.
type Log struct {
	write   *sql.DB // SQLite: the one write connection; PostgreSQL: the pool
	read    *sql.DB
	pg      bool
	monitor *Monitor

	insertLog, insertPatient, headStmt *sql.Stmt // SQLite's, prepared on the write connection

	queue   chan *request
	queueMu sync.RWMutex
	closed  bool
	done    chan struct{}

	headMu   sync.Mutex
	headSeq  int64 // the highest entry this Log has written or seen
	headHash []byte
}

type request struct {
	ev       Event
	micros   int64
	body     []byte
	patients []string
	done     chan error
}

// Open opens the log, creating its tables if needed.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	var l *Log
	var err error
	switch {
	case cfg.DatabaseURL != "":
		l, err = openPostgres(ctx, cfg.DatabaseURL)
	case cfg.DataDir != "":
		l, err = openSQLite(ctx, cfg.DataDir, cfg.FullSync)
	default:
		return nil, errors.New("audit: no data directory or database")
	}
	if err != nil {
		return nil, err
	}
	l.monitor = cfg.Monitor
	seq, hash, err := head(l.read.QueryRowContext(ctx, headQuery))
	if err != nil {
		l.closeDBs()
		return nil, err
	}
	l.headSeq, l.headHash = seq, hash
	l.queue = make(chan *request, maxBatch)
	l.done = make(chan struct{})
	go l.writer()
	return l, nil
}

func openSQLite(ctx context.Context, dir string, fullSync bool) (*Log, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	var extra []string
	if fullSync {
		extra = append(extra, "synchronous(FULL)")
	}
	write, read, err := sqlite.Pools(path, 2, extra...)
	if err != nil {
		return nil, err
	}
	if err := createSchema(ctx, write, false); err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	l := &Log{write: write, read: read}
	// Single-row inserts prepared once: SQLite would otherwise parse a multi-row statement of
	// every batch size anew, which costs more than stepping a prepared one per row.
	if l.insertLog, err = write.PrepareContext(ctx, `INSERT INTO audit_log (seq, time, patient, user_id, organization, body, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)`); err == nil {
		if l.insertPatient, err = write.PrepareContext(ctx, `INSERT INTO audit_patient (patient, seq) VALUES (?,?)`); err == nil {
			l.headStmt, err = write.PrepareContext(ctx, headQuery)
		}
	}
	if err != nil {
		l.closeDBs()
		return nil, err
	}
	return l, nil
}

func openPostgres(ctx context.Context, dsn string) (*Log, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	// The writer holds one connection; searches and verification share the rest.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	if err := createSchema(ctx, db, true); err != nil {
		db.Close()
		return nil, fmt.Errorf("audit: %w", err)
	}
	return &Log{write: db, read: db, pg: true}, nil
}

// Advisory lock keys (transaction-scoped), the second half being the schema's name hashed, so
// that logs in different schemas of one database do not wait for each other.
const (
	schemaLockClass = 0x61756400 // "aud\0"
	chainLockClass  = 0x61756401
)

func createSchema(ctx context.Context, db *sql.DB, pg bool) error {
	seqType, blob, without := "INTEGER", "BLOB", " WITHOUT ROWID"
	if pg {
		seqType, blob, without = "BIGINT", "BYTEA", ""
	}
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS audit_log (
			seq ` + seqType + ` PRIMARY KEY,
			time BIGINT NOT NULL,
			patient TEXT NOT NULL,
			user_id TEXT NOT NULL,
			organization TEXT NOT NULL,
			body TEXT NOT NULL,
			prev_hash ` + blob + ` NOT NULL,
			hash ` + blob + ` NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS audit_log_user ON audit_log (user_id, seq)`,
		`CREATE INDEX IF NOT EXISTS audit_log_organization ON audit_log (organization, seq)`,
		`CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log (time)`,
		// Every patient of every entry: a search touches many patients, and each of them must
		// find it. patient is the entry's first patient, for reading the table by eye.
		`CREATE TABLE IF NOT EXISTS audit_patient (
			patient TEXT NOT NULL,
			seq BIGINT NOT NULL,
			PRIMARY KEY (patient, seq))` + without,
		`CREATE INDEX IF NOT EXISTS audit_patient_seq ON audit_patient (seq)`,
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if pg {
		// CREATE … IF NOT EXISTS races with itself across processes; serialise it.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("SELECT pg_advisory_xact_lock(%d, hashtext(current_schema()))", schemaLockClass)); err != nil {
			return err
		}
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return tx.Commit()
}

const headQuery = `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`

// head reads the last entry's sequence number and hash (0 and the genesis hash when empty).
func head(row *sql.Row) (int64, []byte, error) {
	var seq int64
	var hash []byte
	err := row.Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, genesis, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("audit: read the head: %w", err)
	}
	return seq, hash, nil
}

// Append records e and returns once it is committed: an event whose Append returned nil
// survives a crash. Concurrent appends share one commit.
func (l *Log) Append(ctx context.Context, e *Event) error {
	r := &request{ev: *e, done: make(chan error, 1)}
	if r.ev.Time.IsZero() {
		r.ev.Time = time.Now()
	}
	r.ev.Time = r.ev.Time.UTC().Truncate(time.Microsecond)
	r.micros = r.ev.Time.UnixMicro()
	body, err := r.ev.AuditEvent()
	if err != nil {
		return err
	}
	r.body = body
	seen := map[string]bool{}
	for _, p := range r.ev.Patients {
		if p.ID != "" && !seen[p.ID] {
			seen[p.ID] = true
			r.patients = append(r.patients, p.ID)
		}
	}
	l.queueMu.RLock()
	if l.closed {
		l.queueMu.RUnlock()
		return errClosed
	}
	select {
	case l.queue <- r:
	case <-ctx.Done():
		l.queueMu.RUnlock()
		return ctx.Err()
	}
	l.queueMu.RUnlock()
	// Once queued the event is written whatever the caller does; waiting for the outcome
	// keeps the promise that a nil return means durable.
	return <-r.done
}

// writer commits queued events in batches, one transaction each.
func (l *Log) writer() {
	defer close(l.done)
	for first := range l.queue {
		batch := []*request{first}
	collect:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-l.queue:
				if !ok {
					break collect
				}
				batch = append(batch, r)
			default:
				break collect
			}
		}
		err := l.commit(batch)
		for _, r := range batch {
			r.done <- err
		}
		if err == nil && l.monitor != nil {
			for _, r := range batch {
				l.monitor.Observe(&r.ev)
			}
		}
	}
}

// commit appends a batch in one transaction. On PostgreSQL an advisory lock held to the
// commit makes batches from every process take turns, so the chain stays one sequence.
func (l *Log) commit(batch []*request) error {
	// The transaction belongs to the batch, not to any caller.
	ctx := context.Background()
	tx, err := l.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer tx.Rollback()
	if l.pg {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("SELECT pg_advisory_xact_lock(%d, hashtext(current_schema()))", chainLockClass)); err != nil {
			return fmt.Errorf("audit: lock the chain: %w", err)
		}
	}
	// Read in the transaction, not kept in memory only: another process may have appended
	// (PostgreSQL), and entries removed under this one must be noticed.
	var row *sql.Row
	if l.headStmt != nil {
		row = tx.StmtContext(ctx, l.headStmt).QueryRowContext(ctx)
	} else {
		row = tx.QueryRowContext(ctx, headQuery)
	}
	seq, prev, err := head(row)
	if err != nil {
		return err
	}
	l.headMu.Lock()
	knownSeq, knownHash := l.headSeq, l.headHash
	l.headMu.Unlock()
	if seq < knownSeq || (seq == knownSeq && !bytes.Equal(prev, knownHash)) {
		return fmt.Errorf("%w (entry %d was the head, now %d is)", ErrChainBroken, knownSeq, seq)
	}
	const logCols = 8
	args := make([]any, 0, len(batch)*logCols)
	var patientArgs []any
	for _, r := range batch {
		seq++
		hash := entryHash(prev, seq, r.micros, r.body)
		first := ""
		if len(r.patients) > 0 {
			first = r.patients[0]
		}
		args = append(args, seq, r.micros, first, r.ev.UserID, r.ev.Organization, string(r.body), prev, hash)
		for _, p := range r.patients {
			patientArgs = append(patientArgs, p, seq)
		}
		prev = hash
	}
	if err := l.insert(ctx, tx, l.insertLog, "audit_log (seq, time, patient, user_id, organization, body, prev_hash, hash)", logCols, args); err != nil {
		return err
	}
	if err := l.insert(ctx, tx, l.insertPatient, "audit_patient (patient, seq)", 2, patientArgs); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit: commit: %w", err)
	}
	l.headMu.Lock()
	if seq > l.headSeq {
		l.headSeq, l.headHash = seq, prev
	}
	l.headMu.Unlock()
	return nil
}

// insert writes rows of n columns: on SQLite one prepared statement per row (stmt), on
// PostgreSQL multi-row INSERTs of at most 2048 parameters, one round trip each.
func (l *Log) insert(ctx context.Context, tx *sql.Tx, stmt *sql.Stmt, table string, n int, args []any) error {
	if stmt != nil {
		st := tx.StmtContext(ctx, stmt)
		for i := 0; i < len(args); i += n {
			if _, err := st.ExecContext(ctx, args[i:i+n]...); err != nil {
				return fmt.Errorf("audit: append: %w", err)
			}
		}
		return nil
	}
	per := 2048 / n
	for len(args) > 0 {
		rows := min(per, len(args)/n)
		var b strings.Builder
		b.WriteString("INSERT INTO " + table + " VALUES ")
		p := 0
		for i := range rows {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('(')
			for j := range n {
				if j > 0 {
					b.WriteByte(',')
				}
				p++
				if l.pg {
					fmt.Fprintf(&b, "$%d", p)
				} else {
					b.WriteByte('?')
				}
			}
			b.WriteByte(')')
		}
		if _, err := tx.ExecContext(ctx, b.String(), args[:rows*n]...); err != nil {
			return fmt.Errorf("audit: append: %w", err)
		}
		args = args[rows*n:]
	}
	return nil
}

// Head returns the highest entry this Log has written or seen, as a sequence number and hash.
func (l *Log) Head() (int64, []byte) {
	l.headMu.Lock()
	defer l.headMu.Unlock()
	return l.headSeq, bytes.Clone(l.headHash)
}

// Close waits for queued appends to commit, then closes the database.
func (l *Log) Close() error {
	l.queueMu.Lock()
	if !l.closed {
		l.closed = true
		close(l.queue)
	}
	l.queueMu.Unlock()
	<-l.done
	return l.closeDBs()
}

func (l *Log) closeDBs() error {
	for _, s := range []*sql.Stmt{l.insertLog, l.insertPatient, l.headStmt} {
		if s != nil {
			s.Close()
		}
	}
	err := l.write.Close()
	if l.read != l.write {
		if rerr := l.read.Close(); err == nil {
			err = rerr
		}
	}
	return err
}

// rebind turns ? placeholders into PostgreSQL's $n.
func (l *Log) rebind(q string) string {
	if !l.pg {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}
