package sqlite

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/concord-health/concord/store/sqlstore"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// engineReader runs the store's read queries on a pool of read-only connections that step
// the SQLite engine directly (zombiezen.com/go/sqlite over the same engine as the
// database/sql driver), without database/sql's per-row conversions and copies.
//
// The pool is a channel of connections rather than sqlitex.Pool, whose every take also
// makes a cancellable context and a pool-wide lock round; a request's own context arms the
// connection's interrupt for the length of its query.
type engineReader struct {
	conns chan *sqlite.Conn
	all   []*sqlite.Conn

	// Statements are prepared once per connection and kept, for the first maxPrepared
	// distinct query texts; past that, queries are prepared for one use (a bound on memory
	// however many shapes of search arrive).
	mu     sync.Mutex
	shapes map[string]bool
}

const maxPrepared = 1024

func newEngineReader(path string, size int) (*engineReader, error) {
	r := &engineReader{conns: make(chan *sqlite.Conn, size), shapes: map[string]bool{}}
	for range size {
		conn, err := sqlite.OpenConn("file:"+path+"?mode=ro", sqlite.OpenReadOnly|sqlite.OpenURI)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.all = append(r.all, conn)
		for _, p := range []string{"PRAGMA busy_timeout = 10000", "PRAGMA cache_size = -65536", "PRAGMA temp_store = MEMORY"} {
			if err := sqlitex.ExecuteTransient(conn, p, nil); err != nil {
				r.Close()
				return nil, fmt.Errorf("%s: %w", p, err)
			}
		}
		r.conns <- conn
	}
	return r, nil
}

// Close closes the connections; no query may be running.
func (r *engineReader) Close() error {
	var first error
	for _, c := range r.all {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	r.all = nil
	return first
}

// keep reports whether query's statement should stay prepared on its connection.
func (r *engineReader) keep(query string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shapes[query] {
		return true
	}
	if len(r.shapes) >= maxPrepared {
		return false
	}
	r.shapes[query] = true
	return true
}

func (r *engineReader) Query(ctx context.Context, query string, args []any, row func(sqlstore.Row) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	var conn *sqlite.Conn
	select {
	case conn = <-r.conns:
	case <-ctx.Done():
		return ctx.Err()
	}
	// A cancelled request interrupts its statement, however long a single step runs (a sort
	// over many candidates).
	conn.SetInterrupt(ctx.Done())
	defer func() {
		conn.SetInterrupt(nil)
		r.conns <- conn
	}()
	var stmt *sqlite.Stmt
	if r.keep(query) {
		if stmt, err = conn.Prepare(query); err != nil {
			return err
		}
		defer func() {
			if rerr := stmt.Reset(); err == nil {
				err = rerr
			}
			stmt.ClearBindings()
		}()
	} else {
		if stmt, _, err = conn.PrepareTransient(query); err != nil {
			return err
		}
		defer stmt.Finalize()
	}
	for i, a := range args {
		p := i + 1
		switch v := a.(type) {
		case int64:
			stmt.BindInt64(p, v)
		case int:
			stmt.BindInt64(p, int64(v))
		case string:
			stmt.BindText(p, v)
		case float64:
			stmt.BindFloat(p, v)
		case []byte:
			stmt.BindBytes(p, v)
		case bool:
			stmt.BindBool(p, v)
		case nil:
			stmt.BindNull(p)
		default:
			return fmt.Errorf("sqlite reader: cannot bind %T", a)
		}
	}
	er := engineRow{stmt}
	for n := 0; ; n++ {
		if n%256 == 255 && ctx.Err() != nil {
			return ctx.Err()
		}
		more, err := stmt.Step()
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		if err := row(er); err != nil {
			return err
		}
	}
}

type engineRow struct{ s *sqlite.Stmt }

func (r engineRow) Int64(col int) int64     { return r.s.ColumnInt64(col) }
func (r engineRow) Float64(col int) float64 { return r.s.ColumnFloat(col) }
func (r engineRow) Text(col int) string     { return r.s.ColumnText(col) }
func (r engineRow) Len(col int) int         { return r.s.ColumnLen(col) }
func (r engineRow) AppendBytes(col int, dst []byte) []byte {
	n := r.s.ColumnLen(col)
	dst = slices.Grow(dst, n)[:len(dst)+n]
	r.s.ColumnBytes(col, dst[len(dst)-n:])
	return dst
}
